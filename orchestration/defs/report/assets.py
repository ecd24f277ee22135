"""The account review report, rendered after every successful publish."""

import dagster as dg

from orchestration.defs.publish.assets import PUBLISHED_KEY
from orchestration.defs.resources import RtmResource

REPORT_KEY = dg.AssetKey(["account_review_report"])


def reports_dir(settings):
    return settings.warehouse_dir / "reports"


def build_report_defs() -> dg.Definitions:
    @dg.asset(
        key=REPORT_KEY,
        deps=[PUBLISHED_KEY],
        group_name="published",
        kinds={"html", "plotly"},
        owners=["team:data-engineering"],
        description="Self-contained HTML account review for sales and marketing "
        "(`warehouse/reports/<as-of month>/index.html` plus one printable page per "
        "territory), rendered from the published tables only: headline figures, segment "
        "matrix, Pareto curve, map by priority class, priorities with reasons, distributor "
        "scorecard, coverage and reallocation recommendations.",
    )
    def account_review_report(context: dg.AssetExecutionContext, rtm: RtmResource):
        from orchestration.report import render_report

        settings = rtm.settings()
        result = render_report(settings.published_db, reports_dir(settings))
        context.log.info(
            f"report rendered to {result.path}: {result.pages} pages, "
            f"{result.size_bytes / 1e6:.1f} MB in {result.seconds:.1f} s"
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "as_of": result.as_of,
                "pages": result.pages,
                "size_bytes": dg.MetadataValue.int(result.size_bytes),
                "render_seconds": dg.MetadataValue.float(round(result.seconds, 2)),
            }
        )

    return dg.Definitions(assets=[account_review_report])
