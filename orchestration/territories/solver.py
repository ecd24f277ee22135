"""Territory re-alignment with OR-Tools CP-SAT.

Variables: x[u, r] = 1 when unit u goes to rep r (one rep per unit; a locked unit is fixed).
Constraints: each rep's workload within the tolerance band of the mean workload per rep.
Objective: `travel_weight * travel + move_weight * moved accounts`, integers:
travel = sum of distance(unit, rep office) x visits, in units of 0.1 km; moved accounts =
accounts of units assigned away from their current rep. Scenarios set the two weights:

- `min_travel`: travel only;
- `min_disruption`: moves first, travel as the tie-break (move weight > any travel);
- weighted (`km_per_move: k`): one account moved costs as much as k km of travel.

The solver returns its status (OPTIMAL = proven, FEASIBLE = best found within the time
limit), the objective, the best bound and the proven gap (objective - bound) / objective.

Contiguity (a scenario's `contiguity`): each rep's units form one connected set of the
adjacency graph (adjacency.py). Single-commodity flow: each territory's root is its unit
nearest the rep's office (root[u, r], defined by x through a chain along the rep's units
by distance, so not a free choice: no symmetry); each arc u->v of the graph carries a
flow f >= 0 only when its edge is marked `same` (u and v with one rep, enforced by the
clauses same & x[u, r] -> x[v, r]); every unit takes in at least one more unit of flow
than it sends out unless it is a root, which may send up to N - 1. Flow reaches a unit
only through units of its own rep and only roots create it, so a piece of territory that
no chain of its own units joins to its root cannot be fed: the territory is connected.
Per edge one boolean and two integers, so the model grows with the graph (about 3 edges
per unit for a Delaunay graph) rather than with edges x reps. The LP bound of this flow
is weak (big-M): with contiguity the proven gap mostly measures the bound, and a
heuristic connected start (`contiguous_start`) is hinted, since CP-SAT seldom finds a
first connected, in-band assignment of thousands of units within a time limit.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

from orchestration.territories.adjacency import (
    components,
    delaunay_adjacency,
    is_connected,
    neighbours,
    spanning_flows,
)
from orchestration.territories.model import Instance, Rep, Tolerance, Unit

KM_SCALE = 10  # travel in 0.1 km
WORK_SCALE = 100  # workload in 0.01 h
PRESOLVE_MAX_CONTIGUOUS_UNITS = 500


@dataclass(frozen=True)
class Scenario:
    name: str
    km_per_move: float | None = 0.0  # None = lexicographic min disruption
    contiguity: bool = False  # each rep's units one connected set of the adjacency graph

    @classmethod
    def min_travel(cls) -> Scenario:
        return cls("min_travel", 0.0)

    @classmethod
    def min_disruption(cls) -> Scenario:
        return cls("min_disruption", None)


DEFAULT_SCENARIOS = [
    Scenario.min_travel(),
    Scenario("km_per_move_50", 50.0),
    Scenario("km_per_move_200", 200.0),
    Scenario.min_disruption(),
]


@dataclass
class RepBalance:
    rep_id: str
    units: int
    accounts: int
    workload: float
    travel_km: float
    deviation: float  # workload / mean - 1
    capacity: float | None


@dataclass
class ScenarioResult:
    scenario: str
    status: str  # OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN, MODEL_INVALID
    message: str
    contiguity: bool = False
    assignment: dict[str, str] = field(default_factory=dict)
    objective: float | None = None
    best_bound: float | None = None
    gap: float | None = None
    travel_km: float | None = None
    moved_units: int | None = None
    moved_accounts: int | None = None
    solve_seconds: float = 0.0
    band_hours: tuple[float, float] = (0.0, 0.0)
    before: list[RepBalance] = field(default_factory=list)
    after: list[RepBalance] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("OPTIMAL", "FEASIBLE")

    @property
    def within_band_after(self) -> bool:
        lo, hi = self.band_hours
        return bool(self.after) and all(lo - 1e-6 <= b.workload <= hi + 1e-6 for b in self.after)

    def summary(self) -> str:
        if not self.ok:
            return f"{self.scenario}: {self.status}: {self.message}"
        bound = "-" if self.best_bound is None else f"{self.best_bound:g}"
        gap = "-" if self.gap is None else f"{self.gap:.4%}"
        return (
            f"{self.scenario}: {self.status} objective={self.objective:g} "
            f"bound={bound} gap={gap} travel={self.travel_km:,.1f} km "
            f"moved={self.moved_accounts} accounts ({self.moved_units} units) "
            f"in {self.solve_seconds:.1f} s{', contiguous' if self.contiguity else ''}"
        )


def band(instance: Instance) -> tuple[float, float]:
    mean = instance.mean_workload
    return instance.tolerance.low * mean, instance.tolerance.high * mean


def balance(instance: Instance, assignment: dict[str, str | None]) -> list[RepBalance]:
    """Per rep: units, accounts, workload, travel and deviation from the mean workload."""
    mean = instance.mean_workload
    by_rep = {r.id: [] for r in instance.reps}
    for u in instance.units:
        rep = assignment.get(u.id)
        if rep in by_rep:
            by_rep[rep].append(u)
    reps = {r.id: r for r in instance.reps}
    out = []
    for rep_id, units in by_rep.items():
        workload = sum(u.workload for u in units)
        out.append(
            RepBalance(
                rep_id=rep_id,
                units=len(units),
                accounts=sum(u.accounts for u in units),
                workload=workload,
                travel_km=sum(instance.distance(u, reps[rep_id]) * u.visits for u in units),
                deviation=(workload / mean - 1) if mean else 0.0,
                capacity=reps[rep_id].capacity,
            )
        )
    return out


def diagnose(instance: Instance) -> str | None:
    """The obvious reasons a tolerance band cannot be met, or None."""
    tol: Tolerance = instance.tolerance
    lo, hi = band(instance)
    prefix = f"tolerance {tol} infeasible"
    for u in sorted(instance.units, key=lambda u: -u.workload):
        if u.workload > hi + 1e-9:
            return f"{prefix}: unit {u.id} alone needs {u.workload:g} h > max {hi:g} h"
        break
    locked: dict[str, float] = {}
    for u in instance.units:
        if u.locked_rep:
            locked[u.locked_rep] = locked.get(u.locked_rep, 0.0) + u.workload
    for rep_id, hours in sorted(locked.items(), key=lambda kv: -kv[1]):
        if hours > hi + 1e-9:
            return f"{prefix}: units locked to rep {rep_id} need {hours:g} h > max {hi:g} h"
    if lo > 0 and len(instance.units) < len(instance.reps):
        return (
            f"{prefix}: {len(instance.units)} units cannot give each of "
            f"{len(instance.reps)} reps at least {lo:g} h"
        )
    return None


def adjacency_graph(instance: Instance) -> dict[str, set[str]]:
    """The instance's neighbour graph; derived once from the coordinates (Delaunay) and kept
    on the instance when no adjacency was given."""
    if instance.adjacency is None:
        instance.adjacency = delaunay_adjacency(instance.units)
    return neighbours((u.id for u in instance.units), instance.adjacency)


def diagnose_contiguity(
    instance: Instance,
    graph: dict[str, set[str]],
    candidates: dict[str, list[Rep]],
    restricted: bool,
) -> str | None:
    """The obvious reasons connected territories cannot be drawn, or None."""
    groups = components(graph)
    n = len(instance.reps)
    prefix = "contiguity infeasible"
    if len(groups) > n:
        return (
            f"{prefix}: the units form {len(groups)} groups that no chain of neighbours joins "
            f"(smallest: {', '.join(groups[-1][:3])}) for {n} reps, and a rep's territory is "
            f"one connected group; join them in the adjacency or turn contiguity off"
        )
    lo, _ = band(instance)
    workload = {u.id: u.workload for u in instance.units}
    for group in groups:
        hours = sum(workload[u] for u in group)
        if hours < lo - 1e-9:
            return (
                f"{prefix}: the group of units {', '.join(group[:3])}"
                f"{' ...' if len(group) > 3 else ''} joined to no other unit has {hours:g} h "
                f"< min {lo:g} h for the rep who covers it"
            )
    locked: dict[str, list[str]] = {}
    for u in instance.units:
        if u.locked_rep:
            locked.setdefault(u.locked_rep, []).append(u.id)
    # with max_candidate_reps, a rep may only get the units of which it is a near rep
    limit = " or not within its reach (max_candidate_reps)" if restricted else ""
    for rep_id, units in sorted(locked.items()):
        # the units this rep may get: its locked units and the unlocked units it is a
        # candidate for (a unit locked elsewhere has that rep as its only candidate)
        allowed = {uid for uid, reps in candidates.items() if any(r.id == rep_id for r in reps)}
        reach = next(g for g in components(graph, allowed) if units[0] in g)
        cut = [uid for uid in units if uid not in reach]
        if cut:
            return (
                f"{prefix}: units {units[0]} and {cut[0]} are both locked to rep {rep_id} but "
                f"every chain of neighbours between them crosses units locked to other "
                f"reps{limit}; unlock one of them or turn contiguity off"
            )
        hours = sum(workload[uid] for uid in reach)
        if hours < lo - 1e-9:
            return (
                f"{prefix}: rep {rep_id} is locked to unit {units[0]}, and the connected units "
                f"around it that the rep may get add up to {hours:g} h < min {lo:g} h: the "
                f"units beyond are locked to other reps{limit}; unlock it or turn contiguity off"
            )
    return None


def _add_contiguity(model, instance, graph, candidates, x, hint) -> None:
    """Flow constraints of the module docstring; hints the roots, edges and flows too when
    the hint assignment already has connected territories."""
    n = len(instance.units)
    # root[u, r]: u is the unit of r's territory nearest r's office. Defined, not chosen:
    # walking r's candidate units by distance, `seen` says whether an earlier one is r's;
    # the root is the first that is. One root per non-empty territory, no symmetry.
    root_terms: dict[str, list] = {u.id: [] for u in instance.units}
    root_var, seen_var, order = {}, {}, {}
    for r in instance.reps:
        mine = [u for u in instance.units if (u.id, r.id) in x]
        mine.sort(key=lambda u: (instance.distance(u, r), u.id))
        order[r.id] = [u.id for u in mine]
        seen = None
        for u in mine:
            here = x[u.id, r.id]
            if seen is None:
                y, seen = here, here
            else:
                y = model.new_bool_var(f"root[{u.id},{r.id}]")
                model.add_implication(y, here)
                model.add_implication(y, seen.Not())
                model.add_bool_or([y, here.Not(), seen])
                now = model.new_bool_var(f"seen[{u.id},{r.id}]")
                model.add_bool_or([now.Not(), seen, here])
                model.add_implication(seen, now)
                model.add_implication(here, now)
                seen_var[u.id, r.id] = now
                seen = now
            root_var[u.id, r.id] = y
            root_terms[u.id].append(y)
    inflow: dict[str, list] = {u.id: [] for u in instance.units}
    outflow: dict[str, list] = {u.id: [] for u in instance.units}
    same_var, flow_var = {}, {}
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if b < a:
                continue
            same = model.new_bool_var(f"same[{a},{b}]")
            same_var[a, b] = same
            # same -> b has a's rep (a has exactly one rep, so this is equality)
            for r in candidates[a]:
                if (b, r.id) in x:
                    model.add_bool_or([x[b, r.id]]).only_enforce_if([same, x[a, r.id]])
                else:
                    model.add_implication(same, x[a, r.id].Not())
            for head, tail in ((a, b), (b, a)):
                f = model.new_int_var(0, n - 1, f"flow[{head},{tail}]")
                model.add(f == 0).only_enforce_if(same.Not())
                flow_var[head, tail] = f
                outflow[head].append(f)
                inflow[tail].append(f)
    for u in instance.units:
        model.add(sum(inflow[u.id]) - sum(outflow[u.id]) >= 1 - n * sum(root_terms[u.id]))
        # redundant but propagates at once: a unit of r that is not r's root has a
        # neighbour of r (the flow needs one; the clause prunes the search early)
        for r in candidates[u.id]:
            near = [x[v, r.id] for v in sorted(graph[u.id]) if (v, r.id) in x]
            model.add_bool_or(near).only_enforce_if([x[u.id, r.id], root_var[u.id, r.id].Not()])

    if not hint:
        return
    territories: dict[str, set[str]] = {}
    for uid, rep_id in hint.items():
        territories.setdefault(rep_id, set()).add(uid)
    flows: dict[tuple[str, str], int] = {}
    roots: dict[str, str] = {}
    for rep_id, territory in territories.items():
        root = next(uid for uid in order[rep_id] if uid in territory)
        tree = spanning_flows(graph, territory, root)
        if tree is None:
            return  # not connected: the assignment hint alone
        flows |= tree
        roots[rep_id] = root
    for (uid, rep_id), var in root_var.items():
        if uid != order[rep_id][0]:  # the first one's root is its x, hinted already
            model.add_hint(var, roots.get(rep_id) == uid)
    for rep_id, ids in order.items():
        seen = False
        for uid in ids:
            seen = seen or hint.get(uid) == rep_id
            if (uid, rep_id) in seen_var:
                model.add_hint(seen_var[uid, rep_id], seen)
    for (a, b), same in same_var.items():
        model.add_hint(same, hint.get(a) == hint.get(b))
    for arc, f in flow_var.items():
        model.add_hint(f, flows.get(arc, 0))


def contiguous_start(
    instance: Instance,
    graph: dict[str, set[str]],
    candidates: dict[str, list[Rep]],
    start: dict[str, str],
    scenario: Scenario | None = None,
    max_rounds: int | None = None,
) -> dict[str, str] | None:
    """A connected, in-band assignment to hint CP-SAT with, or None when this heuristic
    cannot find one (CP-SAT then searches from the plain assignment hint).

    CP-SAT alone rarely finds a first connected and balanced assignment of thousands of
    zones within a nightly time limit; from a feasible start its search only improves.
    1. Each rep keeps the connected piece of its `start` units holding most of its locked
       units, then the one nearest its office (a piece far from it cannot grow: the
       zones around are not among the rep's candidates); the other pieces are freed.
    2. A rep left without units takes the free unit nearest its office.
    3. Free units go, one neighbour at a time, to the nearest rep whose territory they
       touch (territories grow outwards, so they stay connected).
    4. Balance: move border units to neighbouring territories while that reduces the
       hours outside the band or levels the two territories, never cutting the territory
       a unit leaves in two and never moving a locked unit.
    5. Shorten: border moves that save on the scenario's objective (travel, plus
       `km_per_move` per account moved) and keep both reps in the band.
    """
    lo, hi = band(instance)
    units = {u.id: u for u in instance.units}
    reps = {r.id: r for r in instance.reps}
    allowed = {uid: {r.id for r in rs} for uid, rs in candidates.items()}
    km: dict[tuple[str, str], float] = {}

    # the scenario's cost of giving a unit to a rep: travel + km_per_move x accounts moved
    # (min disruption: moves first); min travel by default
    per_move = 0.0 if scenario is None else scenario.km_per_move
    if per_move is None:
        per_move = 1e9

    def cost(uid: str, rep_id: str) -> float:
        if (uid, rep_id) not in km:
            unit = units[uid]
            km[uid, rep_id] = instance.distance(unit, reps[rep_id]) * unit.visits
            km[uid, rep_id] += per_move * unit.moved_accounts(rep_id)
        return km[uid, rep_id]

    assign: dict[str, str] = {}
    territory: dict[str, set[str]] = {r: set() for r in reps}
    for rep_id in reps:
        mine = {u for u, r in start.items() if r == rep_id and rep_id in allowed.get(u, ())}
        if not mine:
            continue
        pieces = components(graph, mine)
        keep = max(
            pieces,
            key=lambda p, r=reps[rep_id]: (
                sum(1 for u in p if units[u].locked_rep == rep_id),
                -min(instance.distance(units[u], r) for u in p),
            ),
        )
        territory[rep_id] = set(keep)
        assign.update(dict.fromkeys(keep, rep_id))
    for u in instance.units:  # locked units stay put even when cut off (hint only)
        if u.locked_rep and u.id not in assign:
            assign[u.id] = u.locked_rep
            territory[u.locked_rep].add(u.id)
    for rep_id in sorted(reps):
        if not territory[rep_id]:
            free = [u for u in units if u not in assign and rep_id in allowed[u]]
            if not free:
                return None
            seed = min(free, key=lambda u: (instance.distance(units[u], reps[rep_id]), u))
            assign[seed] = rep_id
            territory[rep_id].add(seed)
    while len(assign) < len(units):
        grown = False
        for uid in sorted(units):
            if uid in assign:
                continue
            touching = {assign[v] for v in graph[uid] if v in assign} & allowed[uid]
            if touching:
                rep_id = min(touching, key=lambda r: (cost(uid, r), r))
                assign[uid] = rep_id
                territory[rep_id].add(uid)
                grown = True
        if not grown:
            return None

    load = {r: sum(units[u].workload for u in t) for r, t in territory.items()}

    def outside(hours: float) -> float:
        return max(0.0, lo - hours) + max(0.0, hours - hi)

    for _ in range(max_rounds or 4 * len(units)):
        if all(outside(h) == 0 for h in load.values()):
            return _shorten(instance, graph, allowed, assign, territory, load, cost)
        # every border move that takes hours out of the band (first) or levels two
        # neighbouring territories (sum of squared loads falls: the hours moved are less
        # than the gap between them), so hours flow from heavy to light territories
        # through the ones between; each round moves each territory at most once
        moves = []
        for uid, rep_id in assign.items():
            if units[uid].locked_rep or len(territory[rep_id]) == 1:
                continue
            w = units[uid].workload
            for other in {assign[v] for v in graph[uid]} - {rep_id}:
                if other not in allowed[uid]:
                    continue
                a, b = load[rep_id], load[other]
                gain = outside(a) + outside(b) - outside(a - w) - outside(b + w)
                level = w * (a - b - w)
                if gain > 1e-9 or (gain > -1e-9 and level > 1e-9):
                    moves.append((-round(gain, 6), -level, uid, rep_id, other))
        moved = _apply_border_moves(
            graph, units, assign, territory, load, [m[2:] for m in sorted(moves)]
        )
        if not moved:
            return None
    return None


def _shorten(instance, graph, allowed, assign, territory, load, cost) -> dict[str, str]:
    """Step 5 of contiguous_start: move border units to the neighbouring territory while
    that saves cost, keeps both reps in the band and cuts no territory in two; the
    biggest saving first, until no move saves anything."""
    lo, hi = band(instance)
    units = {u.id: u for u in instance.units}
    for _ in range(4 * len(units)):
        moves = []
        for uid, rep_id in assign.items():
            if units[uid].locked_rep or len(territory[rep_id]) == 1:
                continue
            w = units[uid].workload
            if load[rep_id] - w < lo - 1e-9:
                continue
            for other in {assign[v] for v in graph[uid]} - {rep_id}:
                if other in allowed[uid] and load[other] + w <= hi + 1e-9:
                    saving = cost(uid, rep_id) - cost(uid, other)
                    if saving > 1e-9:
                        moves.append((-saving, uid, rep_id, other))
        if not _apply_border_moves(
            graph, units, assign, territory, load, [m[1:] for m in sorted(moves)]
        ):
            break
    return assign


def _apply_border_moves(graph, units, assign, territory, load, moves) -> bool:
    """Apply (unit, from_rep, to_rep) moves in the order given, each territory at most once
    a round and never cutting the one it leaves in two; True when at least one was made."""
    busy: set[str] = set()
    for uid, rep_id, other in moves:
        if rep_id in busy or other in busy:
            continue
        if is_connected(graph, territory[rep_id] - {uid}):
            territory[rep_id].discard(uid)
            territory[other].add(uid)
            assign[uid] = other
            load[rep_id] -= units[uid].workload
            load[other] += units[uid].workload
            busy |= {rep_id, other}
    return bool(busy)


def _objective(instance: Instance, scenario: Scenario, assignment: dict[str, str]) -> float:
    """The scenario's objective of an assignment in km-equivalents (to rank starts)."""
    reps = {r.id: r for r in instance.reps}
    travel = sum(instance.distance(u, reps[assignment[u.id]]) * u.visits for u in instance.units)
    moved = sum(u.moved_accounts(assignment[u.id]) for u in instance.units)
    if scenario.km_per_move is None:
        return moved * 1e12 + travel
    return travel + scenario.km_per_move * moved


