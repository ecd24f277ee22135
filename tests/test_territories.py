"""The territory optimizer on hand-made instances with known optimal answers."""

import random

import pytest

from orchestration.territories.model import (
    Instance,
    Rep,
    TerritoryInputError,
    Tolerance,
    Unit,
    haversine_km,
    read_matrix,
    read_reps,
    read_units,
)
from orchestration.territories.solver import Scenario, balance, solve, solve_scenarios

# Two reps, four units of 10 h. Unit-to-rep distances (km):
#        R1  R2
#   U1    1  10
#   U2    2   5
#   U3    3  12
#   U4    9   1
# Mean 20 h, band 17..23 at +/-15%: each rep takes exactly two units. Min travel:
# R1 = {U1, U3}, R2 = {U2, U4}: 1 + 3 + 5 + 1 = 10 km (every other split costs more).
MATRIX = {
    ("U1", "R1"): 1, ("U1", "R2"): 10,
    ("U2", "R1"): 2, ("U2", "R2"): 5,
    ("U3", "R1"): 3, ("U3", "R2"): 12,
    ("U4", "R1"): 9, ("U4", "R2"): 1,
}  # fmt: skip


def small(locks=None, current=None, tolerance=Tolerance(), workloads=None):
    locks, current, workloads = locks or {}, current or {}, workloads or {}
    units = [
        Unit(
            u,
            workloads.get(u, 10.0),
            current_rep=current.get(u),
            locked_rep=locks.get(u),
        )
        for u in ("U1", "U2", "U3", "U4")
    ]
    return Instance(units, [Rep("R1"), Rep("R2")], tolerance, unit_rep_km=MATRIX)


def test_min_travel_known_optimum():
    result = solve(small(), time_limit=10)
    assert result.status == "OPTIMAL" and result.gap == 0
    assert result.assignment == {"U1": "R1", "U2": "R2", "U3": "R1", "U4": "R2"}
    assert result.travel_km == pytest.approx(10)
    assert result.within_band_after
    assert result.band_hours == pytest.approx((17, 23))


def test_locked_unit_stays_and_the_optimum_adapts():
    # U2 locked to R1: R2 must take one of U1/U3 besides U4; U1 costs +9, U3 costs +9 too,
    # so compare totals: {U2,U3}|{U1,U4} = 2+3+10+1 = 16, {U1,U2}|{U3,U4} = 1+2+12+1 = 16,
    # {U2,U4} on R1 is 2+9 + 10+12: worse. Optimum 16 km with U2 on R1.
    result = solve(small(locks={"U2": "R1"}), time_limit=10)
    assert result.status == "OPTIMAL"
    assert result.assignment["U2"] == "R1"
    assert result.travel_km == pytest.approx(16)
    # U4 locked to R1 as well: R1 = {U2, U4} (band allows two units), R2 = {U1, U3}.
    result = solve(small(locks={"U2": "R1", "U4": "R1"}), time_limit=10)
    assert result.assignment == {"U1": "R2", "U2": "R1", "U3": "R2", "U4": "R1"}
    assert result.travel_km == pytest.approx(2 + 9 + 10 + 12)


def test_infeasible_tolerance_names_the_unit():
    instance = small(tolerance=Tolerance(0.98, 1.02), workloads={"U3": 40.0})
    result = solve(instance, time_limit=10)
    assert result.status == "INFEASIBLE"
    # mean (10+10+40+10)/2 = 35 h, max 35.7 h
    assert (
        result.message == "tolerance 0.98..1.02 infeasible: unit U3 alone needs 40 h > max 35.7 h"
    )
    assert not result.assignment


def test_infeasible_locked_workload_is_reported():
    result = solve(small(locks={"U1": "R1", "U2": "R1", "U3": "R1"}), time_limit=10)
    assert result.status == "INFEASIBLE"
    assert "units locked to rep R1 need 30 h > max 23 h" in result.message


def test_infeasible_without_an_obvious_cause_still_says_why():
    units = [Unit(f"U{i}", 10.0) for i in range(3)]
    instance = Instance(
        units,
        [Rep("R1"), Rep("R2")],
        Tolerance(0.9, 1.1),
        unit_rep_km={(f"U{i}", r): 1.0 for i in range(3) for r in ("R1", "R2")},
    )
    result = solve(instance, time_limit=10)
    assert result.status == "INFEASIBLE"
    assert "no assignment puts all 2 reps between 13.5 h and 16.5 h" in result.message


