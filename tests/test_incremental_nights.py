"""Incremental nights publish exactly what a full refresh over the same files publishes.

A small generated company receives its files over two nights, in delivery order (file
modification time = delivery date, as the generator writes them): night 1 every file
delivered before distributor D02's restatement of September, plus the reference snapshots
(CRM, products, sales force, external); night 2 the rest: the restatement
(sellout_2026-09_resent.csv replaces sellout_2026-09.csv: the incremental sell-out fact
must drop the replaced file's lines), October's files (the reporting month, and every
rolling 12-month window, moves on; new customer codes get linked) and a corrected product
master (a product's pack size changes: lines already converted with it must be converted
again) and a human link override that moves an existing customer code, whose lines are
all in files of night 1, to another account (those lines must be linked again), another
that rejects a register record's link (only its crosswalk row changes), the sample API's new
listing and new version of a listing, and a corrected CRM snapshot in which an account takes another account's phone and siret (those
keys become ambiguous, the account's own phone key disappears: records that did not change
themselves must be decided again). Each night runs the stages the nightly job runs
(ingestion, dbt build with the incremental models, quality checks, publish). Then the same
warehouse is rebuilt with `dbt build --full-refresh` and published again.

Every published table is compared row for row (as multisets, every column) between the
last incremental night and the full refresh, except run metadata:
`_publication` (version, published_at) and `data_quality_results.run_id` /
`checked_at` (the run that wrote them and when); so are int_accounts__market_purchases, the
incremental aggregate of the sell-out fact that monthly sales and the potential read, and
the three incremental account-link models (distributor codes, online listings, register
records), which night 2 updated record by record. Further
nights, run on raw tables edited in place, show that it catches up on fact builds it missed
and rebuilds every pair when the categories in which we sell change.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.config import Settings

ACCOUNTS = 400
# Reference snapshots the company sends whole: present from the first night.
SNAPSHOT_FOLDERS = {"crm", "products", "sales_force", "external"}
# The generator's own re-sent file (identical content: recorded as a duplicate).
RESENT = "distributors/d02_chr_ouest/sellout_2026-09_resent.csv"
# Corrected on night 2 under the same name (its last 25 lines withdrawn): a restatement.
RESTATED = "distributors/d01_boissons_du_rhone/VENTES_202606.csv"
# Untouched on night 2: its lines are marked, and the mark must survive an incremental night.
KEPT = "distributors/d03_mediterranee/export_2025_03.txt"
FACT = "int_sell_out_lines__linked"
MARKET_PURCHASES = "int_accounts__market_purchases"
MONTHLY_SALES = "int_accounts__monthly_sales"
LINK_MODELS = (
    "int_accounts__distributor_links",
    "int_accounts__online_links",
    "int_accounts__external_links",
)
# Intermediate tables copied after the last incremental night, compared with the full refresh.
INTERMEDIATE = (MARKET_PURCHASES, MONTHLY_SALES, *LINK_MODELS)
# Not compared. Run metadata: which run wrote the row, and when (`_publication` is only
# that; `data_quality_results` keeps every run's results: only the publishing run's rows are
# compared). The territory optimizer's solution: CP-SAT stops at a 0.5% optimality gap and
# two solves of the same input may return two solutions of that quality (seen: gap 0.436%
# and 0.498%, other reps proposed), so only territory_proposal's input side is compared.
RUN_METADATA = {
    "_publication": None,
    "data_quality_results": ("run_id", "checked_at"),
    "territory_proposal": (
        "status",
        "solver_message",
        "gap",
        "solve_seconds",
        "solved_at",
        "proposed_rep_id",
        "is_moved",
        "moved_accounts",
        "proposed_distance_km",
        "proposed_travel_km",
        "proposed_rep_workload_after",
        "proposed_rep_travel_km_after",
        "scenario_travel_km",
        "scenario_moved_accounts",
    ),
}


def _delivered(path: Path) -> date:
    return datetime.fromtimestamp(path.stat().st_mtime).date()


def _deliver(held: Path, landing: Path, until: date | None) -> list[str]:
    moved = []
    for path in sorted(p for p in held.rglob("*") if p.is_file()):
        if until is None or _delivered(path) < until:
            target = landing / path.relative_to(held)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved.append(target.relative_to(landing).as_posix())
    return moved


def _correct_product_master(landing: Path) -> None:
    """A corrected product master under a new name: the first product's case holds twice
    as many bottles (a snapshot replaces the previous one)."""
    (old,) = sorted((landing / "products").glob("*.csv"))
    with old.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("bottles_per_case")
    rows[1][column] = str(int(rows[1][column]) * 2)
    _replace_with_correction(old, rows)


def _restate(landing: Path) -> None:
    path = landing / RESTATED
    lines = path.read_bytes().splitlines(keepends=True)
    stat = path.stat()
    path.write_bytes(b"".join(lines[:-25]))
    os.utime(path, (stat.st_atime, stat.st_mtime + 200 * 86_400))


def _mark_kept_lines(settings: Settings) -> None:
    """invoice_ref is carried along and read by no model downstream: a safe mark."""
    with duckdb.connect(str(settings.working_db)) as con:
        con.execute(
            "UPDATE intermediate.int_sell_out_lines__linked SET invoice_ref = '__kept__' "
            "WHERE source_file = ?",
            [KEPT],
        )


def _relink_a_customer(settings: Settings, overrides: Path) -> tuple[str, str, str]:
    """Force, in a link overrides file, a distributor customer code linked on night 1 (none
    of its lines in the kept or restated files) to another active account: (source,
    source_code, new account_id)."""
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        distributor_id, code, account_id = con.execute(
            f"SELECT distributor_id, distributor_account_code, any_value(account_id) "
            f"FROM intermediate.{FACT} GROUP BY ALL "
            "HAVING count(account_id) = count(*) AND count(DISTINCT account_id) = 1 "
            "AND count(*) FILTER (source_file IN (?, ?)) = 0 "
            "ORDER BY count(*) DESC, 1, 2 LIMIT 1",
            [KEPT, RESTATED],
        ).fetchone()
        (other,) = con.execute(
            "SELECT min(account_id) FROM staging.stg_crm__accounts "
            "WHERE is_active AND account_id <> ?",
            [account_id],
        ).fetchone()
    source = f"distributor:{distributor_id}"
    overrides.write_text(
        "source,source_code,account_id,action,reason\n"
        f"{source},{code},{other},force,test: moved to another account\n",
        encoding="utf-8",
    )
    return source, code, other


def _replace_with_correction(old: Path, rows: list[list[str]]) -> None:
    """A corrected snapshot (rows) delivered under a new name a day after `old`, which it
    replaces in the landing folder."""
    new = old.with_name(old.stem + "_corrected.csv")
    with new.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    stat = old.stat()
    old.unlink()
    os.utime(new, (stat.st_atime, stat.st_mtime + 86_400))


def _edit_crm(settings: Settings, landing: Path) -> dict[str, str]:
    """A corrected CRM snapshot under a new name: an active account (edited) takes the phone
    and siret of another active account (shared), one whose phone an online listing and
    whose siret a register record carry, so both keys become ambiguous for records that did
    not change; the edited account's own phone key disappears."""
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        (shared,) = con.execute(
            "SELECT min(a.account_id) FROM staging.stg_crm__accounts AS a "
            "JOIN intermediate.int_accounts__match_keys AS p "
            "ON p.key_type = 'phone' AND p.account_id = a.account_id "
            "JOIN intermediate.int_accounts__match_keys AS s "
            "ON s.key_type = 'siret' AND s.account_id = a.account_id "
            "WHERE a.is_active "
            "AND p.key_value IN (SELECT phone_key FROM intermediate.int_accounts__online_links) "
            "AND s.key_value IN (SELECT siret FROM intermediate.int_accounts__external_links)"
        ).fetchone()
        (edited,) = con.execute(
            "SELECT min(a.account_id) FROM staging.stg_crm__accounts AS a "
            "JOIN intermediate.int_accounts__match_keys AS p "
            "ON p.key_type = 'phone' AND p.account_id = a.account_id "
            "WHERE a.is_active AND a.account_id <> ? "
            "AND p.key_value IN (SELECT customer_phone_normalized "
            "FROM intermediate.int_accounts__distributor_links)",
            [shared],
        ).fetchone()
    assert shared and edited
    (old,) = sorted((landing / "crm").glob("*.csv"))
    with old.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    by_id = {row[header.index("account_id")]: row for row in rows[1:]}
    for column in ("phone", "siret"):
        by_id[edited][header.index(column)] = by_id[shared][header.index(column)]
    _replace_with_correction(old, rows)
    return {"shared": shared, "edited": edited}


