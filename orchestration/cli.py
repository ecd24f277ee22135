"""`rtm`: the command line for people who run the pipeline.

rtm sample         generate the sample company into the warehouse folder
rtm run            run the nightly job once (generating the sample first if needed;
                   --full-refresh rebuilds the incremental models)
rtm online-server  serve the sample company's online listings API on loopback
rtm ingest SOURCE  load one source's landing files (debugging a new layout)
rtm whatif --set weights.opportunity=0.4   priorities with other scoring settings, compared
rtm link           rebuild the account crosswalk in the working database
rtm match L R      link any two CSV tables of business records (same engine)
rtm status         the published version, its checks, each source's freshness (exit 1 if bad)
rtm versions       list the kept published versions
rtm rollback       put the previous (or --to VERSION) published version back, atomically
rtm report         render the account review report (HTML) from the published tables
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import urlparse

import typer

from orchestration.config import ConfigError, Settings
from orchestration.progress import Bar, is_interactive, progress_bar

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
        settings.company  # noqa: B018 (validate the config up front, fail fast)
        return settings
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


@app.command()
def sample(
    accounts: int = typer.Option(15_000, help="CRM accounts to generate."),
    seed: int = typer.Option(42, help="Random seed: same seed, same files."),
    months: int = typer.Option(24, help="Months of history."),
    out: Path = typer.Option(None, help="Output folder (default: the warehouse folder)."),
) -> None:
    """Generate the sample company: landing files, online API data and ground truth."""
    from orchestration.sample.generator import generate_company

    settings = _settings()
    target = out or settings.warehouse_dir
    started = time.perf_counter()
    with progress_bar("generating", total=None) as bar:
        summary = generate_company(
            target,
            accounts=accounts,
            seed=seed,
            months=months,
            progress=lambda done, total, what: bar.update(done, total, what),
        )
    typer.echo(f"sample company written to {target} in {time.perf_counter() - started:.1f} s")
    for key, value in summary.items():
        typer.echo(f"  {key}: {value}")


@app.command("online-server")
def online_server(
    data: Path = typer.Option(None, help="listings.jsonl to serve (default: the sample's)."),
    port: int = typer.Option(8765),
    max_requests_per_second: float = typer.Option(50.0),
) -> None:
    """Serve the online listings API on 127.0.0.1 until interrupted."""
    from orchestration.online.server import ListingsStore, make_server

    settings = _settings()
    api = settings.company.sources["online_presence"].api
    key = os.environ.get(api.api_key_env)
    if not key:
        typer.secho(f"set {api.api_key_env} to the API key the server should accept", fg="red")
        raise typer.Exit(2)
    data = data or settings.warehouse_dir / "online_api" / "listings.jsonl"
    server = make_server(ListingsStore.from_jsonl(data), key, port, max_requests_per_second)
    typer.echo(f"serving {data} on http://127.0.0.1:{port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


@contextmanager
def sample_online_api(settings: Settings):
    """Serve the sample company's listings for the length of a run, when the configured
    API points at loopback and nothing is listening there yet."""
    source = settings.company.sources.get("online_presence")
    data = settings.warehouse_dir / "online_api" / "listings.jsonl"
    if source is None or source.api is None or not data.exists():
        yield None
        return
    url = urlparse(source.api.resolved_base_url())
    if url.hostname not in {"127.0.0.1", "localhost"} or _listening(url.hostname, url.port):
        yield None
        return
    from orchestration.online.server import BackgroundServer

    key = os.environ.setdefault(source.api.api_key_env, "sample-local-key")
    with BackgroundServer(data, key, port=url.port or 80) as server:
        yield server


def _listening(host: str, port: int | None) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port or 80)) == 0


@app.command()
def run(
    generate: bool = typer.Option(
        True, help="Generate the sample company if no landing files exist."
    ),
    example: str = typer.Option(
        None,
        help="Run a bundled example company (examples/<name>/company.yaml), e.g. iowa_liquor; "
        "its warehouse is warehouse/<name> unless RTM_WAREHOUSE is set.",
    ),
    brand: str = typer.Option(
        None, help="Our brand for this run (the product master's brand), replacing own_brands."
    ),
    full_refresh: bool = typer.Option(
        False,
        "--full-refresh",
        help="Rebuild the incremental models from all loaded data (the full_refresh job).",
    ),
) -> None:
    """Run the nightly job once, in process, and print what was published."""
    if example:
        use_example(example)
        generate = False
    if brand:
        os.environ["RTM_BRAND"] = brand
    settings = _settings()
    if generate and not any(settings.landing_dir.glob("*/*")):
        typer.echo(f"no landing files in {settings.landing_dir}: generating the sample company")
        from orchestration.sample.generator import generate_company

        generate_company(settings.warehouse_dir)
    with progress_bar("nightly run", total=None) as bar:
        result = run_nightly(
            settings, progress=bar if is_interactive() else None, full_refresh=full_refresh
        )
    if not result.success:
        typer.secho("run failed: see the messages above and the Dagster UI (make dev)", fg="red")
        _write_failure_summary(settings, result)
        raise typer.Exit(1)
    print_summary(settings, result.run_id)
    # Everything is committed and closed. DuckDB 2.0's bindings print hundreds of lines of
    # "nanobind: leaked ..." at interpreter shutdown, burying the summary: skip that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def use_example(name: str) -> None:
    """Point this process at examples/<name>: its company config, its own warehouse."""
    from orchestration.config import REPO_ROOT

    config = REPO_ROOT / "examples" / name / "company.yaml"
    if not config.exists():
        known = sorted(p.name for p in (REPO_ROOT / "examples").iterdir() if p.is_dir())
        typer.secho(f"no example {name!r}: {config} does not exist; known: {known}", fg="red")
        raise typer.Exit(2)
    os.environ["RTM_COMPANY_CONFIG"] = str(config)
    os.environ.setdefault("RTM_WAREHOUSE", str(REPO_ROOT / "warehouse" / name))


def run_nightly(
    settings: Settings, instance=None, progress: Bar | None = None, full_refresh: bool = False
):
    """Execute the nightly job (or the full_refresh job) in this process (one DuckDB writer
    at a time).

    With a progress bar, the bar counts the job's steps done / total and names the running
    step, and Dagster's console log shows warnings and errors only (the whole log is still
    stored in the Dagster instance, readable in the UI)."""
    import uuid

    from orchestration.definitions import (
        FULL_REFRESH_JOB,
        FULL_REFRESH_RUN_CONFIG,
        NIGHTLY_JOB,
        defs,
    )

    definitions = defs() if callable(defs) else defs
    job = definitions.resolve_job_def(FULL_REFRESH_JOB if full_refresh else NIGHTLY_JOB)
    with sample_online_api(settings), nullcontext(instance) if instance else _instance() as inst:
        if progress is None:
            return job.execute_in_process(instance=inst, raise_on_error=False)
        run_id = str(uuid.uuid4())
        inst.add_event_listener(run_id, _step_counter(progress, len(job.graph.nodes)))
        return job.execute_in_process(
            instance=inst,
            raise_on_error=False,
            run_id=run_id,
            run_config={
                **(FULL_REFRESH_RUN_CONFIG if full_refresh else {}),
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            },
        )


def _step_counter(bar: Bar, steps: int):
    """An event listener advancing `bar` as each step of the run ends (called by Dagster in
    the executing thread, so nothing polls)."""
    import dagster as dg

    ended = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
             dg.DagsterEventType.STEP_SKIPPED}  # fmt: skip
    bar.update(completed=0, total=steps, description="starting")

    def on_event(entry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        if event.event_type == dg.DagsterEventType.STEP_START:
            bar.update(description=event.step_key)
        elif event.event_type in ended:
            bar.advance()

    return on_event


@contextmanager
def _instance():
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        with dg.DagsterInstance.get() as instance:
            yield instance
    else:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance


def print_summary(settings: Settings, run_id: str) -> None:
    import duckdb

    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        version, published_at = pub.execute(
            "SELECT version, published_at FROM _publication"
        ).fetchone()
        tables = [r[0] for r in pub.execute("SHOW TABLES").fetchall() if not r[0].startswith("_")]
        counts = {t: pub.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        segments = (
            pub.execute(
                "SELECT channel, count(*) FROM dim_accounts GROUP BY ALL ORDER BY 2 DESC"
            ).fetchall()
            if "dim_accounts" in tables
            else []
        )
    with duckdb.connect(str(settings.working_db), read_only=True) as work:
        checks = work.execute(
            "SELECT count(*) FILTER (passed), count(*) FROM quality.data_quality_results "
            "WHERE run_id = ?",
            [run_id],
        ).fetchone()
        quarantined = work.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
    typer.echo("")
    typer.secho(f"Published {settings.published_db} (version {version}, {published_at})", bold=True)
    for table, count in counts.items():
        typer.echo(f"  {table:<28} {count:>10,} rows")
    if segments:
        typer.echo("Accounts by channel: " + ", ".join(f"{c} {n:,}" for c, n in segments))
    typer.echo(f"Quality checks passed: {checks[0]}/{checks[1]}; rows quarantined: {quarantined:,}")
    _echo_report_path(settings)


def _write_failure_summary(settings: Settings, result) -> None:
    import logging

    from orchestration.defs.operations.failures import report_failure, summarize_result

    path = report_failure(
        summarize_result(result), settings.warehouse_dir, logging.getLogger("rtm")
    )
    typer.secho(f"failure summary: {path}", fg="red")


def _echo_report_path(settings: Settings) -> None:
    from orchestration.defs.report.assets import reports_dir
    from orchestration.report import report_index_path

    path = report_index_path(settings.published_db, reports_dir(settings))
    if path is not None and path.exists():
        typer.echo(f"Account review report: {path}")


@app.command()
def report(
    out: Path = typer.Option(None, help="Reports folder (default: the warehouse's reports/)."),
    top: int = typer.Option(15, help="Priority accounts listed per territory."),
) -> None:
    """Render the account review report (self-contained HTML, one printable page per
    territory) from the published tables; the nightly run does this after publishing."""
    from orchestration.defs.report.assets import reports_dir
    from orchestration.report import render_report

    settings = _settings()
    if not settings.published_db.exists():
        typer.secho(f"nothing published yet at {settings.published_db}: run `rtm run`", fg="red")
        raise typer.Exit(1)
    result = render_report(settings.published_db, out or reports_dir(settings), top_n=top)
    typer.echo(f"report written to {result.path} ({result.pages} pages, "
               f"{result.size_bytes / 1e6:.1f} MB, {result.seconds:.1f} s)")  # fmt: skip


@app.command()
def status() -> None:
    """The published version, its checks and each source's freshness; exit 1 when the
    published tables failed an error-level check or nothing is published, for scripts."""
    import duckdb

    settings = _settings()
    if not settings.published_db.exists():
        typer.secho(f"nothing published yet at {settings.published_db}", fg="red", err=True)
        raise typer.Exit(1)
    with duckdb.connect(str(settings.published_db), read_only=True) as pub:
        version, run_id, published_at = pub.execute(
            "SELECT version, run_id, published_at FROM _publication"
        ).fetchone()
        checks = pub.execute(
            "SELECT count(*), count(*) FILTER (NOT passed AND severity = 'error'), "
            "count(*) FILTER (NOT passed AND severity <> 'error') "
            "FROM data_quality_results WHERE run_id = ?",
            [run_id],
        ).fetchone()
        freshness = pub.execute(
            "SELECT table_name, check_name, passed, observed_value FROM data_quality_results "
            "WHERE run_id = ? AND check_name LIKE 'freshness%' ORDER BY 1, 2",
            [run_id],
        ).fetchall()
    typer.echo(f"published version {version} at {published_at:%Y-%m-%d %H:%M} (run {run_id})")
    typer.echo(f"checks: {checks[0]} run, {checks[1]} failed (error), {checks[2]} warnings")
    for source, check, passed, observed in freshness:
        label = f"{source}{check.removeprefix('freshness')}"
        typer.echo(f"  {'fresh' if passed else 'LATE '}  {label:<36} {observed}")
    if checks[0] == 0 or checks[1]:
        raise typer.Exit(1)


@app.command()
def versions() -> None:
    """List the kept published versions, newest first (the current one marked *)."""
    from orchestration.publish import list_versions

    settings = _settings()
    kept = list_versions(settings.published_db)
    if not kept:
        typer.echo(f"no published versions kept next to {settings.published_db}")
    for v in kept:
        mark = "*" if v.is_current else " "
        typer.echo(
            f"{mark} {v.version}  published {v.published_at:%Y-%m-%d %H:%M:%S}  run {v.run_id}"
        )


@app.command()
def rollback(
    to: str = typer.Option(None, "--to", help="Version to restore (default: the previous one)."),
) -> None:
    """Swap an earlier published version back in; BI readers see it on their next connect."""
    from orchestration.publish import RollbackError
    from orchestration.publish import rollback as rollback_to
    from orchestration.runlock import RunInProgress, warehouse_lock

    settings = _settings()
    try:
        with warehouse_lock(settings.warehouse_dir, holder="rtm rollback"):
            restored = rollback_to(settings.published_db, to)
    except (RollbackError, RunInProgress) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"published {settings.published_db} is now version {restored.version} "
        f"(run {restored.run_id}, first published {restored.published_at:%Y-%m-%d %H:%M:%S})"
    )


@app.command()
def ingest(source: str) -> None:
    """Load one source's landing files and print the outcome."""
    from orchestration.ingest.run import ingest_source

    settings = _settings()
    with sample_online_api(settings):
        summary = ingest_source(settings, source, typer.echo)
    typer.echo(summary)
    if not summary.reconciled:
        raise typer.Exit(1)


