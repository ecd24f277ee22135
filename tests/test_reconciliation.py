"""data_reconciliation: published with every check reconciled on the test company, and a
row lost between the files and the raw table is caught (the check can fail)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import duckdb

from orchestration.config import DBT_PROJECT_DIR, Settings
from orchestration.defs.transform.manifest import dbt_executable
from orchestration.stages import dbt_environment, dbt_vars


def test_every_check_reconciles_and_is_published(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as pub:
        rows = pub.execute(
            "SELECT check_id, expected_value, observed_value, is_reconciled "
            "FROM data_reconciliation ORDER BY check_id"
        ).fetchall()
        published_checks = pub.execute(
            "SELECT count(*) FROM data_quality_results WHERE run_id = ?",
            [pipeline_run.result.run_id],
        ).fetchone()[0]
    ids = {r[0] for r in rows}
    assert {"ingestion:distributor_sell_out", "ingestion:crm_accounts"} <= ids
    assert "published_revenue_r12:monthly->scorecard" in ids
    assert all(r[3] for r in rows), [r for r in rows if not r[3]]
    assert all(r[1] > 0 for r in rows if r[0].startswith("ingestion:distributor_sell_out"))
    assert published_checks > 100  # the run's quality results are published with the marts


def test_a_lost_row_is_caught(pipeline_run, tmp_path):
    shutil.copy(pipeline_run.settings.working_db, tmp_path / "rtm.duckdb")
    with duckdb.connect(str(tmp_path / "rtm.duckdb")) as con:
        con.execute("DELETE FROM raw.call_log WHERE rowid = (SELECT min(rowid) FROM raw.call_log)")
    settings = Settings(tmp_path, pipeline_run.settings.company_config_path)
    result = subprocess.run(
        [
            dbt_executable(), "run", "--select", "data_reconciliation",
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"),
            "--log-path", str(tmp_path / "logs"), "--vars", json.dumps(dbt_vars(settings)),
        ],
        cwd=DBT_PROJECT_DIR, env={**os.environ, **dbt_environment(settings)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    with duckdb.connect(str(tmp_path / "rtm.duckdb"), read_only=True) as con:
        failed = con.execute(
            "SELECT check_id, difference FROM marts.data_reconciliation WHERE NOT is_reconciled"
        ).fetchall()
    assert failed == [("ingestion:call_log", -1.0)]