def test_disruption_scenarios():
    # Current: R1 = {U1, U2}, R2 = {U3, U4}: balanced, 1 + 2 + 12 + 1 = 16 km.
    current = {"U1": "R1", "U2": "R1", "U3": "R2", "U4": "R2"}
    instance = small(current=current)
    min_disruption = solve(instance, Scenario.min_disruption(), time_limit=10)
    assert min_disruption.moved_accounts == 0 and min_disruption.travel_km == pytest.approx(16)
    min_travel = solve(instance, Scenario.min_travel(), time_limit=10)
    assert min_travel.travel_km == pytest.approx(10) and min_travel.moved_accounts == 2
    # A move is worth 2 km: the swap saves 6 km for 2 moves (4 km): swap.
    assert solve(instance, Scenario("w2", 2.0), time_limit=10).travel_km == pytest.approx(10)
    # A move is worth 4 km: the swap saves 6 km for 8 km of moves: stay.
    stay = solve(instance, Scenario("w4", 4.0), time_limit=10)
    assert stay.moved_accounts == 0 and stay.objective == pytest.approx(16)
    before = {b.rep_id: b.workload for b in min_travel.before}
    assert before == {"R1": 20, "R2": 20}


def test_disruption_restores_the_band_with_fewest_moves():
    # Current: R1 has three units (30 h > 23 h): one must move; the cheapest in travel
    # among single moves to R2 is U2 (5 km instead of 2).
    current = {"U1": "R1", "U2": "R1", "U3": "R1", "U4": "R2"}
    result = solve(small(current=current), Scenario.min_disruption(), time_limit=10)
    assert result.moved_units == 1 and result.assignment["U2"] == "R2"
    assert {b.rep_id: b.workload for b in result.before} == {"R1": 30, "R2": 10}
    assert {b.rep_id: b.workload for b in result.after} == {"R1": 20, "R2": 20}


def test_unit_to_unit_matrix_with_offices_in_units():
    # A line A - B - C - D, 1 km apart; offices in A and D.
    names = "ABCD"
    matrix = {
        (a, b): float(abs(i - j)) for i, a in enumerate(names) for j, b in enumerate(names) if a < b
    }
    units = [Unit(n, 5.0) for n in names]
    reps = [Rep("west", office_unit="A"), Rep("east", office_unit="D")]
    result = solve(Instance(units, reps, Tolerance(0.8, 1.2), unit_unit_km=matrix), time_limit=10)
    assert result.status == "OPTIMAL"
    assert result.assignment == {"A": "west", "B": "west", "C": "east", "D": "east"}
    assert result.travel_km == pytest.approx(2)


def test_coordinates_use_haversine():
    assert haversine_km(48.8566, 2.3522, 45.7640, 4.8357) == pytest.approx(392, abs=2)
    units = [Unit("paris", 1.0, lat=48.8566, lon=2.3522), Unit("lyon", 1.0, lat=45.764, lon=4.8357)]
    reps = [Rep("p", lat=48.85, lon=2.35), Rep("l", lat=45.76, lon=4.83)]
    result = solve(Instance(units, reps), time_limit=10)
    assert result.assignment == {"paris": "p", "lyon": "l"}
    assert result.travel_km < 2


def test_files_round_trip(tmp_path):
    (tmp_path / "units.csv").write_text(
        "unit_id,workload,current_rep,locked_rep\nU1,10,R1,\nU2,10,R1,R1\nU3,10,R2,\nU4,10,R2,\n"
    )
    (tmp_path / "reps.csv").write_text("rep_id,capacity\nR1,1600\nR2,1600\n")
    (tmp_path / "m.csv").write_text(
        "unit_id,rep_id,distance\n" + "".join(f"{u},{r},{d}\n" for (u, r), d in MATRIX.items())
    )
    reps = read_reps(tmp_path / "reps.csv")
    units = read_units(tmp_path / "units.csv")
    instance = Instance(
        units, reps, Tolerance.parse("0.85..1.15"), **read_matrix(tmp_path / "m.csv", reps)
    )
    result = solve(instance, time_limit=10)
    assert result.assignment["U2"] == "R1" and result.travel_km == pytest.approx(16)
    assert reps[0].capacity == 1600
    with pytest.raises(TerritoryInputError, match="missing column"):
        read_units(tmp_path / "reps.csv")
    assert Tolerance.parse("15%") == Tolerance(0.85, 1.15)
    with pytest.raises(TerritoryInputError):
        Tolerance.parse("1.1..1.2")


def test_balance_of_an_assignment():
    rows = balance(small(), {"U1": "R1", "U2": "R1", "U3": "R1", "U4": "R2"})
    assert [(b.rep_id, b.units, b.workload, b.travel_km) for b in rows] == [
        ("R1", 3, 30, 6),
        ("R2", 1, 10, 1),
    ]
    assert rows[0].deviation == pytest.approx(0.5)