@app.command()
def link(
    overrides: Path = typer.Option(
        None, help="Overrides CSV (default: next to the company config)."
    ),
    retrain: bool = typer.Option(
        False, "--retrain", help="Train the linking model again and predict every pair."
    ),
) -> None:
    """Rebuild the account crosswalk (schema linking) from the working database's staging
    views, print counts, and the scores against the ground truth when there is one."""
    import duckdb

    from orchestration.linking.crosswalk import build_crosswalk, default_overrides_path
    from orchestration.linking.evaluate import score_crosswalk

    settings = _settings()
    path = overrides or default_overrides_path(settings.company_config_path)
    started = time.perf_counter()
    summary = build_crosswalk(
        settings.working_db, path, settings.match_settings(),
        duckdb_config=settings.duckdb_config(), retrain=retrain,
    )  # fmt: skip
    typer.echo(f"crosswalk built in {time.perf_counter() - started:.1f} s (overrides: {path})")
    typer.echo(f"  engine {summary.engine_mode} ({summary.engine_reason}): records changed "
               f"{summary.records_changed:,}, accounts changed {summary.accounts_changed:,}, "
               f"pairs predicted {summary.pairs_predicted:,}")  # fmt: skip
    typer.echo(f"  records {summary.records:,}, linked {summary.linked:,} {summary.by_method}")
    typer.echo(f"  kept from last run {summary.carried_over:,}, overridden {summary.overridden:,}")
    typer.echo(f"  review queue {summary.review:,}, unmatched {summary.unmatched:,}, "
               f"prospects {summary.prospects:,}")  # fmt: skip
    truth = settings.warehouse_dir / "ground_truth"
    if truth.exists():
        with duckdb.connect(str(settings.working_db), read_only=True) as con:
            for score in score_crosswalk(con, truth):
                typer.echo("  " + score.line())