def _publish_listings(warehouse: Path) -> None:
    """The sample online API gets a new version of a listing (its name and phone changed: its
    keys change) and a new listing, both updated after everything pulled so far: night 2
    pulls them."""
    data = warehouse / "online_api" / "listings.jsonl"
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    # the end of the day of the newest record (ISO timestamps sort as text)
    later = max(r["updated_at"] for r in records)[:10] + "T23:59:59Z"
    changed = next(r for r in records if r["contact"]["phone"] and r["address"]["postcode"])
    changed = json.loads(json.dumps(changed))
    changed["name"] = f"{changed['name']} (nouvelle adresse)"
    changed["contact"]["phone"] = records[-1]["contact"]["phone"] or "+33 1 00 00 00 01"
    new = json.loads(json.dumps(records[0]))
    new["id"] = "ON9999999"
    for record in (changed, new):
        record["updated_at"] = later
    with data.open("a", encoding="utf-8") as f:
        for record in (changed, new):
            f.write(json.dumps(record) + "\n")


def _reject_a_register_link(
    settings: Settings, overrides: Path, crm_edit: dict[str, str]
) -> tuple[str, str]:
    """Append to the overrides file the rejection of a register record's link (a record the
    CRM edit does not concern, which night 2 does not load again): only its crosswalk row
    changes. (external_id, the account it was linked to)."""
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        external_id, account_id = con.execute(
            "SELECT external_id, account_id FROM intermediate.int_accounts__external_links "
            "WHERE account_id NOT IN (?, ?) AND NOT has_ambiguous_candidates "
            "AND siret NOT IN (SELECT siret FROM staging.stg_crm__accounts "
            "WHERE account_id IN (?, ?) AND siret IS NOT NULL) "
            "ORDER BY external_id LIMIT 1",
            [crm_edit["shared"], crm_edit["edited"]] * 2,
        ).fetchone()
    with overrides.open("a", encoding="utf-8") as f:
        f.write(f"external,{external_id},,reject,test: not this establishment\n")
    return external_id, account_id


