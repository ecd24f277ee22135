"""The records to link, read from the working database's staging views, at the grain the
crosswalk keeps: one row per distributor customer code (not per sell-out line), one per
online listing, one per external record. Each query returns the standard record columns
plus source and source_code."""

from __future__ import annotations

# One row per distributor customer code: name and address as last reported, over the whole
# sell-out history. The history is aggregated per delivered file first (schema linking keeps
# those per-file rows, keyed by the staging view's file_hash, see distributor_customers_sql):
# a night aggregates only the files it has not seen and rolls up the codes they touch.
#   name, address, postcode, city: the non-null value of the latest sale date (arg_max
#       ignores null values). Ties (two lines of one code on its latest date with different
#       values) are broken deterministically: the file loaded last (loaded_at, then
#       file_hash), within a file the later line (source_line). A plain
#       arg_max(customer_name, sale_date) left them to the order threads combine in.
#   amount: the sum of the lines' amounts rounded to 1e-9 (DECIMAL(38, 9), exact and so
#       independent of the order of addition), as a DOUBLE. A floating-point sum of the
#       lines depends on that order (threads, files) in its last bits.
DISTRIBUTOR_FILE_COLUMNS = [
    "file_hash", "distributor_id", "distributor_account_code", "name", "name_date", "address",
    "address_date", "postcode", "postcode_date", "city", "city_date", "phone", "siret",
    "line_count", "amount", "last_sale_date", "loaded_at",
]  # fmt: skip
# (sale date, line) as one orderable BIGINT: days since 1970 x 2^40 + the line number
_LINE_ORDER = "(sale_date - DATE '1970-01-01')::BIGINT * 1099511627776 + coalesce(source_line, 0)"
DISTRIBUTOR_FILES = f"""
    -- one row per delivered file and customer code: the file's share of the aggregate
    SELECT
        file_hash, distributor_id, distributor_account_code,
        arg_max(customer_name, _k) AS name,
        max(sale_date) FILTER (WHERE customer_name IS NOT NULL) AS name_date,
        arg_max(customer_address, _k) AS address,
        max(sale_date) FILTER (WHERE customer_address IS NOT NULL) AS address_date,
        arg_max(customer_postcode, _k) AS postcode,
        max(sale_date) FILTER (WHERE customer_postcode IS NOT NULL) AS postcode_date,
        arg_max(customer_city, _k) AS city,
        max(sale_date) FILTER (WHERE customer_city IS NOT NULL) AS city_date,
        max(customer_phone) AS phone,
        max(customer_siret) AS siret,
        count(*) AS line_count,
        sum(amount::DECIMAL(38, 9)) AS amount,
        max(sale_date) AS last_sale_date,
        max(loaded_at) AS loaded_at
    FROM (
        SELECT file_hash, distributor_id, distributor_account_code, customer_name,
            customer_address, customer_postcode, customer_city, customer_phone,
            customer_siret, amount, sale_date, loaded_at, {_LINE_ORDER} AS _k
        FROM {{source}}
        {{where}}
    )
    GROUP BY file_hash, distributor_id, distributor_account_code
"""


def _latest(column: str) -> str:
    # (date, the file's rank by loaded_at then file_hash) as one orderable BIGINT; a null
    # loaded_at or file_hash ranks last (as a struct of them would compare)
    return (f"arg_max(f.{column}, (f.{column}_date - DATE '1970-01-01')::BIGINT * 4294967296 "
            f"+ k._rank) AS {column}")  # fmt: skip


DISTRIBUTOR_ROLLUP = f"""
    -- the per-file rows rolled up to one row per customer code
    WITH _files AS (SELECT * FROM {{files}}),
    _ranks AS (
        SELECT file_hash, loaded_at, dense_rank() OVER (
            ORDER BY loaded_at ASC NULLS LAST, file_hash ASC NULLS LAST) AS _rank
        FROM (SELECT DISTINCT file_hash, loaded_at FROM _files)
    )
    SELECT
        'distributor:' || f.distributor_id AS source,
        f.distributor_account_code AS source_code,
        {_latest("name")}, {_latest("address")}, {_latest("postcode")}, {_latest("city")},
        max(f.phone) AS phone,
        max(f.siret) AS siret,
        NULL::VARCHAR AS website,
        NULL::DOUBLE AS latitude,
        NULL::DOUBLE AS longitude,
        sum(f.line_count)::BIGINT AS line_count,
        sum(f.amount)::DOUBLE AS amount,
        max(f.last_sale_date) AS last_sale_date
    FROM _files f
    JOIN _ranks k ON k.file_hash IS NOT DISTINCT FROM f.file_hash
        AND k.loaded_at IS NOT DISTINCT FROM f.loaded_at
    GROUP BY f.distributor_id, f.distributor_account_code
"""
# the columns of the staging view the per-file form needs (else: one pass over the lines)
DISTRIBUTOR_FILE_INPUTS = {"file_hash", "source_line", "loaded_at"}