@app.command("match")
def match_cmd(
    left: Path = typer.Argument(..., exists=True, help="Reference CSV (e.g. the CRM)."),
    right: Path = typer.Argument(..., exists=True, help="CSV whose records are linked to LEFT."),
    map: str = typer.Option(
        ...,
        "--map",
        help="field=column pairs: name, address, postcode, city, phone, siret, "
        "website, latitude, longitude; field=LEFTCOL:RIGHTCOL when the files differ.",
    ),
    out: Path = typer.Option(Path("pairs.csv"), help="Pairs CSV to write."),
    left_id: str = typer.Option(None, help="Id column of LEFT (default: row number)."),
    right_id: str = typer.Option(None, help="Id column of RIGHT (default: row number)."),
    threshold: float = typer.Option(0.9, help="Link at or above this match probability."),
) -> None:
    """Link two tables of business records with the account-linking engine; write the
    pairs (left_id, right_id, method, probability, evidence) and print counts."""
    from orchestration.linking.engine import MatchSettings
    from orchestration.linking.standalone import (
        MATCH_STAGES,
        MappingError,
        match_files,
        parse_map,
    )

    started = time.perf_counter()
    try:
        with progress_bar("matching", total=len(MATCH_STAGES)) as bar:
            counts = match_files(
                left, right, parse_map(map), out, left_id, right_id,
                MatchSettings(link_threshold=threshold, review_threshold=min(0.5, threshold)),
                progress=lambda done, what: bar.update(completed=done, description=what),
            )  # fmt: skip
    except MappingError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"left {counts.left:,} records, right {counts.right:,} records "
               f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    typer.echo(f"linked {counts.key + counts.probabilistic:,}: key {counts.key:,}, "
               f"probabilistic {counts.probabilistic:,}")  # fmt: skip
    typer.echo(f"unmatched {counts.unmatched:,} (of which to review {counts.review:,})")
    typer.echo(f"pairs written to {out}")


