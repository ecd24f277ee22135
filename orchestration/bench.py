"""`make bench`: generate companies of several sizes and time each pipeline stage.

Each stage runs in its own process so its wall time and peak memory (the process and the
processes it starts, e.g. dbt) are measured separately. Stages call the same functions the
Dagster assets call. Sizes: 20k and 200k accounts; BENCH_FULL=1 adds 1M. BENCH_SIZES
overrides (comma-separated account counts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.config import REPO_ROOT

STAGES = ("generate", "ingestion", "dbt", "checks", "publish")


def _run_stage(stage: str, warehouse: Path, accounts: int) -> tuple[float, float, int]:
    """Run one stage in a child process; return (seconds, peak GB, exit status)."""
    env = {**os.environ, "RTM_WAREHOUSE": str(warehouse)}
    log_dir = warehouse.parent / f"bench_logs_{accounts}"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (log_dir / f"{stage}.log").open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "orchestration.bench", "--stage", stage, str(accounts)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024 / 1024, child.returncode


def _stage_body(stage: str, accounts: int) -> None:
    from orchestration import stages
    from orchestration.config import Settings

    settings = Settings.from_env()
    run_id = "bench"
    if stage == "generate":
        from orchestration.sample.generator import generate_company

        generate_company(settings.warehouse_dir, accounts=accounts)
    elif stage == "ingestion":
        from orchestration.cli import sample_online_api

        with sample_online_api(settings):
            stages.ingest_all(settings)
    elif stage == "dbt":
        stages.dbt_build(settings)
    elif stage == "checks":
        stages.validate_marts(settings, run_id)
    elif stage == "publish":
        stages.publish_marts(settings, run_id)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--stage":
        _stage_body(sys.argv[2], int(sys.argv[3]))
        return
    sizes = [20_000, 200_000] + ([1_000_000] if os.environ.get("BENCH_FULL") == "1" else [])
    if os.environ.get("BENCH_SIZES"):
        sizes = [int(s) for s in os.environ["BENCH_SIZES"].split(",")]
    print(
        f"machine: {os.cpu_count()} cores, {_memory_gb():.0f} GB RAM, python {sys.version.split()[0]}"
    )
    rows = []
    for accounts in sizes:
        warehouse = REPO_ROOT / "warehouse" / f"bench_{accounts}"
        subprocess.run(["rm", "-rf", str(warehouse)], check=True)
        measured = {}
        for stage in STAGES:
            seconds, peak_gb, status = _run_stage(stage, warehouse, accounts)
            measured[stage] = (seconds, peak_gb)
            print(
                f"{accounts:>9,} accounts  {stage:<10} {seconds:8.1f} s  peak {peak_gb:5.2f} GB"
                + ("" if status == 0 else f"  FAILED (exit {status})"),
                flush=True,
            )
            if status != 0:
                print(f"  see {warehouse.parent / f'bench_logs_{accounts}' / f'{stage}.log'}")
                break
        pipeline = [measured[s] for s in STAGES[1:] if s in measured]
        total = sum(s for s, _ in pipeline)
        peak = max((p for _, p in pipeline), default=0.0)
        print(
            f"{accounts:>9,} accounts  pipeline   {total:8.1f} s  peak {peak:5.2f} GB (generation excluded)"
        )
        rows.append(
            {"accounts": accounts, "stages": measured, "pipeline_seconds": total, "peak_gb": peak}
        )
    out = REPO_ROOT / "warehouse" / "bench_results.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"results: {out}")


def _memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


if __name__ == "__main__":
    main()
