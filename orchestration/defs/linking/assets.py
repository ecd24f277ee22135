"""Account linking as Dagster assets: the crosswalk and its review tables, built by the
Splink engine (orchestration/linking) from the dbt staging views, read back by dbt's
intermediate models as the source `linking.account_crosswalk`.

Order in the run: staging views (dbt) -> this asset -> intermediate models (dbt). dbt is one
subsettable multi-asset, so Dagster runs it in two steps around this one.
"""

import dagster as dg

from orchestration.defs.resources import RtmResource

SCHEMA = "linking"
STAGING_INPUTS = [
    "stg_crm__accounts",
    "stg_distributors__sell_out_lines",
    "stg_online__listings",
    "stg_external__firmographics",
]
TABLES = {
    "account_crosswalk": "Every distributor customer code, online listing and external record "
    "with its CRM account (null when not linked), match method (key / probabilistic / manual "
    "/ none), rule, probability and the fields that agreed. Overrides win, unchanged "
    "records keep last night's link.",
    "link_review_queue": "Records to look at: best candidate in the grey band, two candidates "
    "too close to call, or keys pointing to different accounts.",
    "unmatched_records": "Records linked to no CRM account, with the best candidate if any.",
    "prospects": "Unmatched distributor customers that look like real outlets (a name, a "
    "postcode, repeated purchases): outlets buying the category that are not in the CRM.",
    "crm_duplicate_candidates": "Pairs of CRM accounts that are the same outlet (both "
    "near-certain matches of one outside record at one address).",
}
CROSSWALK_KEY = dg.AssetKey([SCHEMA, "account_crosswalk"])


class LinkingConfig(dg.Config):
    """retrain: train the linking model again and predict every pair rather than predict
    only the pairs of new or changed records with the saved model; the full_refresh job
    sets it (RTM_LINKING_RETRAIN=1 does the same for any run)."""

    retrain: bool = False


def build_linking_defs() -> dg.Definitions:
    deps = [dg.AssetKey(["staging", name]) for name in STAGING_INPUTS]

    @dg.multi_asset(
        name="account_linking",
        specs=[
            dg.AssetSpec(
                key=dg.AssetKey([SCHEMA, table]),
                deps=deps,
                description=description,
                group_name="linking",
                kinds={"splink", "duckdb"},
                owners=["team:data-engineering"],
            )
            for table, description in TABLES.items()
        ],
    )
    def account_linking(context: dg.AssetExecutionContext, config: LinkingConfig, rtm: RtmResource):
        from orchestration.linking.crosswalk import build_crosswalk, default_overrides_path

        settings = rtm.settings()
        overrides = default_overrides_path(settings.company_config_path)
        # opens and closes its own connection: one DuckDB writer at a time
        summary = build_crosswalk(
            settings.working_db,
            overrides,
            settings.match_settings(),
            duckdb_config=settings.duckdb_config(),
            retrain=config.retrain,
        )
        context.log.info(f"account linking: {summary}")
        counts = {
            "account_crosswalk": summary.records,
            "link_review_queue": summary.review,
            "unmatched_records": summary.unmatched,
            "prospects": summary.prospects,
        }
        for table in TABLES:
            metadata = {"table": f"{SCHEMA}.{table}"}
            if table in counts:
                metadata["dagster/row_count"] = counts[table]
            if table == "account_crosswalk":
                metadata |= {
                    "linked": summary.linked,
                    "by_method": dg.MetadataValue.json(summary.by_method),
                    "carried_over": summary.carried_over,
                    "overridden": summary.overridden,
                    # the engine's night: full / incremental / cached, and why
                    "engine_mode": summary.engine_mode,
                    "engine_reason": summary.engine_reason,
                    "accounts_changed": summary.accounts_changed,
                    "records_changed": summary.records_changed,
                    "pairs_predicted": summary.pairs_predicted,
                    "overrides_file": str(overrides),
                }
            yield dg.MaterializeResult(asset_key=dg.AssetKey([SCHEMA, table]), metadata=metadata)

    return dg.Definitions(assets=[account_linking])