def test_100_units_10_reps_solved_to_proven_optimality():
    rng = random.Random(42)
    reps = [
        Rep(f"R{i}", lat=45 + rng.uniform(-1.5, 1.5), lon=2 + rng.uniform(-2, 2)) for i in range(10)
    ]
    units = []
    for j in range(100):
        lat, lon = 45 + rng.uniform(-1.5, 1.5), 2 + rng.uniform(-2, 2)
        units.append(
            Unit(
                f"U{j}",
                workload=round(rng.uniform(20, 120), 1),
                current_rep=rng.choice(reps).id,
                lat=lat,
                lon=lon,
                visits=rng.randint(1, 12),
                accounts=rng.randint(1, 20),
            )
        )
    instance = Instance(units, reps, Tolerance(0.85, 1.15))
    results = solve_scenarios(
        instance, [Scenario.min_travel(), Scenario("km_per_move_50", 50.0)], time_limit=60
    )
    for result in results:
        assert result.status == "OPTIMAL" and result.gap == 0, result.summary()
        assert result.within_band_after
    assert results[0].travel_km <= results[1].travel_km
    assert results[0].moved_accounts >= results[1].moved_accounts


def test_cli_on_files(tmp_path):
    from typer.testing import CliRunner

    from orchestration.cli import app

    (tmp_path / "units.csv").write_text(
        "unit_id,workload,current_rep\nU1,10,R1\nU2,10,R1\nU3,10,R1\nU4,10,R2\n"
    )
    (tmp_path / "reps.csv").write_text("rep_id\nR1\nR2\n")
    (tmp_path / "m.csv").write_text(
        "unit_id,rep_id,distance\n" + "".join(f"{u},{r},{d}\n" for (u, r), d in MATRIX.items())
    )
    args = ["territories", "--units", str(tmp_path / "units.csv"), "--reps",
            str(tmp_path / "reps.csv"), "--matrix", str(tmp_path / "m.csv")]  # fmt: skip
    out = tmp_path / "proposal.csv"
    result = CliRunner().invoke(app, [*args, "--scenario", "min_travel", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "min_travel: OPTIMAL objective=10 bound=10 gap=0.0000%" in result.output
    assert "2 reps outside [17.0, 23.0]" in result.output  # before: 30 h / 10 h
    assert "0 reps outside [17.0, 23.0]" in result.output  # after
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and "min_travel,OPTIMAL,0.000000,U2,R1,R2,1,1,10,5.000" in lines
    bad = CliRunner().invoke(app, [*args, "--tolerance", "0.98..1.02", "--scenario",
                                   "min_travel", "--units", str(tmp_path / "big.csv")])  # fmt: skip
    assert bad.exit_code == 2 and "no such file" in bad.output
    (tmp_path / "big.csv").write_text("unit_id,workload\nU1,40\nU2,10\nU3,10\nU4,10\n")
    infeasible = CliRunner().invoke(app, [*args, "--tolerance", "0.98..1.02", "--scenario",
                                          "min_travel", "--units", str(tmp_path / "big.csv")])  # fmt: skip
    assert infeasible.exit_code == 1
    assert "unit U1 alone needs 40 h > max 35.7 h" in infeasible.output


def test_territories_config_is_validated(tmp_path):
    from orchestration.territories.config import (
        TerritoriesConfigError,
        load_locks,
        load_territories_config,
    )

    path = tmp_path / "territories.yaml"
    path.write_text("zone_level: region\n")
    with pytest.raises(TerritoriesConfigError, match="zone_level 'region'"):
        load_territories_config(path)
    path.write_text("tolerance: {low: 1.1, high: 1.2}\n")
    with pytest.raises(TerritoriesConfigError, match="tolerance.low"):
        load_territories_config(path)
    path.write_text("scenarios: [{name: a, km_per_move: 1}, {name: a}]\n")
    with pytest.raises(TerritoriesConfigError, match="unique"):
        load_territories_config(path)
    (tmp_path / "locks.csv").write_text("zone_id,account_id,rep_id,reason\n75001,ACC1,R1,x\n")
    with pytest.raises(TerritoriesConfigError, match="locks.csv:2: give a rep_id and exactly one"):
        load_locks(tmp_path / "locks.csv")
    path.write_text("zone_level: city\ntolerance: {low: 0.9, high: 1.1}\n")
    config = load_territories_config(path)
    assert config.zone_level == "city" and config.hours_per_visit == pytest.approx(80 / 60)


def test_sample_company_territories_config_loads():
    from orchestration.config import load_company_config, load_company_territories

    path = "examples/sample_company/company.yaml"
    config = load_company_territories(path, load_company_config(path))
    assert config.zone_level == "postcode"
    assert {s.name for s in config.scenarios} >= {"min_travel", "min_disruption"}
