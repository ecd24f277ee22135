"""`make bench`: generate companies of several sizes and time a full night, the same
transformations as bare SQL in DuckDB, and an incremental night.

For each size:
1. generate the sample company; hold back the files of the last night that received
   sell-out (file modification time = delivery date, as the generator writes them; the
   online API's pulls excepted): at the sample's sizes, one distributor's monthly sell-out
   file (1/120 of the history) and that month's declarations;
2. full night: every other file, from an empty warehouse (ingestion, dbt, checks, publish);
3. bare: every dbt model's compiled SQL of that night run straight in DuckDB
   (CREATE OR REPLACE TABLE/VIEW in dependency order, one connection, no dbt, no tests, no
   Dagster): the yardstick for orchestration and quality overhead;
4. incremental night: the held-back day delivered, the same stages again.

Each stage runs in its own process so its wall time and peak memory (the process and the
processes it starts, e.g. dbt) are measured separately. The sample's online API, which
stands for the outside world, is served by the bench itself for all of a size's nights:
its start-up is not part of any night. Stages call the same functions the
Dagster assets call. The dbt stage is also split into its parts (dbt itself, account
linking, territory solving). Sizes: 20k and 200k accounts; BENCH_FULL=1 adds 1M.
BENCH_SIZES overrides (comma-separated account counts); BENCH_NIGHTS restricts the nights
run (comma-separated among full, bare, incremental; e.g. `full` to leave a warehouse to
profile an incremental night on); BENCH_SNAPSHOT=<dir> copies the working database there
before the incremental night (outside every stage's time), to run that night again. The generated company is kept in
warehouse/bench_<accounts>_sample and reused (BENCH_REGENERATE=1 generates it again;
BENCH_GENERATE_ONLY=1 only generates). Results: warehouse/bench_results_<sizes>.json
and a Markdown table in warehouse/bench_results_<sizes>.md (docs/benchmarks.md quotes them).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from orchestration.config import REPO_ROOT

NIGHT_STAGES = ("ingestion", "dbt", "checks", "publish")
# Pulled from the online API by the run itself, not delivered: never held back.
PULLED_FOLDERS = {"online"}


def _stage_environment(warehouse: Path, accounts: int) -> dict[str, str]:
    return {
        "RTM_WAREHOUSE": str(warehouse),
        # dbt's compiled SQL of this warehouse's nights, apart from the project's target/
        "DBT_TARGET_PATH": str(warehouse / "dbt_target"),
        # the sample's online API on a port of this size's own: a bench of another size, or
        # another `make run`, serving the default port would otherwise answer instead
        "RTM_ONLINE_API_URL": f"http://127.0.0.1:{_api_port(accounts)}",
    }


@contextmanager
def _sample_online_api(warehouse: Path, accounts: int, environment: dict[str, str]):
    """Serve the sample company's online API for all of a size's nights, from a process of
    its own: it stands for the outside world a night pulls from, so loading it (its JSON
    records: 15 s of the 1M incremental night's ingestion) is not part of any night, and
    its memory is not inherited by the stages this process starts (a child's peak RSS
    counts its parent's at fork). The stages find it listening and do not start their own."""
    import socket

    from orchestration.config import Settings

    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    server = None
    try:
        source = Settings.from_env().company.sources.get("online_presence")
        if source is not None and source.api is not None:
            # the key the server expects and the stages send (as sample_online_api sets it)
            os.environ.setdefault(source.api.api_key_env, "sample-local-key")
        server = subprocess.Popen(
            [sys.executable, "-m", "orchestration.bench", "--stage", "serve_api", str(accounts),
             "setup"],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        port = int(environment["RTM_ONLINE_API_URL"].rsplit(":", 1)[1])
        deadline = time.monotonic() + 600
        while server.poll() is None and time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        yield
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_stage(
    stage: str, warehouse: Path, accounts: int, night: str, environment: dict[str, str]
) -> tuple[float, float, int]:
    """Run one stage in a child process; return (seconds, peak GB, exit status)."""
    env = {**os.environ, **environment}
    log_dir = _log_dir(warehouse, accounts)
    started = time.perf_counter()
    with (log_dir / f"{night}_{stage}.log").open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "orchestration.bench", "--stage", stage, str(accounts), night],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024 / 1024, child.returncode


def _api_port(accounts: int) -> int:
    import socket

    port = 18_000 + accounts // 1_000 % 1_000
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} (the {accounts:,}-account bench's API) is taken")
    return port


def _log_dir(warehouse: Path, accounts: int) -> Path:
    log_dir = warehouse.parent / f"bench_logs_{accounts}"
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir


def _stage_body(stage: str, accounts: int, night: str) -> None:
    from orchestration import stages
    from orchestration.config import Settings

    settings = Settings.from_env()
    run_id = f"bench-{night}"
    if stage == "generate":
        from orchestration.sample.generator import generate_company

        generate_company(settings.warehouse_dir, accounts=accounts)
    elif stage == "ingestion":
        from orchestration.cli import sample_online_api

        with sample_online_api(settings):
            stages.ingest_all(settings)
    elif stage == "dbt":
        parts = stages.dbt_build(settings)
        (_log_dir(settings.warehouse_dir, accounts) / f"{night}_dbt_parts.json").write_text(
            json.dumps(parts)
        )
    elif stage == "checks":
        stages.validate_marts(settings, run_id)
    elif stage == "publish":
        stages.publish_marts(settings, run_id)
    elif stage == "serve_api":
        import threading

        from orchestration.cli import sample_online_api

        # a sample without online data serves nothing (the bench stops waiting for it)
        with sample_online_api(settings) as served:
            if served is not None:
                threading.Event().wait()
    elif stage == "bare":
        bare_sql(settings, Path(os.environ["DBT_TARGET_PATH"]))


def bare_sql(settings, target: Path) -> int:
    """Every model of the last dbt build, its compiled SQL (in `target`) run directly in
    DuckDB in dependency order (tables as CREATE OR REPLACE TABLE, views as views): the same
    transformations without dbt, its tests, Dagster or Great Expectations. Returns the
    number of models run. The models and their order come from the manifest `make`
    prepares, as for the checks and publish stages: a night's build writes none
    (stages.NIGHTLY_BUILD_ARGS)."""
    import duckdb

    from orchestration.defs.transform.manifest import load_manifest

    manifest = load_manifest()
    models = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["config"].get("enabled", True)
    }
    order: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for parent in models[uid]["depends_on"]["nodes"]:
            if parent in models:
                visit(parent)
        order.append(uid)

    for uid in sorted(models):
        visit(uid)
    config = {**settings.duckdb_config(), "preserve_insertion_order": "false"}
    con = duckdb.connect(str(settings.working_db), config=config)
    try:
        for uid in order:
            node = models[uid]
            compiled = target / "compiled" / node["package_name"] / node["original_file_path"]
            sql = compiled.read_text()
            kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
            relation = f'"{node["schema"]}"."{node["alias"]}"'
            con.execute(f"CREATE OR REPLACE {kind} {relation} AS {sql}")
    finally:
        con.close()
    return len(order)


def hold_back_last_day(landing: Path, held: Path) -> list[str]:
    """Move out of the landing folder the files of the last night that received sell-out:
    those delivered on the last day a distributor sell-out file arrived, or later."""
    files = [
        p
        for p in landing.rglob("*")
        if p.is_file() and p.relative_to(landing).parts[0] not in PULLED_FOLDERS
    ]

    def day(path: Path):
        return datetime.fromtimestamp(path.stat().st_mtime).date()

    sell_out = [
        p
        for p in files
        if p.relative_to(landing).parts[0] == "distributors" and "declarations" not in p.parts
    ]
    last = max(day(p) for p in sell_out)
    moved = []
    for path in files:
        if day(path) >= last:
            target = held / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved.append(path.relative_to(landing).as_posix())
    return sorted(moved)


def deliver(held: Path, landing: Path) -> None:
    for path in sorted(p for p in held.rglob("*") if p.is_file()):
        target = landing / path.relative_to(held)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)


