"""Checks generated from the data contracts: what the suite contains, that it catches what
the loader must never let through, the quarantine ceiling, and freshness live vs replay."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from orchestration.config import load_company_config
from orchestration.contracts import load_contracts
from orchestration.ingest.engine import ensure_raw_schema
from orchestration.quality.contract_checks import (
    FreshnessClock,
    check_source,
    contract_expectations,
)

CONTRACTS = load_contracts()
REPS = CONTRACTS["sales_reps"]
REP = "('{id}', 'Ana', 'field_rep', 'T01', '69003', 45.7, 4.8, 38, DATE '2024-01-02', 'f', 1, 'h', TIMESTAMP '2026-10-31')"


def test_suite_covers_every_contract_rule():
    specs = contract_expectations(REPS)
    kinds = {(s["expectation"], s["kwargs"].get("column")) for s in specs}
    for column in REPS.columns:
        assert ("expect_column_to_exist", column.name) in kinds
        assert ("expect_column_values_to_be_in_type_list", column.name) in kinds
        if column.required:
            assert ("expect_column_values_to_not_be_null", column.name) in kinds
        if column.valid_values:
            assert ("expect_column_values_to_be_in_set", column.name) in kinds
    assert ("expect_column_values_to_be_unique", "rep_id") in kinds
    sell_out = contract_expectations(CONTRACTS["distributor_sell_out"])
    dup = next(s for s in sell_out if s["expectation"] == "expect_compound_columns_to_be_unique")
    assert dup["kwargs"]["mostly"] == pytest.approx(0.99)  # "less than 1 percent" duplicates


@pytest.fixture()
def working_db(tmp_path):
    path = tmp_path / "rtm.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con, CONTRACTS.values())
    return path


def _deliver(con, source, delivered_at, distributor=None, loaded=10, held=0):
    con.execute(
        "INSERT INTO raw.file_deliveries (file, source, distributor_id, file_hash, size_bytes, "
        "delivered_at, status, duplicate_of, rows_read, rows_loaded, rows_quarantined, loaded_at) "
        "VALUES (?, ?, ?, 'h', 1, ?, 'loaded', NULL, ?, ?, ?, "
        "current_timestamp::TIMESTAMP)",
        [
            f"{source}/{delivered_at}",
            source,
            distributor,
            delivered_at,
            loaded + held,
            loaded,
            held,
        ],
    )


def test_rows_the_loader_should_have_stopped_fail_as_errors(working_db):
    with duckdb.connect(str(working_db)) as con:
        con.execute(
            f"INSERT INTO raw.sales_reps VALUES {REP.format(id='R1')}, {REP.format(id='R1')}"
        )
        con.execute("UPDATE raw.sales_reps SET role = 'astronaut' WHERE rowid = 1")
        _deliver(con, "sales_reps", datetime(2026, 11, 2))
    clock = FreshnessClock(now=datetime(2026, 11, 3))
    failed = {o.check: o for o in check_source(working_db, REPS, clock) if not o.passed}
    assert set(failed) == {
        "expect_column_values_to_be_unique(rep_id)",
        "expect_column_values_to_be_in_set(role)",
    }
    assert {o.severity for o in failed.values()} == {"error"}


def test_quarantine_ceiling_and_freshness_per_distributor(working_db):
    sell_out = CONTRACTS["distributor_sell_out"]
    with duckdb.connect(str(working_db)) as con:
        _deliver(con, "distributor_sell_out", datetime(2026, 11, 8), "D01", loaded=97, held=1)
        _deliver(con, "distributor_sell_out", datetime(2026, 9, 8), "D02", loaded=50, held=2)
    outcomes = {
        o.check: o
        for o in check_source(working_db, sell_out, FreshnessClock(now=datetime(2026, 11, 20)))
    }
    share = outcomes["quarantined_share"]
    assert share.passed and share.observed.startswith("2.000% of 150")  # 3 / 150, ceiling 2%
    assert outcomes["freshness(D01)"].passed  # 12 days old, allowed 31 + 10
    assert (
        not outcomes["freshness(D02)"].passed and outcomes["freshness(D02)"].severity == "warning"
    )


def test_replayed_month_is_checked_at_the_night_its_data_is_due(working_db):
    company = load_company_config()
    clock = FreshnessClock.for_company(company)  # the sample pins as_of_month 2026-10
    calls = CONTRACTS["call_log"]
    assert clock.replay_month_end == datetime(2026, 11, 1)
    assert (clock.reference(calls) - clock.replay_month_end).days == calls.latency_days
    with duckdb.connect(str(working_db)) as con:
        _deliver(con, "sales_reps", datetime(2026, 11, 1, 2))  # snapshot taken after the month
        _deliver(con, "call_log", datetime(2026, 9, 2))  # stopped two months before
    reps = {o.check: o.passed for o in check_source(working_db, REPS, clock)}
    calls = {o.check: o.passed for o in check_source(working_db, calls, clock)}
    assert reps["freshness"] and not calls["freshness"]


def test_contract_checks_run_per_source_and_personal_data_stays_out(pipeline_run):
    """Every source has its contract suite in the run's results, and no column tagged
    pseudonymize appears in clear anywhere the pipeline wrote (raw or published)."""
    settings, run_id = pipeline_run.settings, pipeline_run.result.run_id
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        checked = {
            row[0]
            for row in con.execute(
                "SELECT DISTINCT table_name FROM quality.data_quality_results "
                "WHERE run_id = ? AND check_name LIKE 'expect_column_to_exist%'",
                [run_id],
            ).fetchall()
        }
        # a source the company does not deliver (the sample has no postcode_zones) is skipped
        assert checked == {c for c in CONTRACTS if settings.company.source_present(c)}
        assert "postcode_zones" not in checked
        emails = con.execute(
            "SELECT count(*), count(*) FILTER (email LIKE 'pseud:%') FROM raw.crm_accounts "
            "WHERE email IS NOT NULL"
        ).fetchone()
        assert emails[0] > 0 and emails[0] == emails[1]
    personal = {
        c.name for contract in CONTRACTS.values() for c in contract.columns if c.pseudonymize
    }
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        published = pub.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
        ).fetchall()
    assert not [(t, c) for t, c in published if c in personal]


def test_rtm_status_reports_checks_and_freshness_with_trustworthy_exit_codes(
    pipeline_run, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from orchestration.cli import app

    monkeypatch.setenv("RTM_WAREHOUSE", str(pipeline_run.warehouse))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "0 failed (error)" in result.output
    assert "distributor_sell_out(D05)" in result.output
    monkeypatch.setenv("RTM_WAREHOUSE", str(tmp_path))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1 and "nothing published yet" in result.output


def test_rtm_status_reports_a_late_source_late(working_db, tmp_path, monkeypatch):
    """The freshness check of a late distributor, stored and published like a night's
    results, reads LATE in `rtm status`; a warning keeps exit 0, an error makes it 1."""
    from typer.testing import CliRunner

    from orchestration.cli import app
    from orchestration.publish import QUALITY_RESULTS, publish
    from orchestration.quality.results import store_results

    with duckdb.connect(str(working_db)) as con:
        _deliver(con, "distributor_sell_out", datetime(2026, 11, 8), "D01")
        _deliver(con, "distributor_sell_out", datetime(2026, 9, 8), "D02")  # 73 days ago
    outcomes = check_source(
        working_db, CONTRACTS["distributor_sell_out"], FreshnessClock(now=datetime(2026, 11, 20))
    )
    store_results(working_db, "run-late", outcomes)
    published = tmp_path / "warehouse" / "published.duckdb"
    publish(working_db, published, [QUALITY_RESULTS], "run-late")
    monkeypatch.setenv("RTM_WAREHOUSE", str(published.parent))

    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output  # late is a warning: reported, not failing
    lines = {line.split()[1]: line.split()[0] for line in result.output.splitlines()[2:]}
    assert lines["distributor_sell_out(D02)"] == "LATE"
    assert lines["distributor_sell_out(D01)"] == "fresh"
    assert "0 failed (error), 1 warnings" in result.output

    # the same lateness at error severity: scripts see exit 1
    failing = [o for o in outcomes if o.check == "freshness(D02)"]
    store_results(working_db, "run-late-error", [*outcomes])
    with duckdb.connect(str(working_db)) as con:
        con.execute(
            "UPDATE quality.data_quality_results SET severity = 'error' "
            "WHERE run_id = 'run-late-error' AND check_name = ?",
            [failing[0].check],
        )
    publish(working_db, published, [QUALITY_RESULTS], "run-late-error", require_checks=False)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1 and "1 failed (error)" in result.output
