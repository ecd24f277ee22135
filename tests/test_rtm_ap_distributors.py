"""Route-to-market effectiveness (issue 5): A&P returns, A&P allocation and the distributor
scorecard on the generated 800-account company (the shared pipeline run of conftest.py).

The tables are checked for internal consistency (segment rows add up to the 'all' row, points
add up, every expected month is there) and, where the generator planted patterns
(ground_truth/distributor_patterns.csv, ground_truth/ap_effects.csv), against them.
"""

from __future__ import annotations

import csv
import math
from datetime import date

import duckdb
import pytest

pytestmark = pytest.mark.slow

TOLERANCE = 1e-6


def _rows(run, sql: str) -> list[dict]:
    with duckdb.connect(str(run.settings.published_db), read_only=True) as pub:
        cursor = pub.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _truth(run, name: str) -> list[dict] | None:
    path = run.warehouse / "ground_truth" / name
    if not path.exists():
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _month(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


# --- published and internally consistent ---------------------------------------------------


def test_tables_are_published(pipeline_run):
    assert pipeline_run.result.success
    for table in ("ap_returns", "ap_allocation", "distributor_scorecard"):
        (count,) = _rows(pipeline_run, f"select count(*) as n from {table}")[0].values()
        assert count > 0, table


def test_ap_returns_segments_add_up_to_all(pipeline_run):
    rows = _rows(pipeline_run, "select * from ap_returns")
    config = pipeline_run.settings.rtm.ap_returns
    by_type: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_type.setdefault(row["spend_type"], {})[row["segment"]] = row
    assert by_type, "no spend type"
    for spend_type, segments in by_type.items():
        total = segments.pop("all")
        assert set(segments) == {"vip", "medium", "small"}, spend_type
        for column in (
            "treated_accounts",
            "excluded_window_accounts",
            "excluded_no_pre_sales_accounts",
            "excluded_unmatched_accounts",
            "accounts_with_spend_r12",
        ):
            assert total[column] == sum(s[column] for s in segments.values()), (spend_type, column)
        for column in ("spend_r12_eur", "window_spend_eur"):
            assert math.isclose(
                total[column], sum(s[column] for s in segments.values()), abs_tol=0.01
            ), (spend_type, column)
        incremental = [
            s["incremental_revenue_eur"] for s in segments.values() if s["treated_accounts"]
        ]
        assert math.isclose(total["incremental_revenue_eur"], sum(incremental), abs_tol=0.01)
        for row in [total, *segments.values()]:
            assert row["is_conclusive"] == (
                row["treated_accounts"] >= config.min_treated_accounts
                and row["comparison_accounts"] >= config.min_comparison_accounts
            )
            if row["window_spend_eur"]:
                assert math.isclose(
                    row["return_per_eur"],
                    row["incremental_revenue_eur"] / row["window_spend_eur"],
                    rel_tol=1e-9,
                )
            if row["is_significant"]:
                assert abs(row["incremental_revenue_eur"]) > 2 * row["incremental_revenue_se_eur"]
        # every account with spend of the type is treated, excluded or inactive
        assert total["treated_accounts"] + total["excluded_window_accounts"] > 0


def test_ap_allocation_shares_and_gaps(pipeline_run):
    rows = _rows(pipeline_run, "select * from ap_allocation")
    targets = pipeline_run.settings.rtm.ap_allocation.target_share_by_plan
    assert {r["plan"] for r in rows} >= set(targets)
    assert math.isclose(sum(r["share_of_spend"] for r in rows), 1, abs_tol=TOLERANCE)
    assert math.isclose(sum(r["gap_eur"] for r in rows), 0, abs_tol=0.01)
    for row in rows:
        assert math.isclose(row["target_share"], targets.get(row["plan"], 0), abs_tol=TOLERANCE)
    (segments_total,) = _rows(pipeline_run, "select count(*) as n from account_segments")[
        0
    ].values()
    assert sum(r["accounts_count"] for r in rows) == segments_total
    # the same r12 spend as ap_returns' 'all' rows
    (ap_total,) = _rows(
        pipeline_run, "select sum(spend_r12_eur) as s from ap_returns where segment = 'all'"
    )[0].values()
    assert math.isclose(sum(r["spend_r12_eur"] for r in rows), ap_total, abs_tol=0.01)


def test_distributor_scorecard_has_every_month_and_points_add_up(pipeline_run):
    rows = _rows(pipeline_run, "select * from distributor_scorecard")
    challenge = pipeline_run.settings.rtm.distributors.challenge
    distributors = {d.id for d in pipeline_run.settings.company.distributors}
    assert {r["distributor_id"] for r in rows} == distributors
    months = sorted({r["period_month"] for r in rows})
    assert len(rows) == len(distributors) * len(months)
    as_of = rows[0]["as_of_month"]
    assert months[-1] == _month(as_of)
    for row in rows:
        parts = (
            row["on_time_points"]
            + row["complete_points"]
            + row["linkable_points"]
            + row["declared_match_points"]
        )
        assert math.isclose(row["total_points"], parts)
        assert 0 <= row["total_points"] <= row["max_points"]
        assert row["lines_received"] == row["lines_loaded"] + row["lines_quarantined"]
        if row["is_received"]:
            assert row["on_time_points"] == max(
                0,
                challenge.on_time_points - challenge.late_penalty_points_per_day * row["days_late"],
            )
            assert row["report_status"] == ("late" if row["days_late"] else "on_time")
        else:
            assert row["total_points"] == 0 and row["days_late"] is None
            assert row["report_status"] in ("missing", "not_yet_due")
    # the generator's missing and late files
    by_key = {(r["distributor_id"], r["period_month"]): r for r in rows}
    for missing in _truth(pipeline_run, "missing_deliveries.csv") or []:
        row = by_key[(missing["distributor_id"], _month(missing["period"]))]
        assert row["files_received"] == 0 and row["total_points"] == 0
        assert row["report_status"] == "missing"
    late = [
        f
        for f in _truth(pipeline_run, "files.csv") or []
        if f["source"] == "distributor_sell_out" and f["status"] == "late"
    ]
    assert late, "the generator plants a late file"
    for file in late:
        assert by_key[(file["distributor_id"], _month(file["period"]))]["is_late"]


def test_distributor_scorecard_lines_match_the_ledger(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.working_db), read_only=True) as con:
        ledger = dict(
            con.execute(
                "select distributor_id, sum(rows_read) from raw.file_deliveries"
                " where source = 'distributor_sell_out' and status = 'loaded' group by 1"
            ).fetchall()
        )
    rows = _rows(
        pipeline_run,
        "select distributor_id, sum(lines_received) as n from distributor_scorecard group by 1",
    )
    assert {r["distributor_id"]: r["n"] for r in rows} == ledger


