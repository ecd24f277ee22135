"""Territories on the sample company: the optimizer asset between the marts and
marts/territories, and the three published tables."""

import duckdb


def test_territory_marts_are_published(pipeline_run):
    assert pipeline_run.result.success
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as con:
        tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
        assert {"territory_balance", "white_space", "territory_proposal"} <= tables
        reps, within = con.execute(
            "select count(*), count(*) filter (where is_within_tolerance) from territory_balance"
        ).fetchone()
        assert reps > 0 and within <= reps
        statuses = dict(
            con.execute("select zone_status, count(*) from white_space group by 1").fetchall()
        )
        assert set(statuses) <= {"no_potential", "uncovered", "weak", "saturated", "covered"}
        scenarios = con.execute(
            """
            select scenario, any_value(status), any_value(gap),
                   min(proposed_rep_workload_after) >= any_value(band_low_hours) - 1e-6,
                   max(proposed_rep_workload_after) <= any_value(band_high_hours) + 1e-6,
                   any_value(scenario_travel_km) <= any_value(current_travel_km_total)
            from territory_proposal group by scenario
            """
        ).fetchall()
    assert {s[0] for s in scenarios} >= {"min_travel", "min_disruption"}
    for name, status, gap, low_ok, high_ok, _ in scenarios:
        assert status in ("OPTIMAL", "FEASIBLE"), name
        assert gap is not None and gap <= 0.05, name
        assert low_ok and high_ok, f"{name}: a rep outside the workload band"


def test_locked_zone_stays_with_its_rep(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.working_db), read_only=True) as con:
        rows = con.execute(
            "select distinct proposed_rep_id from territories.territory_solution "
            "where is_locked and lock_reason not like 'no call guideline%'"
        ).fetchall()
    # the sample's locks file pins ACC000001's zone to REP002
    assert rows == [("REP002",)]


def test_call_plan_capacity_adds_up_to_the_reps_figures(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as pub:
        plan = pub.execute(
            "SELECT sum(reps), sum(workload_hours), sum(capacity_hours), "
            "max(abs(headcount_implied - workload_hours * reps / capacity_hours)) "
            "FROM call_plan_capacity"
        ).fetchone()
        reps = pub.execute(
            "SELECT count(*), sum(workload_hours), sum(capacity_hours) FROM territory_balance"
        ).fetchone()
    assert plan[0] == reps[0]
    assert abs(plan[1] - reps[1]) < 0.1 * plan[0] and abs(plan[2] - reps[2]) < 0.1 * plan[0]
    assert plan[3] < 0.01  # headcount = workload / capacity per rep, to 2 decimals
