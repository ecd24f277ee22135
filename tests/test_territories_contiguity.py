"""Contiguous territories: adjacency (file, Delaunay, restriction to known zones), the flow
constraint on hand-made instances with known optima, the infeasibility reports, the
config keys and the standalone CLI."""

import random

import pytest

from orchestration.territories.adjacency import (
    components,
    delaunay_adjacency,
    is_connected,
    neighbours,
    read_adjacency,
    restrict,
)
from orchestration.territories.model import Instance, Rep, TerritoryInputError, Tolerance, Unit
from orchestration.territories.solver import (
    Scenario,
    _candidates,
    adjacency_graph,
    band,
    contiguous_start,
    solve,
)

# A path A - B - C - D of four 10 h units, two reps; band 17..23 h: two units each.
# Unit-to-rep km:
#        R1  R2
#   A     1   9
#   B     5   3
#   C     2   8
#   D     9   1
# Min travel without contiguity: R1 = {A, C}, R2 = {B, D}: 1 + 2 + 3 + 1 = 7 km, both
# territories cut in two. The splits whose two sides are connected: {A,B}|{C,D} =
# 1 + 5 + 8 + 1 = 15 km and {C,D}|{A,B} = 2 + 9 + 9 + 3 = 23 km ({B,C} leaves {A,D}, not
# connected): with contiguity the optimum is R1 = {A, B}, R2 = {C, D} at 15 km.
KM = {"A": (1, 9), "B": (5, 3), "C": (2, 8), "D": (9, 1)}
PATH = [("A", "B"), ("B", "C"), ("C", "D")]
MATRIX = {(u, r): d[i] for u, d in KM.items() for i, r in enumerate(("R1", "R2"))}
MIN_TRAVEL = Scenario("min_travel", 0.0)
CONTIGUOUS = Scenario("min_travel", 0.0, contiguity=True)


def path(locks=None, adjacency=PATH, workloads=None):
    locks, workloads = locks or {}, workloads or {}
    units = [Unit(u, workloads.get(u, 10.0), locked_rep=locks.get(u)) for u in "ABCD"]
    return Instance(
        units, [Rep("R1"), Rep("R2")], Tolerance(), unit_rep_km=MATRIX, adjacency=adjacency
    )


def territories(assignment):
    out = {}
    for unit, rep in assignment.items():
        out.setdefault(rep, set()).add(unit)
    return out


def test_contiguity_joins_the_territories_that_min_travel_splits():
    split = solve(path(), MIN_TRAVEL, time_limit=10)
    assert split.assignment == {"A": "R1", "B": "R2", "C": "R1", "D": "R2"}
    assert split.travel_km == pytest.approx(7)
    joined = solve(path(), CONTIGUOUS, time_limit=10)
    assert joined.status == "OPTIMAL" and joined.gap == 0
    assert joined.assignment == {"A": "R1", "B": "R1", "C": "R2", "D": "R2"}
    assert joined.travel_km == pytest.approx(15) and joined.objective == pytest.approx(15)
    assert joined.within_band_after and joined.contiguity
    assert joined.message == "proven optimal; contiguous territories (3 adjacent pairs)"
    assert joined.summary().endswith(", contiguous")


def test_contiguity_follows_the_given_adjacency_not_the_order_of_names():
    # The same units on a ring A - B - D - C - A: {A, C} | {B, D} is now two connected
    # pairs (A-C and B-D are edges), so the 7 km optimum is contiguous and stays.
    ring = [("A", "B"), ("B", "D"), ("C", "D"), ("A", "C")]
    result = solve(path(adjacency=ring), CONTIGUOUS, time_limit=10)
    assert result.status == "OPTIMAL"
    assert result.assignment == {"A": "R1", "B": "R2", "C": "R1", "D": "R2"}


