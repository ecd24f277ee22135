"""The nightly account crosswalk, built inside the working database.

Reads CRM accounts and the records to link from the staging views, runs the engine, then
decides each record's link in this order:

1. overrides (the human file): `force`/`confirm` link to the given account, `reject`
   refuses the given account (or any account when account_id is empty). Always win.
2. the previous crosswalk: a link made on an earlier night is kept as long as the record's
   evidence (its normalized name, address, postcode, city, phone, siret, website: the
   fingerprint) is unchanged and the account still exists. Stable links: a code does not
   hop between accounts from night to night because the model was retrained.
3. the engine: deterministic key, else a probabilistic link above the link threshold.
   The engine keeps its model and pairs in schema `linking` (engine_* tables, see
   incremental.py) and predicts only the pairs of new or changed records on the next night.

Writes schema `linking`:
  account_crosswalk        one row per record: source, source_code, account_id (null when
                           not linked), match_method (key / probabilistic / manual / none),
                           match_rule, match_probability, evidence, fingerprint, dates
  link_review_queue        uncertain records: best candidate in the grey band, or two
                           candidates too close to call, or keys that disagree
  unmatched_records        records with no account (with the best candidate if any)
  prospects                unmatched distributor customers that look like real outlets
  crm_duplicate_candidates pairs of CRM accounts that are the same outlet
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from orchestration.linking.engine import MatchSettings, run, tables_in_schema
from orchestration.linking.incremental import match_incremental
from orchestration.linking.sources import CRM_ACCOUNTS, SOURCES, distributor_customers

SCHEMA = "linking"
OVERRIDE_COLUMNS = ["source", "source_code", "account_id", "action", "reason", "decided_by",
                    "decided_on"]  # fmt: skip
OVERRIDE_ACTIONS = {"confirm", "force", "reject"}
# Prospects: unmatched customers that bought more than this (lines) with a name and a
# valid postcode; placeholder names ("DIVERS", "CLIENT COMPTANT") are not outlets.
PROSPECT_MIN_LINES = 2
PLACEHOLDER_NAMES = ["divers", "client divers", "client comptant", "comptant", "passage",
                     "client de passage", "inconnu", "test", "annule"]  # fmt: skip


@dataclass
class CrosswalkSummary:
    records: int = 0
    linked: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    review: int = 0
    unmatched: int = 0
    prospects: int = 0
    carried_over: int = 0
    overridden: int = 0
    # the engine's night: full (trained, predicted everything) / incremental / cached
    engine_mode: str = ""
    engine_reason: str = ""
    accounts_changed: int = 0  # CRM accounts new or changed since the engine's saved state
    records_changed: int = 0  # records to link new or changed since then
    pairs_predicted: int = 0
    engine_seconds: float = 0.0  # the engine's Splink part (training, prediction, state)
    # the crosswalk's night: incremental (only the records whose row can change decided
    # again, their rows replaced) or full (every record decided, the tables rewritten)
    incremental: bool = False
    decided: int = 0  # records decided tonight
    # links the engine made last night, carried over tonight without being decided again
    # (only is_carried_over set: deciding them again could change nothing else)
    flag_only: int = 0
    # records whose line count, amount or last sale date alone changed (they bought
    # again): not decided again, those columns updated in their rows
    activity_only: int = 0


def default_overrides_path(company_config_path: Path) -> Path:
    """link_overrides.csv next to the company config (RTM_LINK_OVERRIDES overrides)."""
    env = os.environ.get("RTM_LINK_OVERRIDES")
    return Path(env) if env else Path(company_config_path).parent / "link_overrides.csv"


class OverridesError(ValueError):
    pass


def read_overrides(path: Path | None) -> list[dict]:
    if path is None or not Path(path).exists():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(line for line in fh if not line.lstrip().startswith("#"))
        missing = {"source", "source_code", "account_id", "action"} - set(reader.fieldnames or [])
        if missing:
            raise OverridesError(f"{path}: missing columns {sorted(missing)}")
        for n, row in enumerate(reader, start=2):
            action = (row.get("action") or "").strip().lower()
            if action not in OVERRIDE_ACTIONS:
                raise OverridesError(f"{path} line {n}: action must be one of "
                                     f"{sorted(OVERRIDE_ACTIONS)}, got {action!r}")  # fmt: skip
            account = (row.get("account_id") or "").strip() or None
            if action in {"confirm", "force"} and not account:
                raise OverridesError(f"{path} line {n}: {action} needs an account_id")
            rows.append(
                {c: (row.get(c) or "").strip() or None for c in OVERRIDE_COLUMNS}
                | {"action": action, "account_id": account}
            )
    return rows


def _load_overrides(con, rows: list[dict]) -> None:
    cols = ", ".join(f"{c} VARCHAR" for c in OVERRIDE_COLUMNS)
    run(con, f"CREATE OR REPLACE TEMP TABLE cw_overrides ({cols})")
    if rows:
        con.executemany(
            f"INSERT INTO cw_overrides VALUES ({', '.join('?' for _ in OVERRIDE_COLUMNS)})",
            [[r[c] for c in OVERRIDE_COLUMNS] for r in rows],
        )
    # the last line about a record wins
    run(con,
        "CREATE OR REPLACE TEMP TABLE cw_override AS SELECT * FROM (SELECT *, "
        "row_number() OVER (PARTITION BY source, source_code ORDER BY rn DESC) AS k FROM "
        "(SELECT *, row_number() OVER () AS rn FROM cw_overrides)) WHERE k = 1")  # fmt: skip


# the columns of a record to link that no decision reads: only the review queue, the
# unmatched records and the prospects show them (a customer that buys again changes them
# every night it appears in a file)
ACTIVITY_COLUMNS = ["line_count", "amount", "last_sale_date"]
# a record's evidence (its normalized record n, from m_right): a link stands while it holds
FINGERPRINT_SQL = ("md5(concat_ws('|', n.name_norm, n.address_norm, n.postcode, n.city_norm, "
                   "n.phone, n.siret, n.website))")  # fmt: skip
OUTPUT_TABLES = ["account_crosswalk", "link_review_queue", "unmatched_records", "prospects",
                 "crm_duplicate_candidates"]  # fmt: skip
# the crosswalk's own state, next to the engine's: its inputs as of the last night (the
# records to link and the overrides), and which code, settings and engine night built it
STATE_TABLES = ["crosswalk_state", "crosswalk_records", "crosswalk_overrides"]


def _code_digest() -> str:
    digest = hashlib.sha256()
    folder = Path(__file__).parent
    for name in ("crosswalk.py", "sources.py"):
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    digest.update(f"duckdb {duckdb.__version__}".encode())
    return digest.hexdigest()


CODE_DIGEST = _code_digest()


def crosswalk_fingerprint(settings: MatchSettings) -> str:
    """What last night's crosswalk tables depend on besides their inputs: a night whose
    fingerprint differs from the saved one rewrites them whole."""
    return hashlib.sha256(
        (CODE_DIGEST + json.dumps(asdict(settings), sort_keys=True)).encode()
    ).hexdigest()


def _incremental_possible(con, fingerprint: str, engine_run) -> bool:
    """Last night's tables can be brought to tonight row by row when the engine's night
    was not full (it says which match_result rows moved), the crosswalk was last built
    right after the engine's previous night, with the same code and settings."""
    if engine_run.mode == "full" or engine_run.previous_night_id is None:
        return False
    if not set(OUTPUT_TABLES + STATE_TABLES) <= tables_in_schema(con, SCHEMA):
        return False
    # the records to link have the columns they had (compared row for row)
    if run(con, "DESCRIBE cw_records") != run(con, f"DESCRIBE {SCHEMA}.crosswalk_records"):
        return False
    row = run(con, f"SELECT fingerprint, engine_night_id FROM {SCHEMA}.crosswalk_state")
    return row == [(fingerprint, engine_run.previous_night_id)]


