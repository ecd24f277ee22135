"""Print the Markdown tables of examples/iowa_liquor/README.md from a run's published database.

    python examples/iowa_liquor/summarize.py [warehouse/iowa_liquor/published.duckdb]

Read-only; every figure comes from the published tables (and the working database for the
zone rule counts).
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb


def table(con, sql: str) -> str:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()

    def cell(value) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def main(published: Path) -> None:
    con = duckdb.connect(str(published), read_only=True)
    sections = {
        "Top 15 accounts by opportunity": """
            SELECT s.account_id AS store, d.account_name AS name, d.city,
                round(s.revenue_r12) AS brand_revenue_r12, round(s.potential_eur) AS potential_r12,
                round(s.share_of_wallet, 3) AS share_of_wallet,
                round(s.target_share_of_wallet, 3) AS target_share,
                round(s.opportunity_eur) AS opportunity, g.tier, g.plan, p.priority_class AS class
            FROM account_scorecard s JOIN dim_accounts d USING (account_id)
            JOIN account_segments g USING (account_id) JOIN account_priorities p USING (account_id)
            ORDER BY s.opportunity_eur DESC NULLS LAST, s.account_id LIMIT 15""",
        "Segment summary": """
            SELECT tier, accounts_count AS accounts, buying_accounts_count AS buying,
                round(revenue_r12) AS brand_revenue_r12, round(share_of_revenue, 3) AS share_of_revenue,
                round(potential_eur) AS potential_r12, round(share_of_wallet, 3) AS share_of_wallet,
                round(opportunity_eur) AS opportunity, class_a_count AS a, class_b_count AS b,
                class_c_count AS c, class_d_count AS d, plan_development_count AS development,
                plan_prospection_count AS prospection, plan_support_count AS support,
                plan_retention_count AS retention
            FROM segment_summary ORDER BY revenue_r12 DESC""",
        "Priority classes": """
            SELECT priority_class, count(*) AS accounts, min(criteria_weight_used) AS weight_used
            FROM account_priorities GROUP BY ALL ORDER BY 1""",
        "Territory proposal: balance per planned rep": """
            SELECT proposed_rep_id AS rep, count(*) AS counties, sum(accounts) AS stores,
                round(sum(workload_hours)) AS workload_hours,
                round(sum(workload_hours) / avg(sum(workload_hours)) OVER (), 3) AS balance,
                round(sum(proposed_travel_km)) AS travel_km_per_year,
                any_value(status) AS status, any_value(round(band_low_hours)) AS band_low,
                any_value(round(band_high_hours)) AS band_high
            FROM territory_proposal GROUP BY ALL ORDER BY 1""",
        "White space (counties)": """
            SELECT zone_status, count(*) AS counties, sum(active_accounts) AS stores,
                round(sum(potential_eur)) AS potential_r12, round(sum(opportunity_eur)) AS opportunity
            FROM white_space GROUP BY ALL ORDER BY 2 DESC""",
        "Real problems, counted (data_issues)": """
            SELECT issue_id, subject, affected, round(amount_eur) AS amount, handling
            FROM data_issues ORDER BY issue_id""",
        "Sources: delivered or not (source_reliability)": """
            SELECT source_name, is_delivered, reliability, note
            FROM source_reliability ORDER BY is_delivered DESC, source_name""",
        "Reconciliation (data_reconciliation, sell-out chain)": """
            SELECT check_id, round(expected_value) AS expected, round(observed_value) AS observed,
                is_reconciled
            FROM data_reconciliation WHERE check_id LIKE 'sell_out%' OR check_id LIKE 'published%'
            ORDER BY check_id""",
    }
    for title, sql in sections.items():
        print(f"### {title}\n\n{table(con, sql)}\n")
    working = published.with_name("rtm.duckdb")
    if working.exists():
        with duckdb.connect(str(working), read_only=True) as work:
            print("### Counties of stores whose ZIP spans several counties (zone_rule)\n")
            print(
                table(
                    work,
                    "SELECT coalesce(zone_rule, 'no county') AS zone_rule, count(*) AS stores "
                    "FROM intermediate.int_accounts__zones GROUP BY ALL ORDER BY 2 DESC",
                )
            )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "warehouse/iowa_liquor/published.duckdb"))
