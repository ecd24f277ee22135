"""What a BI tool finds in the published database of the nightly run: column descriptions
from dbt, the stable `bi` views over the published tables (readable by a DuckDB 1.4 driver
too), and the README's example queries, each executed here."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
COMPAT_PYTHON = REPO / ".venv-compat" / "bin" / "python"
BI_VIEWS = {"account_360", "accounts_to_visit", "distributor_leaderboard", "rep_workload_balance"}


@pytest.fixture(scope="module")
def published(pipeline_run):
    assert pipeline_run.result.success
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as con:
        yield con


def _manifest_columns(model: str) -> dict[str, str]:
    manifest = json.loads((REPO / "dbt_project" / "target" / "manifest.json").read_text())
    node = manifest["nodes"][f"model.account_rtm.{model}"]
    return {name: column["description"] for name, column in node["columns"].items()}


def test_published_columns_carry_their_dbt_descriptions(published):
    described = dict(
        published.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND table_name = 'account_scorecard'"
        ).fetchall()
    )
    expected = _manifest_columns("account_scorecard")
    assert described["opportunity_eur"] == expected["opportunity_eur"]
    assert described["opportunity_eur"]  # a real sentence, not an empty comment
    assert {c: d for c, d in described.items() if d} == {c: d for c, d in expected.items() if d}
    [(table_comment,)] = published.execute(
        "SELECT comment FROM duckdb_tables() WHERE table_name = 'account_scorecard'"
    ).fetchall()
    assert "grain" in table_comment.lower() or "one row per" in table_comment.lower()
    # the BI views are described too, view and columns
    views = dict(
        published.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'bi'"
        ).fetchall()
    )
    assert set(views) == BI_VIEWS and all(views.values())
    assert (
        published.execute(
            "SELECT comment FROM duckdb_columns() WHERE schema_name = 'bi' "
            "AND table_name = 'accounts_to_visit' AND column_name = 'visits_due_this_quarter'"
        ).fetchone()[0]
        == _manifest_columns("accounts_to_visit")["visits_due_this_quarter"]
    )


def test_bi_views_agree_with_the_published_tables(published):
    def one(sql: str):
        return published.execute(sql).fetchone()

    assert one("SELECT count(*), count(DISTINCT account_id) FROM bi.account_360") == (
        one("SELECT count(*), count(*) FROM dim_accounts")
    )
    assert one("SELECT round(sum(revenue_last_12_months_eur), 2) FROM bi.account_360") == one(
        "SELECT round(sum(revenue_r12), 2) FROM account_scorecard"
    )
    # the visit list: every account whose class asks for calls, a quarter of them due
    assert one("SELECT count(*) FROM bi.accounts_to_visit") == one(
        "SELECT count(*) FROM account_priorities WHERE calls_per_year > 0"
    )
    assert published.execute(
        "SELECT DISTINCT priority_class, visits_due_this_quarter FROM bi.accounts_to_visit "
        "ORDER BY 1"
    ).fetchall() == [("A", 7), ("B", 3), ("C", 1)]  # 26, 12 and 4 visits a year
    # the leaderboard: the late-and-sloppy D05 of the test company is last
    board = published.execute(
        "SELECT distributor_id, points, possible_points FROM bi.distributor_leaderboard "
        "ORDER BY points DESC"
    ).fetchall()
    assert [d for d, _, _ in board] == ["D01", "D02", "D03", "D04", "D05"]
    assert all(possible == 420 for _, _, possible in board)  # 12 months x 35 points
    assert one("SELECT count(*) FROM bi.rep_workload_balance") == one(
        "SELECT count(*) FROM territory_balance"
    )


def _readme_queries() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Connect a BI tool", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sql\n(.*?)```", section, re.S)
    return [q.strip() for q in block.split(";") if q.strip()]


def test_the_readme_example_queries_run(published):
    queries = _readme_queries()
    assert len(queries) == 4
    results = [published.execute(q).fetchall() for q in queries]
    visits, segments, board, reps = results
    assert len(visits) == 10 and [r[0] for r in visits] == list(range(1, 11))
    assert {r[3] for r in visits} <= {"A", "B", "C"}
    assert segments[0][1] == "prospection" and segments[0][4] > segments[-1][4]
    assert board[0][0] == "D01" and board[0][1] == 400  # the figures the README quotes
    assert reps[0][5] == 187 and len(reps) == 5


def test_bi_views_open_with_duckdb_1_4(pipeline_run):
    """A BI tool's bundled DuckDB 1.4 reads the views and the descriptions."""
    assert COMPAT_PYTHON.exists(), "make install creates .venv-compat with duckdb 1.4"
    script = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(duckdb.__version__); "
        "[print(v, con.execute(f'SELECT count(*) FROM bi.{v}').fetchone()[0]) "
        f"for v in {sorted(BI_VIEWS)!r}]; "
        'print(con.execute("SELECT count(comment) FROM duckdb_columns() '
        "WHERE schema_name = 'bi'\").fetchone()[0])"
    )
    out = subprocess.run(
        [str(COMPAT_PYTHON), "-c", script, str(pipeline_run.settings.published_db)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    version, *counts, described = out.stdout.split("\n")[:6]
    assert version.startswith("1.4.")
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as con:
        for line in counts:
            view, rows = line.split()
            assert int(rows) == con.execute(f"SELECT count(*) FROM bi.{view}").fetchone()[0] > 0
        assert (
            int(described)
            == con.execute(
                "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'bi'"
            ).fetchone()[0]
        )