# --- planted patterns (ground truth from the generator) ---------------------------------
# Measured on this 800-account company (seed 7): D05 (late_and_sloppy) earns 39 points over
# 24 months against 590-750 for the others, is late every month (others: at most 1), its
# declarations never match (others: at most 3 months) and its cumulative sell-out exceeds
# sell-in + stock from its second over-reported month on (others: never). A&P 'all' rows
# (18-20 treated per type, 37 for pos_material; 260-370 comparison accounts): return per
# euro incentive 0.86, promotion 0.77, sampling 0.35, listing_fee 0.26, event 0.19, and
# pos_material 0.09 (0.3 SE: not significant); promotion, sampling and event are significant
# (> 2 SE), incentive and listing_fee not (1.5 SE). The assertions are relative (lowest, more
# than any reliable distributor) so that they do not hang on these exact figures.


def test_late_and_sloppy_distributor_scores_lowest(pipeline_run):
    truth = _truth(pipeline_run, "distributor_patterns.csv")
    if truth is None:
        pytest.skip("the generator does not plant distributor patterns yet")
    sloppy = {r["distributor_id"] for r in truth if r["pattern"] == "late_and_sloppy"}
    over_reported = {
        (r["distributor_id"], _month(p))
        for r in truth
        for p in (r.get("over_reported_periods") or "").split(";")
        if p
    }
    assert sloppy
    rows = _rows(
        pipeline_run,
        "select distributor_id, sum(total_points) as points, count(*) as months,"
        " sum(case when is_late then 1 else 0 end) as late_months,"
        " sum(case when is_declared_match = false then 1 else 0 end) as mismatches,"
        " sum(case when is_consistent then 0 else 1 end) as inconsistent_months"
        " from distributor_scorecard group by 1 order by points",
    )
    assert rows[0]["distributor_id"] in sloppy, rows
    reliable = [r for r in rows if r["distributor_id"] not in sloppy]
    # far behind: less than half the points of the next distributor
    assert rows[0]["points"] < 0.5 * reliable[0]["points"], rows
    for row in rows:
        if row["distributor_id"] in sloppy:
            assert row["late_months"] >= 0.75 * row["months"], row
            assert row["late_months"] > max(r["late_months"] for r in reliable), rows
            assert row["mismatches"] >= 0.75 * row["months"], row
            assert row["mismatches"] > max(r["mismatches"] for r in reliable), rows
    assert all(r["inconsistent_months"] == 0 for r in reliable), rows
    flagged = _rows(
        pipeline_run,
        "select distributor_id, period_month from distributor_scorecard where not is_consistent",
    )
    flagged = {(r["distributor_id"], r["period_month"]) for r in flagged}
    if over_reported:
        # the cumulative check trips in an over-reported month and stays tripped after it
        assert flagged & over_reported, (flagged, over_reported)


def test_useless_promotion_returns_least(pipeline_run):
    truth = _truth(pipeline_run, "ap_effects.csv")
    if truth is None:
        pytest.skip("the generator does not plant A&P effects yet")
    uplift = {r["spend_type"]: float(r["true_uplift"]) for r in truth}
    useless = {t for t, u in uplift.items() if u == 0}
    assert useless
    rows = {
        r["spend_type"]: r
        for r in _rows(pipeline_run, "select * from ap_returns where segment = 'all'")
    }
    assert all(rows[t]["is_conclusive"] for t in uplift), rows
    lowest = min((rows[t] for t in uplift), key=lambda r: r["return_per_eur"])
    assert lowest["spend_type"] in useless, rows
    for spend_type in useless:
        row = rows[spend_type]
        assert not (row["is_significant"] and row["incremental_revenue_eur"] > 0), row
    helpful = [t for t, u in uplift.items() if u > 0]
    for spend_type in helpful:
        assert rows[spend_type]["incremental_revenue_eur"] > 0, rows[spend_type]
    # the design can tell some real effect from noise (measured: 3 of 5 significant)
    assert any(rows[t]["is_significant"] for t in helpful), rows
