"""Shared fixtures: a small generated company, run once through the whole pipeline.

The end-to-end tests share one run (about a minute) rather than each paying for its own.
Everything happens in a temporary warehouse; nothing touches ./warehouse.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.config import Settings

SMALL_COMPANY_ACCOUNTS = 800
# Tests run under make (which exports the sample's key) or bare pytest.
os.environ.setdefault("RTM_PSEUDONYMIZATION_KEY", "test-pseudonymization-key")


@dataclass
class PipelineRun:
    settings: Settings
    warehouse: Path
    result: object


def _run_dbt(settings: Settings, target: Path, *args: str) -> subprocess.CompletedProcess:
    """dbt on a test warehouse with the company's vars, its artifacts in `target` (its
    run_results.json tells each node's status)."""
    from orchestration.config import DBT_PROJECT_DIR
    from orchestration.defs.transform.manifest import dbt_executable
    from orchestration.stages import dbt_environment, dbt_vars

    return subprocess.run(
        [dbt_executable(), *args, "--profiles-dir", str(DBT_PROJECT_DIR),
         "--vars", json.dumps(dbt_vars(settings))],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **dbt_environment(settings), "DBT_TARGET_PATH": str(target)},
        capture_output=True,
        text=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def run_dbt():
    """run_dbt(settings, target, *dbt args): dbt on a test warehouse (see _run_dbt)."""
    return _run_dbt


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def online_api_url() -> str:
    """The sample online API's URL for the tests' runs: a port of their own, so that a
    `make dev` server or a bench serving the default port cannot answer instead (a
    concurrent server with other records made a night fail with a missing key)."""
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture(scope="session")
def small_company(tmp_path_factory) -> Path:
    from orchestration.sample.generator import generate_company

    warehouse = tmp_path_factory.mktemp("warehouse")
    generate_company(warehouse, accounts=SMALL_COMPANY_ACCOUNTS, seed=7)
    return warehouse


@pytest.fixture(scope="session")
def pipeline_run(small_company: Path, online_api_url: str) -> PipelineRun:
    import dagster as dg

    from orchestration.cli import run_nightly

    keys = ("RTM_WAREHOUSE", "RTM_ONLINE_API_KEY", "RTM_ONLINE_API_URL")
    previous = {k: os.environ.get(k) for k in keys}
    os.environ["RTM_WAREHOUSE"] = str(small_company)
    os.environ["RTM_ONLINE_API_KEY"] = "test-key"
    os.environ["RTM_ONLINE_API_URL"] = online_api_url
    settings = Settings.from_env()
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_nightly(settings, instance=instance)
    yield PipelineRun(settings, small_company, result)
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