def test_contiguity_with_a_lock_moves_the_rest_around_it():
    # B locked to R2: R2 = {B, x} connected: {A,B} (A 9 + B 3, R1 {C,D} 2 + 9 = 23) or
    # {B,C} (3 + 8, R1 {A,D} not connected): optimum R2 = {A, B}, R1 = {C, D}, 23 km.
    result = solve(path(locks={"B": "R2"}), CONTIGUOUS, time_limit=10)
    assert result.status == "OPTIMAL"
    assert result.assignment == {"A": "R2", "B": "R2", "C": "R1", "D": "R1"}
    assert result.travel_km == pytest.approx(23)


def test_lock_that_disconnects_is_reported():
    result = solve(path(locks={"A": "R1", "B": "R2", "C": "R1"}), CONTIGUOUS, time_limit=10)
    assert result.status == "INFEASIBLE" and not result.assignment
    assert result.message == (
        "contiguity infeasible: units A and C are both locked to rep R1 but every chain of "
        "neighbours between them crosses units locked to other reps; unlock one of them or "
        "turn contiguity off"
    )
    # without contiguity the same locks are fine
    assert solve(path(locks={"A": "R1", "B": "R2", "C": "R1"}), MIN_TRAVEL).ok


def test_lock_closed_in_by_other_locks_is_reported():
    # A locked to R1, B to R2: R1 can only ever have A (10 h) but needs 17 h.
    result = solve(path(locks={"A": "R1", "B": "R2"}), CONTIGUOUS, time_limit=10)
    assert result.status == "INFEASIBLE"
    assert result.message.startswith(
        "contiguity infeasible: rep R1 is locked to unit A, and the connected units around "
        "it that the rep may get add up to 10 h < min 17 h"
    )


def test_separate_groups_are_reported():
    three = [Unit(u, 10.0) for u in "ABC"]
    instance = Instance(
        [*three, Unit("D", 10.0)],
        [Rep("R1"), Rep("R2")],
        Tolerance(0.0, 2.0),
        unit_rep_km=MATRIX,
        adjacency=[("A", "B")],
    )
    result = solve(instance, CONTIGUOUS, time_limit=10)
    assert result.status == "INFEASIBLE"
    assert result.message.startswith(
        "contiguity infeasible: the units form 3 groups that no chain of neighbours joins "
        "(smallest: D) for 2 reps"
    )
    # two groups: {A, B} and {C, D}, one rep each, but {A, B} has 20 h and the band
    # needs 25 h..35 h at 0.83..1.17 of the 30 h mean: too light
    instance = Instance(
        [Unit("A", 10.0), Unit("B", 10.0), Unit("C", 20.0), Unit("D", 20.0)],
        [Rep("R1"), Rep("R2")],
        Tolerance(0.83, 1.17),
        unit_rep_km=MATRIX,
        adjacency=[("A", "B"), ("C", "D")],
    )
    result = solve(instance, CONTIGUOUS, time_limit=10)
    assert result.message.startswith(
        "contiguity infeasible: the group of units A, B joined to no other unit has 20 h "
        "< min 24.9 h"
    )


def test_infeasible_without_an_obvious_cause_names_contiguity():
    # A star: X in the middle, leaves L1..L3; two reps of two units each: a rep without X
    # holds two leaves, which do not touch.
    units = [Unit(u, 10.0) for u in ("X", "L1", "L2", "L3")]
    instance = Instance(
        units,
        [Rep("R1"), Rep("R2")],
        Tolerance(),
        unit_rep_km={(u.id, r): 1.0 for u in units for r in ("R1", "R2")},
        adjacency=[("X", "L1"), ("X", "L2"), ("X", "L3")],
    )
    result = solve(instance, CONTIGUOUS, time_limit=10)
    assert result.status == "INFEASIBLE"
    assert result.message == (
        "tolerance 0.85..1.15 infeasible: no assignment of connected territories puts all 2 "
        "reps between 17 h and 23 h; widen the band or unlock units or turn contiguity off"
    )
    assert solve(instance, MIN_TRAVEL, time_limit=10).ok


