"""Write-audit-publish: versions kept and rolled back, BI readers never broken, a publish
killed half-way leaves the last good version, and two runs cannot share a warehouse.

These tests build their own small working database (no pipeline run needed), so each
fault case is fast and deterministic. (No `from __future__ import annotations`: Dagster reads the
resource annotation of the asset defined below.)"""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.publish import (
    PublishBlocked,
    RollbackError,
    ViewNotPublishable,
    list_versions,
    publish,
    rollback,
)
from orchestration.runlock import RunInProgress, warehouse_lock

REPO = Path(__file__).resolve().parents[1]
COMPAT_PYTHON = REPO / ".venv-compat" / "bin" / "python"
TABLES = [("marts", "dim_accounts")]


def _working_db(path: Path, accounts: int, run_id: str = "run-1", failing: bool = False) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(
            "CREATE OR REPLACE TABLE marts.dim_accounts AS "
            "SELECT 'A' || lpad(i::VARCHAR, 6, '0') AS account_id, i * 1.5 AS revenue "
            f"FROM range({accounts}) t(i)"
        )
        con.execute("CREATE SCHEMA IF NOT EXISTS quality")
        con.execute(
            "CREATE TABLE IF NOT EXISTS quality.data_quality_results (run_id VARCHAR, "
            "table_name VARCHAR, check_name VARCHAR, observed_value VARCHAR, passed BOOLEAN, "
            "severity VARCHAR)"
        )
        con.execute(
            "INSERT INTO quality.data_quality_results VALUES (?, 'dim_accounts', "
            "'one_row_per_account', '0', ?, 'error')",
            [run_id, not failing],
        )
    return path


def _rows(published: Path) -> int:
    with duckdb.connect(str(published), read_only=True) as con:
        return con.execute("SELECT count(*) FROM dim_accounts").fetchone()[0]


def test_versions_are_kept_pruned_and_rolled_back(tmp_path):
    work, published = tmp_path / "rtm.duckdb", tmp_path / "published.duckdb"
    versions = []
    for n in (10, 20, 30, 40):
        _working_db(work, n, run_id=f"run-{n}")
        versions.append(publish(work, published, TABLES, f"run-{n}", keep_versions=3).version)
    kept = list_versions(published)
    assert [v.version for v in kept] == versions[:0:-1], "newest first, only the last 3 kept"
    assert kept[0].is_current and _rows(published) == 40
    assert kept[0].run_id == "run-40"

    exports = tmp_path / "exports"
    assert sorted(p.name for p in exports.iterdir() if not p.is_symlink()) == sorted(versions[1:])
    assert (exports / "current").resolve().name == versions[3]
    assert duckdb.sql(
        f"SELECT count(*) FROM '{exports / 'current' / 'dim_accounts.parquet'}'"
    ).fetchall() == [(40,)]

    back = rollback(published)
    assert back.version == versions[2] and _rows(published) == 30
    assert (exports / "current").resolve().name == versions[2]  # files follow the rollback
    assert [v.is_current for v in list_versions(published)] == [False, True, False]
    rollback(published, to_version=versions[1])
    assert _rows(published) == 20
    with pytest.raises(RollbackError, match="no kept version 'nope'"):
        rollback(published, to_version="nope")
    with pytest.raises(RollbackError, match="no earlier published version"):
        rollback(published)


def test_a_failed_blocking_check_publishes_nothing(tmp_path):
    work, published = tmp_path / "rtm.duckdb", tmp_path / "published.duckdb"
    publish(_working_db(work, 5), published, TABLES, "run-1")
    _working_db(work, 7, run_id="run-2", failing=True)
    with pytest.raises(PublishBlocked, match=r"dim_accounts.one_row_per_account"):
        publish(work, published, TABLES, "run-2")
    assert _rows(published) == 5 and len(list_versions(published)) == 1