def _dirty_records(con) -> None:
    """cw_dirty (record_id, source, source_code): the records whose rows in the crosswalk
    tables can differ from last night's. A record's row reads its own inputs, its
    match_result row, its override line, its previous row and the CRM (does its previous
    account still exist; its candidate's name and address for the review queue). So:
      - the record is new, removed, or a column of it other than ACTIVITY_COLUMNS changed
        (cw_records against the saved copy);
      - its match_result row was ranked again (the engine's m_dirty: its pairs, keys or
        candidates moved, including through other records: a new account that outranks,
        a key that became ambiguous);
      - its override line was added, removed or edited;
      - its previous account left the CRM;
      - its best candidate's CRM record changed raw columns or left (the review queue
        shows the candidate's name and address);
      - its previous row is a link the engine or an override made last night
        (is_carried_over false: tonight it is carried over), unless it is in cw_flag_only.

    cw_flag_only (source, source_code): links the engine made last night that tonight's
    decision would only flag as carried over (see _flag_only_records): their rows are
    kept, is_carried_over set. Every other link made last night is decided again.

    cw_activity (record_id, source, source_code): records not in cw_dirty whose
    ACTIVITY_COLUMNS alone changed (a customer that bought again): no decision reads them,
    so their rows are kept and those columns updated in place (_write_activity)."""
    overrides = ", ".join(OVERRIDE_COLUMNS)
    # the columns of a record, compared one by one (a join on record_id: EXCEPT ALL over
    # the rows costs several times more; structs of the columns, 10% more), the activity
    # columns apart; a record_id on several rows is always decided again (a join cannot
    # see its rows multiply)
    columns = [c for c, *_ in run(con, "DESCRIBE cw_records") if c != "record_id"]

    def differ(names: list[str]) -> str:
        return " OR ".join(f'a."{c}" IS DISTINCT FROM b."{c}"' for c in names) or "false"

    # a record on one side only counts as changed
    decide = "a.record_id IS NULL OR b.record_id IS NULL OR " + differ(
        [c for c in columns if c not in ACTIVITY_COLUMNS]
    )
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE cw_changed AS
        SELECT coalesce(a.record_id, b.record_id) AS record_id, {decide} AS decide
        FROM cw_records a FULL JOIN {SCHEMA}.crosswalk_records b ON b.record_id = a.record_id
        WHERE {decide} OR {differ([c for c in columns if c in ACTIVITY_COLUMNS])}""",
    )
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE cw_dirty_ids AS
        SELECT record_id FROM cw_changed WHERE decide
        UNION SELECT record_id FROM cw_records GROUP BY record_id HAVING count(*) > 1
        UNION SELECT record_id FROM {SCHEMA}.crosswalk_records GROUP BY record_id
            HAVING count(*) > 1
        UNION SELECT record_id FROM m_dirty
        UNION SELECT source || '|' || source_code FROM (
            (SELECT {overrides} FROM cw_override
                EXCEPT ALL SELECT {overrides} FROM {SCHEMA}.crosswalk_overrides)
            UNION ALL (SELECT {overrides} FROM {SCHEMA}.crosswalk_overrides
                EXCEPT ALL SELECT {overrides} FROM cw_override))
        UNION SELECT p.source || '|' || p.source_code FROM {SCHEMA}.account_crosswalk p
            LEFT JOIN cw_crm c ON c.record_id = p.account_id
            WHERE p.account_id IS NOT NULL AND c.record_id IS NULL
        UNION SELECT record_id FROM match_result WHERE candidate_id IN (
            SELECT record_id FROM m_left_fresh UNION SELECT record_id FROM m_left_gone)""",
    )
    _flag_only_records(con)
    run(
        con,
        f"""INSERT INTO cw_dirty_ids SELECT source || '|' || source_code
        FROM {SCHEMA}.account_crosswalk p
        WHERE p.account_id IS NOT NULL AND NOT p.is_carried_over
            AND NOT EXISTS (SELECT 1 FROM cw_flag_only f
                WHERE f.source = p.source AND f.source_code = p.source_code)""",
    )
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE cw_dirty AS
        SELECT DISTINCT record_id, source, source_code FROM (
            SELECT record_id, source, source_code FROM cw_records
            UNION ALL SELECT record_id, source, source_code FROM {SCHEMA}.crosswalk_records)
        WHERE record_id IN (SELECT record_id FROM cw_dirty_ids)""",
    )
    run(
        con,
        """CREATE OR REPLACE TEMP TABLE cw_activity AS
        SELECT record_id, source, source_code FROM cw_records
        WHERE record_id IN (SELECT record_id FROM cw_changed WHERE NOT decide)
            AND record_id NOT IN (SELECT record_id FROM cw_dirty_ids)""",
    )


def _flag_only_records(con) -> None:
    """cw_flag_only (source, source_code): the links made last night for which deciding
    again would give last night's row with is_carried_over true and nothing else changed,
    in any table. On the first night after a full one that is nearly every link, and
    deciding them again was most of the night's crosswalk (23 s of linking at 1M).

    Why deciding again changes nothing else (read against cw_new): with no override line
    and keep_previous true, the decision is 'previous', so account, method, rule,
    probability, evidence and fingerprint are the previous row's, first_linked_at its
    coalesce, updated_at tonight's (set on every row anyway). The record's rows in the
    review queue (unmatched and prospects: none, it is linked) read those same values, its
    unchanged inputs and match_result row and its candidate's unchanged CRM row: they are
    last night's. Its crosswalk_records row is unchanged by definition. (A record whose
    activity columns alone changed can be flagged too: cw_activity, its review queue and
    crosswalk_records rows get tonight's values in place.)

    Each clause, and why:
      - account_id not null, is_carried_over false: the only rows it is about (a row
        already carried over is not dirty for this reason at all);
      - match_method key or probabilistic: keep_previous keeps only those ('manual'
        links are never carried over; 'none' has no link);
      - first_linked_at not null: coalesce(prev_first_linked_at, tonight) must give it;
      - previous account in cw_crm: keep_previous (such a record is in cw_dirty_ids too);
      - no override line tonight: an override outranks keep_previous and keeps the row
        out of the review queue (an unchanged line means none last night either);
      - record_id not in cw_dirty_ids (dirty for any other reason: inputs, its
        match_result row ranked again, its override line, its candidate), which also
        keeps a record_id on several rows out, and a record present on one night only;
      - tonight's fingerprint equals the saved one: keep_previous. The row was decided
        last night (is_carried_over false), its fingerprint hashed from last night's
        m_right; a record not normalized tonight (not in m_right_fresh) has in m_right
        the engine's cached normalized row, which is last night's (the cache is saved
        with the night that read it, and a crosswalk night is incremental only right
        after that engine night). So no hash is computed: md5 over every link's
        normalized row was most of this statement (1.7 s at 1M, 3x this form at 20k);
      - the record in match_result: cw_new joins it. Implied: a record in cw_records
        tonight and not dirty was there last night too, and match_result has a row for
        every record of m_right, tonight's cw_records normalized.
    Runs after cw_dirty_ids holds every other reason."""
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE cw_flag_only AS
        SELECT p.source, p.source_code
        FROM (SELECT *, source || '|' || source_code AS record_id
            FROM {SCHEMA}.account_crosswalk) p
        WHERE p.account_id IS NOT NULL AND NOT p.is_carried_over
            AND p.match_method IN ('key', 'probabilistic')
            AND p.first_linked_at IS NOT NULL
            AND p.account_id IN (SELECT record_id FROM cw_crm)
            AND p.record_id NOT IN (SELECT record_id FROM m_right_fresh)
            AND NOT EXISTS (SELECT 1 FROM cw_dirty_ids d WHERE d.record_id = p.record_id)
            AND NOT EXISTS (SELECT 1 FROM cw_override o
                WHERE o.source = p.source AND o.source_code = p.source_code)""",
    )