def _sell_out_lines(warehouse: Path) -> int:
    import duckdb

    with duckdb.connect(str(warehouse / "rtm.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw.distributor_sell_out").fetchone()[0]


def bench_size(accounts: int) -> dict:
    warehouse = REPO_ROOT / "warehouse" / f"bench_{accounts}"
    # The generated company is kept apart (generating 1M accounts takes a while) and each
    # run starts from a hard-linked copy of it: the pipeline only reads and moves files.
    sample = REPO_ROOT / "warehouse" / f"bench_{accounts}_sample"
    subprocess.run(["rm", "-rf", str(warehouse)], check=True)
    log_dir = _log_dir(warehouse, accounts)
    result: dict = {"accounts": accounts, "load_before": os.getloadavg(), "stages": {}}

    def stage(night: str, name: str) -> bool:
        seconds, peak_gb, status = _run_stage(name, warehouse, accounts, night, environment)
        result["stages"][f"{night}/{name}"] = {"seconds": seconds, "peak_gb": peak_gb}
        print(
            f"{accounts:>9,} accounts  {night:<11} {name:<10} {seconds:8.1f} s  "
            f"peak {peak_gb:5.2f} GB  load {os.getloadavg()[0]:.1f}"
            + ("" if status == 0 else f"  FAILED (exit {status})"),
            flush=True,
        )
        if status != 0:
            print(f"  see {log_dir / f'{night}_{name}.log'}")
        return status == 0

    generated = sample / "generation.json"
    if os.environ.get("BENCH_REGENERATE") == "1" or not generated.exists():
        subprocess.run(["rm", "-rf", str(sample)], check=True)
        seconds, peak_gb, status = _run_stage(
            "generate", sample, accounts, "setup", _stage_environment(sample, accounts)
        )
        if status != 0:
            print(f"  generation failed: see {_log_dir(sample, accounts)}")
            return result
        generated.write_text(json.dumps({"seconds": seconds, "peak_gb": peak_gb}))
    result["generate"] = json.loads(generated.read_text())
    print(
        f"{accounts:>9,} accounts  generation  {result['generate']['seconds']:8.1f} s  "
        f"peak {result['generate']['peak_gb']:5.2f} GB  ({sample})",
        flush=True,
    )
    if os.environ.get("BENCH_GENERATE_ONLY") == "1":
        return result
    subprocess.run(["cp", "-al", str(sample), str(warehouse)], check=True)
    (warehouse / "generation.json").unlink()
    held = warehouse / "held_back"
    result["held_back_files"] = hold_back_last_day(warehouse / "landing", held)
    print(f"  held back for the incremental night: {', '.join(result['held_back_files'])}")
    environment = _stage_environment(warehouse, accounts)
    with _sample_online_api(warehouse, accounts, environment):
        for night in _nights():
            if night == "incremental":
                _snapshot(warehouse)
                deliver(held, warehouse / "landing")
            # A night starts with the writes before it on disk: writing back the last
            # night's pages (and the snapshot copy's 14 GB) is not the next night's work.
            os.sync()
            ok = True
            for name in ("bare",) if night == "bare" else NIGHT_STAGES:
                ok = stage(night, name)
                if not ok:
                    break
            if not ok:
                break
            parts = log_dir / f"{night}_dbt_parts.json"
            if parts.exists():
                result[f"{night}_dbt_parts"] = json.loads(parts.read_text())
    result["sell_out_lines"] = _sell_out_lines(warehouse)
    result["load_after"] = os.getloadavg()
    _print_summary(result)
    return result


def _snapshot(warehouse: Path) -> None:
    target = os.environ.get("BENCH_SNAPSHOT")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(warehouse / "rtm.duckdb", Path(target) / "rtm.duckdb")


def _nights() -> list[str]:
    nights = ("full", "bare", "incremental")
    chosen = os.environ.get("BENCH_NIGHTS", ",".join(nights)).split(",")
    unknown = sorted(set(chosen) - set(nights))
    if unknown:
        raise SystemExit(f"BENCH_NIGHTS: unknown night(s) {unknown}, expected among {nights}")
    return [night for night in nights if night in chosen]


def _night_total(result: dict, night: str) -> tuple[float, float]:
    measured = [v for k, v in result["stages"].items() if k.startswith(f"{night}/")]
    return sum(v["seconds"] for v in measured), max((v["peak_gb"] for v in measured), default=0)


def _print_summary(result: dict) -> None:
    accounts = result["accounts"]
    full, full_peak = _night_total(result, "full")
    incr, incr_peak = _night_total(result, "incremental")
    print(f"{accounts:>9,} accounts  full night        {full:8.1f} s  peak {full_peak:5.2f} GB")
    print(
        f"{accounts:>9,} accounts  incremental night {incr:8.1f} s  peak {incr_peak:5.2f} GB"
        + (f"  ({incr / full:.0%} of the full night)" if full else "")
    )
    bare = result["stages"].get("bare/bare", {}).get("seconds")
    parts = result.get("full_dbt_parts")
    if bare and parts:
        dbt_only = parts.get("dbt", 0.0)
        checks = result["stages"].get("full/checks", {}).get("seconds", 0.0)
        result["overhead"] = {
            "bare_seconds": bare,
            "dbt_seconds": dbt_only,
            "dbt_ratio": dbt_only / bare,
            "dbt_and_checks_ratio": (dbt_only + checks) / bare,
        }
        print(
            f"{accounts:>9,} accounts  overhead: dbt (models + tests) {dbt_only:.1f} s, "
            f"+ GX checks {dbt_only + checks:.1f} s vs the same compiled SQL in DuckDB "
            f"{bare:.1f} s: {dbt_only / bare:.2f}x, {(dbt_only + checks) / bare:.2f}x"
        )


def markdown(rows: list[dict]) -> str:
    lines = [
        "| accounts | sell-out lines | night | ingestion | dbt (of which linking / territories) "
        "| checks | publish | total | peak memory |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for night in ("full", "incremental"):
            stage = {name: row["stages"].get(f"{night}/{name}", {}) for name in NIGHT_STAGES}
            total, peak = _night_total(row, night)
            parts = row.get(f"{night}_dbt_parts", {})
            dbt = stage["dbt"].get("seconds", 0)
            lines.append(
                f"| {row['accounts']:,} | {row.get('sell_out_lines', 0):,} | {night} "
                f"| {stage['ingestion'].get('seconds', 0):.0f} s "
                f"| {dbt:.0f} s ({parts.get('linking', 0):.0f} / {parts.get('territories', 0):.0f}) "
                f"| {stage['checks'].get('seconds', 0):.0f} s "
                f"| {stage['publish'].get('seconds', 0):.0f} s | **{total:.0f} s** | {peak:.2f} GB |"
            )
    lines += [
        "",
        "| accounts | dbt models + tests | + GX checks | same compiled SQL in DuckDB | ratio dbt "
        "| ratio dbt + checks |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        o = row.get("overhead")
        if o:
            checks = row["stages"].get("full/checks", {}).get("seconds", 0)
            lines.append(
                f"| {row['accounts']:,} | {o['dbt_seconds']:.0f} s | {o['dbt_seconds'] + checks:.0f} s "
                f"| {o['bare_seconds']:.0f} s | {o['dbt_ratio']:.2f}x "
                f"| {o['dbt_and_checks_ratio']:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--stage":
        _stage_body(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    sizes = [20_000, 200_000] + ([1_000_000] if os.environ.get("BENCH_FULL") == "1" else [])
    if os.environ.get("BENCH_SIZES"):
        sizes = [int(s) for s in os.environ["BENCH_SIZES"].split(",")]
    print(
        f"machine: {os.cpu_count()} cores, {_memory_gb():.0f} GB RAM, {_cpu_model()}, "
        f"python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}"
    )
    rows = [bench_size(accounts) for accounts in sizes]
    out = REPO_ROOT / "warehouse" / f"bench_results_{'_'.join(map(str, sizes))}.json"
    out.write_text(json.dumps(rows, indent=2))
    (out.with_suffix(".md")).write_text(markdown(rows))
    print(f"results: {out} and {out.with_suffix('.md')}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


if __name__ == "__main__":
    main()
