"""A sensor on the distributor landing folders: a newly dropped (or re-delivered) file
starts a refresh instead of waiting for the nightly run.

The cursor is the set of distributor files seen, with their modification times. The
first evaluation only records what is already there (the nightly run loaded it). A tick
that finds new or changed files requests one run of the nightly job: ingestion is
incremental (files already loaded are skipped), and publishing needs this run's results
for every source, so the whole flow is the smallest run that can publish. The run key is
derived from the new files, so the same drop never starts two runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from orchestration.config import Settings

NIGHTLY_JOB = "nightly_refresh"  # orchestration.definitions.NIGHTLY_JOB (no import cycle)


def distributor_files(settings: Settings) -> dict[str, tuple[str, int]]:
    """{path relative to the landing folder: (distributor id, mtime in ns)}."""
    landing = settings.landing_dir
    found: dict[str, tuple[str, int]] = {}
    for distributor in settings.company.distributors:
        for path in sorted(Path(landing).glob(distributor.path)):
            if path.is_file() and not path.name.startswith("."):
                found[str(path.relative_to(landing))] = (distributor.id, path.stat().st_mtime_ns)
    return found


@dg.sensor(
    name="distributor_landing_sensor",
    job_name=NIGHTLY_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches each distributor's landing folder (company.yaml distributors[].path); "
    "a new or re-delivered file requests one refresh run (ingest, rebuild, check, publish, "
    "report). Cursor: the files seen and their modification times.",
)
def distributor_landing_sensor(context: dg.SensorEvaluationContext):
    settings = Settings.from_env()
    current = distributor_files(settings)
    seen = json.loads(context.cursor) if context.cursor else None
    snapshot = json.dumps({k: v[1] for k, v in current.items()}, sort_keys=True)
    if seen is None:
        context.update_cursor(snapshot)
        return dg.SkipReason(f"first look: {len(current)} distributor files recorded as seen")
    new = {k: v for k, v in current.items() if seen.get(k) != v[1]}
    context.update_cursor(snapshot)
    if not new:
        return dg.SkipReason("no new distributor file")
    distributors = sorted({d for d, _ in new.values()})
    key = hashlib.sha256(
        json.dumps({k: v[1] for k, v in sorted(new.items())}).encode()
    ).hexdigest()[:16]
    context.log.info(f"new distributor files: {sorted(new)}")
    return dg.RunRequest(
        run_key=f"landing-{key}",
        tags={
            "rtm/trigger": "distributor_landing",
            "rtm/distributors": ",".join(distributors),
            "rtm/files": ",".join(sorted(Path(k).name for k in new))[:1000],
        },
    )