def _write_activity(con) -> None:
    """The activity columns of cw_activity's records in the rows that show them (the
    review queue, the unmatched records: kept rows, tonight's values); their prospects
    rows out, to be made again from the updated unmatched rows (a prospect needs lines
    and an amount). Runs in the write transaction, before the prospects are inserted."""
    match = "t.source = r.source AND t.source_code = r.source_code"
    activity = "(SELECT r.* FROM cw_records r SEMI JOIN cw_activity a USING (record_id))"
    run(con,
        f"UPDATE {SCHEMA}.link_review_queue t SET line_count = r.line_count, "
        f"amount = r.amount FROM {activity} r WHERE {match}")  # fmt: skip
    run(con,
        f"UPDATE {SCHEMA}.unmatched_records t SET line_count = r.line_count, "
        f"amount = r.amount, last_sale_date = r.last_sale_date FROM {activity} r "
        f"WHERE {match}")  # fmt: skip
    run(con, f"DELETE FROM {SCHEMA}.prospects t USING cw_activity r WHERE {match}")


def _output_queries(grey_lo: float, grey_hi: float, only_dirty: str | None) -> dict[str, str]:
    """The SELECT of each output table from cw_new (the records decided tonight);
    only_dirty: the alias under which the prospects query reads unmatched_records is
    restricted to cw_dirty and cw_activity (an incremental night: unmatched_records holds
    every record's row, tonight's rows of those records already in)."""
    prospects_filter = (
        f"AND {only_dirty}.source || '|' || {only_dirty}.source_code IN "
        "(SELECT record_id FROM cw_dirty UNION ALL SELECT record_id FROM cw_activity)"
        if only_dirty else ""
    )  # fmt: skip
    return {
        "account_crosswalk": """
        SELECT source, source_code, account_id, match_method, match_rule, match_probability,
            evidence, is_carried_over, fingerprint, first_linked_at, updated_at
        FROM cw_new ORDER BY source, source_code""",
        "link_review_queue": f"""
        SELECT n.source, n.source_code, r.name, r.address, r.postcode, r.city, r.phone, r.siret,
            n.account_id AS current_account_id, n.match_method,
            n.best_candidate_id AS candidate_account_id,
            n.best_candidate_probability AS candidate_probability,
            c.name AS candidate_name, c.address AS candidate_address,
            c.postcode AS candidate_postcode, c.city AS candidate_city,
            n.runner_up_id AS runner_up_account_id, n.runner_up_probability,
            CASE
                WHEN n.keys_disagree THEN 'keys point to different accounts'
                WHEN n.account_id IS NULL AND n.best_candidate_probability >= {grey_hi}
                    THEN 'two candidates too close to call'
                ELSE 'probability in the grey band'
            END AS reason,
            r.line_count, r.amount
        FROM cw_new n
        JOIN cw_records r ON r.source = n.source AND r.source_code = n.source_code
        LEFT JOIN cw_crm c ON c.record_id = n.best_candidate_id
        -- a record a person already decided on is not queued again
        WHERE n.override_action IS NULL AND (
            n.keys_disagree
            OR (n.account_id IS NULL AND n.best_candidate_probability >= {grey_lo})
            OR (n.match_method = 'probabilistic' AND n.match_probability < {grey_hi}))
        ORDER BY r.amount DESC NULLS LAST, n.source, n.source_code""",
        "unmatched_records": """
        SELECT n.source, n.source_code, r.name, r.address, r.postcode, r.city, r.phone, r.siret,
            r.website, r.line_count, r.amount, r.last_sale_date,
            n.best_candidate_id AS candidate_account_id,
            n.best_candidate_probability AS candidate_probability,
            n.match_rule = 'override_reject' AS is_rejected
        FROM cw_new n
        JOIN cw_records r ON r.source = n.source AND r.source_code = n.source_code
        WHERE n.account_id IS NULL
        ORDER BY n.source, n.source_code""",
        "prospects": f"""
        SELECT u.source, u.source_code, u.name, u.address, u.postcode, u.city, u.phone,
            u.siret, u.line_count, u.amount AS sell_out_amount, u.last_sale_date,
            m.name_norm AS name_normalized
        FROM {SCHEMA}.unmatched_records u
        JOIN m_right m ON m.record_id = u.source || '|' || u.source_code
        WHERE u.source LIKE 'distributor:%'
            AND m.name_norm IS NOT NULL AND length(m.name_norm) >= 3
            AND m.name_norm NOT IN ({", ".join(f"'{p}'" for p in PLACEHOLDER_NAMES)})
            AND m.postcode IS NOT NULL
            AND coalesce(u.line_count, 0) >= {PROSPECT_MIN_LINES}
            AND coalesce(u.amount, 0) > 0
            AND coalesce(u.candidate_probability, 0) < {grey_lo}
            {prospects_filter}
        ORDER BY u.amount DESC NULLS LAST""",
        # every record's match_result row (the dirty ones' ranked tonight): few rows
        "crm_duplicate_candidates": """
        SELECT DISTINCT least(best_candidate_id, runner_up_id) AS account_id,
            greatest(best_candidate_id, runner_up_id) AS duplicate_account_id,
            'both match ' || source || ' ' || source_code AS evidence
        FROM (
            SELECT r.source, r.source_code, m.candidate_id AS best_candidate_id, m.runner_up_id
            FROM match_result m
            JOIN cw_records r ON r.record_id = m.record_id
            JOIN m_right n ON n.record_id = r.record_id
            WHERE m.reference_duplicate)
        QUALIFY row_number() OVER (PARTITION BY least(best_candidate_id, runner_up_id),
            greatest(best_candidate_id, runner_up_id) ORDER BY source, source_code) = 1""",
    }


