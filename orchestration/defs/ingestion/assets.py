"""One ingestion asset per data contract, grouped by source family.

Each asset loads its landing files (pulling the online API first where one is
configured), quarantines what breaks the contract, and proves with an asset check that
every delivered row is either loaded or quarantined.
"""

import dagster as dg

from orchestration.contracts import Contract, load_contracts
from orchestration.defs.resources import RtmResource
from orchestration.ingest.engine import IngestionError
from orchestration.ingest.run import ingest_source
from orchestration.quality.gx_checks import ERROR, CheckOutcome
from orchestration.quality.results import store_results

FAMILY_GROUPS = {
    "internal": "sources_internal",
    "distributor": "sources_distributors",
    "online_external": "sources_online_external",
}
RECONCILIATION_CHECK = "every_row_loaded_or_quarantined"
# Reading files can fail on a file still being written by the sender: retry a few times.
FILE_READ_RETRIES = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


def ingestion_asset(contract: Contract) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", contract.key])

    @dg.asset(
        key=key,
        group_name=FAMILY_GROUPS.get(contract.family, "sources_other"),
        description=f"{contract.purpose}\n\nGrain: {contract.grain} Contract: "
        f"`data_contracts/{contract.path.name}`.",
        owners=[f"team:{contract.owner}"] if contract.owner else None,
        kinds={"duckdb", "python"},
        tags={"source_family": contract.family},
        check_specs=[
            dg.AssetCheckSpec(
                RECONCILIATION_CHECK,
                asset=key,
                blocking=True,
                description="rows read = rows loaded + rows quarantined, file by file",
            )
        ],
        retry_policy=FILE_READ_RETRIES,
    )
    def _ingest(context: dg.AssetExecutionContext, rtm: RtmResource):
        try:
            summary = ingest_source(rtm.settings(), contract.key, context.log.info)
        except IngestionError as unreadable:
            # A malformed file stays malformed: fail at once, naming it, instead of retrying.
            raise dg.Failure(description=str(unreadable), allow_retries=False) from unreadable
        yield dg.MaterializeResult(
            metadata={
                "files_loaded": summary.files_loaded,
                "files_duplicate_skipped": summary.files_duplicate,
                "files_already_loaded": summary.files_unchanged,
                "rows_loaded": summary.rows_loaded,
                "rows_quarantined": summary.rows_quarantined,
                "table_rows": dg.MetadataValue.int(summary.table_rows),
                "quarantine_by_rule": dg.MetadataValue.json(summary.quarantine_reasons),
                **({"online_pull": dg.MetadataValue.json(summary.pull)} if summary.pull else {}),
            }
        )
        store_results(
            rtm.settings().working_db,
            context.run.run_id,
            [
                CheckOutcome(
                    contract.key,
                    RECONCILIATION_CHECK,
                    summary.reconciled,
                    ERROR,
                    "; ".join(summary.reconciliation_problems)
                    or f"{summary.rows_loaded} loaded + {summary.rows_quarantined} quarantined "
                    "= rows read, file by file",
                )
            ],
        )
        yield dg.AssetCheckResult(
            check_name=RECONCILIATION_CHECK,
            passed=summary.reconciled,
            metadata={"problems": dg.MetadataValue.json(summary.reconciliation_problems)},
        )

    _ingest.__name__ = f"ingest_{contract.key}"
    return _ingest


def build_ingestion_defs() -> dg.Definitions:
    return dg.Definitions(assets=[ingestion_asset(c) for c in load_contracts().values()])
