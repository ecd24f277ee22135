"""The account review report rendered by the nightly run, checked against the published
tables with independent SQL; self-contained, one page per territory, deterministic."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
from markupsafe import escape
from typer.testing import CliRunner

from orchestration.report import render_report, report_index_path


def _report_dir(pipeline_run) -> Path:
    path = report_index_path(pipeline_run.settings.published_db, pipeline_run.warehouse / "reports")
    assert path is not None
    return path.parent


def _kpi(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}" data-value="([^"]*)"', html)
    assert match, f"headline {name} missing"
    return match.group(1)


def _grouped(value: float) -> str:
    return f"{round(value):,}".replace(",", "\u202f")


def test_the_nightly_run_renders_the_report(pipeline_run):
    assert pipeline_run.result.success
    index = _report_dir(pipeline_run) / "index.html"
    assert index.exists()
    [materialization] = pipeline_run.result.asset_materializations_for_node("account_review_report")
    metadata = materialization.metadata
    assert Path(metadata["path"].value) == index
    assert metadata["pages"].value == 1 + len(list(index.parent.glob("territories/*.html")))
    assert metadata["size_bytes"].value > index.stat().st_size
    html = index.read_text(encoding="utf-8")
    for section in ("segments", "pareto", "map", "priorities", "distributors", "coverage",
                    "reallocation", "territories"):  # fmt: skip
        assert f'id="{section}"' in html, section
    for chart in ("segment-matrix", "pareto", "map", "distributors", "coverage"):
        assert f'data-chart="{chart}"' in html, chart
    # territory_balance is published by the territory design: its section is there
    assert 'id="territory-balance"' in html


def test_headline_figures_match_the_published_tables(pipeline_run):
    html = (_report_dir(pipeline_run) / "index.html").read_text(encoding="utf-8")
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as con:
        accounts = con.execute("SELECT count(DISTINCT account_id) FROM dim_accounts").fetchone()[0]
        rows = con.execute(
            "SELECT s.revenue_r12, s.potential_eur, s.opportunity_eur "
            "FROM dim_accounts d JOIN account_scorecard s ON s.account_id = d.account_id"
        ).fetchall()
        passed, total = con.execute(
            "SELECT count(*) FILTER (WHERE r.passed), count(*) FROM data_quality_results r "
            "JOIN _publication p ON p.run_id = r.run_id"
        ).fetchone()
    revenue = sum(r[0] or 0 for r in rows)
    opportunity = sum(r[2] or 0 for r in rows)
    with_potential = [r for r in rows if (r[1] or 0) > 0]
    wallet = sum(r[0] or 0 for r in with_potential) / sum(r[1] for r in with_potential)

    assert int(_kpi(html, "accounts")) == accounts > 0
    assert float(_kpi(html, "revenue_r12")) == pytest.approx(revenue, abs=0.01)
    assert float(_kpi(html, "opportunity_eur")) == pytest.approx(opportunity, abs=0.01)
    assert float(_kpi(html, "share_of_wallet")) == pytest.approx(wallet, abs=1e-6)
    assert int(_kpi(html, "checks_passed")) == passed
    assert f"{passed} / {total}" in html
    # and what a reader sees, formatted
    assert f">{_grouped(revenue)}\u00a0€<" in html
    assert f">{_grouped(opportunity)}\u00a0€<" in html
    assert f">{wallet * 100:.1f}\u00a0%<" in html


def test_one_printable_page_per_territory_with_its_priorities(pipeline_run):
    directory = _report_dir(pipeline_run)
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as con:
        territories = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT territory_id FROM dim_accounts WHERE territory_id IS NOT NULL"
            ).fetchall()
        }
        top = con.execute(
            "SELECT territory_id, account_id, reason_1 FROM account_priorities "
            "WHERE rank_in_territory = 1"
        ).fetchall()
    pages = {p.stem: p for p in (directory / "territories").glob("*.html")}
    assert set(pages) == territories
    index = (directory / "index.html").read_text(encoding="utf-8")
    for territory, account, reason in top:
        page = pages[territory].read_text(encoding="utf-8")
        assert "@media print" in page
        assert account in page
        if reason:
            assert str(escape(reason)) in page
        assert f'href="territories/{territory}.html"' in index


def test_report_is_self_contained(pipeline_run):
    from plotly.offline import get_plotlyjs

    directory = _report_dir(pipeline_run)
    bundle_start = get_plotlyjs()[:300]
    for page in [directory / "index.html", *(directory / "territories").glob("*.html")]:
        html = page.read_text(encoding="utf-8")
        tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html, flags=re.I)
        for tag in tags:
            assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag, re.I), (
                page,
                tag,
            )
        assert not re.search(r"@import\s+url\(\s*['\"]?(?:https?:)?//", html, re.I), page
        expected = 1 if page.name == "index.html" else 0
        assert html.count(bundle_start) == expected, page


def test_report_is_deterministic_given_the_same_published_file(pipeline_run, tmp_path):
    published = tmp_path / "published.duckdb"
    shutil.copy(pipeline_run.settings.published_db, published)
    first = render_report(published, tmp_path / "a")
    second = render_report(published, tmp_path / "b")
    assert first.pages == second.pages > 1

    def contents(directory: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*.html"))
        }

    assert contents(first.directory) == contents(second.directory)
    # the same bytes as the nightly run's own render of that file
    assert contents(first.directory) == contents(_report_dir(pipeline_run))


def test_territory_balance_section_renders_only_when_published(pipeline_run, tmp_path):
    published = tmp_path / "published.duckdb"
    shutil.copy(pipeline_run.settings.published_db, published)
    with duckdb.connect(str(published)) as con:
        con.execute("DROP TABLE IF EXISTS territory_balance")
    result = render_report(published, tmp_path / "reports")
    assert 'id="territory-balance"' not in result.path.read_text(encoding="utf-8")


def test_rtm_report_exits_1_when_nothing_is_published(tmp_path, monkeypatch):
    from orchestration.cli import app

    monkeypatch.setenv("RTM_WAREHOUSE", str(tmp_path))
    completed = CliRunner().invoke(app, ["report"])
    assert completed.exit_code == 1
    assert "nothing published" in completed.output