def _table_exists(con, schema: str, table: str) -> bool:
    """Table or view; schema may name an attached database too ('work.staging')."""
    catalog, _, bare = schema.rpartition(".")
    # without a catalog: the connection's own database (not a schema of an attached one)
    where = "schema_name = ? AND {name} = ? AND database_name = " + (
        "?" if catalog else "current_database()"
    )
    params = [bare, table] + ([catalog] if catalog else [])
    sql = (f"SELECT 1 FROM duckdb_tables() WHERE {where.format(name='table_name')} UNION ALL "
           f"SELECT 1 FROM duckdb_views() WHERE {where.format(name='view_name')}")  # fmt: skip
    return bool(run(con, sql, params + params))


def build_crosswalk_in(
    con: duckdb.DuckDBPyConnection,
    staging_schema: str,
    overrides: list[dict],
    settings: MatchSettings | None = None,
    sources: tuple[str, ...] = ("distributor", "online", "external"),
    run_at: str | None = None,
    retrain: bool = False,
) -> CrosswalkSummary:
    """Build the crosswalk tables in schema `linking` of `con` from `staging_schema`.
    retrain: train the engine's model again rather than reuse the saved one."""
    settings = settings or MatchSettings()
    present = [
        s for s, (_, view) in SOURCES.items()
        if s in sources and _table_exists(con, staging_schema, view)
    ]  # fmt: skip
    run(con, "CREATE OR REPLACE TEMP TABLE cw_crm AS " + CRM_ACCOUNTS.format(schema=staging_schema))
    queries = {s: SOURCES[s][0].format(schema=staging_schema) for s in present}
    if "distributor" in queries:
        queries["distributor"] = distributor_customers(con, staging_schema, SCHEMA)
    union = " UNION ALL ".join(f"({queries[s]})" for s in present)
    run(con,
        "CREATE OR REPLACE TEMP TABLE cw_records AS SELECT source || '|' || source_code "
        f"AS record_id, * FROM ({union})")  # fmt: skip
    _load_overrides(con, overrides)
    unknown = run(con, "SELECT DISTINCT account_id FROM cw_override WHERE account_id IS NOT NULL "
                       "AND account_id NOT IN (SELECT record_id FROM cw_crm) ORDER BY 1")  # fmt: skip
    if unknown:
        raise OverridesError(
            f"overrides name accounts that are not in the CRM: {[u[0] for u in unknown][:10]}"
        )
    run(con, f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    engine_run = match_incremental(con, "cw_crm", "cw_records", settings, SCHEMA, retrain)
    fingerprint = crosswalk_fingerprint(settings)
    incremental = _incremental_possible(con, fingerprint, engine_run)
    if incremental:
        _dirty_records(con)
    # only the records whose row can change are decided again (all of them on a full night)
    only_dirty = (
        "SEMI JOIN cw_dirty d ON d.source = {a}.source AND d.source_code = {a}.source_code"
        if incremental else ""
    )  # fmt: skip
    has_previous = _table_exists(con, SCHEMA, "account_crosswalk")
    previous = (
        f"SELECT p.* FROM {SCHEMA}.account_crosswalk p {only_dirty.format(a='p')}"
        if has_previous
        else "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS source_code, "
        "NULL::VARCHAR AS account_id, NULL::VARCHAR AS match_method, NULL::VARCHAR AS match_rule, "
        "NULL::DOUBLE AS match_probability, NULL::VARCHAR AS evidence, "
        "NULL::VARCHAR AS fingerprint, NULL::TIMESTAMP AS first_linked_at WHERE false"
    )
    # one timestamp for the night (every row written tonight carries it)
    run_at = run_at or str(run(con, "SELECT current_timestamp::TIMESTAMP")[0][0])
    run_at_sql = f"TIMESTAMP '{run_at}'"
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE cw_new AS
        WITH rec AS (
            SELECT r.*, m.record_id AS rid, {FINGERPRINT_SQL} AS fingerprint
            FROM cw_records r
            JOIN m_right n ON n.record_id = r.record_id
            JOIN match_result m ON m.record_id = r.record_id
            {"WHERE r.record_id IN (SELECT record_id FROM cw_dirty)" if incremental else ""}
        ),
        decided AS (
            SELECT
                rec.source, rec.source_code, rec.fingerprint,
                m.left_id AS engine_account_id, m.method AS engine_rule,
                m.match_probability AS engine_probability, m.evidence AS engine_evidence,
                m.candidate_id, m.candidate_probability, m.runner_up_id,
                m.runner_up_probability, m.keys_disagree, m.reference_duplicate,
                o.action AS override_action, o.account_id AS override_account_id,
                o.reason AS override_reason,
                p.account_id AS prev_account_id, p.match_method AS prev_method,
                p.match_rule AS prev_rule, p.match_probability AS prev_probability,
                p.evidence AS prev_evidence, p.first_linked_at AS prev_first_linked_at,
                -- the previous link stands: same evidence, account still in the CRM,
                -- not made by an override that has since been removed
                p.account_id IS NOT NULL AND p.fingerprint = rec.fingerprint
                    AND p.match_method IN ('key', 'probabilistic')
                    AND EXISTS (SELECT 1 FROM cw_crm c WHERE c.record_id = p.account_id)
                    AS keep_previous
            FROM rec
            JOIN match_result m ON m.record_id = rec.record_id
            LEFT JOIN cw_override o ON o.source = rec.source AND o.source_code = rec.source_code
            LEFT JOIN ({previous}) p ON p.source = rec.source AND p.source_code = rec.source_code
        ),
        chosen AS (
            SELECT *,
                CASE
                    WHEN override_action IN ('force', 'confirm') THEN override_account_id
                    WHEN override_action = 'reject' AND override_account_id IS NULL THEN NULL
                    WHEN keep_previous AND prev_account_id IS DISTINCT FROM override_account_id
                        THEN prev_account_id
                    WHEN engine_account_id IS DISTINCT FROM override_account_id
                        THEN engine_account_id
                END AS account_id,
                CASE
                    WHEN override_action IN ('force', 'confirm') THEN 'manual'
                    WHEN override_action = 'reject' AND override_account_id IS NULL THEN 'manual'
                    WHEN keep_previous AND prev_account_id IS DISTINCT FROM override_account_id
                        THEN 'previous'
                    WHEN engine_account_id IS DISTINCT FROM override_account_id
                        AND engine_account_id IS NOT NULL THEN 'engine'
                END AS decided_by
            FROM decided
        )
        SELECT
            source, source_code, account_id,
            CASE
                WHEN decided_by = 'manual' THEN 'manual'
                WHEN decided_by = 'previous' THEN prev_method
                WHEN decided_by = 'engine' AND engine_rule LIKE 'key_%' THEN 'key'
                WHEN decided_by = 'engine' THEN 'probabilistic'
                ELSE 'none'
            END AS match_method,
            CASE
                WHEN decided_by = 'manual' THEN 'override_' || override_action
                WHEN decided_by = 'previous' THEN prev_rule
                WHEN decided_by = 'engine' THEN engine_rule
                WHEN override_action = 'reject' THEN 'override_reject'
            END AS match_rule,
            CASE
                WHEN decided_by = 'manual' AND account_id IS NOT NULL THEN 1.0
                WHEN decided_by = 'previous' THEN prev_probability
                WHEN decided_by = 'engine' THEN engine_probability
            END AS match_probability,
            CASE
                WHEN decided_by = 'manual' THEN coalesce('override: ' || override_reason, 'override')
                WHEN decided_by = 'previous' THEN prev_evidence
                WHEN decided_by = 'engine' THEN nullif(engine_evidence, '')
            END AS evidence,
            decided_by = 'previous' AS is_carried_over,
            fingerprint,
            CASE WHEN account_id IS NOT NULL THEN
                CASE WHEN account_id = prev_account_id
                    THEN coalesce(prev_first_linked_at, {run_at_sql}) ELSE {run_at_sql} END
            END AS first_linked_at,
            {run_at_sql} AS updated_at,
            candidate_id AS best_candidate_id,
            candidate_probability AS best_candidate_probability,
            runner_up_id, runner_up_probability, keys_disagree, reference_duplicate,
            override_action
        FROM chosen
    """,
    )
    grey_lo, grey_hi = settings.review_threshold, settings.link_threshold
    outputs = _output_queries(grey_lo, grey_hi, "u" if incremental else None)
    run(con, "BEGIN TRANSACTION")
    try:
        if incremental:
            # the rows of the records decided again out, theirs in; every other row is
            # tonight's already but for the night's timestamp, for cw_flag_only the
            # carried-over flag, for cw_activity the activity columns (and so whether the
            # record is a prospect: its prospects row is made again)
            for table in ("account_crosswalk", "link_review_queue", "unmatched_records",
                          "prospects"):  # fmt: skip
                run(con,
                    f"DELETE FROM {SCHEMA}.{table} t USING cw_dirty d "
                    "WHERE t.source = d.source AND t.source_code = d.source_code")  # fmt: skip
                if table == "prospects":
                    _write_activity(con)
                if table == "account_crosswalk":
                    run(con, f"UPDATE {SCHEMA}.account_crosswalk SET updated_at = {run_at_sql}")
                    run(con,
                        f"UPDATE {SCHEMA}.account_crosswalk t SET is_carried_over = true "
                        "FROM cw_flag_only f "
                        "WHERE t.source = f.source AND t.source_code = f.source_code")  # fmt: skip
                run(con, f"INSERT INTO {SCHEMA}.{table} BY NAME {outputs[table]}")
            run(con,
                f"CREATE OR REPLACE TABLE {SCHEMA}.crm_duplicate_candidates AS "
                + outputs["crm_duplicate_candidates"])  # fmt: skip
            saved = "(SELECT record_id FROM cw_dirty UNION ALL SELECT record_id FROM cw_activity)"
            run(con, f"DELETE FROM {SCHEMA}.crosswalk_records WHERE record_id IN {saved}")
            run(con,
                f"INSERT INTO {SCHEMA}.crosswalk_records SELECT * FROM cw_records "
                f"WHERE record_id IN {saved}")  # fmt: skip
        else:
            for table, query in outputs.items():
                run(con, f"CREATE OR REPLACE TABLE {SCHEMA}.{table} AS {query}")
            run(con,
                f"CREATE OR REPLACE TABLE {SCHEMA}.crosswalk_records AS SELECT * FROM cw_records")  # fmt: skip
        run(con,
            f"CREATE OR REPLACE TABLE {SCHEMA}.crosswalk_overrides AS "
            f"SELECT {', '.join(OVERRIDE_COLUMNS)} FROM cw_override")  # fmt: skip
        run(con,
            f"CREATE OR REPLACE TABLE {SCHEMA}.crosswalk_state AS SELECT ?::VARCHAR AS "
            "fingerprint, ?::VARCHAR AS engine_night_id, ?::TIMESTAMP AS updated_at, "
            "?::BOOLEAN AS last_incremental",
            [fingerprint, engine_run.night_id, run_at, incremental])  # fmt: skip
        run(con, "COMMIT")
    except Exception:
        run(con, "ROLLBACK")
        raise
    summary = CrosswalkSummary(incremental=incremental)
    summary.decided = run(con, "SELECT count(*) FROM cw_new")[0][0]
    if incremental:
        summary.flag_only = run(con, "SELECT count(*) FROM cw_flag_only")[0][0]
        summary.activity_only = run(con, "SELECT count(*) FROM cw_activity")[0][0]
    cw = f"{SCHEMA}.account_crosswalk"
    summary.records = run(con, f"SELECT count(*) FROM {cw}")[0][0]
    summary.by_method = dict(run(con, f"SELECT match_method, count(*) FROM {cw} GROUP BY 1"))
    summary.linked = run(con, f"SELECT count(account_id) FROM {cw}")[0][0]
    summary.carried_over = run(con, f"SELECT count(*) FROM {cw} WHERE is_carried_over")[0][0]
    # the records an override is about (cw_override: one row per record)
    summary.overridden = run(con,
        "SELECT count(*) FROM cw_override o JOIN cw_records r "
        "ON r.source = o.source AND r.source_code = o.source_code "
        "JOIN m_right n ON n.record_id = r.record_id")[0][0]  # fmt: skip
    summary.review = run(con, f"SELECT count(*) FROM {SCHEMA}.link_review_queue")[0][0]
    summary.unmatched = run(con, f"SELECT count(*) FROM {SCHEMA}.unmatched_records")[0][0]
    summary.prospects = run(con, f"SELECT count(*) FROM {SCHEMA}.prospects")[0][0]
    summary.engine_mode, summary.engine_reason = engine_run.mode, engine_run.reason
    summary.accounts_changed = engine_run.left_changed
    summary.records_changed = engine_run.right_changed
    summary.pairs_predicted = engine_run.pairs_predicted
    summary.engine_seconds = engine_run.seconds
    return summary


def build_crosswalk(
    working_db: Path,
    overrides_path: Path | None,
    settings: MatchSettings | None = None,
    duckdb_config: dict | None = None,
    retrain: bool = False,
) -> CrosswalkSummary:
    """Open the working database (one writer: the connection is closed on return), build
    the crosswalk from its staging views, write schema `linking`."""
    overrides = read_overrides(overrides_path)
    con = duckdb.connect(str(working_db), config=duckdb_config or {})
    try:
        return build_crosswalk_in(con, "staging", overrides, settings, retrain=retrain)
    finally:
        con.close()