# every line in one query (what distributor_customers keeps up to date file by file); the
# view must have the file columns
DISTRIBUTOR_CUSTOMERS = DISTRIBUTOR_ROLLUP.format(
    files="(" + DISTRIBUTOR_FILES.format(
        source="{schema}.stg_distributors__sell_out_lines", where="") + ")"
)  # fmt: skip

ONLINE_LISTINGS = """
    SELECT
        'online:' || platform AS source,
        listing_id AS source_code,
        listing_name AS name, address, postcode, city, phone,
        NULL::VARCHAR AS siret, website, latitude, longitude,
        NULL::BIGINT AS line_count, NULL::DOUBLE AS amount, NULL::DATE AS last_sale_date
    FROM {schema}.stg_online__listings
"""

EXTERNAL_RECORDS = """
    SELECT
        'external' AS source,
        external_id AS source_code,
        company_name AS name, address, postcode, city, NULL::VARCHAR AS phone,
        siret, NULL::VARCHAR AS website, NULL::DOUBLE AS latitude, NULL::DOUBLE AS longitude,
        NULL::BIGINT AS line_count, NULL::DOUBLE AS amount, NULL::DATE AS last_sale_date
    FROM {schema}.stg_external__firmographics
"""

CRM_ACCOUNTS = """
    SELECT
        account_id AS record_id,
        account_name AS name, address, postcode, city, phone, siret, website,
        latitude, longitude, is_active, legal_name,
        -- CRM duplicates: the active, then the oldest record is the master
        (CASE WHEN is_active THEN '0' ELSE '1' END)
            || coalesce(strftime(created_date, '%Y%m%d'), '99999999') || account_id AS tie_break
    FROM {schema}.stg_crm__accounts
"""

# source family: (query, the staging view it reads; a family whose view is missing is skipped)
SOURCES = {
    # distributor_customers() gives its query (kept up to date per delivered file)
    "distributor": (DISTRIBUTOR_CUSTOMERS, "stg_distributors__sell_out_lines"),
    "online": (ONLINE_LISTINGS, "stg_online__listings"),
    "external": (EXTERNAL_RECORDS, "stg_external__firmographics"),
}


# The per-file state in schema linking (see distributor_customers): its fingerprint says
# which SQL and which staging view built it; a different one is rebuilt from every file.
DISTRIBUTOR_STATE_TABLES = ["source_distributor_state", "source_distributor_state_files",
                            "source_distributor_files", "source_distributor_customers"]  # fmt: skip
