"""Blocking Great Expectations checks on the marts, declared in each mart's dbt `meta`.

Results go to `quality.data_quality_results` (one row per expectation per run) and show on
the mart in the Dagster UI; an error-severity failure blocks publishing.
"""

import dagster as dg

from orchestration.defs.resources import RtmResource
from orchestration.defs.transform.manifest import MartModel, mart_models
from orchestration.quality.gx_checks import ERROR
from orchestration.stages import validate_mart

GX_CHECK = "great_expectations"


def gx_asset_check(mart: MartModel) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart.key,
        name=GX_CHECK,
        blocking=True,
        description=f"{len(mart.expectations)} Great Expectations expectations on {mart.name}, "
        "validated inside DuckDB; error-severity failures block publishing.",
    )
    def _check(context: dg.AssetCheckExecutionContext, rtm: RtmResource) -> dg.AssetCheckResult:
        outcomes = validate_mart(rtm.settings(), context.run.run_id, mart)
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
                        f"| {o.check} | {o.passed} | {o.severity} | {o.observed} |"
                        for o in outcomes
                    )
                ),
            },
        )

    _check.__name__ = f"gx_{mart.name}"
    return _check


def build_quality_defs() -> dg.Definitions:
    return dg.Definitions(asset_checks=[gx_asset_check(m) for m in mart_models() if m.expectations])
