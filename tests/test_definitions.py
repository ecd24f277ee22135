"""Snapshot of the Dagster code location: assets, groups, checks, job and schedule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from orchestration.config import REPO_ROOT
from orchestration.contracts import load_contracts
from orchestration.defs.transform.manifest import model_layer


def _definitions() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs() if callable(defs) else defs


def test_every_contract_has_an_ingestion_asset_in_its_family_group():
    graph = _definitions().resolve_asset_graph()
    groups = {key: graph.get(key).group_name for key in graph.get_all_asset_keys()}
    for name, contract in load_contracts().items():
        key = dg.AssetKey(["raw", name])
        assert key in groups, name
        assert (
            groups[key]
            == {
                "internal": "sources_internal",
                "distributor": "sources_distributors",
                "online_external": "sources_online_external",
            }[contract.family]
        )


def test_dbt_models_are_grouped_by_folder_and_fed_by_ingestion_assets():
    graph = _definitions().resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {
        "staging",
        "harmonization",
        "scoring",
        "route_to_market",
        "territories",
        "quality",
        "published",
        "sources_internal",
        "sources_distributors",
        "sources_online_external",
    } <= groups
    marts = [k for k in graph.get_all_asset_keys() if k.path[0] == "marts"]
    assert dg.AssetKey(["marts", "dim_accounts"]) in marts
    assert dg.AssetKey(["marts", "account_scorecard"]) in marts
    # lineage from file to published table: raw CRM -> ... -> dim_accounts -> published
    upstream = graph.get(dg.AssetKey(["published_warehouse"])).parent_keys
    assert set(marts) <= upstream
    staging_accounts = dg.AssetKey(["staging", "stg_crm__accounts"])
    assert dg.AssetKey(["raw", "crm_accounts"]) in graph.get(staging_accounts).parent_keys


def test_account_linking_reads_staging_and_feeds_the_crosswalk_tables():
    graph = _definitions().resolve_asset_graph()
    crosswalk = dg.AssetKey(["linking", "account_crosswalk"])
    linking = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "linking"}
    assert linking == {
        dg.AssetKey(["linking", name])
        for name in (
            "account_crosswalk",
            "link_review_queue",
            "unmatched_records",
            "prospects",
            "crm_duplicate_candidates",
        )
    }
    assert {
        dg.AssetKey(["staging", "stg_crm__accounts"]),
        dg.AssetKey(["staging", "stg_distributors__sell_out_lines"]),
    } <= graph.get(crosswalk).parent_keys


def test_marts_are_guarded_by_blocking_quality_checks():
    graph = _definitions().resolve_asset_graph()
    checks = {key for key in graph.asset_check_keys}
    for mart in ("dim_accounts", "account_scorecard"):
        key = dg.AssetCheckKey(dg.AssetKey(["marts", mart]), "great_expectations")
        assert key in checks
        assert graph.get_check_spec(key).blocking


def test_nightly_job_and_schedule():
    definitions = _definitions()
    job = definitions.resolve_job_def("nightly_refresh")
    assert job.executor_def.name == "in_process"
    schedule = definitions.resolve_schedule_def("nightly_refresh_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/Paris")


def test_full_refresh_job_rebuilds_the_incremental_models():
    job = _definitions().resolve_job_def("full_refresh")
    assert job.executor_def.name == "in_process"
    # the optimizer solves again, linking retrains rather than predicting with the saved model
    assert job.run_config == {
        "ops": {
            "account_rtm_dbt": {"config": {"full_refresh": True}},
            "territories__territory_solution": {"config": {"resolve": True}},
            "account_linking": {"config": {"retrain": True}},
        }
    }


def test_model_layer_comes_from_the_model_folder():
    assert (
        model_layer({"resource_type": "model", "fqn": ["account_rtm", "marts", "dim_accounts"]})
        == "marts"
    )
    assert (
        model_layer(
            {
                "resource_type": "model",
                "fqn": ["account_rtm", "staging", "crm", "stg_crm__accounts"],
            }
        )
        == "staging"
    )
    assert model_layer({"resource_type": "test", "fqn": ["account_rtm", "marts", "x"]}) is None


def test_dagster_definitions_validate():
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(REPO_ROOT / ".dagster_home")},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_report_follows_the_publish_and_operations_sensors_are_loaded():
    definitions = _definitions()
    graph = definitions.resolve_asset_graph()
    report = graph.get(dg.AssetKey(["account_review_report"]))
    assert report.group_name == "published"
    assert report.parent_keys == {dg.AssetKey(["published_warehouse"])}
    assert {s.name for s in definitions.sensors} >= {
        "distributor_landing_sensor",
        "run_failure_summary",
    }
