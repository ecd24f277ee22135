"""The dbt project as Dagster assets: groups follow the model folders, sources map onto
the ingestion assets (`raw/<contract>`), so lineage runs from file to published table."""

import json
import os

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.config import DBT_PROJECT_DIR
from orchestration.defs.resources import RtmResource
from orchestration.defs.transform.manifest import (
    MartModel,
    dbt_executable,
    load_manifest,
    model_layer,
)


def rtm_dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class RtmDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        layer = model_layer(props)
        if layer is None:
            return spec
        meta = {**(props.get("config", {}).get("meta") or {}), **(props.get("meta") or {})}
        owner = meta.get("owner")
        # the flow group cascaded from dbt_project.yml, else the layer
        group = (meta.get("dagster") or {}).get("group") or layer
        return spec.replace_attributes(
            group_name=group,
            owners=[f"team:{owner}"] if owner else spec.owners,
            kinds={"dbt", "duckdb"},
        )


class DbtBuildConfig(dg.Config):
    """full_refresh: rebuild the incremental models (int_sell_out_lines__linked,
    int_accounts__market_purchases, ...) from every loaded line instead of applying
    tonight's changes; the full_refresh job sets it, for
    when a configuration or model logic changed in a way the models cannot see."""

    full_refresh: bool = False


def translator() -> RtmDbtTranslator:
    return RtmDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def mart_asset_key(mart: MartModel) -> dg.AssetKey:
    """The Dagster asset key of a mart, as the dbt assets name it."""
    return translator().get_asset_spec(load_manifest(), mart.unique_id, rtm_dbt_project()).key


def build_dbt_defs() -> dg.Definitions:
    project = rtm_dbt_project()
    project.prepare_if_dev()

    @dbt_assets(
        manifest=project.manifest_path, dagster_dbt_translator=translator(), name="account_rtm_dbt"
    )
    def account_rtm_dbt(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        rtm: RtmResource,
        config: DbtBuildConfig,
    ):
        from orchestration.stages import NIGHTLY_BUILD_ARGS, dbt_environment, dbt_vars

        settings = rtm.settings()
        # dbt reads the working database path from the environment (see profiles.yml).
        os.environ.update(dbt_environment(settings))
        dbt_var_values = dbt_vars(settings)
        # Criteria whose source this company does not deliver: left out, said out loud in the
        # run's log and tags (and in the published source_reliability).
        excluded = dbt_var_values.get("scoring_excluded_criteria") or []
        for item in excluded:
            context.log.warning(item["note"])
        if excluded:
            context.instance.add_run_tags(
                context.run_id,
                {
                    "rtm/excluded_criteria": ", ".join(
                        f"{e['criterion']} ({'+'.join(e['missing_sources'])} missing)"
                        for e in excluded
                    )
                },
            )
        refresh = ["--full-refresh"] if config.full_refresh else []
        yield from dbt.cli(
            ["build", *refresh, *NIGHTLY_BUILD_ARGS, "--vars", json.dumps(dbt_var_values)],
            context=context,
        ).stream()

    return dg.Definitions(
        assets=[account_rtm_dbt],
        resources={
            "dbt": DbtCliResource(
                project_dir=project,
                profiles_dir=str(DBT_PROJECT_DIR),
                dbt_executable=dbt_executable(),
            )
        },
    )