def _night(settings: Settings, run_id: str, full_refresh: bool = False) -> None:
    from orchestration import stages
    from orchestration.cli import sample_online_api

    with sample_online_api(settings):
        summaries = stages.ingest_all(settings)
    assert all(s.reconciled for s in summaries.values())
    stages.dbt_build(settings, full_refresh=full_refresh)
    stages.validate_marts(settings, run_id)
    stages.publish_marts(settings, run_id)


def _published(path: Path, into: Path) -> Path:
    copy = into / path.name
    shutil.copy(path, copy)
    return copy


def _columns(
    con: duckdb.DuckDBPyConnection, db: str, schema: str, name: str
) -> list[tuple[str, bool]]:
    """The compared columns (every column but run metadata), each with whether it holds
    floating-point values."""
    excluded = RUN_METADATA.get(name) or ()
    return [
        (column, data_type in ("DOUBLE", "FLOAT"))
        for column, data_type in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [db, schema, name],
        ).fetchall()
        if column not in excluded
    ]


def _select(con: duckdb.DuckDBPyConnection, db: str, schema: str, name: str) -> str:
    """The compared columns; floating-point values rounded to 6 decimals (a sum over rows
    stored in another order differs in its last bits: 30606.439999999988 vs
    30606.439999999995, and DuckDB's parallel aggregation does not fix the order either)."""
    columns = [
        f'round("{column}", 6) AS "{column}"' if is_float else f'"{column}"'
        for column, is_float in _columns(con, db, schema, name)
    ]
    where = ""
    if name == "data_quality_results":
        where = (
            f' WHERE run_id = (SELECT run_id FROM {db}."{schema}"."{name}" '
            "ORDER BY checked_at DESC LIMIT 1)"
        )
    return f'SELECT {", ".join(columns)} FROM {db}."{schema}"."{name}"{where}'


def _extra_rows(
    con: duckdb.DuckDBPyConnection, a: tuple[str, str, str], b: tuple[str, str, str]
) -> int:
    """Rows of table a (database, schema, name) that table b lacks, as multisets.

    Rounding does not absorb every last-bit difference: two values on either side of a
    rounding boundary (1.22656249999 and 1.2265625) round 1e-6 apart. A row left over by
    the exact comparison is therefore matched once more against b's leftovers, its
    floating-point columns within 1.5e-6 of each other and the others equal."""
    select_a, select_b = _select(con, *a), _select(con, *b)
    columns = _columns(con, *a)
    if not any(is_float for _, is_float in columns):
        return con.execute(f"SELECT count(*) FROM ({select_a} EXCEPT ALL {select_b})").fetchone()[0]
    close = " AND ".join(
        f'(left_over."{column}" IS NOT DISTINCT FROM other."{column}" '
        f'OR abs(left_over."{column}" - other."{column}") <= 1.5e-6)'
        if is_float
        else f'left_over."{column}" IS NOT DISTINCT FROM other."{column}"'
        for column, is_float in columns
    )
    return con.execute(
        f"WITH only_a AS ({select_a} EXCEPT ALL {select_b}), "
        f"only_b AS ({select_b} EXCEPT ALL {select_a}) "
        "SELECT count(*) FROM only_a AS left_over "
        f"WHERE NOT EXISTS (SELECT 1 FROM only_b AS other WHERE {close})"
    ).fetchone()[0]


def _compare(incremental: Path, full: Path) -> dict[str, str]:
    """Differences per published table (empty: identical)."""
    problems = {}
    con = duckdb.connect()
    con.execute(f"ATTACH '{incremental}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{full}' AS fr (READ_ONLY)")
    tables = {}
    for db in ("inc", "fr"):
        tables[db] = set(
            con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?",
                [db],
            ).fetchall()
        )
    assert tables["inc"] == tables["fr"]
    assert len(tables["inc"]) > 20, tables
    for schema, name in sorted(tables["inc"]):
        if name in RUN_METADATA and RUN_METADATA[name] is None:
            continue
        for a, b in (("inc", "fr"), ("fr", "inc")):
            extra = _extra_rows(con, (a, schema, name), (b, schema, name))
            if extra:
                problems[f"{name} ({a})"] = f"{extra} rows only in {a}"
    return problems


