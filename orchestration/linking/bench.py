"""`make bench-match`: accuracy and cost of account linking.

1. Precision, recall and F1 of the crosswalk against the default sample company's ground
   truth (warehouse/, built by `make run`), per source family.
2. Wall time and peak memory of building the crosswalk at 20k and 200k accounts
   (BENCH_FULL=1 adds 1M; BENCH_MATCH_SIZES=20000,... overrides), each in its own process,
   on warehouse/bench_<N> (made by `make bench`; generated, ingested and staged here when
   missing). The working database is attached read-only: the crosswalk is written to a
   scratch file, so a bench never changes a warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.config import DEFAULT_DUCKDB_MEMORY_LIMIT, REPO_ROOT


def _crosswalk_from(warehouse: Path, scratch: Path, score: bool) -> None:
    import duckdb

    from orchestration.linking.crosswalk import build_crosswalk_in
    from orchestration.linking.evaluate import score_crosswalk

    scratch.unlink(missing_ok=True)
    tmp = warehouse / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(scratch), config={
        "memory_limit": os.environ.get("RTM_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
        "temp_directory": str(tmp)})  # fmt: skip
    con.execute(f"ATTACH '{warehouse / 'rtm.duckdb'}' AS work (READ_ONLY)").fetchall()
    started = time.perf_counter()
    summary = build_crosswalk_in(con, "work.staging", [])
    print(f"crosswalk: {time.perf_counter() - started:.1f} s, {summary}")
    if score and (warehouse / "ground_truth").exists():
        for s in score_crosswalk(con, warehouse / "ground_truth"):
            print(s.line())
    con.close()
    scratch.unlink(missing_ok=True)


def _prepare(warehouse: Path, accounts: int) -> None:
    """Landing files, raw tables and staging views for a bench size, when missing."""
    if (warehouse / "rtm.duckdb").exists():
        return
    from orchestration import stages
    from orchestration.cli import sample_online_api
    from orchestration.config import DBT_PROJECT_DIR, Settings
    from orchestration.defs.transform.dbt_assets import dbt_executable
    from orchestration.sample.generator import generate_company

    os.environ["RTM_WAREHOUSE"] = str(warehouse)
    settings = Settings.from_env()
    generate_company(warehouse, accounts=accounts)
    with sample_online_api(settings):
        stages.ingest_all(settings)
    subprocess.run(
        [dbt_executable(), "run", "--select", "staging", "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR, env={**os.environ, **stages.dbt_environment(settings)}, check=True,
    )  # fmt: skip


def _measure(args: list[str]) -> tuple[float, float, int, str]:
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "orchestration.linking.bench", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    return (time.perf_counter() - started, usage.ru_maxrss / 1024 / 1024,
            os.waitstatus_to_exitcode(status), output)  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--crosswalk":
        _crosswalk_from(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "score")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        _prepare(Path(sys.argv[2]), int(sys.argv[3]))
        return
    root = REPO_ROOT / "warehouse"
    print("== accuracy on the default sample company (warehouse/) ==")
    if (root / "rtm.duckdb").exists():
        seconds, peak, status, output = _measure(
            ["--crosswalk", str(root), str(root / "tmp" / "bench_match.duckdb"), "score"]
        )
        print(output.strip())
        print(f"wall {seconds:.1f} s (process), peak {peak:.2f} GB, exit {status}")
    else:
        print("no warehouse/rtm.duckdb: run `make run` first")
    sizes = [20_000, 200_000] + ([1_000_000] if os.environ.get("BENCH_FULL") == "1" else [])
    if os.environ.get("BENCH_MATCH_SIZES"):
        sizes = [int(s) for s in os.environ["BENCH_MATCH_SIZES"].split(",")]
    print("== time and memory (crosswalk build, own process) ==")
    rows = []
    for accounts in sizes:
        warehouse = root / f"bench_{accounts}"
        if not (warehouse / "rtm.duckdb").exists():
            print(f"preparing {warehouse} (generate, ingest, staging)...")
            *_, status, output = _measure(["--prepare", str(warehouse), str(accounts)])
            if status:
                print(output[-3000:])
                raise SystemExit(status)
        seconds, peak, status, output = _measure(
            ["--crosswalk", str(warehouse), str(warehouse / "tmp" / "bench_match.duckdb"), "score"]
        )
        print(f"-- {accounts:,} accounts --\n{output.strip()}")
        if status:
            raise SystemExit(status)
        rows.append((accounts, seconds, peak))
    print(f"{'accounts':>10} {'wall s':>8} {'peak GB':>8}")
    for accounts, seconds, peak in rows:
        print(f"{accounts:>10,} {seconds:>8.1f} {peak:>8.2f}")


if __name__ == "__main__":
    main()