@app.command()
def whatif(
    set_: list[str] = typer.Option(
        ...,
        "--set",
        help="key.path=value in scoring.yaml, e.g. weights.opportunity=0.4 "
        "(the other weights are rescaled to keep the sum at 1) or classes.0.min_score=0.7.",
    ),
    schema: str = typer.Option("whatif", help="Schema of the working database to write to."),
) -> None:
    """Recompute segments and priorities with changed scoring settings into a separate
    schema of the working database and print how many accounts change class. Published
    tables are not touched. Needs a completed run (marts.account_priorities)."""
    from orchestration.scoring.config import ScoringConfigError
    from orchestration.scoring.whatif import run_whatif

    settings = _settings()
    started = time.perf_counter()
    try:
        result = run_whatif(settings, set_, schema)
    except ScoringConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    weights = ", ".join(f"{k} {c.weight:.3f}" for k, c in result.config.criteria.items())
    typer.echo(f"what-if written to schema {result.schema} ({time.perf_counter() - started:.1f} s)")
    typer.echo(f"  weights: {weights}")
    typer.echo(f"  accounts changing class: {result.changed:,} of {result.accounts:,}")
    typer.echo(f"  classes now (marts): {result.classes_before}")
    typer.echo(f"  classes what-if:     {result.classes_after}")
    for old, new, count in result.transitions:
        typer.echo(f"    {old} -> {new}: {count:,}")


