"""Store every check outcome per run in `quality.data_quality_results`.

The table is the audit trail BI and engineers query ("what failed last night, and since
when?") and the publish gate reads it, so the gate never depends on in-memory state.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from orchestration.quality.gx_checks import CheckOutcome


def store_results(working_db: Path, run_id: str, outcomes: Iterable[CheckOutcome]) -> None:
    rows = [
        (run_id, o.table, o.check, o.observed, o.passed, o.severity, o.details) for o in outcomes
    ]
    with duckdb.connect(str(working_db)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS quality")
        con.execute(
            """CREATE TABLE IF NOT EXISTS quality.data_quality_results (
                run_id VARCHAR, checked_at TIMESTAMP DEFAULT current_timestamp,
                table_name VARCHAR, check_name VARCHAR, observed_value VARCHAR,
                passed BOOLEAN, severity VARCHAR, details VARCHAR)"""
        )
        con.executemany(
            "INSERT INTO quality.data_quality_results (run_id, table_name, check_name, "
            "observed_value, passed, severity, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
