"""The Dagster code location: every domain's definitions merged, plus the nightly job.

Each sub-package of `orchestration/defs/` owns its assets and checks; this file only
assembles them and adds the job and schedule that run the whole flow.
"""

import dagster as dg

from orchestration.config import Settings
from orchestration.defs.ingestion.assets import build_ingestion_defs
from orchestration.defs.linking.assets import build_linking_defs
from orchestration.defs.operations.definitions import build_operations_defs, with_ui_metadata
from orchestration.defs.publish.assets import build_publish_defs
from orchestration.defs.quality.checks import build_quality_defs
from orchestration.defs.report.assets import build_report_defs
from orchestration.defs.resources import RtmResource
from orchestration.defs.territories.assets import build_territories_defs
from orchestration.defs.transform.dbt_assets import build_dbt_defs

NIGHTLY_JOB = "nightly_refresh"
FULL_REFRESH_JOB = "full_refresh"
# The full_refresh job's run config: the dbt asset rebuilds incremental models from scratch,
# the territory optimizer solves even if its inputs are those of the stored solution, and
# account linking trains its model again and predicts every pair.
FULL_REFRESH_RUN_CONFIG = {
    "ops": {
        "account_rtm_dbt": {"config": {"full_refresh": True}},
        "territories__territory_solution": {"config": {"resolve": True}},
        "account_linking": {"config": {"retrain": True}},
    }
}


def build_jobs(settings: Settings) -> dg.Definitions:
    # In process: DuckDB allows one writer per file, and step subprocesses would each
    # reload the code location (STACK_NOTES: 28 s vs 50-58 s for the same run).
    job = dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        description="Nightly refresh: ingest the new files of every source, build and test "
        "the dbt models (the sell-out line fact incrementally: new and restated files, "
        "changed links and products), validate the marts, publish if every blocking check "
        "passed.",
    )
    # The same flow with every incremental model rebuilt from all loaded data: run it when
    # a configuration or model change is one the incremental models cannot detect.
    full_refresh = dg.define_asset_job(
        FULL_REFRESH_JOB,
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        config=FULL_REFRESH_RUN_CONFIG,
        description="Full refresh: the nightly flow with every incremental dbt model rebuilt "
        "from all loaded data (dbt --full-refresh) and the account-linking model retrained.",
    )
    schedule = settings.company.schedule
    return dg.Definitions(
        jobs=[job, full_refresh],
        schedules=[
            dg.ScheduleDefinition(
                name="nightly_refresh_schedule",
                job=job,
                cron_schedule=schedule.cron,
                execution_timezone=schedule.timezone,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    merged = dg.Definitions.merge(
        build_ingestion_defs(),
        build_dbt_defs(),
        build_linking_defs(),
        build_territories_defs(),
        build_quality_defs(),
        build_publish_defs(),
        build_report_defs(),
        build_operations_defs(),
        build_jobs(settings),
        dg.Definitions(resources={"rtm": RtmResource()}),
    )
    return with_ui_metadata(merged)
