"""Plotly figures of the report, as HTML fragments without plotly.js (inlined once per page).

Each figure gets a fixed element id so the same published file renders byte-identical
HTML (plotly would otherwise draw a random id per render).
"""

from __future__ import annotations

import plotly.graph_objects as go

from orchestration.report.data import ReportData

CLASS_COLOURS = {"A": "#1b7837", "B": "#7fbf7b", "C": "#f1a340", "D": "#b2182b"}
TIER_COLOURS = ["#2166ac", "#67a9cf", "#ef8a62", "#b2182b", "#999999", "#5aae61"]
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "height": 420,
    "font": {"family": "system-ui, sans-serif", "size": 12},
}


def _html(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(**LAYOUT)
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)


def segment_matrix(data: ReportData) -> str | None:
    """Current volume (revenue r12) against opportunity, one bubble per segment."""
    if not data.segments:
        return None
    fig = go.Figure()
    tiers = sorted({s["tier"] or "none" for s in data.segments})
    biggest = max((s["accounts_count"] or 0) for s in data.segments) or 1
    for i, tier in enumerate(tiers):
        rows = [s for s in data.segments if (s["tier"] or "none") == tier]
        fig.add_trace(
            go.Scatter(
                name=f"tier {tier}",
                x=[r["revenue_r12"] or 0 for r in rows],
                y=[r["opportunity_eur"] or 0 for r in rows],
                text=[r["segment"] for r in rows],
                customdata=[[r["accounts_count"], r["share_of_wallet"] or 0] for r in rows],
                mode="markers",
                marker={
                    "size": [r["accounts_count"] or 0 for r in rows],
                    "sizemode": "area",
                    "sizeref": 2.0 * biggest / 60**2,
                    "sizemin": 4,
                    "color": TIER_COLOURS[i % len(TIER_COLOURS)],
                    "opacity": 0.75,
                    "line": {"width": 1, "color": "#333"},
                },
                hovertemplate="<b>%{text}</b><br>revenue r12 %{x:,.0f} EUR<br>"
                "opportunity %{y:,.0f} EUR<br>%{customdata[0]} accounts, share of wallet "
                "%{customdata[1]:.0%}<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis_title="current volume: revenue, last 12 months (EUR)",
        yaxis_title="opportunity (EUR a year)",
        legend_title="tier",
    )
    return _html(fig, "fig-segment-matrix")


def pareto_curve(data: ReportData) -> str | None:
    if not data.pareto:
        return None
    fig = go.Figure(
        go.Scatter(
            x=[p["accounts_pct"] for p in data.pareto],
            y=[(p["cumulative_revenue_share"] or 0) * 100 for p in data.pareto],
            mode="lines",
            line={"color": "#2166ac", "width": 3},
            hovertemplate="top %{x}% of accounts: %{y:.1f}% of revenue<extra></extra>",
            name="cumulative revenue",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[0, 100],
            y=[0, 100],
            mode="lines",
            name="equal share",
            line={"color": "#999", "dash": "dot"},
            hoverinfo="skip",
        )  # fmt: skip
    )
    fig.update_layout(
        xaxis_title="accounts, largest first (%)",
        yaxis_title="cumulative revenue r12 (%)",
        showlegend=False,
    )
    return _html(fig, "fig-pareto")


def accounts_map(data: ReportData, div_id: str = "fig-map", rows=None) -> str | None:
    """Accounts on a plain longitude/latitude plane coloured by class: no map tiles or
    topojson to download, so the page works offline."""
    rows = data.accounts_map if rows is None else rows
    if not rows:
        return None
    fig = go.Figure()
    for cls in sorted({r["priority_class"] for r in rows}):
        points = [r for r in rows if r["priority_class"] == cls]
        fig.add_trace(
            go.Scatter(
                name=f"class {cls}",
                x=[r["longitude"] for r in points],
                y=[r["latitude"] for r in points],
                text=[f"{r['account_name']} ({r['city']})" for r in points],
                customdata=[[r["territory_id"], r["revenue_r12"] or 0] for r in points],
                mode="markers",
                marker={"size": 6, "color": CLASS_COLOURS.get(cls, "#666"), "opacity": 0.8},
                hovertemplate="<b>%{text}</b><br>%{customdata[0]}, revenue r12 "
                "%{customdata[1]:,.0f} EUR<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis_title="longitude",
        yaxis_title="latitude",
        yaxis={"scaleanchor": "x", "scaleratio": 1.45},  # roughly true shape at 46° N
        legend_title="priority class",
        height=560,
    )
    fig.update_layout(height=560)
    return _html(fig, div_id)


def distributor_heatmap(data: ReportData) -> str | None:
    if not data.distributor_months:
        return None
    distributors = sorted({r["distributor_id"] for r in data.distributor_months})
    months = sorted({r["month"] for r in data.distributor_months})
    score = {(r["distributor_id"], r["month"]): r["score"] for r in data.distributor_months}
    fig = go.Figure(
        go.Heatmap(
            x=months,
            y=distributors,
            z=[[score.get((d, m)) for m in months] for d in distributors],
            zmin=0,
            zmax=1,
            colorscale="RdYlGn",
            colorbar={"title": "score"},
            hovertemplate="%{y} %{x}: %{z:.0%}<extra></extra>",
        )
    )
    fig.update_layout(xaxis_title="month delivered for", height=320)
    return _html(fig, "fig-distributors")


def coverage_bars(data: ReportData) -> str | None:
    if not data.coverage_territories:
        return None
    rows = data.coverage_territories
    labels = [f"{r['summary_key']} {r['summary_name']}" for r in rows]
    fig = go.Figure()
    for column, name, colour in (
        ("on_plan_accounts", "on plan", "#7fbf7b"),
        ("under_served_accounts", "under-served", "#f1a340"),
        ("over_served_accounts", "over-served", "#67a9cf"),
    ):
        fig.add_trace(
            go.Bar(name=name, y=labels, x=[r[column] or 0 for r in rows], orientation="h",
                   marker_color=colour)
        )  # fmt: skip
    fig.update_layout(barmode="stack", xaxis_title="accounts", height=60 + 26 * len(rows))
    fig.update_yaxes(autorange="reversed")
    return _html(fig, "fig-coverage")
