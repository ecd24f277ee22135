"""Territory re-alignment as a Dagster asset: the CP-SAT optimizer (orchestration/territories)
on the zones of the marts, written to `territories.territory_solution` and read back by the
dbt mart `territory_proposal` as the source `territories.territory_solution`.

Order in the run: marts (dbt) -> this asset -> marts/territories (dbt). dbt is one
subsettable multi-asset, so Dagster runs it in steps around this one (as for linking).
"""

import dagster as dg

from orchestration.defs.resources import RtmResource
from orchestration.territories.pipeline import SCHEMA, TABLE

SOLUTION_KEY = dg.AssetKey([SCHEMA, TABLE])
INPUTS = [
    ("marts", "dim_accounts"),
    ("marts", "account_coverage"),
    ("staging", "stg_sales_force__reps"),
]


class TerritorySolutionConfig(dg.Config):
    """resolve: solve even when the inputs are those of the stored solution (the
    full_refresh job sets it)."""

    resolve: bool = False


def build_territories_defs() -> dg.Definitions:
    @dg.asset(
        key=SOLUTION_KEY,
        deps=[dg.AssetKey(list(k)) for k in INPUTS],
        group_name="territories",
        kinds={"ortools", "duckdb"},
        owners=["team:data-engineering"],
        description="Every configured scenario's proposed rep per zone beside the current one "
        "(CP-SAT: min travel, min disruption and weighted points between, each rep's workload "
        "within the tolerance band), with status, objective, bound and proven gap. A proposal: "
        "no source changes.",
    )
    def territory_solution(
        context: dg.AssetExecutionContext, config: TerritorySolutionConfig, rtm: RtmResource
    ):
        from orchestration.territories.pipeline import run_territories

        settings = rtm.settings()
        run = run_territories(
            settings.working_db,
            settings.territories,
            settings.territory_locks_path,
            duckdb_config=settings.duckdb_config(),
            log=context.log.info,
            resolve=config.resolve,
        )
        context.log.info(run.summary())
        scenarios = {
            r.scenario: {
                "status": r.status,
                "gap": r.gap,
                "travel_km": r.travel_km,
                "moved_accounts": r.moved_accounts,
                "seconds": round(r.solve_seconds, 1),
                "contiguity": r.contiguity,
                "message": r.message,
            }
            for r in run.results
        }
        return dg.MaterializeResult(
            metadata={
                "table": f"{SCHEMA}.{TABLE}",
                "dagster/row_count": run.rows,
                "zones": len(run.instance.units) if run.instance else 0,
                "reps": len(run.instance.reps) if run.instance else 0,
                "seconds": round(run.seconds, 1),
                "scenarios": dg.MetadataValue.json(scenarios),
                "locks_ignored": dg.MetadataValue.json(run.locks_ignored),
                # where the zones' neighbours came from, when a scenario is contiguous
                "adjacency": run.adjacency or "",
                # the inputs were those of the stored solution: kept, not solved again
                "kept_from_solve_of": str(run.kept_from or ""),
            }
        )

    return dg.Definitions(assets=[territory_solution])
