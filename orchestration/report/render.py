"""Render the account review report: `reports/<as-of month>/index.html` and one printable
page per territory under `territories/<id>.html`.

The pages are self-contained: plotly.js comes from the installed plotly wheel and is
inlined once in the index (territory pages are tables, made to print, with no script), no
fonts or stylesheets are fetched. Rendering is deterministic: the same published file
gives the same bytes (no render timestamp, fixed figure ids, ordered queries).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2

from orchestration.report import figures
from orchestration.report.data import ReportData, load_report_data

TOP_N_PER_TERRITORY = 15


@dataclass(frozen=True)
class ReportResult:
    path: Path
    directory: Path
    pages: int
    size_bytes: int
    seconds: float
    as_of: str


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("orchestration.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["eur"] = lambda v: "–" if v is None else f"{v:,.0f}\u00a0€".replace(",", "\u202f")
    env.filters["num"] = lambda v: "–" if v is None else f"{v:,.0f}".replace(",", "\u202f")
    env.filters["pct"] = lambda v, d=0: "–" if v is None else f"{v * 100:.{d}f}\u00a0%"
    env.filters["signed"] = lambda v: "–" if v is None else f"{v:+,.0f}".replace(",", "\u202f")
    return env


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def report_dir_name(data: ReportData) -> str:
    """The as-of month of the published data (what the figures describe), else the
    publication date."""
    return data.as_of_month or data.published_at[:10]


def report_index_path(published_db: Path, reports_dir: Path) -> Path | None:
    """Where the report of the currently published tables is (or would be) written."""
    import duckdb

    if not Path(published_db).exists():
        return None
    with duckdb.connect(str(published_db), read_only=True) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        as_of = (
            con.execute("SELECT max(as_of_month) FROM account_scorecard").fetchone()[0]
            if "account_scorecard" in tables
            else None
        )
        published_at = con.execute("SELECT published_at FROM _publication").fetchone()[0]
    return Path(reports_dir) / (as_of or f"{published_at:%Y-%m-%d}") / "index.html"


def render_report(
    published_db: Path, reports_dir: Path, top_n: int = TOP_N_PER_TERRITORY
) -> ReportResult:
    started = time.perf_counter()
    data = load_report_data(published_db, top_n=top_n)
    out = Path(reports_dir) / report_dir_name(data)
    (out / "territories").mkdir(parents=True, exist_ok=True)
    env = _environment()

    by_territory: dict[str, dict] = {}
    for t in data.territories:
        tid = t["territory_id"]
        by_territory[tid] = {
            **t,
            "priorities": [p for p in data.priorities if p["territory_id"] == tid],
            "coverage": next(
                (c for c in data.coverage_territories if c["summary_key"] == tid), None
            ),
            "reps": [r for r in data.coverage_reps if r["territory_id"] == tid],
            "reallocation": [r for r in data.reallocation_rows if r["territory_id"] == tid],
            "balance": [b for b in data.territory_balance or [] if b.get("territory_id") == tid],
        }
    common = {"data": data, "h": data.headline, "as_of": report_dir_name(data)}
    pages = {
        out / "index.html": env.get_template("index.html.j2").render(
            **common,
            territories=list(by_territory.values()),
            plotly_js=_plotly_js(),
            fig={
                "segment_matrix": figures.segment_matrix(data),
                "pareto": figures.pareto_curve(data),
                "map": figures.accounts_map(data),
                "distributors": figures.distributor_heatmap(data),
                "coverage": figures.coverage_bars(data),
            },
        )
    }
    page = env.get_template("territory.html.j2")
    for tid, territory in by_territory.items():
        pages[out / "territories" / f"{tid}.html"] = page.render(**common, t=territory)
    # Stale territory pages of an earlier render (a territory that no longer exists) go.
    for old in (out / "territories").glob("*.html"):
        if old not in pages:
            old.unlink()
    for path, html in pages.items():
        tmp = path.with_suffix(".html.tmp")
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    return ReportResult(
        path=out / "index.html",
        directory=out,
        pages=len(pages),
        size_bytes=sum(p.stat().st_size for p in pages),
        seconds=time.perf_counter() - started,
        as_of=report_dir_name(data),
    )
