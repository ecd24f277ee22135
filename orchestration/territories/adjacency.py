"""Which units touch which: the graph the optimizer's contiguity constraint runs on.

Two sources, the first that applies:
1. a file of unit-to-unit pairs (`unit_a, unit_b`, one undirected pair a row), for
   companies or benchmarks that know the real zone borders;
2. derived from the units' coordinates by a Delaunay triangulation of the centroids:
   two units are neighbours when their Voronoi cells share an edge, the usual stand-in
   for "the zones share a border" when only points are known. It is planar (about 3
   pairs per unit, so the flow model stays small) and connected by construction. Its
   hull pairs can be long (across a bay or to an island): a company whose zones have
   real borders should give the file.

Also the checks that make a contiguity infeasibility readable before solving: groups of
units that no path joins, and units locked to one rep that units of other reps cut apart.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict, deque
from collections.abc import Iterable
from pathlib import Path

from orchestration.territories.model import TerritoryInputError, Unit

Edge = tuple[str, str]


def read_adjacency(path: Path | str) -> list[Edge]:
    """CSV `unit_a, unit_b`: one undirected pair a row; repeated pairs count once."""
    path = Path(path)
    if not path.exists():
        raise TerritoryInputError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"unit_a", "unit_b"} - set(reader.fieldnames or [])
        if missing:
            raise TerritoryInputError(f"{path}: missing column(s) {sorted(missing)}")
        edges = []
        for line, row in enumerate(reader, start=2):
            a, b = (row.get("unit_a") or "").strip(), (row.get("unit_b") or "").strip()
            if not a or not b or a == b:
                raise TerritoryInputError(f"{path}:{line}: two different unit ids expected")
            edges.append((a, b))
    return normalize(edges)


def normalize(edges: Iterable[Edge]) -> list[Edge]:
    """Each undirected pair once, (smaller id, larger id), sorted: stable models and tests."""
    return sorted({(a, b) if a < b else (b, a) for a, b in edges if a != b})


def delaunay_adjacency(units: list[Unit]) -> list[Edge]:
    """Neighbour pairs from the Delaunay triangulation of the units' coordinates.

    Coordinates are projected equirectangularly around the mean latitude (a degree of
    longitude is shorter than one of latitude away from the equator, which would skew the
    triangles). Units sharing one point all get that point's neighbours and each other;
    points all on one line (no triangle exists) are chained in order along it.
    """
    missing = [u.id for u in units if u.lat is None or u.lon is None]
    if missing:
        raise TerritoryInputError(
            f"contiguity: unit {missing[0]} has no coordinates to derive neighbours from; "
            f"give an adjacency file"
        )
    by_point: dict[tuple[float, float], list[str]] = defaultdict(list)
    if not units:
        return []
    lat0 = math.radians(sum(u.lat for u in units) / len(units))
    for u in units:
        by_point[(round(u.lon * math.cos(lat0), 9), round(u.lat, 9))].append(u.id)
    points = list(by_point)
    point_edges: set[tuple[int, int]] = set()
    if len(points) == 2:
        point_edges.add((0, 1))
    elif len(points) > 2:
        point_edges = _triangulate(points)
    edges = []
    for ids in by_point.values():
        edges.extend((a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
    for i, j in point_edges:
        edges.extend((a, b) for a in by_point[points[i]] for b in by_point[points[j]])
    return normalize(edges)


def _triangulate(points: list[tuple[float, float]]) -> set[tuple[int, int]]:
    import numpy as np
    from scipy.spatial import Delaunay, QhullError

    array = np.asarray(points, dtype=float)
    try:
        simplices = Delaunay(array).simplices
    except QhullError:
        # all points on one line: neighbours are the next points along it
        centred = array - array.mean(axis=0)
        direction = np.linalg.svd(centred, full_matrices=False)[2][0]
        order = np.argsort(centred @ direction)
        return {_pair(int(a), int(b)) for a, b in zip(order[:-1], order[1:], strict=True)}
    edges = set()
    for a, b, c in simplices.tolist():
        edges |= {_pair(a, b), _pair(b, c), _pair(a, c)}
    return edges


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def neighbours(unit_ids: Iterable[str], edges: list[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {u: set() for u in unit_ids}
    for a, b in edges:
        graph[a].add(b)
        graph[b].add(a)
    return graph


def components(graph: dict[str, set[str]], allowed: set[str] | None = None) -> list[list[str]]:
    """Connected groups of the graph (restricted to `allowed`), largest first."""
    nodes = set(graph) if allowed is None else allowed & set(graph)
    seen: set[str] = set()
    out = []
    for start in sorted(nodes):
        if start in seen:
            continue
        seen.add(start)
        group, queue = [], deque([start])
        while queue:
            u = queue.popleft()
            group.append(u)
            for v in graph[u]:
                if v in nodes and v not in seen:
                    seen.add(v)
                    queue.append(v)
        out.append(sorted(group))
    return sorted(out, key=lambda g: (-len(g), g[0]))


def spanning_flows(
    graph: dict[str, set[str]], territory: set[str], root: str
) -> dict[Edge, int] | None:
    """Flows on a BFS tree of `territory` from `root` (arc -> units fed through it), the
    flow part of a complete solver hint; None when the territory is not connected."""
    parent: dict[str, str] = {}
    order, queue, seen = [], deque([root]), {root}
    while queue:
        u = queue.popleft()
        order.append(u)
        for v in sorted(graph[u]):
            if v in territory and v not in seen:
                seen.add(v)
                parent[v] = u
                queue.append(v)
    if len(seen) != len(territory):
        return None
    below = dict.fromkeys(territory, 1)
    flows = {}
    for v in reversed(order[1:]):
        flows[(parent[v], v)] = below[v]
        below[parent[v]] += below[v]
    return flows


def restrict(edges: list[Edge], keep: set[str]) -> list[Edge]:
    """The pairs among `keep`, joining two kept units also when only units outside `keep`
    lie between them (a zone without active accounts still connects its neighbours)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph[b].add(a)
    out = [(a, b) for a, b in edges if a in keep and b in keep]
    seen: set[str] = set()
    for start in sorted(graph):
        if start in keep or start in seen:
            continue
        # a group of dropped units joined to each other: its kept neighbours all touch
        group, queue, border = {start}, deque([start]), set()
        while queue:
            u = queue.popleft()
            for v in graph[u]:
                if v in keep:
                    border.add(v)
                elif v not in group:
                    group.add(v)
                    queue.append(v)
        seen |= group
        ordered = sorted(border)
        out.extend((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :])
    return normalize(out)


def is_connected(graph: dict[str, set[str]], territory: set[str]) -> bool:
    if not territory:
        return True
    start = next(iter(territory))
    seen, queue = {start}, deque([start])
    while queue:
        for v in graph[queue.popleft()]:
            if v in territory and v not in seen:
                seen.add(v)
                queue.append(v)
    return len(seen) == len(territory)