def test_disruption_with_contiguity():
    # Today R1 = {A, C}, R2 = {B, D} (the split optimum). Connected, fewest moves: the
    # connected splits {A,B}|{C,D} and {C,D}|{A,B} each move two units; the first costs
    # 15 km, the second 23 km: min disruption = 2 moves, 15 km.
    units = [
        Unit(u, 10.0, current_rep=r) for u, r in zip("ABCD", ("R1", "R2", "R1", "R2"), strict=True)
    ]
    instance = Instance(
        units, [Rep("R1"), Rep("R2")], Tolerance(), unit_rep_km=MATRIX, adjacency=PATH
    )
    result = solve(instance, Scenario("min_disruption", None, contiguity=True), time_limit=10)
    assert result.status == "OPTIMAL"
    assert result.moved_units == 2 and result.travel_km == pytest.approx(15)


def test_grid_with_coordinates_uses_delaunay_and_gives_connected_territories():
    # 6 x 6 zones on a jittered grid (no four points on one circle), 4 reps in the
    # corners; the solver derives the neighbours itself.
    rng = random.Random(7)
    units = [
        Unit(
            f"Z{i}{j}",
            workload=rng.choice([8.0, 10.0, 12.0]),
            lat=45 + 0.1 * i + rng.uniform(-0.01, 0.01),
            lon=3 + 0.1 * j + rng.uniform(-0.01, 0.01),
            visits=rng.randint(1, 6),
        )
        for i in range(6)
        for j in range(6)
    ]
    reps = [Rep(f"R{k}", lat=45 + 0.5 * a, lon=3 + 0.5 * b) for k, (a, b) in enumerate(
        [(0, 0), (0, 1), (1, 0), (1, 1)])]  # fmt: skip
    instance = Instance(units, reps, Tolerance(0.8, 1.2))
    graph = adjacency_graph(instance)
    assert instance.adjacency is not None and len(components(graph)) == 1
    # the rook moves of the grid are all neighbours
    for i in range(6):
        for j in range(5):
            assert f"Z{i}{j + 1}" in graph[f"Z{i}{j}"] and f"Z{j + 1}{i}" in graph[f"Z{j}{i}"]
    start = contiguous_start(instance, graph, _candidates(instance, None), {})
    lo, hi = band(instance)
    assert start is not None
    for rep, units_of_rep in territories(start).items():
        assert is_connected(graph, units_of_rep), rep
        assert lo <= sum(u.workload for u in units if u.id in units_of_rep) <= hi
    result = solve(instance, CONTIGUOUS, time_limit=10)
    assert result.ok and result.within_band_after
    for rep, units_of_rep in territories(result.assignment).items():
        assert is_connected(graph, units_of_rep), rep
    assert result.travel_km >= solve(instance, MIN_TRAVEL, time_limit=10).travel_km - 1e-6


def test_delaunay_adjacency_special_cases():
    def unit(name, lat, lon):
        return Unit(name, 1.0, lat=lat, lon=lon)

    # on one line: a chain, in order along the line, whatever the order given
    line = [unit(n, 45.0, 3.0 + x) for n, x in (("c", 0.2), ("a", 0.0), ("d", 0.3), ("b", 0.1))]
    assert delaunay_adjacency(line) == [("a", "b"), ("b", "c"), ("c", "d")]
    # a triangle with two units on one corner: both get the corner's neighbours, and
    # each other
    corner = [unit("p", 45, 3), unit("q", 45, 3), unit("r", 45, 4), unit("s", 46, 3)]
    assert delaunay_adjacency(corner) == [
        ("p", "q"), ("p", "r"), ("p", "s"), ("q", "r"), ("q", "s"), ("r", "s"),
    ]  # fmt: skip
    assert delaunay_adjacency([unit("x", 1, 1), unit("y", 2, 2)]) == [("x", "y")]
    with pytest.raises(TerritoryInputError, match="unit z has no coordinates"):
        delaunay_adjacency([Unit("z", 1.0)])