@pytest.fixture(scope="module")
def nights(tmp_path_factory, online_api_url):
    from orchestration.sample.generator import generate_company

    warehouse = tmp_path_factory.mktemp("incremental")
    generate_company(warehouse, accounts=ACCOUNTS, seed=11)
    landing, held = warehouse / "landing", warehouse / "held"
    landing.rename(held)
    landing.mkdir()
    for folder in SNAPSHOT_FOLDERS:
        shutil.move(held / folder, landing / folder)
    previous = {
        name: os.environ.get(name)
        for name in ("RTM_WAREHOUSE", "RTM_LINK_OVERRIDES", "RTM_ONLINE_API_URL", "DBT_TARGET_PATH")
    }
    os.environ["RTM_WAREHOUSE"] = str(warehouse)
    # the nights' compiled SQL, apart from the project's target/
    os.environ["DBT_TARGET_PATH"] = str(warehouse / "dbt_target")
    os.environ["RTM_ONLINE_API_URL"] = online_api_url
    # none on night 1; night 2 and the full refresh read the same overrides
    os.environ["RTM_LINK_OVERRIDES"] = str(warehouse / "link_overrides.csv")
    try:
        settings = Settings.from_env()
        delivered = []
        for number, until in enumerate((_delivered(held / RESENT), None), start=1):
            delivered.append(_deliver(held, landing, until))
            if until is None:
                _correct_product_master(landing)
                _restate(landing)
                _mark_kept_lines(settings)
                relinked = _relink_a_customer(settings, warehouse / "link_overrides.csv")
                crm_edit = _edit_crm(settings, landing)
                rejected = _reject_a_register_link(
                    settings, warehouse / "link_overrides.csv", crm_edit
                )
                _publish_listings(warehouse)
            _night(settings, f"night-{number}")
        incremental = _published(settings.published_db, tmp_path_factory.mktemp("inc"))
        link_sql = {
            model: _compiled(warehouse / "dbt_target", model).read_text() for model in LINK_MODELS
        }
        market_purchases = tmp_path_factory.mktemp("intermediate") / "intermediate.duckdb"
        with duckdb.connect(str(settings.working_db)) as con:
            sell_out_lines, kept = con.execute(
                "SELECT count(*), count(*) FILTER (invoice_ref = '__kept__') "
                "FROM intermediate.int_sell_out_lines__linked"
            ).fetchone()
            (touched,) = con.execute(
                f"SELECT count(*) FROM intermediate.{FACT}__touched"
            ).fetchone()
            relinked_lines = con.execute(
                f"SELECT count(*), count(*) FILTER (account_id = ?) "
                f"FROM intermediate.{FACT} "
                "WHERE 'distributor:' || distributor_id = ? AND distributor_account_code = ?",
                [relinked[2], relinked[0], relinked[1]],
            ).fetchone()
            con.execute(f"ATTACH '{market_purchases}' AS inc")
            con.execute("CREATE SCHEMA inc.intermediate")
            for name in INTERMEDIATE:
                con.execute(
                    f"CREATE TABLE inc.intermediate.{name} AS SELECT * FROM intermediate.{name}"
                )
        _night(settings, "full-refresh", full_refresh=True)
        yield {
            "settings": settings,
            "delivered": delivered,
            "incremental": incremental,
            "full": settings.published_db,
            "sell_out_lines": sell_out_lines,
            "kept": kept,
            "touched": touched,
            "relinked_lines": relinked_lines,
            "market_purchases": market_purchases,
            "link_sql": link_sql,
            "crm_edit": crm_edit,
            "rejected": rejected,
        }
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_nights_deliver_history_then_october_and_a_restatement(nights):
    first, second = nights["delivered"]
    assert RESTATED in first and KEPT in first
    assert RESENT in second
    assert any(f.endswith(("2026-10.csv", "202610.csv", "20261031.csv")) for f in second)
    with duckdb.connect(str(nights["settings"].working_db), read_only=True) as con:
        status = con.execute(
            "SELECT list(status ORDER BY loaded_at) FROM raw.file_deliveries WHERE file = ?",
            [RESTATED],
        ).fetchone()[0]
        raw_lines = con.execute("SELECT count(*) FROM raw.distributor_sell_out").fetchone()[0]
    assert status == ["superseded", "loaded"]
    # the incremental fact followed the restatement's delete: one row per loaded line
    assert nights["sell_out_lines"] == raw_lines
    # and night 2 did not rebuild the history: the lines of an untouched file were kept
    assert nights["kept"] > 0
    # the code moved by the override: its lines, night 1's too, are linked to its new account
    lines, on_new_account = nights["relinked_lines"]
    assert lines > 0 and on_new_account == lines


def test_incremental_nights_publish_what_a_full_refresh_publishes(nights):
    assert _compare(nights["incremental"], nights["full"]) == {}


def test_incremental_market_purchases_equal_the_full_refresh(nights):
    """The aggregates updated pair by pair over the nights (market purchases, and monthly
    sales from them) equal the full refresh's, and the nights consumed every pair the fact
    logged."""
    assert nights["touched"] == 0
    con = duckdb.connect()
    con.execute(f"ATTACH '{nights['market_purchases']}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{nights['settings'].working_db}' AS fr (READ_ONLY)")
    for model in (MARKET_PURCHASES, MONTHLY_SALES):
        table = ("intermediate", model)
        assert con.execute(f"SELECT count(*) FROM inc.intermediate.{model}").fetchone()[0]
        assert _extra_rows(con, ("inc", *table), ("fr", *table)) == 0, model
        assert _extra_rows(con, ("fr", *table), ("inc", *table)) == 0, model