# past this many files to aggregate, a join rather than constants in the filter
MAX_FILTER_CONSTANTS = 1000


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def distributor_customers(con, staging_schema: str, state_schema: str) -> str:
    """Bring schema `state_schema`'s per-file aggregate of the sell-out lines up to date
    and return the query of the distributor customers (DISTRIBUTOR_CUSTOMERS's rows).

    source_distributor_files keeps one row per (file_hash, distributor, customer code)
    and source_distributor_customers their roll-up per code. A night counts the lines per
    file_hash in the staging view (one column of the history); files not seen before, or
    whose line count changed, are aggregated (a filter on their hashes, which the scan's
    zone maps prune), files gone or changed leave, and only the codes of those files are
    rolled up again. The lines under a file hash are taken as immutable (the hash is the
    delivered file's content hash; the staging line id is a hash of it and the line
    number); a file re-delivered with other content has another hash.

    Without the file columns in the view (a frozen copy, an older staging), the per-file
    rows of every line are rolled up in one query (same rules, nothing kept)."""
    from orchestration.linking.engine import run, tables_in_schema

    view = f"{staging_schema}.stg_distributors__sell_out_lines"
    columns = {r[0] for r in run(con, f"DESCRIBE {view}")}
    if not columns >= DISTRIBUTOR_FILE_INPUTS:
        types = {"file_hash": "VARCHAR", "source_line": "BIGINT", "loaded_at": "TIMESTAMP"}
        missing = ", ".join(
            f"NULL::{types[c]} AS {c}" for c in sorted(DISTRIBUTOR_FILE_INPUTS - columns)
        )
        lines = f"(SELECT *, {missing} FROM {view})"
        return DISTRIBUTOR_ROLLUP.format(
            files="(" + DISTRIBUTOR_FILES.format(source=lines, where="") + ")"
        )
    import hashlib

    fingerprint = hashlib.sha256(
        (DISTRIBUTOR_FILES + DISTRIBUTOR_ROLLUP + view).encode()
    ).hexdigest()
    s = state_schema
    run(con, f"CREATE SCHEMA IF NOT EXISTS {s}")
    valid = set(DISTRIBUTOR_STATE_TABLES) <= tables_in_schema(con, s) and run(
        con, f"SELECT count(*) FROM {s}.source_distributor_state WHERE fingerprint = ?",
        [fingerprint],
    )[0][0] == 1  # fmt: skip
    run(con,
        "CREATE OR REPLACE TEMP TABLE _dc_counts AS SELECT file_hash, count(*) AS line_count "
        f"FROM {view} GROUP BY file_hash")  # fmt: skip
    saved = f"{s}.source_distributor_state_files"
    if valid:
        # new or changed files, and files gone or changed (NULL hashes compare as equal)
        run(con,
            "CREATE OR REPLACE TEMP TABLE _dc_new_files AS SELECT file_hash FROM "
            f"(SELECT * FROM _dc_counts EXCEPT SELECT * FROM {saved})")  # fmt: skip
        run(con,
            "CREATE OR REPLACE TEMP TABLE _dc_gone_files AS SELECT file_hash FROM "
            f"(SELECT * FROM {saved} EXCEPT SELECT * FROM _dc_counts)")  # fmt: skip
    else:
        run(con, "CREATE OR REPLACE TEMP TABLE _dc_new_files AS SELECT file_hash FROM _dc_counts")
        run(con, "CREATE OR REPLACE TEMP TABLE _dc_gone_files AS SELECT file_hash FROM _dc_counts "
                 "WHERE false")  # fmt: skip
    new_files = [r[0] for r in run(con, "SELECT file_hash FROM _dc_new_files")]
    hashes = [h for h in new_files if h is not None]
    if not new_files:
        where = "WHERE false"
    elif len(hashes) <= MAX_FILTER_CONSTANTS:
        where = "WHERE " + " OR ".join(
            ([f"file_hash IN ({', '.join(_sql_string(h) for h in hashes)})"] if hashes else [])
            + (["file_hash IS NULL"] if None in new_files else [])
        )
    else:
        where = "WHERE file_hash IN (SELECT file_hash FROM _dc_new_files)" + (
            " OR file_hash IS NULL" if None in new_files else ""
        )
    files_new = DISTRIBUTOR_FILES.format(source=view, where=where)
    if not valid:
        # every file: written straight into the state (no temporary copy)
        run(con, "BEGIN TRANSACTION")
        try:
            run(con, f"CREATE OR REPLACE TABLE {s}.source_distributor_files AS {files_new}")
            run(con, f"CREATE OR REPLACE TABLE {s}.source_distributor_customers AS "
                     + DISTRIBUTOR_ROLLUP.format(files=f"{s}.source_distributor_files"))  # fmt: skip
            run(con, f"CREATE OR REPLACE TABLE {s}.source_distributor_state_files AS "
                     "SELECT * FROM _dc_counts")  # fmt: skip
            run(con, f"CREATE OR REPLACE TABLE {s}.source_distributor_state AS "
                     "SELECT ?::VARCHAR AS fingerprint", [fingerprint])  # fmt: skip
            run(con, "COMMIT")
        except Exception:
            run(con, "ROLLBACK")
            raise
    else:
        run(con, f"CREATE OR REPLACE TEMP TABLE _dc_files_new AS {files_new}")
    if valid and (new_files or run(con, "SELECT count(*) FROM _dc_gone_files")[0][0]):
        same = "f.file_hash IS NOT DISTINCT FROM g.file_hash"
        run(con, "BEGIN TRANSACTION")
        try:
            # the codes whose roll-up changes: those of the files that leave or arrive
            run(con,
                "CREATE OR REPLACE TEMP TABLE _dc_codes AS "
                "SELECT DISTINCT distributor_id, distributor_account_code FROM ("
                f"SELECT f.distributor_id, f.distributor_account_code FROM "
                f"{s}.source_distributor_files f JOIN _dc_gone_files g ON {same} "
                "UNION ALL SELECT distributor_id, distributor_account_code FROM _dc_files_new)")  # fmt: skip
            run(con,
                f"DELETE FROM {s}.source_distributor_files f USING _dc_gone_files g WHERE {same}")  # fmt: skip
            run(con, f"INSERT INTO {s}.source_distributor_files SELECT * FROM _dc_files_new")
            code = ("c.distributor_id IS NOT DISTINCT FROM t.distributor_id AND "
                    "c.distributor_account_code IS NOT DISTINCT FROM t.distributor_account_code")  # fmt: skip
            run(con,
                f"DELETE FROM {s}.source_distributor_customers t USING _dc_codes c "
                f"WHERE t.source IS NOT DISTINCT FROM 'distributor:' || c.distributor_id "
                "AND t.source_code IS NOT DISTINCT FROM c.distributor_account_code")  # fmt: skip
            run(con,
                f"INSERT INTO {s}.source_distributor_customers "
                + DISTRIBUTOR_ROLLUP.format(
                    files=f"(SELECT t.* FROM {s}.source_distributor_files t "
                    f"SEMI JOIN _dc_codes c ON {code})"
                ))  # fmt: skip
            run(con, f"CREATE OR REPLACE TABLE {s}.source_distributor_state_files AS "
                     "SELECT * FROM _dc_counts")  # fmt: skip
            run(con, "COMMIT")
        except Exception:
            run(con, "ROLLBACK")
            raise
    return f"SELECT * FROM {s}.source_distributor_customers"