@app.command()
def territories(
    units: Path = typer.Option(
        ..., help="CSV: unit_id, workload[, current_rep, lat, lon, visits, accounts, locked_rep]."
    ),
    reps: Path = typer.Option(..., help="CSV: rep_id[, lat, lon, capacity, office_unit]."),
    matrix: Path | None = typer.Option(
        None,
        help="Distances, long form: unit_id,rep_id,distance "
        "or from_id,to_id,distance (offices = reps' office_unit); "
        "default: haversine km from the coordinates.",
    ),
    tolerance: str = typer.Option("0.85..1.15", help="Workload band, fractions of the mean."),
    scenario: list[str] = typer.Option(
        ["all"], help="min_travel, min_disruption, km_per_move=N (repeatable) or all."
    ),
    contiguity: bool = typer.Option(
        False, help="Each rep's units one connected set of the adjacency."
    ),
    adjacency: Path | None = typer.Option(
        None,
        help="CSV unit_a,unit_b of neighbouring units, for --contiguity; "
        "default: Delaunay triangulation of the units' coordinates.",
    ),
    time_limit: float = typer.Option(60.0, help="Seconds per scenario; best solution after."),
    gap_limit: float = typer.Option(0.0, help="Stop at this proven gap (0 = prove optimality)."),
    out: Path | None = typer.Option(
        None, help="Write the proposals (one row per scenario x unit)."
    ),
) -> None:
    """Re-align territories from files with the CP-SAT optimizer: for each scenario print
    status, proven gap, objective, travel, moves and the workload balance before/after."""
    from dataclasses import replace

    from orchestration.territories.model import TerritoryInputError
    from orchestration.territories.solver import adjacency_graph, solve
    from orchestration.territories.standalone import (
        balance_line,
        load_instance,
        parse_scenario,
        write_proposal,
    )

    try:
        instance = load_instance(units, reps, matrix, tolerance, adjacency)
        scenarios = [
            replace(s, contiguity=contiguity) for text in scenario for s in parse_scenario(text)
        ]
        if contiguity:
            adjacency_graph(instance)  # derived now: missing coordinates are an input error
    except TerritoryInputError as exc:
        typer.secho(f"input error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{len(instance.units)} units, {len(instance.reps)} reps, tolerance "
               f"{instance.tolerance}, mean workload {instance.mean_workload:,.2f}")  # fmt: skip
    results = []
    with progress_bar("scenarios", total=len(scenarios)) as bar:
        for s in scenarios:
            bar.update(description=f"solving {s.name} (up to {time_limit:g} s)")
            result = solve(instance, s, time_limit=time_limit, gap_limit=gap_limit)
            results.append(result)
            typer.echo(result.summary())
            if result.ok:
                typer.echo(balance_line("before", result, after=False))
                typer.echo(balance_line("after ", result, after=True))
            bar.advance()
    if out:
        rows = write_proposal(out, instance, results)
        typer.echo(f"{rows:,} rows written to {out}")
    if not any(r.ok for r in results):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
