"""Route-to-market effectiveness (issue 5, items 1-2): account_coverage, coverage_summary and
account_profitability on the generated company, checked against figures recomputed here
independently from the working database's staging views and the rtm config, and against the
generator's planted call patterns (ground_truth/call_patterns.csv) when the generator writes
them."""

from __future__ import annotations

import csv
from datetime import date

import duckdb
import pytest

pytestmark = pytest.mark.slow

RTM_TABLES = {"account_coverage", "coverage_summary", "account_profitability"}
STATUSES = {"on_plan", "under_served", "over_served", "never_called", "overlap"}


def _r12(as_of_month: str) -> tuple[date, date]:
    """First and last day of the 12 months ending with as_of_month ('YYYY-MM')."""
    year, month = (int(part) for part in as_of_month.split("-"))
    start_index = year * 12 + (month - 1) - 11
    start = date(start_index // 12, start_index % 12 + 1, 1)
    next_index = year * 12 + month
    end = date.fromordinal(date(next_index // 12, next_index % 12 + 1, 1).toordinal() - 1)
    return start, end


def _as_of_month(pub) -> str:
    months = pub.execute("SELECT DISTINCT as_of_month FROM account_coverage").fetchall()
    assert len(months) == 1
    return months[0][0]


@pytest.fixture(scope="module")
def published(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as pub:
        yield pub


@pytest.fixture(scope="module")
def working(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.working_db), read_only=True) as con:
        yield con


def test_rtm_tables_are_published_one_row_per_active_account(published):
    tables = {row[0] for row in published.execute("SHOW TABLES").fetchall()}
    assert tables >= RTM_TABLES
    accounts = published.execute("SELECT count(*) FROM dim_accounts").fetchone()[0]
    for table in ("account_coverage", "account_profitability"):
        ids = published.execute(f"SELECT count(*), count(DISTINCT account_id) FROM {table}")
        assert ids.fetchone() == (accounts, accounts), table
    levels = dict(
        published.execute(
            "SELECT summary_level, count(*) FROM coverage_summary GROUP BY 1"
        ).fetchall()
    )
    assert set(levels) == {"rep", "territory"}
    statuses = {
        row[0]
        for row in published.execute(
            "SELECT DISTINCT coverage_status FROM account_coverage"
        ).fetchall()
    }
    assert statuses <= STATUSES and {"on_plan", "never_called", "over_served"} <= statuses


def test_calls_by_type_add_up_to_the_call_log(published, working):
    start, end = _r12(_as_of_month(published))
    expected = dict(
        working.execute(
            "SELECT c.resource_type, count(*) FROM staging.stg_crm__calls c "
            "JOIN staging.stg_crm__accounts a USING (account_id) "
            "WHERE a.is_active AND c.call_date BETWEEN ? AND ? GROUP BY 1",
            [start, end],
        ).fetchall()
    )
    got = published.execute(
        "SELECT sum(key_account_manager_calls_r12), sum(field_rep_calls_r12), "
        "sum(telesales_calls_r12), sum(distributor_rep_calls_r12), sum(calls_r12) "
        "FROM account_coverage"
    ).fetchone()
    assert got[:4] == tuple(
        expected.get(t, 0)
        for t in ("key_account_manager", "field_rep", "telesales", "distributor_rep")
    )
    assert got[4] == sum(expected.values()) > 0
    # Every row: the four resource types add up to the calls; guideline calls are ours.
    bad = published.execute(
        "SELECT count(*) FROM account_coverage WHERE calls_r12 <> key_account_manager_calls_r12 "
        "+ field_rep_calls_r12 + telesales_calls_r12 + distributor_rep_calls_r12 "
        "OR guideline_calls_r12 <> key_account_manager_calls_r12 + field_rep_calls_r12 "
        "+ telesales_calls_r12"
    ).fetchone()[0]
    assert bad == 0
    # Rep level: the calls each rep of the roster made, on any account.
    by_rep = dict(
        working.execute(
            "SELECT caller_id, count(*) FROM staging.stg_crm__calls "
            "WHERE call_date BETWEEN ? AND ? AND caller_id IN "
            "(SELECT rep_id FROM staging.stg_sales_force__reps) GROUP BY 1",
            [start, end],
        ).fetchall()
    )
    published_by_rep = dict(
        published.execute(
            "SELECT summary_key, calls_r12 FROM coverage_summary "
            "WHERE summary_level = 'rep' AND rep_role IS NOT NULL AND calls_r12 > 0"
        ).fetchall()
    )
    assert published_by_rep == by_rep


def test_status_follows_the_rules_and_the_class_guideline(pipeline_run, published):
    coverage = pipeline_run.settings.rtm.coverage
    rows = published.execute(
        "SELECT c.calls_per_year, p.calls_per_year, c.guideline_calls_r12, c.is_overlap, "
        "c.coverage_status, c.calls_needed, c.calls_in_excess "
        "FROM account_coverage c JOIN account_priorities p USING (account_id)"
    ).fetchall()
    for guideline, class_guideline, calls, overlap, status, needed, excess in rows:
        assert guideline == class_guideline
        if guideline > 0 and calls == 0:
            expected = "never_called"
        elif guideline == 0:
            expected = "over_served" if calls > coverage.zero_guideline_max_calls else "on_plan"
        elif calls / guideline > coverage.on_plan_max_ratio:
            expected = "over_served"
        elif calls / guideline < coverage.on_plan_min_ratio:
            expected = "under_served"
        else:
            expected = "on_plan"
        if expected == "on_plan" and overlap:
            expected = "overlap"
        assert status == expected, (guideline, calls, overlap, status)
        assert needed == max(0, guideline - calls) and excess == max(0, calls - guideline)


def test_territory_coverage_is_visited_over_allocated(published):
    rows = published.execute(
        "SELECT s.summary_key, s.accounts_allocated, s.accounts_visited_r12, s.coverage_pct, "
        "count(c.account_id), count(CASE WHEN c.guideline_calls_r12 > 0 THEN 1 END), "
        "count(CASE WHEN c.coverage_status = 'over_served' THEN 1 END), s.over_served_accounts "
        "FROM coverage_summary s LEFT JOIN account_coverage c ON c.territory_id = s.summary_key "
        "WHERE s.summary_level = 'territory' GROUP BY ALL"
    ).fetchall()
    assert rows
    for _key, allocated, visited, pct, n, n_visited, n_over, over in rows:
        assert (allocated, visited, over) == (n, n_visited, n_over)
        if allocated:
            assert pct == pytest.approx(visited / allocated, abs=1e-4)
    total = published.execute(
        "SELECT sum(accounts_allocated) FROM coverage_summary WHERE summary_level = 'territory'"
    ).fetchone()[0]
    assert total == published.execute("SELECT count(*) FROM account_coverage").fetchone()[0]


def test_cost_to_serve_matches_an_independent_recomputation(pipeline_run, published, working):
    config = pipeline_run.settings.rtm
    start, end = _r12(_as_of_month(published))
    hourly = " ".join(
        f"WHEN '{name}' THEN {r.hourly_cost_eur}" for name, r in config.resources.items()
    )
    travel = " ".join(
        f"WHEN '{name}' THEN {r.travel_minutes_per_visit}" for name, r in config.resources.items()
    )
    incentives = ", ".join(f"'{t}'" for t in config.profitability.incentive_spend_types) or "''"
    calls_cost, call_hours = working.execute(
        f"SELECT sum((duration_minutes + CASE WHEN contact_mode = 'visit' THEN "
        f"CASE resource_type {travel} END ELSE 0 END) / 60 * CASE resource_type {hourly} END), "
        f"sum((duration_minutes + CASE WHEN contact_mode = 'visit' THEN "
        f"CASE resource_type {travel} END ELSE 0 END) / 60) "
        "FROM staging.stg_crm__calls JOIN staging.stg_crm__accounts USING (account_id) "
        "WHERE is_active AND call_date BETWEEN ? AND ?",
        [start, end],
    ).fetchone()
    ap, incentive = working.execute(
        f"SELECT sum(CASE WHEN spend_type NOT IN ({incentives}) THEN amount ELSE 0 END), "
        f"sum(CASE WHEN spend_type IN ({incentives}) THEN amount ELSE 0 END) "
        "FROM staging.stg_marketing__ap_spend JOIN staging.stg_crm__accounts USING (account_id) "
        "WHERE is_active AND spend_date BETWEEN ? AND ?",
        [start, end],
    ).fetchone()
    got = published.execute(
        "SELECT sum(call_cost_eur), sum(ap_spend_eur), sum(incentive_spend_eur), "
        "sum(cost_to_serve_eur), sum(call_hours_r12) FROM account_profitability"
    ).fetchone()
    # Published amounts are rounded to the cent per account.
    tolerance = 0.01 * published.execute("SELECT count(*) FROM dim_accounts").fetchone()[0]
    assert got[0] == pytest.approx(calls_cost, abs=tolerance)
    assert got[1] == pytest.approx(ap, abs=tolerance)
    assert got[2] == pytest.approx(incentive, abs=tolerance)
    assert got[3] == pytest.approx(calls_cost + ap + incentive, abs=3 * tolerance)
    assert got[4] == pytest.approx(call_hours, abs=tolerance)
    assert incentive > 0 and ap > 0 and calls_cost > 0
    # Row by row: contribution = margin - cost, loss-making exactly when negative, with a reason.
    bad = published.execute(
        "SELECT count(*) FROM account_profitability WHERE "
        "abs(contribution_eur - (gross_margin_eur - cost_to_serve_eur)) > 0.011 "
        "OR is_loss_making <> (contribution_eur < 0) "
        "OR (is_loss_making AND loss_reason IS NULL) OR (NOT is_loss_making AND loss_reason IS NOT NULL)"
    ).fetchone()[0]
    assert bad == 0


def test_gross_margin_matches_an_independent_recomputation(pipeline_run, published, working):
    factor = pipeline_run.settings.rtm.profitability.distributor_margin_factor
    start, end = _r12(_as_of_month(published))
    sell_out = working.execute(
        "SELECT sum(l.quantity_bottles * (p.list_price_eur - p.unit_cost_eur)) "
        "FROM intermediate.int_sell_out_lines__linked l "
        "JOIN staging.stg_erp__products p ON l.sku = p.sku "
        "JOIN staging.stg_crm__accounts a ON l.account_id = a.account_id "
        "WHERE a.is_active AND l.sale_date BETWEEN ? AND ?",
        [start, end],
    ).fetchone()[0]
    direct = working.execute(
        "SELECT coalesce(sum(s.quantity * CASE WHEN s.unit = 'case' THEN p.bottles_per_case "
        "ELSE 1 END * (p.list_price_eur - p.unit_cost_eur)), 0) "
        "FROM staging.stg_erp__sell_in_lines s "
        "JOIN staging.stg_erp__products p ON s.sku = p.sku "
        "JOIN staging.stg_crm__accounts a ON s.account_id = a.account_id "
        "WHERE a.is_active AND a.is_direct AND s.customer_type = 'direct_account' "
        "AND s.invoice_date BETWEEN ? AND ?",
        [start, end],
    ).fetchone()[0]
    got = published.execute(
        "SELECT sum(sell_out_margin_eur), sum(direct_margin_eur), sum(gross_margin_eur) "
        "FROM account_profitability"
    ).fetchone()
    tolerance = 0.01 * published.execute("SELECT count(*) FROM dim_accounts").fetchone()[0]
    assert got[0] == pytest.approx(sell_out * factor, abs=tolerance)
    assert got[1] == pytest.approx(direct, abs=tolerance)
    assert got[2] == pytest.approx(sell_out * factor + direct, abs=2 * tolerance)
    assert sell_out > 0


def _call_patterns(pipeline_run) -> dict[str, str] | None:
    path = pipeline_run.warehouse / "ground_truth" / "call_patterns.csv"
    if not path.exists():
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["account_id"]: row["pattern"] for row in csv.DictReader(handle)}


def test_planted_call_patterns_are_found(pipeline_run, published):
    patterns = _call_patterns(pipeline_run)
    if patterns is None:
        pytest.skip("the generator writes no ground_truth/call_patterns.csv")
    rows = published.execute(
        "SELECT c.account_id, c.coverage_status, p.is_loss_making "
        "FROM account_coverage c JOIN account_profitability p USING (account_id)"
    ).fetchall()
    found = {account_id: (status, loss) for account_id, status, loss in rows}
    over = [found[a] for a, kind in patterns.items() if kind == "over_served" and a in found]
    under = [found[a] for a, kind in patterns.items() if kind == "under_served" and a in found]
    assert len(over) >= 20 and len(under) >= 20
    over_rate = sum(s == "over_served" for s, _ in over) / len(over)
    over_loss = sum(loss for _, loss in over) / len(over)
    under_rate = sum(s in ("under_served", "never_called") for s, _ in under) / len(under)
    # Measured on the 800-account test company (seed 7), sample rtm/scoring config: 29 planted
    # over-served accounts, 28 over_served (96.6 %; the other, class B, had 15 calls in r12 for
    # a planted 28 a year: on plan), 29 loss-making (100 %); 29 planted under-served accounts,
    # all under_served (8) or never_called (21). Thresholds leave room for one or two misses.
    assert over_rate >= 0.85, over_rate
    assert over_loss >= 0.8, over_loss
    assert under_rate >= 0.9, under_rate