def test_incremental_link_models_equal_the_full_refresh(nights):
    """The three link tables, updated record by record on night 2 (new codes and listings,
    a relinked code, a rejected register link, a CRM edit that makes keys of unchanged
    records ambiguous), equal the full refresh's, every column."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{nights['market_purchases']}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{nights['settings'].working_db}' AS fr (READ_ONLY)")
    shared = nights["crm_edit"]["shared"]
    (ambiguous,) = con.execute(
        "SELECT count(*) FROM fr.intermediate.int_accounts__online_links AS o "
        "JOIN fr.intermediate.int_accounts__match_keys AS k "
        "ON k.key_type = 'phone' AND k.key_value = o.phone_key "
        "WHERE k.is_ambiguous AND o.has_ambiguous_candidates"
    ).fetchone()
    assert ambiguous > 0, shared
    differences = {}
    for model in LINK_MODELS:
        table = ("intermediate", model)
        assert con.execute(f"SELECT count(*) FROM inc.intermediate.{model}").fetchone()[0]
        extra = (
            _extra_rows(con, ("inc", *table), ("fr", *table)),
            _extra_rows(con, ("fr", *table), ("inc", *table)),
        )
        if extra != (0, 0):
            differences[model] = extra
    # rows only in the incremental table, rows only in the full refresh's, per model
    assert differences == {}
    external_id, _ = nights["rejected"]
    assert con.execute(
        "SELECT account_id IS NULL AND match_rule = 'override_reject' "
        "FROM inc.intermediate.int_accounts__external_links WHERE external_id = ?",
        [external_id],
    ).fetchone() == (True,)
    for model, sql in nights["link_sql"].items():
        # night 2 took the incremental path: stored records decided again, not a rebuild
        assert "redecided as (" in sql, model
        assert "changed_match_keys as (" in sql, model
    # the refreshed records: the pulled listings, the codes of the files that came and left
    assert "'ON9999999'" in nights["link_sql"]["int_accounts__online_links"]
    distributor_sql = nights["link_sql"]["int_accounts__distributor_links"]
    assert "where file_hash in (" in distributor_sql and "where build_id in (" in distributor_sql


def _unique_test_failures(
    run_dbt,
    settings: Settings,
    target: Path,
    test_name: str = "unique_in_rewritten_lines",
    model: str = FACT,
) -> int:
    """Run a uniqueness test (by default the fact's line-key test) of `model`; its failing
    row count."""
    run_dbt(settings, target, "test", "--select", f"test_name:{test_name}")
    # the on-run-start hook has a result too
    (result,) = [
        r
        for r in json.loads((target / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith(f"test.account_rtm.{test_name}_{model}_")
    ]
    return result["failures"]


def test_line_key_test_checks_the_lines_the_night_wrote_against_the_whole_table(
    nights, tmp_path, run_dbt
):
    """The fact's uniqueness test groups only the keys the last build wrote: a twin of one
    of them fails it wherever the twin is; after a build that wrote every line (the full
    refresh that ends the fixture) every key is checked."""
    settings = nights["settings"]
    fact = "intermediate.int_sell_out_lines__linked"
    changes = f"{fact}__changes"
    with duckdb.connect(str(settings.working_db)) as con:
        assert con.execute(f"SELECT kind FROM {changes}").fetchall() == [("config",)]
        saved = con.execute(f"SELECT * FROM {changes}").fetchall()
        kept_hash = con.execute(
            f"SELECT any_value(file_hash) FROM {fact} WHERE source_file = ?", [KEPT]
        ).fetchone()[0]
        # a twin of a line of the KEPT file, written as if by a night that loaded that file
        con.execute(
            f"INSERT INTO {fact} SELECT * FROM {fact} WHERE source_file = ? LIMIT 1", [KEPT]
        )
    twin_deleted = False
    try:
        assert _unique_test_failures(run_dbt, settings, tmp_path / "all") == 1
        with duckdb.connect(str(settings.working_db)) as con:
            con.execute(
                f"CREATE OR REPLACE TABLE {changes} AS SELECT 'file' AS kind, "
                "? AS key1, '' AS key2",
                [kept_hash],
            )
        assert _unique_test_failures(run_dbt, settings, tmp_path / "night") == 1
        # a night that wrote another file's lines does not look at the KEPT file's keys
        with duckdb.connect(str(settings.working_db)) as con:
            con.execute(f"UPDATE {changes} SET key1 = 'another file'")
        assert _unique_test_failures(run_dbt, settings, tmp_path / "other") == 0
        # three changes that select the same lines (the KEPT file, one of its customer codes,
        # one of its products): the test reads them kind by kind, each line once
        with duckdb.connect(str(settings.working_db)) as con:
            distributor, code, product = con.execute(
                f"SELECT distributor_id, distributor_account_code, product_code FROM {fact} "
                "WHERE source_file = ? AND distributor_account_code IS NOT NULL "
                "AND product_code IS NOT NULL LIMIT 1",
                [KEPT],
            ).fetchone()
            con.execute(
                f"CREATE OR REPLACE TABLE {changes} AS SELECT * FROM (VALUES "
                "('file', ?, ''), ('link', ?, ?), ('product', ?, '')) AS t (kind, key1, key2)",
                [kept_hash, distributor, code, product],
            )
        assert _unique_test_failures(run_dbt, settings, tmp_path / "overlapping") == 1
        _delete_twin(settings, fact)
        twin_deleted = True
        assert _unique_test_failures(run_dbt, settings, tmp_path / "no_twin") == 0
    finally:
        with duckdb.connect(str(settings.working_db)) as con:
            con.execute(
                f"CREATE OR REPLACE TABLE {changes} (kind VARCHAR, key1 VARCHAR, key2 VARCHAR)"
            )
            con.executemany(f"INSERT INTO {changes} VALUES (?, ?, ?)", saved)
        if not twin_deleted:
            _delete_twin(settings, fact)


def _delete_twin(settings: Settings, fact: str) -> None:
    """Delete the twin of a KEPT line that the line-key test's test wrote (the last row)."""
    with duckdb.connect(str(settings.working_db)) as con:
        con.execute(
            f"DELETE FROM {fact} WHERE rowid = (SELECT max(rowid) FROM {fact} "
            "WHERE source_file = ?)",
            [KEPT],
        )


def _dbt_run_models(run_dbt, settings: Settings, target: Path, models: tuple[str, ...]) -> str:
    completed = run_dbt(settings, target, "run", "--select", *models)
    assert completed.returncode == 0, completed.stdout[-3000:]
    return completed.stdout


def test_tables_built_on_input_change_are_kept_until_an_input_changes(nights, tmp_path, run_dbt):
    """int_accounts__match_keys (CRM) and int_sell_in_lines__converted (ERP sell-in and
    products) are rebuilt only when what they read changed: a night that loads no CRM file
    keeps the CRM's matching keys (same table object), one that loads a CRM file rebuilds
    them and keeps the sell-in. (That the night that brought a corrected product master
    rebuilt the sell-in is shown by the equality test above.)"""
    settings = nights["settings"]
    models = ("int_accounts__match_keys", "int_sell_in_lines__converted")

    def table_ids() -> dict[str, int]:
        with duckdb.connect(str(settings.working_db), read_only=True) as con:
            return dict(
                con.execute(
                    "SELECT table_name, table_oid FROM duckdb_tables() "
                    "WHERE schema_name = 'intermediate' AND table_name IN (?, ?)",
                    list(models),
                ).fetchall()
            )

    built = table_ids()
    output = _dbt_run_models(run_dbt, settings, tmp_path / "unchanged", models)
    assert output.count("inputs unchanged since its last build, kept") == 2
    assert table_ids() == built
    # a CRM snapshot loaded again (the ledger records a new load)
    with duckdb.connect(str(settings.working_db)) as con:
        con.execute(
            "UPDATE raw.file_deliveries SET loaded_at = loaded_at + INTERVAL 1 DAY "
            "WHERE source = 'crm_accounts' AND status = 'loaded'"
        )
    output = _dbt_run_models(run_dbt, settings, tmp_path / "crm", models)
    assert output.count("inputs unchanged since its last build, kept") == 1, output
    assert 'int_sell_in_lines__converted": inputs unchanged' in output
    assert table_ids()["int_sell_in_lines__converted"] == built["int_sell_in_lines__converted"]


def _restate_in_raw(con: duckdb.DuckDBPyConnection, file_hash: str) -> None:
    """A sell-out file restated as the ingestion would record it: its content under a new
    hash, half of its lines withdrawn."""
    new_hash = f"{file_hash}-restated"
    con.execute(
        "DELETE FROM raw.distributor_sell_out WHERE _file_hash = ? AND rowid % 2 = 0", [file_hash]
    )
    con.execute(
        "UPDATE raw.distributor_sell_out SET _file_hash = ? WHERE _file_hash = ?",
        [new_hash, file_hash],
    )
    con.execute(
        "UPDATE raw.file_deliveries SET file_hash = ? WHERE file_hash = ?", [new_hash, file_hash]
    )


def _copy_model(con: duckdb.DuckDBPyConnection, name: str, model: str = MARKET_PURCHASES) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE intermediate.{name} AS SELECT * FROM intermediate.{model}"
    )