def test_restrict_joins_through_dropped_units():
    # A - x - B and x - y - C: x and y dropped (no active accounts): A, B and C touch.
    edges = [("A", "x"), ("B", "x"), ("x", "y"), ("C", "y"), ("C", "D")]
    assert restrict(edges, {"A", "B", "C", "D"}) == [("A", "B"), ("A", "C"), ("B", "C"), ("C", "D")]
    graph = neighbours("ABCD", restrict(edges, {"A", "B", "C", "D"}))
    assert components(graph) == [["A", "B", "C", "D"]]


def test_read_adjacency(tmp_path):
    path = tmp_path / "adj.csv"
    path.write_text("unit_a,unit_b\nB,A\nA,B\nB,C\n")
    assert read_adjacency(path) == [("A", "B"), ("B", "C")]
    path.write_text("unit_a,unit_b\nA,A\n")
    with pytest.raises(TerritoryInputError, match="adj.csv:2: two different unit ids"):
        read_adjacency(path)
    path.write_text("a,b\nA,B\n")
    with pytest.raises(TerritoryInputError, match="missing column"):
        read_adjacency(path)
    with pytest.raises(TerritoryInputError, match="adjacency pair A,Q: unknown unit Q"):
        Instance([Unit("A", 1.0)], [Rep("R1")], unit_rep_km={}, adjacency=[("A", "Q")])


def test_cli_with_an_adjacency_file(tmp_path):
    from typer.testing import CliRunner

    from orchestration.cli import app

    (tmp_path / "units.csv").write_text("unit_id,workload\nA,10\nB,10\nC,10\nD,10\n")
    (tmp_path / "reps.csv").write_text("rep_id\nR1\nR2\n")
    (tmp_path / "m.csv").write_text(
        "unit_id,rep_id,distance\n" + "".join(f"{u},{r},{d}\n" for (u, r), d in MATRIX.items())
    )
    (tmp_path / "adj.csv").write_text("unit_a,unit_b\nA,B\nB,C\nC,D\n")
    args = ["territories", "--units", str(tmp_path / "units.csv"), "--reps",
            str(tmp_path / "reps.csv"), "--matrix", str(tmp_path / "m.csv"),
            "--scenario", "min_travel"]  # fmt: skip
    out = tmp_path / "proposal.csv"
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 0 and "min_travel: OPTIMAL objective=7 " in plain.output
    joined = CliRunner().invoke(
        app, [*args, "--contiguity", "--adjacency", str(tmp_path / "adj.csv"), "--out", str(out)]
    )
    assert joined.exit_code == 0, joined.output
    assert "min_travel: OPTIMAL objective=15 bound=15 gap=0.0000%" in joined.output
    assert ", contiguous" in joined.output
    proposal = {line.split(",")[3]: line.split(",")[5] for line in out.read_text().splitlines()[1:]}
    assert proposal == {"A": "R1", "B": "R1", "C": "R2", "D": "R2"}
    # contiguity without an adjacency file needs coordinates: an input error, exit 2
    missing = CliRunner().invoke(app, [*args, "--contiguity"])
    assert missing.exit_code == 2 and "unit A has no coordinates" in missing.output
    (tmp_path / "adj.csv").write_text("unit_a,unit_b\nA,B\nB,Q\n")
    unknown = CliRunner().invoke(
        app, [*args, "--contiguity", "--adjacency", str(tmp_path / "adj.csv")]
    )
    assert unknown.exit_code == 2 and "adjacency pair B,Q: unknown unit Q" in unknown.output


