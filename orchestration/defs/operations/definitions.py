"""Operations around the runs: sensors on the landing folder and on failed runs, and what\nthe UI shows about each asset (freshness from the contracts, owners, the ingestion log)."""

import dagster as dg

from orchestration.defs.operations.failures import run_failure_summary
from orchestration.defs.operations.freshness import ingestion_log_specs, with_ui_metadata
from orchestration.defs.operations.landing import distributor_landing_sensor

__all__ = ["build_operations_defs", "with_ui_metadata"]


def build_operations_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=ingestion_log_specs(),
        sensors=[distributor_landing_sensor, run_failure_summary],
    )