def _differences(con: duckdb.DuckDBPyConnection, a: str, b: str) -> int:
    """Rows of intermediate tables a and b that the other lacks (both ways)."""
    (db,) = con.execute("SELECT current_database()").fetchone()
    return _extra_rows(con, (db, "intermediate", a), (db, "intermediate", b)) + _extra_rows(
        con, (db, "intermediate", b), (db, "intermediate", a)
    )


def _differences_from_full_build(
    run_dbt, settings: Settings, target: Path, model: str = MARKET_PURCHASES
) -> int:
    """Rows in which an incremental aggregate (int_accounts__market_purchases by default)
    differs from a full build of it over the same parents."""
    with duckdb.connect(str(settings.working_db)) as con:
        _copy_model(con, "aggregate_as_built", model)
    completed = run_dbt(settings, target, "run", "--full-refresh", "--select", model)
    assert completed.returncode == 0, completed.stdout[-3000:]
    with duckdb.connect(str(settings.working_db)) as con:
        differences = _differences(con, "aggregate_as_built", model)
        con.execute("DROP TABLE intermediate.aggregate_as_built")
    return differences


def _compiled(target: Path, model: str) -> Path:
    (path,) = (target / "compiled").rglob(f"{model}.sql")
    return path


def _compiled_market_purchases(target: Path) -> str:
    return _compiled(target, MARKET_PURCHASES).read_text()


def _pairs_logged_by_market_purchases(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"SELECT count(*) FROM intermediate.{MARKET_PURCHASES}__touched").fetchone()[
        0
    ]


def _rebuilt_pairs(con: duckdb.DuckDBPyConnection, model: str) -> set[tuple | None]:
    """The pairs the model's last build recorded as rebuilt; None for a rebuilt_all row."""
    return {
        None if rebuilt_all else (account, month)
        for account, month, rebuilt_all in con.execute(
            f"SELECT account_id, sales_month, rebuilt_all FROM intermediate.{model}__rebuilt"
        ).fetchall()
    }