def test_contiguity_config(tmp_path):
    from orchestration.territories.config import TerritoriesConfigError, load_territories_config

    path = tmp_path / "territories.yaml"
    path.write_text("contiguity: maybe\n")
    with pytest.raises(TerritoriesConfigError, match="contiguity: Input should be a valid boolean"):
        load_territories_config(path)
    path.write_text("scenarios: [{name: a, contiguity: 1}]\n")
    with pytest.raises(TerritoriesConfigError, match=r"scenarios\.0\.contiguity"):
        load_territories_config(path)
    path.write_text("contiguity: true\nadjacency_file: zones.csv\n")
    with pytest.raises(TerritoriesConfigError, match="adjacency_file: .*zones.csv: no such file"):
        load_territories_config(path)
    (tmp_path / "zones.csv").write_text("unit_a,unit_b\n75001,75002\n")
    path.write_text(
        "contiguity: true\nadjacency_file: zones.csv\n"
        "scenarios: [{name: joined, km_per_move: 0}, {name: free, km_per_move: 0, "
        "contiguity: false}]\n"
    )
    config = load_territories_config(path)
    assert config.adjacency_file == str(tmp_path / "zones.csv")
    scenarios = [s.scenario(config.contiguity) for s in config.scenarios]
    assert [(s.name, s.contiguity) for s in scenarios] == [("joined", True), ("free", False)]


def test_pipeline_contiguous_instance_unlocks_zones_without_workload(tmp_path):
    from orchestration.territories.config import TerritoriesConfig
    from orchestration.territories.pipeline import NO_GUIDELINE, contiguous_instance

    units = [
        Unit("Z1", 10.0, current_rep="R1", lat=45.0, lon=3.0),
        Unit("Z2", 0.0, current_rep="R2", lat=45.0, lon=3.1, locked_rep="R2"),
        Unit("Z3", 10.0, current_rep="R1", lat=45.1, lon=3.0, locked_rep="R1"),
    ]
    instance = Instance(units, [Rep("R1", 45, 3), Rep("R2", 45, 3.1)])
    reasons = {"Z2": NO_GUIDELINE, "Z3": "key account"}
    joined, source = contiguous_instance(instance, TerritoriesConfig(), reasons)
    assert [u.locked_rep for u in joined.units] == [None, None, "R1"]
    assert source == "3 pairs, Delaunay triangulation of the zone centroids"
    # the company's file: Z1 - Z9 - Z3 where Z9 has no active accounts
    (tmp_path / "adj.csv").write_text("unit_a,unit_b\nZ1,Z9\nZ9,Z3\nZ1,Z2\n")
    config = TerritoriesConfig(contiguity=True, adjacency_file=str(tmp_path / "adj.csv"))
    joined, source = contiguous_instance(instance, config, reasons)
    assert joined.adjacency == [("Z1", "Z2"), ("Z1", "Z3")]
    assert source.startswith("2 pairs from ") and source.endswith("(3 given)")


