"""What the account review report shows, read from the published database only.

Every query runs on a read-only connection to `published.duckdb` (the file BI tools read),
so the report shows exactly what was published, never a half-built working database.
Tables that a given deployment has not published yet make their section disappear
instead of failing the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class Headline:
    accounts: int
    revenue_r12: float
    share_of_wallet: float | None
    opportunity_eur: float
    checks_passed: int
    checks_total: int


@dataclass
class ReportData:
    version: str
    run_id: str
    published_at: str
    as_of_month: str | None
    headline: Headline
    tables: set[str]
    territories: list[dict]
    segments: list[dict] = field(default_factory=list)
    pareto: list[dict] = field(default_factory=list)
    accounts_map: list[dict] = field(default_factory=list)
    priorities: list[dict] = field(default_factory=list)
    distributors: list[dict] = field(default_factory=list)
    distributor_months: list[dict] = field(default_factory=list)
    coverage_territories: list[dict] = field(default_factory=list)
    coverage_reps: list[dict] = field(default_factory=list)
    reallocation: list[dict] = field(default_factory=list)
    reallocation_rows: list[dict] = field(default_factory=list)
    territory_balance: list[dict] | None = None
    failed_checks: list[dict] = field(default_factory=list)


# Headline figures; tests recompute them with their own SQL.
HEADLINE_SQL = {
    "accounts": "SELECT count(*) FROM dim_accounts",
    # Rounded in SQL: a parallel float sum may differ in the last bits between reads.
    "revenue_r12": "SELECT round(coalesce(sum(revenue_r12), 0), 2) FROM account_scorecard",
    # Share of wallet across the book: our revenue over the category potential of the
    # accounts whose potential is known (the same definition as the scorecard, summed).
    "share_of_wallet": "SELECT round(sum(revenue_r12) / nullif(sum(potential_eur), 0), 6) "
    "FROM account_scorecard WHERE potential_eur > 0",
    "opportunity_eur": "SELECT round(coalesce(sum(opportunity_eur), 0), 2) FROM account_scorecard",
}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def load_report_data(published_db: Path, top_n: int = 15) -> ReportData:
    with duckdb.connect(str(published_db), read_only=True) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        version, run_id, published_at = con.execute(
            "SELECT version, run_id, published_at FROM _publication"
        ).fetchone()
        as_of = (
            con.execute("SELECT max(as_of_month) FROM account_scorecard").fetchone()[0]
            if "account_scorecard" in tables
            else None
        )
        checks = (
            con.execute(
                "SELECT count(*) FILTER (passed), count(*) FROM data_quality_results "
                "WHERE run_id = ?",
                [run_id],
            ).fetchone()
            if "data_quality_results" in tables
            else (0, 0)
        )
        headline = Headline(
            *(con.execute(HEADLINE_SQL[k]).fetchone()[0] for k in HEADLINE_SQL),
            checks_passed=checks[0],
            checks_total=checks[1],
        )
        data = ReportData(
            version=version,
            run_id=run_id,
            published_at=f"{published_at:%Y-%m-%d %H:%M}",
            as_of_month=as_of,
            headline=headline,
            tables=tables,
            territories=_rows(
                con,
                """
                SELECT territory_id, any_value(territory_name) AS territory_name,
                       any_value(region) AS region, count(*) AS accounts
                FROM dim_accounts WHERE territory_id IS NOT NULL
                GROUP BY territory_id ORDER BY territory_id
                """,
            ),
        )
        if "segment_summary" in tables:
            data.segments = _rows(
                con,
                """
                SELECT segment, tier, channel, accounts_count, revenue_r12, opportunity_eur,
                       share_of_wallet, share_of_revenue
                FROM segment_summary ORDER BY tier, segment
                """,
            )
        if "account_pareto_curve" in tables:
            data.pareto = _rows(
                con,
                "SELECT accounts_pct, cumulative_revenue_share, includes_top_tier "
                "FROM account_pareto_curve ORDER BY accounts_pct",
            )
        if "account_priorities" in tables:
            data.accounts_map = _rows(
                con,
                """
                SELECT d.account_id, d.account_name, d.city, d.territory_id, d.latitude,
                       d.longitude, p.priority_class, s.revenue_r12, s.opportunity_eur
                FROM dim_accounts d
                JOIN account_priorities p USING (account_id)
                LEFT JOIN account_scorecard s USING (account_id)
                WHERE d.latitude IS NOT NULL AND d.longitude IS NOT NULL
                ORDER BY p.priority_class, d.account_id
                """,
            )
            data.priorities = _rows(
                con,
                """
                SELECT p.territory_id, p.rank_in_territory, p.account_id, d.account_name,
                       d.city, d.channel, p.segment, p.plan, p.priority_class,
                       p.priority_score, p.calls_per_year, s.revenue_r12, s.opportunity_eur,
                       p.reason_1, p.reason_2, p.reason_3, p.is_overridden,
                       c.coverage_status
                FROM account_priorities p
                JOIN dim_accounts d USING (account_id)
                LEFT JOIN account_scorecard s USING (account_id)
                LEFT JOIN account_coverage c USING (account_id)
                WHERE p.rank_in_territory <= ?
                ORDER BY p.territory_id, p.rank_in_territory, p.account_id
                """
                if "account_coverage" in tables
                else """
                SELECT p.territory_id, p.rank_in_territory, p.account_id, d.account_name,
                       d.city, d.channel, p.segment, p.plan, p.priority_class,
                       p.priority_score, p.calls_per_year, s.revenue_r12, s.opportunity_eur,
                       p.reason_1, p.reason_2, p.reason_3, p.is_overridden,
                       NULL AS coverage_status
                FROM account_priorities p
                JOIN dim_accounts d USING (account_id)
                LEFT JOIN account_scorecard s USING (account_id)
                WHERE p.rank_in_territory <= ?
                ORDER BY p.territory_id, p.rank_in_territory, p.account_id
                """,
                [top_n],
            )
        if "distributor_scorecard" in tables:
            data.distributors = _rows(
                con,
                """
                SELECT distributor_id,
                       count(*) AS months,
                       count(*) FILTER (is_received) AS months_received,
                       count(*) FILTER (is_late) AS months_late,
                       sum(lines_quarantined) AS lines_quarantined,
                       sum(lines_received) AS lines_received,
                       sum(linked_lines) / nullif(sum(sell_out_lines), 0) AS linked_share,
                       round(sum(sell_out_amount_eur), 2) AS sell_out_amount_eur,
                       round(sum(total_points) / nullif(sum(max_points), 0), 6) AS score
                FROM distributor_scorecard
                GROUP BY distributor_id ORDER BY distributor_id
                """,
            )
            data.distributor_months = _rows(
                con,
                """
                SELECT distributor_id, strftime(period_month, '%Y-%m') AS month,
                       total_points / nullif(max_points, 0) AS score, report_status
                FROM distributor_scorecard ORDER BY distributor_id, period_month
                """,
            )
        if "coverage_summary" in tables:
            columns = """summary_key, summary_name, rep_role, territory_id, accounts_allocated,
                       coverage_pct, on_plan_accounts, under_served_accounts,
                       over_served_accounts, never_called_accounts, capacity_used_share"""
            data.coverage_territories = _rows(
                con,
                f"SELECT {columns} FROM coverage_summary WHERE summary_level = 'territory' "
                "ORDER BY summary_key",
            )
            data.coverage_reps = _rows(
                con,
                f"SELECT {columns} FROM coverage_summary WHERE summary_level = 'rep' "
                "ORDER BY territory_id, summary_key",
            )
        if "reallocation_recommendations" in tables:
            data.reallocation = _rows(
                con,
                """
                SELECT recommendation_type, count(*) AS recommendations,
                       count(DISTINCT rep_id) AS reps,
                       coalesce(sum(calls_change), 0) AS calls_change,
                       round(coalesce(sum(hours_change), 0), 2) AS hours_change,
                       round(coalesce(sum(cost_change_eur), 0), 2) AS cost_change_eur,
                       round(coalesce(sum(amount_eur), 0), 2) AS amount_eur
                FROM reallocation_recommendations
                GROUP BY recommendation_type ORDER BY recommendation_type
                """,
            )
            data.reallocation_rows = _rows(
                con,
                """
                SELECT r.territory_id, r.recommendation_type, r.rep_id, r.account_id,
                       d.account_name, r.priority_class, r.coverage_status, r.calls_change,
                       r.hours_change, r.expected_effect
                FROM reallocation_recommendations r
                LEFT JOIN dim_accounts d USING (account_id)
                WHERE r.territory_id IS NOT NULL
                ORDER BY r.territory_id, r.recommendation_type, r.recommendation_id
                """,
            )
        if "territory_balance" in tables:
            # Produced by the territory design work when it is published: shown as is.
            data.territory_balance = _rows(con, "SELECT * FROM territory_balance ORDER BY ALL")
        if "data_quality_results" in tables:
            data.failed_checks = _rows(
                con,
                "SELECT table_name, check_name, severity, details FROM data_quality_results "
                "WHERE run_id = ? AND NOT passed ORDER BY table_name, check_name",
                [run_id],
            )
    return data