def _candidates(
    instance: Instance, max_candidates: int | None, graph: dict[str, set[str]] | None = None
) -> dict[str, list[Rep]]:
    """Per unit the reps it may go to: its locked rep; else its nearest `max_candidates`
    reps and its current rep, and with contiguity (`graph`) also its neighbours' current
    reps, so that today's territories can still grow into the zones around them."""
    current = {u.id: u.current_rep for u in instance.units}
    out = {}
    for u in instance.units:
        if u.locked_rep:
            out[u.id] = [r for r in instance.reps if r.id == u.locked_rep]
            continue
        reps = instance.reps
        if max_candidates and len(reps) > max_candidates:
            nearest = sorted(reps, key=lambda r: instance.distance(u, r))[:max_candidates]
            keep = {r.id for r in nearest} | {u.current_rep}
            if graph is not None:
                keep |= {current[v] for v in graph[u.id]}
            reps = [r for r in reps if r.id in keep]
        out[u.id] = reps
    return out


def solve(
    instance: Instance,
    scenario: Scenario | None = None,
    *,
    time_limit: float = 60.0,
    workers: int | None = None,
    max_candidates: int | None = None,
    gap_limit: float = 0.0,
    seed: int = 0,
    hint: dict[str, str] | None = None,
) -> ScenarioResult:
    """Solve one scenario; never raises on infeasibility (status + message instead).

    `hint`: a starting assignment (e.g. the previous scenario's solution, which satisfies
    the band); default the current assignment."""
    from ortools.sat.python import cp_model

    scenario = scenario or Scenario.min_travel()
    started = time.perf_counter()
    lo_h, hi_h = band(instance)
    current = {u.id: u.current_rep for u in instance.units}
    result = ScenarioResult(
        scenario=scenario.name,
        status="INFEASIBLE",
        message="",
        contiguity=scenario.contiguity,
        band_hours=(lo_h, hi_h),
        before=balance(instance, current),
    )
    reason = diagnose(instance)
    if reason:
        result.message = reason
        return result

    graph = adjacency_graph(instance) if scenario.contiguity else None
    candidates = _candidates(instance, max_candidates, graph)
    if graph is not None:
        reason = diagnose_contiguity(instance, graph, candidates, bool(max_candidates))
        if reason:
            result.message = reason
            return result
    model = cp_model.CpModel()
    x: dict[tuple[str, str], cp_model.IntVar] = {}
    load_terms: dict[str, list] = {r.id: [] for r in instance.reps}
    travel_terms, move_terms = [], []
    w_int = {u.id: round(u.workload * WORK_SCALE) for u in instance.units}
    costs: dict[tuple[str, str], int] = {}  # travel of x[u, r] in the objective's integers
    travel_ub = 0
    # the starting assignment hinted: the given one, else today's; with contiguity a
    # connected in-band one built from it (or from each unit's nearest rep) when possible
    start, connected_start = {}, None
    for u in instance.units:
        rep_id = (hint or {}).get(u.id) or u.current_rep
        if rep_id and rep_id in {r.id for r in candidates[u.id]}:
            start[u.id] = rep_id
    if graph is not None:
        # three starts: the given one; today's where the rep is one of the zone's nearest
        # reps, else the nearest rep (today's far-flung pieces cannot grow); the nearest
        ranked = {
            u.id: sorted(candidates[u.id], key=lambda r, u=u: (instance.distance(u, r), r.id))
            for u in instance.units
        }
        nearest = {uid: reps[0].id for uid, reps in ranked.items()}
        near = max_candidates or len(instance.reps)
        blend = {
            uid: start[uid] if start.get(uid) in {r.id for r in reps[:near]} else nearest[uid]
            for uid, reps in ranked.items()
        }
        starts = [
            a
            for a in (
                contiguous_start(instance, graph, candidates, begin, scenario)
                for begin in (start, blend, nearest)
            )
            if a
        ]
        if starts:
            start = min(starts, key=lambda a: _objective(instance, scenario, a))
            connected_start = start
    for u in instance.units:
        choices = []
        worst = 0
        for r in candidates[u.id]:
            var = model.new_bool_var(f"x[{u.id},{r.id}]")
            x[u.id, r.id] = var
            choices.append(var)
            load_terms[r.id].append(w_int[u.id] * var)
            cost = round(instance.distance(u, r) * u.visits * KM_SCALE)
            costs[u.id, r.id] = cost
            worst = max(worst, cost)
            if cost:
                travel_terms.append(cost * var)
            moved = u.moved_accounts(r.id)
            if moved:
                move_terms.append(moved * var)
        travel_ub += worst
        model.add_exactly_one(choices)
        if u.id in start:
            for r in candidates[u.id]:
                model.add_hint(x[u.id, r.id], r.id == start[u.id])
    total = sum(w_int.values())
    n = len(instance.reps)
    lo = math.ceil(instance.tolerance.low * total / n - 1e-9)
    hi = math.floor(instance.tolerance.high * total / n + 1e-9)
    for r in instance.reps:
        model.add_linear_constraint(sum(load_terms[r.id]), lo, hi)
    if graph is not None:
        complete = len(start) == len(instance.units)
        _add_contiguity(model, instance, graph, candidates, x, start if complete else None)

    travel = sum(travel_terms)
    moves = sum(move_terms)
    if scenario.km_per_move is None:
        travel_w, move_w = 1, travel_ub + 1
    else:
        travel_w, move_w = 1, round(scenario.km_per_move * KM_SCALE)
    objective = travel_w * travel + move_w * moves if move_terms else travel
    model.minimize(objective)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = workers or min(8, max(2, os.cpu_count() or 2))
    solver.parameters.random_seed = seed
    # stop once the proven gap is at most this (0 = prove optimality)
    solver.parameters.relative_gap_limit = float(gap_limit)
    if graph is not None and len(instance.units) > PRESOLVE_MAX_CONTIGUOUS_UNITS:
        # presolving a contiguous model of thousands of units takes 15+ s on 2 cores before
        # the hinted start is even taken; without it the start is the first solution in a
        # second and the search improves from there (same bound, from the LP)
        solver.parameters.cp_model_presolve = False
    status = solver.solve(model)
    result.status = solver.status_name(status)
    result.solve_seconds = time.perf_counter() - started
    if status == cp_model.UNKNOWN and connected_start:
        # no solution from CP-SAT within the limit, but the heuristic connected start is
        # one: proposed as the best found, without a proven gap
        assignment = connected_start
        obj = travel_w * sum(costs[u.id, assignment[u.id]] for u in instance.units)
        if move_terms:
            obj += move_w * sum(u.moved_accounts(assignment[u.id]) for u in instance.units)
        _fill(result, instance, assignment, obj / KM_SCALE)
        result.status = "FEASIBLE"
        result.message = (
            f"time limit {time_limit:g} s reached before CP-SAT's first solution: the "
            f"heuristic connected start, no proven gap; contiguous territories "
            f"({len(instance.adjacency):,} adjacent pairs)"
        )
        return result
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.INFEASIBLE:
            restricted = " (with each unit limited to its nearest reps)" if max_candidates else ""
            what = "assignment of connected territories" if graph else "assignment"
            result.message = (
                f"tolerance {instance.tolerance} infeasible: no {what} puts all {n} reps "
                f"between {lo_h:g} h and {hi_h:g} h{restricted}; widen the band or unlock units"
                + (" or turn contiguity off" if graph else "")
            )
        else:
            result.message = f"no solution found within {time_limit:g} s" + (
                " (contiguous territories: raise the time limit or turn contiguity off)"
                if graph
                else ""
            )
        return result

    assignment = {}
    for u in instance.units:
        for r in candidates[u.id]:
            if solver.boolean_value(x[u.id, r.id]):
                assignment[u.id] = r.id
                break
    obj, bound = solver.objective_value, solver.best_objective_bound
    _fill(result, instance, assignment, obj / KM_SCALE)
    result.best_bound = bound / KM_SCALE
    result.gap = 0.0 if status == cp_model.OPTIMAL else max(0.0, obj - bound) / max(1.0, abs(obj))
    if status == cp_model.OPTIMAL and obj - bound > 1e-6:
        # stopped by gap_limit: CP-SAT says OPTIMAL, but the proof is only up to the gap
        result.status = "FEASIBLE"
        result.gap = (obj - bound) / max(1.0, abs(obj))
        result.message = f"gap limit {gap_limit:.2%} reached: proven gap {result.gap:.3%}"
    elif status == cp_model.OPTIMAL:
        result.message = "proven optimal"
    else:
        result.message = f"time limit {time_limit:g} s reached: best found, gap {result.gap:.3%}"
    if graph is not None:
        result.message += f"; contiguous territories ({len(instance.adjacency):,} adjacent pairs)"
    return result


def _fill(result: ScenarioResult, instance: Instance, assignment: dict, objective: float):
    """A solution's figures: objective in km-equivalents (travel km + km_per_move x moved
    accounts), balance after, travel, moves."""
    result.assignment = assignment
    result.objective = objective
    result.after = balance(instance, assignment)
    result.travel_km = sum(b.travel_km for b in result.after)
    moved = [u for u in instance.units if u.moved_accounts(assignment[u.id])]
    result.moved_units = len(moved)
    result.moved_accounts = sum(u.moved_accounts(assignment[u.id]) for u in moved)


def solve_scenarios(
    instance: Instance, scenarios: list[Scenario] | None = None, **kwargs
) -> list[ScenarioResult]:
    return [solve(instance, s, **kwargs) for s in (scenarios or DEFAULT_SCENARIOS)]


def current_units_check(units: list[Unit]) -> dict[str, int]:
    """How many units have a current rep / a lock (for logs)."""
    return {
        "units": len(units),
        "with_current_rep": sum(1 for u in units if u.current_rep),
        "locked": sum(1 for u in units if u.locked_rep),
    }
