"""`make bench-match`: accuracy and cost of account linking.

1. Precision, recall and F1 of the crosswalk against the default sample company's ground
   truth (warehouse/, built by `make run`), per source family.
2. Wall time and peak memory of building the crosswalk at 20k and 200k accounts
   (BENCH_FULL=1 adds 1M; BENCH_MATCH_SIZES=20000,... overrides), each in its own process,
   on warehouse/bench_<N> (made by `make bench`; generated, ingested and staged here when
   missing). The working database is attached read-only: the crosswalk is written to a
   scratch file, so a bench never changes a warehouse.
3. Incremental nights at the same sizes: the staging inputs frozen into a scratch database
   (every sell-out line, with the columns the linking reads), then night 1 (no saved state:
   the engine trains and predicts everything), night 2 after BENCH_NIGHT_CHANGES (default
   1%) of the records to link became new or changed through one new delivered file (half
   new customer codes, half renamed customers: the engine predicts their pairs only),
   night 3 with nothing changed (the engine's cache), night 4 as night 2 with another file
   (the steady state). A link made last night becomes a link carried over: night 2 only
   flags those of night 1 that nothing touched (`links flagged carried over`), decides
   again the others. `python -m orchestration.linking.bench --nights <rtm.duckdb>
   <scratch> [share]` runs them on one database.
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


# what the linking reads of the sell-out lines (the frozen copy keeps these columns only)
LINE_COLUMNS = ["distributor_id", "distributor_account_code", "customer_name",
                "customer_address", "customer_postcode", "customer_city", "customer_phone",
                "customer_siret", "sale_date", "amount", "file_hash", "source_line",
                "loaded_at"]  # fmt: skip


def _freeze_staging(con, source: Path) -> None:
    """Schema staging of the scratch database: the linking inputs of `source` as tables
    (its views read raw tables of the source database); of the sell-out lines, every line
    with the columns the linking reads (the distributor customers are aggregated from the
    whole history, per delivered file)."""
    from orchestration.linking.sources import SOURCES

    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)").fetchall()
    con.execute("CREATE SCHEMA staging").fetchall()
    views = {r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = 'src' "
        "AND schema_name = 'staging'").fetchall()}  # fmt: skip
    for view in ["stg_crm__accounts"] + [v for _, v in SOURCES.values()]:
        if view not in views:
            continue
        query = f"SELECT * FROM src.staging.{view}"
        if view == "stg_distributors__sell_out_lines":
            query = f"SELECT {', '.join(LINE_COLUMNS)} FROM src.staging.{view}"
        con.execute(f"CREATE TABLE staging.{view} AS {query}").fetchall()
    con.execute("DETACH src").fetchall()


def _change_records(con, share: float, night: int = 2) -> tuple[int, int]:
    """`share` of the records to link become new or changed, through one new delivered
    file dated the day after the history: half its lines are new codes (another code for a
    known customer, as when a distributor opens a second account), half renamed customers
    (the new name is the last reported one)."""
    total = con.execute("SELECT count(*) FROM cw_records").fetchone()[0]
    n = max(2, round(total * share))
    lines = "staging.stg_distributors__sell_out_lines"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _bench_pick AS
        SELECT l.*, k FROM (
            SELECT distributor_id, distributor_account_code,
                row_number() OVER (ORDER BY hash(distributor_id, distributor_account_code, ?)) AS k
            FROM (SELECT DISTINCT distributor_id, distributor_account_code FROM {lines})
            QUALIFY k <= ?) c
        JOIN {lines} l USING (distributor_id, distributor_account_code)
        QUALIFY row_number() OVER (PARTITION BY distributor_id, distributor_account_code
            ORDER BY sale_date DESC, source_line DESC) = 1""",
        [night, n],
    ).fetchall()
    con.execute(
        f"""INSERT INTO {lines} SELECT * EXCLUDE (k) REPLACE (
            CASE WHEN k <= {n // 2} THEN distributor_account_code || '-N{night}'
                ELSE distributor_account_code END AS distributor_account_code,
            CASE WHEN k <= {n // 2} THEN customer_name
                ELSE customer_name || ' NOUVELLE GERANCE' END AS customer_name,
            (SELECT max(sale_date) FROM {lines}) + 1 AS sale_date,
            'bench-night-{night}' AS file_hash, k AS source_line,
            current_timestamp::TIMESTAMP AS loaded_at)
        FROM _bench_pick"""
    ).fetchall()
    return n // 2, n - n // 2


def _nights(source: Path, scratch: Path, share: float) -> None:
    import duckdb

    from orchestration.linking.crosswalk import build_crosswalk_in

    scratch.unlink(missing_ok=True)
    tmp = scratch.parent / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(scratch), config={
        "memory_limit": os.environ.get("RTM_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
        "temp_directory": str(tmp)})  # fmt: skip
    started = time.perf_counter()
    _freeze_staging(con, source)
    print(f"staging inputs frozen: {time.perf_counter() - started:.1f} s")
    for night in (1, 2, 3, 4):
        if night in (2, 4):
            new, renamed = _change_records(con, share, night)
            print(f"changed: {new} new customer codes, {renamed} renamed customers")
        started = time.perf_counter()
        s = build_crosswalk_in(con, "staging", [])
        print(f"night {night}: crosswalk {time.perf_counter() - started:.1f} s, engine "
              f"{s.engine_mode} ({s.engine_reason}) {s.engine_seconds:.1f} s, records "
              f"{s.records:,} (changed {s.records_changed:,}), accounts changed "
              f"{s.accounts_changed:,}, pairs predicted {s.pairs_predicted:,}, linked "
              f"{s.linked:,}, kept from last night {s.carried_over:,}, crosswalk "
              f"{'incremental' if s.incremental else 'full'} ({s.decided:,} records decided, "
              f"{s.flag_only:,} links flagged carried over, {s.activity_only:,} records whose "
              f"line count, amount or last sale date alone changed)",
              flush=True)  # fmt: skip
    con.close()
    scratch.unlink(missing_ok=True)


def _prepare(warehouse: Path, accounts: int) -> None:
    """Landing files, raw tables and staging views for a bench size, when missing."""
    if (warehouse / "rtm.duckdb").exists():
        return
    from orchestration import stages
    from orchestration.cli import sample_online_api
    from orchestration.config import DBT_PROJECT_DIR, Settings
    from orchestration.defs.transform.manifest import dbt_executable
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
    if len(sys.argv) > 1 and sys.argv[1] == "--nights":
        share = float(sys.argv[4]) if len(sys.argv) > 4 else 0.01
        _nights(Path(sys.argv[2]), Path(sys.argv[3]), share)
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
    share = os.environ.get("BENCH_NIGHT_CHANGES", "0.01")
    print(f"== incremental nights (night 2: {float(share):.1%} of the records new or changed) ==")
    for accounts in sizes:
        warehouse = root / f"bench_{accounts}"
        seconds, peak, status, output = _measure(
            ["--nights", str(warehouse / "rtm.duckdb"),
             str(warehouse / "tmp" / "bench_nights.duckdb"), share]
        )  # fmt: skip
        print(f"-- {accounts:,} accounts --\n{output.strip()}")
        print(f"wall {seconds:.1f} s (process, 3 nights), peak {peak:.2f} GB, exit {status}")
        if status:
            raise SystemExit(status)


if __name__ == "__main__":
    main()