def test_market_purchases_catch_up_on_a_fact_build_they_missed(nights, tmp_path, run_dbt):
    """A night builds the fact alone (the aggregate failed or was not selected); the next
    night builds both: the aggregate applies the pairs of both fact builds, pair by pair,
    and ends equal to a full build of it. So does int_accounts__monthly_sales, from the
    pairs int_accounts__market_purchases logged (its direct sell-in inputs unchanged)."""
    settings = nights["settings"]
    touched = f"intermediate.{FACT}__touched"
    # an earlier test delivered a CRM file (a direct input of monthly sales, which then
    # rebuilds every pair): taken in first, so that below it applies logged pairs only
    _dbt_run_models(run_dbt, settings, tmp_path / "settle", (MONTHLY_SALES,))
    with duckdb.connect(str(settings.working_db)) as con:
        first, second = (
            row[0]
            for row in con.execute(
                "SELECT DISTINCT file_hash FROM raw.file_deliveries "
                "WHERE source = 'distributor_sell_out' AND status = 'loaded' "
                "ORDER BY file_hash LIMIT 2"
            ).fetchall()
        )
        _copy_model(con, "market_purchases_before")
        _restate_in_raw(con, first)
    _dbt_run_models(run_dbt, settings, tmp_path / "fact", (FACT,))
    missed = json.loads((tmp_path / "fact" / "run_results.json").read_text())["metadata"][
        "invocation_id"
    ]
    with duckdb.connect(str(settings.working_db)) as con:
        assert con.execute(f"SELECT count(*) FROM {touched}").fetchone()[0] > 0
        _restate_in_raw(con, second)
    _dbt_run_models(run_dbt, settings, tmp_path / "night", (FACT, MARKET_PURCHASES, MONTHLY_SALES))
    compiled = _compiled_market_purchases(tmp_path / "night")
    assert "fact_build_id in" in compiled and missed in compiled
    assert "market_build_id in" in _compiled(tmp_path / "night", MONTHLY_SALES).read_text()
    with duckdb.connect(str(settings.working_db)) as con:
        assert con.execute(f"SELECT count(*) FROM {touched}").fetchone()[0] == 0
        assert _pairs_logged_by_market_purchases(con) == 0
        # both recorded the pairs they rebuilt, for their uniqueness tests: the same pairs
        rebuilt = [_rebuilt_pairs(con, model) for model in (MARKET_PURCHASES, MONTHLY_SALES)]
        assert rebuilt[0] and None not in rebuilt[0] and rebuilt[0] == rebuilt[1]
        assert _differences(con, "market_purchases_before", MARKET_PURCHASES) > 0
        con.execute("DROP TABLE intermediate.market_purchases_before")
    assert _differences_from_full_build(run_dbt, settings, tmp_path / "full-mp") == 0
    assert _differences_from_full_build(run_dbt, settings, tmp_path / "full-ms", MONTHLY_SALES) == 0


@pytest.mark.parametrize("model", [MARKET_PURCHASES, MONTHLY_SALES])
def test_pair_uniqueness_test_checks_the_pairs_the_last_build_rebuilt(
    nights, tmp_path, run_dbt, model
):
    """The uniqueness test of a model incremental by pair groups the pairs its last build
    rebuilt with every row the table holds for them: a twin of a row of one of those pairs
    fails it, a twin of another pair is not looked at; after a build that rebuilt every
    pair, every pair is grouped."""
    settings = nights["settings"]
    table, rebuilt = f"intermediate.{model}", f"intermediate.{model}__rebuilt"

    def record(rows: list[tuple]) -> None:
        with duckdb.connect(str(settings.working_db)) as con:
            con.execute(f"DELETE FROM {rebuilt}")
            con.executemany(f"INSERT INTO {rebuilt} VALUES (?, ?, ?)", rows)

    def failures(name: str) -> int:
        return _unique_test_failures(
            run_dbt, settings, tmp_path / name, "unique_in_rebuilt_pairs", model
        )

    with duckdb.connect(str(settings.working_db)) as con:
        saved = con.execute(f"SELECT * FROM {rebuilt}").fetchall()
        (account, month), (other_account, other_month) = con.execute(
            f"SELECT account_id, sales_month FROM {table} ORDER BY ALL LIMIT 2"
        ).fetchall()
        con.execute(
            f"INSERT INTO {table} SELECT * FROM {table} WHERE account_id = ? AND sales_month = ?",
            [account, month],
        )
    try:
        record([(None, None, True)])
        assert failures("every_pair") == 1
        record([(account, month, False)])
        assert failures("twin_rebuilt") == 1
        record([(other_account, other_month, False)])
        assert failures("other_pair") == 0
    finally:
        with duckdb.connect(str(settings.working_db)) as con:
            con.execute(
                f"DELETE FROM {table} WHERE rowid = (SELECT max(rowid) FROM {table} "
                "WHERE account_id = ? AND sales_month = ?)",
                [account, month],
            )
        record(saved)
    assert failures("no_twin") == 0


def test_changed_direct_sell_in_rebuilds_every_monthly_pair(nights, tmp_path, run_dbt):
    """A sell-in delivery (no sell-out changed, so no pair logged) changes a direct invoice:
    int_accounts__monthly_sales sees its direct inputs changed, rebuilds every pair and
    equals a full build of it."""
    settings = nights["settings"]
    with duckdb.connect(str(settings.working_db)) as con:
        _copy_model(con, "monthly_sales_before", MONTHLY_SALES)
        (changed,) = con.execute(
            "UPDATE raw.erp_sell_in SET net_amount = net_amount + 1000 "
            "WHERE invoice_id = (SELECT min(invoice_id) FROM raw.erp_sell_in "
            "WHERE customer_type = 'direct_account')"
        ).fetchone()
        assert changed > 0
        con.execute(
            "UPDATE raw.file_deliveries SET loaded_at = loaded_at + INTERVAL 1 DAY "
            "WHERE source = 'erp_sell_in' AND status = 'loaded'"
        )
    models = ("int_sell_in_lines__converted", MARKET_PURCHASES, MONTHLY_SALES)
    _dbt_run_models(run_dbt, settings, tmp_path / "night", models)
    assert "market_build_id in" not in _compiled(tmp_path / "night", MONTHLY_SALES).read_text()
    with duckdb.connect(str(settings.working_db)) as con:
        assert _differences(con, "monthly_sales_before", MONTHLY_SALES) > 0
        con.execute("DROP TABLE intermediate.monthly_sales_before")
    assert _differences_from_full_build(run_dbt, settings, tmp_path / "full", MONTHLY_SALES) == 0