def test_published_file_opens_with_duckdb_1_4(tmp_path):
    """BI drivers bundle older DuckDB releases: the published file must open in them."""
    assert COMPAT_PYTHON.exists(), "make install creates .venv-compat with duckdb 1.4"
    work, published = tmp_path / "rtm.duckdb", tmp_path / "published.duckdb"
    publish(_working_db(work, 12), published, TABLES, "run-1")
    script = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(duckdb.__version__, con.execute('SELECT count(*), sum(revenue)::DOUBLE "
        "FROM dim_accounts').fetchone())"
    )
    out = subprocess.run(
        [str(COMPAT_PYTHON), "-c", script, str(published)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("1.4.") and "(12, 99.0)" in out.stdout


def _documented_working_db(path: Path) -> Path:
    """A working database as dbt leaves it: comments from persist_docs on the mart, and a
    BI view (schema bi) over it, written as dbt writes refs (catalog.schema.table)."""
    _working_db(path, 12)
    with duckdb.connect(str(path)) as con:
        con.execute("COMMENT ON TABLE marts.dim_accounts IS 'One row per active account.'")
        con.execute(
            "COMMENT ON COLUMN marts.dim_accounts.revenue IS 'Brand revenue, last 12 months, EUR'"
        )
        con.execute("CREATE SCHEMA IF NOT EXISTS bi")
        con.execute(
            "CREATE OR REPLACE VIEW bi.top_accounts AS WITH ranked AS (SELECT account_id, "
            "revenue AS revenue_eur, rank() OVER (ORDER BY revenue DESC) AS revenue_rank "
            'FROM "rtm"."marts"."dim_accounts") SELECT * FROM ranked WHERE revenue_rank <= 5'
        )
        con.execute("COMMENT ON VIEW bi.top_accounts IS 'The five largest accounts.'")
        con.execute("COMMENT ON COLUMN bi.top_accounts.revenue_rank IS 'Rank by revenue, 1 first'")
    return path


def test_descriptions_and_bi_views_are_published(tmp_path):
    work, published = tmp_path / "rtm.duckdb", tmp_path / "published.duckdb"
    views = [("bi", "top_accounts")]
    publish(_documented_working_db(work), published, TABLES, "run-1", views=views)
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute(
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'dim_accounts'"
        ).fetchall() == [("One row per active account.",)]
        assert con.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE table_name IN ('dim_accounts', 'top_accounts') AND comment IS NOT NULL "
            "ORDER BY ALL"
        ).fetchall() == [
            ("revenue", "Brand revenue, last 12 months, EUR"),
            ("revenue_rank", "Rank by revenue, 1 first"),
        ]
        assert con.execute(
            "SELECT comment FROM duckdb_views() WHERE view_name = 'top_accounts'"
        ).fetchall() == [("The five largest accounts.",)]
        # the view reads the published table (11 x 1.5 is the largest revenue), not the
        # working database, which is not even attached here
        assert con.execute(
            "SELECT account_id, revenue_eur FROM bi.top_accounts WHERE revenue_rank = 1"
        ).fetchall() == [("A000011", 16.5)]
        assert con.execute("SELECT count(*) FROM bi.top_accounts").fetchone()[0] == 5
    # the view survives the working database changing or disappearing
    work.unlink()
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM bi.top_accounts").fetchone()[0] == 5
    # and a BI tool's DuckDB 1.4 reads the view and the descriptions as well
    script = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute('SELECT max(revenue_eur) FROM bi.top_accounts').fetchone()[0], "
        "con.execute(\"SELECT comment FROM duckdb_columns() WHERE column_name = 'revenue'\")"
        ".fetchone()[0])"
    )
    out = subprocess.run(
        [str(COMPAT_PYTHON), "-c", script, str(published)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "16.5 Brand revenue, last 12 months, EUR"


def test_a_view_over_an_unpublished_table_publishes_nothing(tmp_path):
    work, published = tmp_path / "rtm.duckdb", tmp_path / "published.duckdb"
    publish(_working_db(work, 5), published, TABLES, "run-1")
    _documented_working_db(work)
    with duckdb.connect(str(work)) as con:
        con.execute("CREATE TABLE marts.internal_only AS SELECT 1 AS x")
        con.execute("CREATE VIEW bi.leaky AS SELECT x FROM marts.internal_only")
    with pytest.raises(ViewNotPublishable, match=r"bi.leaky reads \['marts.internal_only'\]"):
        publish(work, published, TABLES, "run-2", views=[("bi", "leaky")])
    assert _rows(published) == 5 and len(list_versions(published)) == 1


def test_a_reader_holding_the_file_open_keeps_its_version(tmp_path):
    work, published = tmp_path / "rtm.duckdb", tmp_path / "published.duckdb"
    publish(_working_db(work, 5), published, TABLES, "run-1")
    reader = duckdb.connect(str(published), read_only=True)
    try:
        before = reader.execute("SELECT count(*), max(account_id) FROM dim_accounts").fetchone()
        publish(_working_db(work, 9, run_id="run-2"), published, TABLES, "run-2")
        # the open connection still reads the old, complete version...
        assert (
            reader.execute("SELECT count(*), max(account_id) FROM dim_accounts").fetchone()
            == before
        )
    finally:
        reader.close()
    assert _rows(published) == 9  # ...and a new connection sees the new one


def test_a_publish_killed_half_way_leaves_the_last_good_version(tmp_path):
    work, published = tmp_path / "rtm.duckdb", tmp_path / "published.duckdb"
    publish(_working_db(work, 5), published, TABLES, "run-1")
    _working_db(work, 50_000, run_id="run-2")
    ready = tmp_path / "about-to-swap"
    # The child publishes for real and is killed with SIGKILL right before the atomic swap,
    # the worst moment: the new file is complete but not yet in place.
    child = textwrap.dedent(
        f"""
        import os, time
        from pathlib import Path
        import orchestration.publish as p
        real_replace = os.replace
        def stalled_replace(src, dst):
            Path({str(ready)!r}).touch()
            time.sleep(60)
        p.os.replace = stalled_replace
        p.publish(Path({str(work)!r}), Path({str(published)!r}), {TABLES!r}, "run-2")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, "the publishing child died before the swap"
            assert time.monotonic() < deadline, "the child never reached the swap"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _rows(published) == 5, "the last good version is still published"
    assert [v.run_id for v in list_versions(published)] == ["run-1"]
    leftovers = sorted(p.name for p in tmp_path.rglob("*.tmp"))
    assert leftovers, "the killed publish left its temporary files (cleaned next time)"
    publish(work, published, TABLES, "run-3")
    assert _rows(published) == 50_000
    assert not list(tmp_path.rglob("*.tmp")), "the next publish cleaned up"
    current = tmp_path / "exports" / "current" / "dim_accounts.parquet"
    assert duckdb.sql(f"SELECT count(*) FROM '{current}'").fetchall() == [(50_000,)]


def test_two_runs_cannot_hold_the_same_warehouse(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from orchestration.runlock import warehouse_lock\n"
            "with warehouse_lock(Path(sys.argv[1]), holder='first run'):\n"
            "    print('locked', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(RunInProgress, match=r"another run holds the warehouse .*first run"),
            warehouse_lock(tmp_path, wait_seconds=0),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with warehouse_lock(tmp_path, wait_seconds=0):  # a killed holder leaves no stale lock
        pass


def test_a_dagster_run_fails_clearly_while_another_holds_the_warehouse(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.defs.resources import RtmResource

    monkeypatch.setenv("RTM_WAREHOUSE", str(tmp_path))

    @dg.asset
    def touches_warehouse(rtm: RtmResource) -> None:
        rtm.settings()

    with warehouse_lock(tmp_path, holder="nightly run", wait_seconds=0):
        result = dg.materialize(
            [touches_warehouse], resources={"rtm": RtmResource()}, raise_on_error=False
        )
    assert not result.success
    messages = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_failure else None
        while error is not None:  # Dagster wraps the resource's error: read the causes too
            messages.append(error.message)
            error = error.cause
    messages = " ".join(messages)
    assert "another run holds the warehouse" in messages and "nightly run" in messages
    assert dg.materialize([touches_warehouse], resources={"rtm": RtmResource()}).success
