"""`rtm territories`: the optimizer on files, without the pipeline (e.g. a published
territory-design benchmark): units.csv, reps.csv, an optional distance matrix and, for
contiguous territories, an optional adjacency file (unit_a,unit_b)."""

from __future__ import annotations

import csv
from pathlib import Path

from orchestration.territories.adjacency import read_adjacency
from orchestration.territories.model import (
    Instance,
    TerritoryInputError,
    Tolerance,
    read_matrix,
    read_reps,
    read_units,
)
from orchestration.territories.solver import (
    DEFAULT_SCENARIOS,
    Scenario,
    ScenarioResult,
)


def parse_scenario(text: str) -> list[Scenario]:
    """min_travel, min_disruption, km_per_move=N, or all (the default set)."""
    text = text.strip()
    if text == "all":
        return list(DEFAULT_SCENARIOS)
    if text == "min_travel":
        return [Scenario.min_travel()]
    if text == "min_disruption":
        return [Scenario.min_disruption()]
    if text.startswith("km_per_move="):
        try:
            km = float(text.split("=", 1)[1])
        except ValueError:
            pass
        else:
            if km >= 0:
                return [Scenario(f"km_per_move_{km:g}", km)]
    raise TerritoryInputError(
        f"scenario {text!r}: min_travel, min_disruption, km_per_move=N (N >= 0) or all"
    )


def load_instance(
    units: Path,
    reps: Path,
    matrix: Path | None,
    tolerance: str,
    adjacency: Path | None = None,
) -> Instance:
    rep_list = read_reps(reps)
    distances = read_matrix(matrix, rep_list) if matrix else {}
    return Instance(
        read_units(units),
        rep_list,
        Tolerance.parse(tolerance),
        adjacency=read_adjacency(adjacency) if adjacency else None,
        **distances,
    )


def balance_line(label: str, result: ScenarioResult, after: bool) -> str:
    rows = result.after if after else [b for b in result.before]
    if not rows:
        return f"  {label}: -"
    loads = [b.workload for b in rows]
    mean = sum(loads) / len(loads)
    lo, hi = result.band_hours
    outside = sum(1 for w in loads if not lo - 1e-6 <= w <= hi + 1e-6)
    travel = sum(b.travel_km for b in rows)
    return (
        (
            f"  {label}: workload min {min(loads):,.1f} / mean {mean:,.1f} / max {max(loads):,.1f} "
            f"({min(loads) / mean:.2f}..{max(loads) / mean:.2f} of the mean), "
            f"{outside} reps outside [{lo:,.1f}, {hi:,.1f}], travel {travel:,.1f}"
        )
        if mean
        else f"  {label}: no workload"
    )


def write_proposal(path: Path, instance: Instance, results: list[ScenarioResult]) -> int:
    reps = {r.id: r for r in instance.reps}
    rows = 0
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["scenario", "status", "gap", "unit_id", "current_rep", "proposed_rep",
             "moved", "moved_accounts", "workload", "distance_proposed"]
        )  # fmt: skip
        for result in results:
            for u in instance.units:
                proposed = result.assignment.get(u.id)
                w.writerow(
                    [
                        result.scenario,
                        result.status,
                        "" if result.gap is None else f"{result.gap:.6f}",
                        u.id,
                        u.current_rep or "",
                        proposed or "",
                        "" if proposed is None else int(proposed != u.current_rep),
                        "" if proposed is None else u.moved_accounts(proposed),
                        f"{u.workload:g}",
                        "" if proposed is None else f"{instance.distance(u, reps[proposed]):.3f}",
                    ]
                )
                rows += 1
    return rows