def test_a_new_own_category_rebuilds_every_pair(nights, tmp_path, run_dbt, monkeypatch):
    """Our brand (RTM_BRAND: the first product's brand) gets a product in another brand's
    category: category_amount_eur changes for that category's lines of the other brand,
    which the fact does not rewrite; the aggregate is rebuilt and equals a full build."""
    settings = nights["settings"]
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        brand, sku = con.execute(
            "SELECT brand, sku FROM raw.products ORDER BY sku LIMIT 1"
        ).fetchone()
        (category,) = con.execute(
            f"SELECT category FROM intermediate.{FACT} WHERE account_id IS NOT NULL "
            "AND category NOT IN (SELECT category FROM raw.products WHERE brand = ?) "
            "GROUP BY category ORDER BY count(*) DESC, category LIMIT 1",
            [brand],
        ).fetchone()
    monkeypatch.setenv("RTM_BRAND", brand)
    _dbt_run_models(run_dbt, settings, tmp_path / "brand", (FACT, MARKET_PURCHASES))
    with duckdb.connect(str(settings.working_db)) as con:
        _copy_model(con, "market_purchases_before")
        con.execute("UPDATE raw.products SET category = ? WHERE sku = ?", [category, sku])
    _dbt_run_models(run_dbt, settings, tmp_path / "night", (FACT, MARKET_PURCHASES))
    with duckdb.connect(str(settings.working_db)) as con:
        changed = con.execute(
            "SELECT count(*) FROM intermediate.market_purchases_before AS b "
            f"JOIN intermediate.{MARKET_PURCHASES} AS a USING (account_id, sales_month) "
            "WHERE a.category_amount_eur <> b.category_amount_eur "
            "AND a.own_line_count = b.own_line_count"
        ).fetchone()[0]
        con.execute("DROP TABLE intermediate.market_purchases_before")
    # pairs whose own lines are the same, whose category amount changed
    assert changed > 0
    assert _differences_from_full_build(run_dbt, settings, tmp_path / "full") == 0
    assert "fact_build_id in" not in _compiled_market_purchases(tmp_path / "night")


def test_a_data_test_is_not_run_again_on_the_inputs_of_its_last_run(nights, tmp_path, run_dbt):
    """A data test reading only fingerprinted inputs (here the calls staging view over the raw
    call log) is not run again while its inputs are those of its last run: its last result
    stands, a pass as a pass and a failure as a failure with its failing-row count. A
    delivery of the call log runs it again. A test of a table rebuilt every night always
    runs."""
    settings = nights["settings"]
    calls_unique = "unique_stg_crm__calls_call_id"

    def stands(failures: int) -> str:
        return f"{calls_unique}: inputs unchanged since its last run, its result ({failures} failing rows) stands"

    def dbt_test(name: str) -> tuple[str, dict[str, dict]]:
        target = tmp_path / name
        completed = run_dbt(
            settings, target, "test", "--select", "stg_crm__calls", "account_scorecard"
        )
        results = json.loads((target / "run_results.json").read_text())["results"]
        return completed.stdout, {r["unique_id"].split(".")[2]: r for r in results}

    output, results = dbt_test("unchanged")
    assert stands(0) in output, output[-3000:]
    assert results[calls_unique]["status"] == "pass"
    assert "unique_account_scorecard_account_id" in results
    assert "unique_account_scorecard_account_id: inputs unchanged" not in output

    with duckdb.connect(str(settings.working_db)) as con:
        # the call log delivered again, with one call twice
        con.execute("INSERT INTO raw.call_log SELECT * FROM raw.call_log LIMIT 1")
        con.execute(
            "UPDATE raw.file_deliveries SET loaded_at = loaded_at + INTERVAL 1 DAY "
            "WHERE source = 'call_log' AND status = 'loaded'"
        )
    try:
        output, results = dbt_test("duplicate")
        assert f"{calls_unique}: inputs unchanged" not in output
        assert (results[calls_unique]["status"], results[calls_unique]["failures"]) == ("fail", 1)
        output, results = dbt_test("duplicate_again")
        assert stands(1) in output
        assert (results[calls_unique]["status"], results[calls_unique]["failures"]) == ("fail", 1)
    finally:
        with duckdb.connect(str(settings.working_db)) as con:
            con.execute(
                "DELETE FROM raw.call_log WHERE rowid = (SELECT max(rowid) FROM raw.call_log)"
            )
            con.execute(
                "UPDATE raw.file_deliveries SET loaded_at = loaded_at - INTERVAL 1 DAY "
                "WHERE source = 'call_log' AND status = 'loaded'"
            )
    # the inputs of two runs ago: it runs again (only the last run is kept), and passes
    output, results = dbt_test("fixed")
    assert f"{calls_unique}: inputs unchanged" not in output
    assert results[calls_unique]["status"] == "pass"
    output, results = dbt_test("fixed_again")
    assert stands(0) in output