def test_run_territories_on_a_small_database(tmp_path):
    """The pipeline path (as the asset runs it) on five postcodes in a row, 45 N, 3.0 to
    3.4 E, one account each; R1 lives at the west end, R2 at the east end. P1..P4 need
    10 calls (13.3 h) each, so the band (22.7..30.7 h) gives each rep two of them: P1, P2
    to R1 and P3, P4 to R2, the least travel. P5 (east of P4) has no call guideline and
    belongs to R1 today: the plain scenario keeps it with R1 (locked); the contiguous one
    cannot (R1's territory does not reach it) and gives it to R2."""
    import duckdb

    from orchestration.territories.config import ScenarioConfig, TerritoriesConfig
    from orchestration.territories.pipeline import run_territories

    db = tmp_path / "rtm.duckdb"
    owners = {"P1": "R2", "P2": "R1", "P3": "R2", "P4": "R1", "P5": "R1"}
    with duckdb.connect(str(db)) as con:
        con.execute("create schema staging; create schema marts")
        con.execute(
            "create table staging.stg_sales_force__reps as select * from (values "
            "('R1', 45.0::double, 3.0::double, 35.0::double, 'field_rep'), "
            "('R2', 45.0, 3.4, 35.0, 'field_rep')) "
            "t(rep_id, home_latitude, home_longitude, weekly_capacity_hours, rep_role)"
        )
        rows = [(f"A{i}", f"P{i}", 45.0, 3.0 + 0.1 * (i - 1), owners[f"P{i}"]) for i in range(1, 6)]
        con.execute(
            "create table marts.dim_accounts (account_id varchar, postcode varchar, "
            "latitude double, longitude double, owner_rep_id varchar, department_code "
            "varchar, city varchar)"
        )
        con.executemany("insert into marts.dim_accounts values (?, ?, ?, ?, ?, '43', 'X')", rows)
        con.execute(
            "create table marts.account_coverage as select account_id, false as "
            "is_remote_class, case when account_id = 'A5' then 0 else 10 end as calls_per_year "
            "from marts.dim_accounts"
        )
    config = TerritoriesConfig(
        scenarios=[
            ScenarioConfig(name="split", km_per_move=0),
            ScenarioConfig(name="joined", km_per_move=0, contiguity=True),
        ]
    )
    run = run_territories(db, config)
    assert [r.status for r in run.results] == ["OPTIMAL", "OPTIMAL"]
    assert run.adjacency == "4 pairs, Delaunay triangulation of the zone centroids"
    with duckdb.connect(str(db), read_only=True) as con:
        got = con.execute(
            "select scenario, zone_id, proposed_rep_id, is_locked, lock_reason, solver_message "
            "from territories.territory_solution order by scenario_order, zone_id"
        ).fetchall()
    proposed = {(s, z): (rep, locked) for s, z, rep, locked, _, _ in got}
    for scenario in ("split", "joined"):
        assert [proposed[scenario, f"P{i}"][0] for i in range(1, 5)] == ["R1", "R1", "R2", "R2"]
    assert proposed["split", "P5"] == ("R1", True)
    assert proposed["joined", "P5"] == ("R2", False)
    messages = {s: m for s, _, _, _, _, m in got}
    assert messages == {
        "split": "proven optimal",
        "joined": "proven optimal; contiguous territories (4 adjacent pairs)",
    }

    # the next night's inputs are the same: the solution is kept, not solved again
    again = run_territories(db, config)
    assert again.results == [] and again.kept_from is not None and again.rows == len(got)
    assert "proposal kept" in again.summary()
    with duckdb.connect(str(db), read_only=True) as con:
        kept = con.execute(
            "select scenario, zone_id, proposed_rep_id, is_locked, lock_reason, solver_message "
            "from territories.territory_solution order by scenario_order, zone_id"
        ).fetchall()
    assert kept == got
    # resolve (the full refresh) solves anyway; a changed workload solves again
    assert [r.status for r in run_territories(db, config, resolve=True).results] == [
        "OPTIMAL",
        "OPTIMAL",
    ]
    with duckdb.connect(str(db)) as con:
        con.execute("update marts.account_coverage set calls_per_year = 12 where account_id = 'A1'")
    changed = run_territories(db, config)
    assert changed.kept_from is None and len(changed.results) == 2


def test_time_limit_before_any_solution_falls_back_to_the_connected_start():
    # 400 zones, 8 reps: CP-SAT cannot even read the model in 1 ms, the heuristic start
    # (connected, in band) is proposed without a proven gap
    rng = random.Random(3)
    units = [
        Unit(f"Z{i:03d}", rng.uniform(5, 15), lat=45 + rng.uniform(0, 2), lon=3 + rng.uniform(0, 3))
        for i in range(400)
    ]
    reps = [Rep(f"R{k}", lat=45 + rng.uniform(0, 2), lon=3 + rng.uniform(0, 3)) for k in range(8)]
    instance = Instance(units, reps, Tolerance(0.8, 1.2))
    result = solve(instance, CONTIGUOUS, time_limit=0.001)
    assert result.status == "FEASIBLE" and result.gap is None and result.best_bound is None
    assert result.message.startswith(
        "time limit 0.001 s reached before CP-SAT's first solution: the heuristic connected "
        "start, no proven gap"
    )
    # the objective counts each unit's travel to 0.1 km
    assert result.within_band_after
    assert result.travel_km == pytest.approx(result.objective, abs=0.05 * len(units))
    graph = adjacency_graph(instance)
    for rep, units_of_rep in territories(result.assignment).items():
        assert is_connected(graph, units_of_rep), rep
    assert "bound=- gap=-" in result.summary()
