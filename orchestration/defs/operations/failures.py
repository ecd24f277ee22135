"""When a run fails: a summary a person can act on, on disk and optionally to a webhook.

`warehouse/run_failures/<run_id>.md` lists the failed steps with their error messages and
the asset checks that did not pass in that run. When RTM_FAILURE_WEBHOOK_URL is set, the
same text is POSTed there as JSON (`{"text": ..., "run_id": ..., "job": ...}`, which Slack,
Teams and Mattermost incoming webhooks accept); without it nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from orchestration.config import Settings

WEBHOOK_ENV = "RTM_FAILURE_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass
class FailureSummary:
    run_id: str
    job_name: str
    failed_steps: list[tuple[str, str]] = field(default_factory=list)
    failed_checks: list[tuple[str, str, str]] = field(default_factory=list)
    run_message: str | None = None

    def markdown(self) -> str:
        lines = [
            f"# Run failed: {self.job_name}",
            "",
            f"- run id: `{self.run_id}`",
            f"- failed steps: {len(self.failed_steps)}",
            f"- failed checks: {len(self.failed_checks)}",
            "",
            "Published tables were not replaced: BI tools and the report still show the "
            "last good version.",
            "",
        ]
        if self.run_message:
            lines += ["## Run", "", self.run_message, ""]
        lines += ["## Failed steps", ""]
        if not self.failed_steps:
            lines.append("none (the run failed outside a step, see the run message)")
        for step, message in self.failed_steps:
            lines += [f"### `{step}`", "", "```", message.strip(), "```", ""]
        lines += ["", "## Failed checks", ""]
        if not self.failed_checks:
            lines.append("none")
        for asset, check, detail in self.failed_checks:
            lines.append(f"- `{asset}` / `{check}`" + (f": {detail}" if detail else ""))
        return "\n".join(lines).rstrip() + "\n"


def summarize_failure(
    instance: dg.DagsterInstance, run: dg.DagsterRun, step_events
) -> FailureSummary:
    """From the instance's event log (the sensor's view of a run)."""
    records = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return _summary(
        run.run_id,
        run.job_name,
        step_events,
        [r.dagster_event.event_specific_data for r in records],
    )


def summarize_result(result) -> FailureSummary:
    """From an in-process result (`rtm run`, which has no sensor daemon)."""
    summary = _summary(
        result.run_id,
        result.dagster_run.job_name,
        result.get_step_failure_events(),
        result.get_asset_check_evaluations(),
    )
    failure = result.get_run_failure_event()
    summary.run_message = failure.message if failure is not None else None
    return summary


def _summary(run_id: str, job_name: str, step_events, evaluations) -> FailureSummary:
    summary = FailureSummary(run_id=run_id, job_name=job_name)
    for event in step_events:
        error = getattr(event.event_specific_data, "error", None)
        message = error.to_string() if error is not None else (event.message or "")
        summary.failed_steps.append((event.step_key or "?", _first_lines(message)))
    for evaluation in evaluations:
        if not evaluation.passed:
            summary.failed_checks.append(
                (
                    evaluation.asset_key.to_user_string(),
                    evaluation.check_name,
                    evaluation.description or "",
                )
            )
    return summary


def report_failure(summary: FailureSummary, warehouse_dir: Path, log) -> Path:
    """Write the summary next to the warehouse and post it when a webhook is configured."""
    path = write_summary(summary, warehouse_dir)
    log.info(f"failure summary written to {path}")
    url = os.environ.get(WEBHOOK_ENV)
    if url:
        try:
            status = post_webhook(url, summary)
            log.info(f"failure summary posted to the webhook (HTTP {status})")
        except OSError as exc:  # the summary is on disk; a webhook outage must not loop
            log.warning(f"could not post the failure summary to the webhook: {exc}")
    return path


def _first_lines(text: str, limit: int = 40) -> str:
    lines = text.strip().splitlines()
    return "\n".join(
        lines[:limit] + ([f"... ({len(lines) - limit} more lines)"] if len(lines) > limit else [])
    )


def write_summary(summary: FailureSummary, warehouse_dir: Path) -> Path:
    folder = Path(warehouse_dir) / "run_failures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{summary.run_id}.md"
    path.write_text(summary.markdown(), encoding="utf-8")
    return path


def post_webhook(url: str, summary: FailureSummary) -> int:
    body = json.dumps(
        {"text": summary.markdown(), "run_id": summary.run_id, "job": summary.job_name}
    ).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        return response.status


@dg.run_failure_sensor(
    name="run_failure_summary",
    description="Writes warehouse/run_failures/<run_id>.md (failed steps, errors, failed "
    f"checks) for every failed run, and POSTs it to ${WEBHOOK_ENV} when set.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_failure_summary(context: dg.RunFailureSensorContext):
    summary = summarize_failure(
        context.instance, context.dagster_run, context.get_step_failure_events()
    )
    if context.failure_event is not None and context.failure_event.message:
        summary.run_message = context.failure_event.message
    report_failure(summary, Settings.from_env().warehouse_dir, context.log)
