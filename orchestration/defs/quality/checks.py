"""Great Expectations checks: on every source, generated from its data contract, and on
the marts, declared in each mart's dbt `meta`.

Results go to `quality.data_quality_results` (one row per expectation per run) and show on
the asset they guard in the Dagster UI; an error-severity failure blocks publishing (the
publish step reads the stored results), a warning is reported and publishes.
"""

import dagster as dg

from orchestration.contracts import Contract, load_contracts
from orchestration.defs.resources import RtmResource
from orchestration.defs.transform.dbt_assets import mart_asset_key
from orchestration.defs.transform.manifest import MartModel, mart_models
from orchestration.quality.gx_checks import ERROR
from orchestration.stages import validate_mart

GX_CHECK = "great_expectations"
CONTRACT_CHECK = "contract_suite"


def _result(outcomes, **extra) -> dg.AssetCheckResult:
    blocking = [o for o in outcomes if not o.passed and o.severity == ERROR]
    warnings = [o for o in outcomes if not o.passed and o.severity != ERROR]
    return dg.AssetCheckResult(
        passed=not blocking and not warnings,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata={
            "expectations": len(outcomes),
            "failed_blocking": len(blocking),
            "failed_warning": len(warnings),
            "results": dg.MetadataValue.md(
                "| check | passed | severity | observed |\n|---|---|---|---|\n"
                + "\n".join(
                    f"| {o.check} | {o.passed} | {o.severity} | {o.observed} |" for o in outcomes
                )
            ),
            **extra,
        },
    )


def contract_asset_check(contract: Contract) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", contract.key]),
        name=CONTRACT_CHECK,
        # blocking: an error stops what reads the source (and so the publish); warnings pass
        blocking=True,
        description=f"Great Expectations suite generated from data_contracts/"
        f"{contract.path.name} (columns, types, required, keys, allowed values, ranges, "
        "table rules) plus quarantine ceiling and freshness; errors block publishing.",
    )
    def _check(context: dg.AssetCheckExecutionContext, rtm: RtmResource) -> dg.AssetCheckResult:
        from orchestration.quality.contract_checks import FreshnessClock, check_source
        from orchestration.quality.results import store_results

        settings = rtm.settings()
        if not settings.company.source_present(contract.key):
            # A source this company does not have: its raw table stays empty on purpose,
            # and the criteria that depend on it are left out of the scores.
            return dg.AssetCheckResult(
                passed=True,
                metadata={"note": "source not configured for this company: not checked"},
            )
        outcomes = check_source(
            settings.working_db,
            settings.contracts[contract.key],
            FreshnessClock.for_company(settings.company),
        )
        store_results(settings.working_db, context.run.run_id, outcomes)
        return _result(outcomes)

    _check.__name__ = f"contract_{contract.key}"
    return _check


def gx_asset_check(mart: MartModel) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart_asset_key(mart),
        name=GX_CHECK,
        blocking=True,
        description=f"{len(mart.expectations)} Great Expectations expectations on {mart.name}, "
        "validated inside DuckDB; error-severity failures block publishing.",
    )
    def _check(context: dg.AssetCheckExecutionContext, rtm: RtmResource) -> dg.AssetCheckResult:
        return _result(validate_mart(rtm.settings(), context.run.run_id, mart))

    _check.__name__ = f"gx_{mart.name}"
    return _check


def build_quality_defs() -> dg.Definitions:
    return dg.Definitions(
        asset_checks=[
            *(contract_asset_check(c) for c in load_contracts().values()),
            *(gx_asset_check(m) for m in mart_models() if m.expectations),
        ]
    )
