"""Shared fixtures: a small generated company, run once through the whole pipeline.

The end-to-end tests share one run (about a minute) rather than each paying for its own.
Everything happens in a temporary warehouse; nothing touches ./warehouse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.config import Settings

SMALL_COMPANY_ACCOUNTS = 800


@dataclass
class PipelineRun:
    settings: Settings
    warehouse: Path
    result: object


@pytest.fixture(scope="session")
def small_company(tmp_path_factory) -> Path:
    from orchestration.sample.generator import generate_company

    warehouse = tmp_path_factory.mktemp("warehouse")
    generate_company(warehouse, accounts=SMALL_COMPANY_ACCOUNTS, seed=7)
    return warehouse


@pytest.fixture(scope="session")
def pipeline_run(small_company: Path) -> PipelineRun:
    import dagster as dg

    from orchestration.cli import run_nightly

    previous = {k: os.environ.get(k) for k in ("RTM_WAREHOUSE", "RTM_ONLINE_API_KEY")}
    os.environ["RTM_WAREHOUSE"] = str(small_company)
    os.environ.setdefault("RTM_ONLINE_API_KEY", "test-key")
    settings = Settings.from_env()
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_nightly(settings, instance=instance)
    yield PipelineRun(settings, small_company, result)
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
