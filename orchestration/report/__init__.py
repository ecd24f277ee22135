"""The account review report: self-contained HTML rendered from the published tables."""

from orchestration.report.render import ReportResult, render_report, report_index_path

__all__ = ["ReportResult", "render_report", "report_index_path"]
