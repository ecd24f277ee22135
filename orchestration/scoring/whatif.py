"""`rtm whatif`: recompute priorities with changed scoring settings into a separate schema
of the working database, and report how many accounts change class. The published
database and the marts schema are not touched."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestration.config import DBT_PROJECT_DIR, Settings
from orchestration.scoring.config import (
    ScoringConfig,
    ScoringConfigError,
    parse_scoring_config,
    scoring_dbt_vars,
    set_path,
)

WHATIF_SCHEMA = "whatif"
WHATIF_MODELS = [
    "int_scoring__criteria",
    "source_reliability",
    "account_segments",
    "account_priorities",
]


@dataclass
class WhatIfResult:
    config: ScoringConfig
    schema: str
    accounts: int
    changed: int
    transitions: list[tuple[str, str, int]]  # (published class, what-if class, accounts)
    classes_before: dict[str, int]
    classes_after: dict[str, int]


def apply_settings(raw: dict, assignments: list[str]) -> dict:
    """Apply `key.path=value` assignments (value parsed as YAML). Setting weights.<criterion>
    rescales the other weights proportionally so that they still sum to 1."""
    result = raw
    for assignment in assignments:
        if "=" not in assignment:
            raise ScoringConfigError(f"--set {assignment!r}: expected key.path=value")
        key, text = assignment.split("=", 1)
        value = yaml.safe_load(text)
        result = set_path(result, key.strip(), value)
        if key.strip().startswith("weights."):
            criterion = key.strip().split(".", 1)[1]
            criteria = result["criteria"]
            others = {k: c["weight"] for k, c in criteria.items() if k != criterion}
            remaining = 1 - float(value)
            total = sum(others.values())
            if remaining < 0:
                raise ScoringConfigError(f"--set {assignment}: a weight cannot exceed 1")
            for name, weight in others.items():
                criteria[name]["weight"] = (
                    weight * remaining / total if total > 0 else remaining / len(others)
                )
    return result


def run_whatif(
    settings: Settings, assignments: list[str], schema: str = WHATIF_SCHEMA
) -> WhatIfResult:
    import duckdb

    from orchestration.defs.transform.manifest import dbt_executable
    from orchestration.stages import dbt_environment, dbt_vars

    if schema in {"marts", "intermediate", "staging", "raw", "main"}:
        raise ScoringConfigError(f"what-if schema {schema!r} would overwrite pipeline tables")
    scoring, overrides = settings.scoring
    if scoring is None:
        raise ScoringConfigError("the company config has no `scoring:` file")
    base = Path(settings.company_config_path).parent / settings.company.scoring
    raw = yaml.safe_load(base.read_text(encoding="utf-8"))
    changed = parse_scoring_config(apply_settings(raw, assignments), f"what-if on {base}")
    variables = {
        **dbt_vars(settings),
        **scoring_dbt_vars(changed, overrides),
        "scoring_schema": schema,
        "scoring_intermediate_schema": schema,
    }
    with tempfile.TemporaryDirectory(prefix="rtm-whatif-") as target:
        completed = subprocess.run(
            [
                dbt_executable(),
                "run",
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                target,
                "--select",
                *WHATIF_MODELS,
                "--vars",
                json.dumps(variables),
            ],
            cwd=DBT_PROJECT_DIR,
            env={**os.environ, **dbt_environment(settings)},
            capture_output=True,
            text=True,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"dbt run of the what-if failed:\n{completed.stdout[-3000:]}")
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        transitions = con.execute(
            f"""
            SELECT published.priority_class, whatif.priority_class, count(*)
            FROM marts.account_priorities AS published
            JOIN {schema}.account_priorities AS whatif USING (account_id)
            GROUP BY ALL ORDER BY 1, 2
            """
        ).fetchall()
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for old, new, count in transitions:
        before[old] = before.get(old, 0) + count
        after[new] = after.get(new, 0) + count
    return WhatIfResult(
        config=changed,
        schema=schema,
        accounts=sum(c for _, _, c in transitions),
        changed=sum(c for old, new, c in transitions if old != new),
        transitions=[t for t in transitions if t[0] != t[1]],
        classes_before=dict(sorted(before.items())),
        classes_after=dict(sorted(after.items())),
    )
