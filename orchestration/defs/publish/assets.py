"""Publish the validated marts to `published.duckdb`, the only file BI tools open."""

import dagster as dg

from orchestration.contracts import load_contracts
from orchestration.defs.resources import RtmResource
from orchestration.defs.transform.dbt_assets import mart_asset_key
from orchestration.defs.transform.manifest import mart_models, published_relations
from orchestration.publish import QUALITY_RESULTS, PublishBlocked, publish

PUBLISHED_KEY = dg.AssetKey(["published_warehouse"])


def build_publish_defs() -> dg.Definitions:
    marts = mart_models()
    relations = published_relations(marts)
    # every mart with expectations and every source (its contract suite) must have results
    checked = sorted([*(m.name for m in marts if m.expectations), *load_contracts()])

    @dg.asset(
        key=PUBLISHED_KEY,
        deps=[mart_asset_key(m) for m in marts],
        group_name="published",
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        description="The marts BI tools read, swapped in atomically only when every blocking "
        "check of this run passed; otherwise yesterday's tables stay published.",
    )
    def published_warehouse(context: dg.AssetExecutionContext, rtm: RtmResource):
        settings = rtm.settings()
        missing = _unchecked_tables(settings.working_db, context.run_id, checked)
        if missing:
            raise PublishBlocked(
                f"no quality results in this run for {missing}: refusing to publish unvalidated tables"
            )
        try:
            publication = publish(
                settings.working_db,
                settings.published_db,
                [*relations["tables"], QUALITY_RESULTS],
                run_id=context.run_id,
                keep_versions=settings.company.publishing.keep_versions,
                views=relations["views"],
            )
        except PublishBlocked as blocked:
            raise dg.Failure(description=str(blocked)) from blocked
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(publication.path)),
                "version": publication.version,
                "tables": dg.MetadataValue.json(publication.tables),
                "views": [".".join(v) for v in relations["views"]],
            }
        )

    return dg.Definitions(assets=[published_warehouse])


def _unchecked_tables(working_db, run_id: str, expected: list[str]) -> list[str]:
    import duckdb

    with duckdb.connect(str(working_db), read_only=True) as con:
        try:
            present = {
                row[0]
                for row in con.execute(
                    "SELECT DISTINCT table_name FROM quality.data_quality_results WHERE run_id = ?",
                    [run_id],
                ).fetchall()
            }
        except duckdb.CatalogException:
            present = set()
    return [t for t in expected if t not in present]
