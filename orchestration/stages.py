"""The pipeline's stages as plain functions: what the Dagster assets do, callable from
the benchmark and tests without an orchestrator in between."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable

from orchestration.config import DBT_PROJECT_DIR, Settings
from orchestration.contracts import load_contracts
from orchestration.ingest.run import SourceSummary, ingest_source
from orchestration.publish import QUALITY_RESULTS, Publication, publish
from orchestration.quality.gx_checks import CheckOutcome, TableValidator, validate_table
from orchestration.quality.results import store_results


def ingest_all(
    settings: Settings, log: Callable[[str], None] = lambda _m: None
) -> dict[str, SourceSummary]:
    return {name: ingest_source(settings, name, log) for name in load_contracts()}


# dbt unit tests check model logic on fixed rows, not tonight's data: they run in CI
# (tests/test_pipeline_end_to_end.py), not in every night's build (dbt's own advice).
# --no-write-json: a night's dbt build does not write manifest.json and run_results.json
# (twice the manifest, 0.3 s each, at every one of the night's three builds): Dagster reads
# the events dbt streams, and the definitions read the manifest `make` prepares.
NIGHTLY_BUILD_ARGS = ("--exclude-resource-type", "unit_test", "--no-write-json")


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Environment dbt needs: which database file, where to spill, no usage tracking."""
    return {
        "RTM_DUCKDB_PATH": str(settings.working_db),
        "RTM_DUCKDB_TEMP_DIR": str(settings.tmp_dir),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_vars(settings: Settings) -> dict:
    from orchestration.rtm.config import rtm_dbt_vars
    from orchestration.scoring.config import scoring_dbt_vars

    company = settings.company
    # An empty as_of_month is passed as "" so dbt takes the latest month with sell-out.
    result = {
        "as_of_month": company.company.as_of_month or "",
        "company_currency": company.company.currency,
        # Our brands (RTM_BRAND / --brand wins) and where potential comes from.
        "own_brands": company.brands(),
        "potential_source": company.company.potential_source,
        # Columns whose value rules the company overrides: their staging tests warn.
        "contract_overrides": {
            source: {name: o.model_dump(include=o.model_fields_set) for name, o in cols.items()}
            for source, cols in company.contract_overrides.items()
        },
        # The sources this company delivers; the others stay empty on purpose.
        "sources_present": sorted(
            name for name in settings.contracts if company.source_present(name)
        ),
        "distributor_product_code_types": {d.id: d.product_code_type for d in company.distributors},
        # When each distributor's monthly report is due (distributor_scorecard).
        "distributor_delivery": {
            d.id: d.delivery.model_dump(mode="json") for d in company.distributors
        },
    }
    scoring, overrides = settings.scoring
    if scoring is not None:
        result.update(scoring_dbt_vars(scoring, overrides))
        kept, excluded = criteria_for_sources(scoring, result["sources_present"])
        result["scoring"]["criteria"] = kept
        result["scoring_excluded_criteria"] = excluded
    if settings.rtm is not None:
        result.update(rtm_dbt_vars(settings.rtm))
    if settings.territories is not None:
        from orchestration.territories.config import territories_dbt_vars

        result.update(territories_dbt_vars(settings.territories))
    return result


# Sources derived from others (not delivered): the delivered sources each one needs.
# contribution = gross margin - cost to serve; without calls and A&P there is no cost to
# serve, and a margin alone would rank accounts on list prices, not on what they cost.
DERIVED_SOURCE_INPUTS = {"profitability": ("call_log", "ap_spend")}


def criteria_for_sources(scoring, sources_present: list[str]) -> tuple[dict, list[dict]]:
    """The scoring criteria whose source this company has, weights spread over them in
    proportion (they still sum to 1), and the criteria left out, each with its reason.
    A criterion is never scored from a source that is not delivered."""
    criteria = {name: c.model_dump(mode="json") for name, c in scoring.criteria.items()}
    present = set(sources_present)
    excluded = []
    for name, criterion in criteria.items():
        source = criterion["source"]
        needs = DERIVED_SOURCE_INPUTS.get(source, (source,))
        # a derived source is missing when none of its inputs is delivered
        missing = [] if any(s in present for s in needs) else list(needs)
        if missing:
            excluded.append(
                {
                    "criterion": name,
                    "source": source,
                    "weight": criterion["weight"],
                    "missing_sources": missing,
                    "note": f"criterion {name} left out of the scores: "
                    f"{', '.join(missing)} not delivered by this company",
                }
            )
    kept = {k: v for k, v in criteria.items() if k not in {e["criterion"] for e in excluded}}
    total = sum(c["weight"] for c in kept.values())
    if excluded and total > 0:
        kept = {k: {**v, "weight": v["weight"] / total} for k, v in kept.items()}
    return kept, excluded


def link_accounts(settings: Settings):
    """Build the account crosswalk (schema linking) from the staging views."""
    from orchestration.linking.crosswalk import build_crosswalk, default_overrides_path

    return build_crosswalk(
        settings.working_db,
        default_overrides_path(settings.company_config_path),
        settings.match_settings(),
        duckdb_config=settings.duckdb_config(),
    )


def dbt_build(settings: Settings, full_refresh: bool = False) -> dict[str, float]:
    """dbt in parts around account linking and the territory optimizer, as the Dagster job
    runs them: linking reads the staging views, the intermediate models read its crosswalk;
    the optimizer reads the marts, marts/territories read its solution. full_refresh
    rebuilds the incremental models from everything loaded (`make full-refresh`). Returns
    each part's wall time in seconds (the benchmark reports them)."""
    import time

    from orchestration.defs.transform.manifest import dbt_executable

    timings: dict[str, float] = {}

    def timed(part: str, step: Callable[[], object]) -> None:
        started = time.perf_counter()
        step()
        timings[part] = timings.get(part, 0.0) + time.perf_counter() - started

    def build(*selection: str) -> None:
        subprocess.run(
            [
                dbt_executable(),
                "build",
                *selection,
                *NIGHTLY_BUILD_ARGS,
                *(["--full-refresh"] if full_refresh else []),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--vars",
                json.dumps(dbt_vars(settings)),
            ],
            cwd=DBT_PROJECT_DIR,
            env={**os.environ, **dbt_environment(settings)},
            check=True,
        )

    # cautious: a staging test that also references a later model waits for the second part;
    # buildable: the second part runs it, its staging parents being built already.
    timed("dbt", lambda: build("--select", "staging", "--indirect-selection", "cautious"))
    timed("linking", lambda: link_accounts(settings))
    # the BI views read the territory marts too: they come last
    later = ("path:models/marts/territories", "path:models/marts/bi")
    timed(
        "dbt",
        lambda: build("--exclude", "staging", *later, "--indirect-selection", "buildable"),
    )
    timed("territories", lambda: solve_territories(settings, resolve=full_refresh))
    timed("dbt", lambda: build("--select", *later, "--indirect-selection", "buildable"))
    return timings


def solve_territories(settings: Settings, resolve: bool = False):
    """The territory scenarios (schema territories), between the marts and marts/territories;
    kept from the last solve when their inputs are unchanged, unless `resolve`."""
    from orchestration.territories.pipeline import run_territories

    return run_territories(
        settings.working_db,
        settings.territories,
        settings.territory_locks_path,
        duckdb_config=settings.duckdb_config(),
        resolve=resolve,
    )


def _mart_expectations(settings: Settings, mart) -> list[dict]:
    expectations = list(mart.expectations)
    if any(not settings.company.source_present(s) for s in mart.requires_sources):
        # a mart built from a source this company does not have is empty on purpose
        expectations = [
            e for e in expectations if e["expectation"] != "expect_table_row_count_to_be_between"
        ]
    return expectations


def validate_mart(settings: Settings, run_id: str, mart) -> list[CheckOutcome]:
    outcomes = validate_table(
        settings.working_db, mart.schema, mart.name, _mart_expectations(settings, mart)
    )
    store_results(settings.working_db, run_id, outcomes)
    return outcomes


def validate_marts(settings: Settings, run_id: str) -> list[CheckOutcome]:
    """Every mart's expectations through one GX context and connection, stored together."""
    from orchestration.defs.transform.manifest import mart_models

    with TableValidator(settings.working_db) as validator:
        outcomes = [
            o
            for mart in mart_models()
            if mart.expectations
            for o in validator.validate(mart.schema, mart.name, _mart_expectations(settings, mart))
        ]
    store_results(settings.working_db, run_id, outcomes)
    return outcomes


def publish_marts(settings: Settings, run_id: str) -> Publication:
    from orchestration.defs.transform.manifest import mart_models, published_relations

    relations = published_relations(mart_models())
    return publish(
        settings.working_db,
        settings.published_db,
        [*relations["tables"], QUALITY_RESULTS],
        run_id,
        keep_versions=settings.company.publishing.keep_versions,
        views=relations["views"],
    )
