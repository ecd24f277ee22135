"""The nightly matcher with a memory: predict only the pairs that involve a changed record.

Training Splink and predicting every pair is almost all of a night's linking (minutes at
1M accounts), while a day of files usually brings a handful of new customer codes. So the
engine's state is saved in the working database after each night, and the next night
predicts only what changed:

  engine_state              one row: the state fingerprint (the MatchSettings, the engine's
                            and normalization's source, Splink's and DuckDB's versions), the
                            trained model (Splink settings JSON), when it was trained, the
                            last night's mode and counts
  engine_pairs              the predicted pairs (left_id, right_id, match_weight,
                            match_probability, evidence): m_pairs of the last night
  engine_left_records       record_id and fingerprint (hash of the normalized columns the
  engine_right_records      comparisons and blocking read) of every record predicted
  engine_term_frequencies   the name frequencies the model weighs exact names with
  engine_left_normalized    every record's normalized form and its raw columns (a struct):
  engine_right_normalized   only records whose raw columns changed are normalized again

Next night, when the state fingerprint is unchanged:
  - no record new or changed (some may be removed): no Splink call ('cached'), the saved
    pairs minus those of removed records;
  - else ('incremental'): the saved model is loaded (no training) and Splink predicts,
    with the same blocking rules, (new or changed right records x every left record) and
    (unchanged right records x new or changed left records); saved pairs whose two records
    are unchanged and still present are kept, the others dropped.
Every pair is a function of its two records, the model and the frequency lookup, all
three unchanged for a kept pair: the pair set is the one a full prediction with the saved
model would give. The frequencies are frozen with the model for that reason (recomputed,
one new "le petit zinc" would shift the weight of every pair with that name); a name
absent from the lookup gets no frequency adjustment.

A full rebuild (retrain on everything, predict everything, save a new state) when there is
no saved state, the state fingerprint differs (settings, code or library changed), more
than MatchSettings.max_changed_share of either side is new, changed or removed, or it is
asked for (retrain=True, RTM_LINKING_RETRAIN=1).

The ranking into match_result (deterministic keys, best candidate, runner-up) is saved too
(engine_match_result, with engine_left_ties: the left records' tie_break): a night that is
not full ranks again only the right records whose row can change (see _dirty_results) and
keeps the others' rows; a full night ranks every record as `engine.match` does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import duckdb

from orchestration.linking import engine
from orchestration.linking.engine import (
    MatchSettings,
    _deterministic,
    _empty_pairs,
    _match_result,
    _open_tables,
    _predict_into,
    _probabilistic,
    _saved_linker,
    drop_temp,
    key_rows,
    run,
    standard_columns,
)
from orchestration.linking.normalize import install_macros, normalized_sql

log = logging.getLogger(__name__)

# The code a saved state depends on: a change in any of these files is a full rebuild.
STATE_CODE = ["engine.py", "normalize.py", "incremental.py"]
# Settings that do not change a pair: when to rebuild is not what is rebuilt.
STATE_NEUTRAL_SETTINGS = {"max_changed_share"}
STATE_TABLES = ["engine_state", "engine_pairs", "engine_left_records", "engine_right_records",
                "engine_term_frequencies", "engine_left_normalized",
                "engine_right_normalized", "engine_left_ties", "engine_match_result"]  # fmt: skip
# the standard columns a record's normalized form depends on (tie_break is not normalized)
RAW_COLUMNS = ["name", "address", "postcode", "city", "phone", "siret", "website", "latitude",
               "longitude"]  # fmt: skip


@dataclass
class EngineRun:
    """What a night's matching did (for the logs and the asset's metadata)."""

    mode: str = "full"  # full (trained and predicted everything) / incremental / cached
    reason: str = ""  # why a full rebuild, or what the incremental night predicted
    left_records: int = 0
    right_records: int = 0
    left_changed: int = 0  # new or changed since the saved state
    right_changed: int = 0
    left_removed: int = 0
    right_removed: int = 0
    left_normalized: int = 0  # records normalized tonight (the others: from the cache)
    right_normalized: int = 0
    pairs_predicted: int = 0  # by Splink tonight
    pairs_kept: int = 0  # from the saved state
    results_recomputed: int = 0  # match_result rows ranked again tonight (the others: kept)
    seconds: float = 0.0
    # engine_state.night_id of the state this night started from (None: none usable) and
    # of the state it saved: the crosswalk keeps its own state in step with the engine's
    previous_night_id: str | None = None
    night_id: str | None = None


def _code_digest() -> str:
    """The engine's code as loaded (read at import: a file edited while a process runs is
    not the code it runs)."""
    digest = hashlib.sha256()
    folder = Path(engine.__file__).parent
    for name in STATE_CODE:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    digest.update(f"splink {version('splink')} duckdb {duckdb.__version__}".encode())
    return digest.hexdigest()


CODE_DIGEST = _code_digest()


def state_fingerprint(settings: MatchSettings) -> str:
    """Everything a saved model and its pairs depend on besides the records."""
    fields = {k: v for k, v in asdict(settings).items() if k not in STATE_NEUTRAL_SETTINGS}
    return hashlib.sha256((CODE_DIGEST + json.dumps(fields, sort_keys=True)).encode()).hexdigest()


def _prepare_cached(con, left: str, right: str, settings: MatchSettings, schema: str,
                    reuse: bool, result: EngineRun) -> None:  # fmt: skip
    """engine._prepare (m_left, m_right: the normalized records), normalizing only the
    records whose raw columns changed since the saved state when `reuse`: the regular
    expressions of normalization are the largest cost of a night left once Splink only
    sees the changes (19 of 30 s at 200k accounts). m_{side}_norm: tonight's normalized
    records with their raw columns (`raw`, one struct), for _save_normalized.
    m_{side}_fresh: the records normalized tonight.

    With `reuse`, nothing of the cache is copied: one join of tonight's raw columns with
    the saved ones (`raw`, field by field, no hash) keeps only the rows that do not match
    (a few hundred a night), which give m_{side}_fresh (tonight's side: new or raw columns
    changed) and m_{side}_stale (the saved side too: changed or removed; a saved row can be
    served only if its id is in neither). m_{side}_norm is then a view: the saved rows not
    stale, and m_{side}_fresh_norm (tonight's normalized rows). Copying every cached row
    into a temporary table was the largest statement of an incremental night (5 s of
    35 at 1M under load). The view reads the same rows before and after _save_incremental
    (which deletes only stale ids and inserts only fresh_norm's rows)."""
    install_macros(con, settings.legal_id_pattern)
    for side, table in (("left", left), ("right", right)):
        # a view when reusing: its rows are read for the few fresh ones and in two joins
        # on ids, never normalized whole (a copy of every record was 0.25 s at 200k)
        drop_temp(con, f"_m_{side}_std")
        run(con, f"CREATE TEMP {'VIEW' if reuse else 'TABLE'} _m_{side}_std AS "
                 f"{standard_columns(con, table)}")  # fmt: skip
        raw = "struct_pack({}) AS raw".format(", ".join(f"{c} := s.{c}" for c in RAW_COLUMNS))
        drop_temp(con, f"m_{side}_norm")
        if reuse:
            # The cache and engine_{side}_records are saved together for the same ids, so
            # a record served from the cache has its saved fingerprint (_fingerprints).
            # Should their row counts differ (a state edited by hand, or by a test that
            # forgets the fingerprints), the ids in one of them only are not served.
            saved = f"{schema}.engine_{side}_normalized"
            fps = f"{schema}.engine_{side}_records"
            run(con, f"CREATE OR REPLACE TEMP TABLE _m_{side}_unpaired (record_id VARCHAR)")
            counts = f"SELECT (SELECT count(*) FROM {saved}) <> (SELECT count(*) FROM {fps})"
            if run(con, counts)[0][0]:
                run(con,
                    f"INSERT INTO _m_{side}_unpaired SELECT coalesce(a.record_id, b.record_id) "
                    f"FROM (SELECT DISTINCT record_id FROM {saved}) a FULL JOIN "
                    f"(SELECT DISTINCT record_id FROM {fps}) b ON a.record_id = b.record_id "
                    "WHERE a.record_id IS NULL OR b.record_id IS NULL")  # fmt: skip
            same = " AND ".join(f"c.raw.{c} IS NOT DISTINCT FROM s.{c}" for c in RAW_COLUMNS)
            # rows of either side without an equal row on the other (ids only; the flags
            # say which side, NULL ids included)
            run(con,
                f"CREATE OR REPLACE TEMP TABLE _m_{side}_unmatched AS "
                "SELECT s.record_id AS new_id, s._here AS is_new, c.record_id AS old_id, "
                f"c._here AS is_old FROM (SELECT *, true AS _here FROM _m_{side}_std) s "
                f"FULL JOIN (SELECT record_id, raw, true AS _here FROM {saved} k WHERE NOT EXISTS "
                f"(SELECT 1 FROM _m_{side}_unpaired u WHERE u.record_id = k.record_id)) c "
                f"ON s.record_id = c.record_id AND {same} "
                "WHERE s._here IS NULL OR c._here IS NULL")  # fmt: skip
            # the records normalized tonight: new, or raw columns changed
            run(con,
                f"CREATE OR REPLACE TEMP TABLE m_{side}_fresh AS SELECT DISTINCT new_id AS "
                f"record_id FROM _m_{side}_unmatched WHERE is_new")  # fmt: skip
            run(con,
                f"CREATE OR REPLACE TEMP TABLE m_{side}_stale AS SELECT old_id AS record_id "
                f"FROM _m_{side}_unmatched WHERE is_old UNION SELECT record_id FROM m_{side}_fresh "
                f"UNION SELECT record_id FROM _m_{side}_unpaired")  # fmt: skip
        else:
            run(con,
                f"CREATE OR REPLACE TEMP TABLE m_{side}_fresh AS SELECT DISTINCT record_id "
                f"FROM _m_{side}_std")  # fmt: skip
        fresh = f"_m_{side}_std"
        if reuse:
            # their rows copied once (normalization reads its input several times)
            fresh = f"_m_{side}_fresh_std"
            run(con,
                f"CREATE OR REPLACE TEMP TABLE {fresh} AS SELECT * FROM _m_{side}_std "
                f"WHERE record_id IN (SELECT record_id FROM m_{side}_fresh)")  # fmt: skip
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_fresh_norm AS SELECT {raw}, n.* "
            f"FROM ({normalized_sql(fresh)}) n JOIN {fresh} s USING (record_id)")  # fmt: skip
        if reuse:
            run(con,
                f"CREATE TEMP VIEW m_{side}_norm AS SELECT * FROM {schema}.engine_{side}_normalized c "
                f"WHERE NOT EXISTS (SELECT 1 FROM m_{side}_stale x WHERE x.record_id = c.record_id) "
                f"UNION ALL BY NAME SELECT * FROM m_{side}_fresh_norm")  # fmt: skip
        else:
            run(con, f"CREATE TEMP VIEW m_{side}_norm AS SELECT * FROM m_{side}_fresh_norm")
        setattr(result, f"{side}_normalized",
                run(con, f"SELECT count(*) FROM m_{side}_fresh")[0][0])  # fmt: skip
    run(con,
        "CREATE OR REPLACE TEMP TABLE m_left AS SELECT n.* EXCLUDE (raw), s.tie_break "
        "FROM m_left_norm n JOIN _m_left_std s USING (record_id)")  # fmt: skip
    drop_temp(con, "m_right")
    run(con, "CREATE TEMP VIEW m_right AS SELECT * EXCLUDE (raw) FROM m_right_norm")


def _save_normalized(con, schema: str, side: str, reuse: bool) -> None:
    """engine_{side}_normalized from m_{side}_norm; with `reuse` that view reads the table
    being replaced (a full rebuild after a cached preparation): copied first."""
    source = f"m_{side}_fresh_norm"
    if reuse:
        run(con, f"CREATE OR REPLACE TEMP TABLE _m_{side}_norm_all AS SELECT * FROM m_{side}_norm")
        source = f"_m_{side}_norm_all"
    run(con,
        f"CREATE OR REPLACE TABLE {schema}.engine_{side}_normalized AS SELECT * FROM {source}")  # fmt: skip


def _fingerprints(con, schema: str | None = None) -> None:
    """m_left_fp, m_right_fp: record_id and a hash of every normalized column Splink reads
    (the inputs minus the ids), so that any change a comparison could see is seen.
    With the saved state's schema, only m_{side}_fresh_fp: the records normalized tonight
    (m_{side}_fresh) hashed. A record served from the normalized cache (same raw columns,
    so the same normalized ones) has its saved fingerprint: the cache and
    engine_*_records are saved together, for the same records, so it is unchanged without
    being hashed or looked up (_changes)."""
    for side, table in (("left", "m_left_all"), ("right", "m_right_open")):
        cols = [r[0] for r in run(con, f"DESCRIBE {table}")
                if r[0] not in {"record_id", "unique_id"}]  # fmt: skip
        packed = ", ".join(f'"{c}" := "{c}"' for c in cols)
        hashed = (
            f"SELECT record_id, md5(to_json(struct_pack({packed}))) AS fingerprint FROM {table}"
        )
        if schema is None:
            run(con, f"CREATE OR REPLACE TEMP TABLE m_{side}_fp AS {hashed}")
        else:
            run(con,
                f"CREATE OR REPLACE TEMP TABLE m_{side}_fresh_fp AS {hashed} "
                f"WHERE record_id IN (SELECT record_id FROM m_{side}_fresh)")  # fmt: skip


def _saved_state(con, schema: str) -> tuple[str, dict, str] | None:
    """(state fingerprint, model, night id) of the saved state, None when there is none
    complete."""
    if not set(STATE_TABLES) <= engine.tables_in_schema(con, schema):
        return None
    if "night_id" not in {r[0] for r in run(con, f"DESCRIBE {schema}.engine_state")}:
        return None
    row = run(con, f"SELECT state_fingerprint, model_json, night_id FROM {schema}.engine_state")
    return (row[0][0], json.loads(row[0][1]), row[0][2]) if row else None


def _changes(con, schema: str, result: EngineRun) -> None:
    """m_{side}_changed (ids new or changed since the saved state: fingerprint new or
    different), m_{side}_gone (saved ids not unchanged tonight: changed or removed),
    m_{side}_delta (the records new or changed, Splink input columns), and the counts.
    Only the records normalized tonight can be changed (the others are served from the
    cache with their saved fingerprint), and only the saved ids without a matching row
    tonight (m_{side}_stale) can be gone: no statement here reads every record."""
    for side, table in (("left", "m_left_all"), ("right", "m_right_open")):
        # (left joins: the small side is the one hashed)
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_changed AS SELECT f.record_id "
            f"FROM m_{side}_fresh_fp f LEFT JOIN {schema}.engine_{side}_records s "
            "ON s.record_id = f.record_id AND s.fingerprint = f.fingerprint "
            "WHERE s.record_id IS NULL")  # fmt: skip
        # saved ids with no row tonight at all, and those whose row changed
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_removed AS SELECT x.record_id FROM "
            f"m_{side}_stale x LEFT JOIN _m_{side}_std t ON t.record_id = x.record_id "
            "WHERE t.record_id IS NULL")  # fmt: skip
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_gone AS SELECT s.record_id FROM "
            f"{schema}.engine_{side}_records s WHERE s.record_id IN (SELECT record_id FROM "
            f"m_{side}_removed UNION ALL SELECT record_id FROM m_{side}_changed)")  # fmt: skip
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_delta AS SELECT * FROM {table} "
            f"WHERE record_id IN (SELECT record_id FROM m_{side}_changed)")  # fmt: skip
        changed = run(con, f"SELECT count(*) FROM m_{side}_delta")[0][0]
        # (the saved records among them: an unpaired cache row is none)
        removed = run(con,
                      f"SELECT count(*) FROM m_{side}_gone WHERE record_id NOT IN "
                      f"(SELECT record_id FROM m_{side}_changed)")[0][0]  # fmt: skip
        setattr(result, f"{side}_changed", changed)
        setattr(result, f"{side}_removed", removed)


def _save_full(con, schema: str, fingerprint: str, model: dict, result: EngineRun,
               reuse: bool) -> None:  # fmt: skip
    run(con, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    run(con, "BEGIN TRANSACTION")
    try:
        run(con, f"CREATE OR REPLACE TABLE {schema}.engine_pairs AS SELECT * FROM m_pairs")
        for side in ("left", "right"):
            run(con,
                f"CREATE OR REPLACE TABLE {schema}.engine_{side}_records AS "
                f"SELECT * FROM m_{side}_fp")  # fmt: skip
        run(con,
            f"CREATE OR REPLACE TABLE {schema}.engine_term_frequencies AS SELECT * FROM m_tf")  # fmt: skip
        _save_normalized(con, schema, "left", reuse)
        _save_normalized(con, schema, "right", reuse)
        run(con,
            f"CREATE OR REPLACE TABLE {schema}.engine_left_ties AS "
            "SELECT record_id, tie_break FROM _m_left_std")  # fmt: skip
        run(
            con,
            f"CREATE OR REPLACE TABLE {schema}.engine_match_result AS SELECT * FROM match_result",
        )
        run(con,
            f"CREATE OR REPLACE TABLE {schema}.engine_state AS SELECT ?::VARCHAR AS "
            "state_fingerprint, ?::VARCHAR AS model_json, current_timestamp::TIMESTAMP AS "
            "trained_at, current_timestamp::TIMESTAMP AS updated_at, ?::VARCHAR AS last_mode, "
            "?::JSON AS last_run, ?::VARCHAR AS night_id",
            [fingerprint, json.dumps(model), result.mode, json.dumps(asdict(result)),
             result.night_id])  # fmt: skip
        run(con, "COMMIT")
    except Exception:
        run(con, "ROLLBACK")
        raise


def _save_incremental(con, schema: str, result: EngineRun) -> None:
    """Bring the saved state to tonight: pairs of stale records out, tonight's in, the
    match_result rows ranked again replace theirs; the model, its frequencies and its
    training date stay."""
    run(con, "BEGIN TRANSACTION")
    try:
        # every saved pair is between saved records: those not unchanged are m_*_gone
        run(con,
            f"DELETE FROM {schema}.engine_pairs WHERE left_id IN "
            "(SELECT record_id FROM m_left_gone) OR right_id IN "
            "(SELECT record_id FROM m_right_gone)")  # fmt: skip
        run(con, f"INSERT INTO {schema}.engine_pairs SELECT * FROM m_pairs_new")
        run(con,
            f"DELETE FROM {schema}.engine_match_result WHERE record_id IN "
            "(SELECT record_id FROM m_dirty) OR record_id IN (SELECT record_id FROM m_right_gone)")  # fmt: skip
        run(con, f"INSERT INTO {schema}.engine_match_result SELECT * FROM m_result_dirty")
        # the rows of the records whose tie changed, and of those changed or removed
        # (m_left_gone): a changed account is still there, and its row must be too, or
        # next night would see its tie as new and rank its right records again for nothing
        run(con,
            "CREATE OR REPLACE TEMP TABLE m_left_ties_out AS SELECT record_id FROM "
            "m_left_ties_changed UNION SELECT record_id FROM m_left_gone")  # fmt: skip
        run(con,
            f"DELETE FROM {schema}.engine_left_ties WHERE record_id IN "
            "(SELECT record_id FROM m_left_ties_out)")  # fmt: skip
        run(con,
            f"INSERT INTO {schema}.engine_left_ties SELECT record_id, tie_break FROM _m_left_std "
            "WHERE record_id IN (SELECT record_id FROM m_left_ties_out)")  # fmt: skip
        # the records and their normalized forms: the rows of the records that changed or
        # left replaced (the others are tonight's already)
        for side in ("left", "right"):
            run(con,
                f"DELETE FROM {schema}.engine_{side}_records WHERE record_id IN "
                f"(SELECT record_id FROM m_{side}_gone)")  # fmt: skip
            run(con,
                f"INSERT INTO {schema}.engine_{side}_records SELECT record_id, fingerprint "
                f"FROM m_{side}_fresh_fp WHERE record_id IN (SELECT record_id FROM m_{side}_changed)")  # fmt: skip
            # raw changes that normalize to the same record change no pair, but the cache
            # keys on the raw columns. m_{side}_stale: the fresh ones, those gone (raw
            # changed or removed) and any unpaired with a fingerprint (_prepare_cached);
            # the only rows m_{side}_norm does not read from here
            run(con,
                f"DELETE FROM {schema}.engine_{side}_normalized WHERE record_id IN "
                f"(SELECT record_id FROM m_{side}_stale)")  # fmt: skip
            run(con,
                f"INSERT INTO {schema}.engine_{side}_normalized BY NAME "
                f"SELECT * FROM m_{side}_fresh_norm")  # fmt: skip
        run(con,
            f"UPDATE {schema}.engine_state SET updated_at = current_timestamp::TIMESTAMP, "
            "last_mode = ?, last_run = ?::JSON, night_id = ?",
            [result.mode, json.dumps(asdict(result)), result.night_id])  # fmt: skip
        run(con, "COMMIT")
    except Exception:
        run(con, "ROLLBACK")
        raise


def _drop_splink_leftovers(con) -> None:
    """Splink's intermediate tables (predictions, frequencies) that nights before the
    engine dropped them left in the working database, one set a night."""
    for (name,) in run(
        con,
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary AND starts_with(table_name, '__splink__')",
    ):
        run(con, f'DROP TABLE IF EXISTS main."{name}"')


def _drop_state(con, schema: str) -> None:
    for table in STATE_TABLES:
        run(con, f"DROP TABLE IF EXISTS {schema}.{table}")


def _predict_changed(con, model: dict, result: EngineRun) -> None:
    """m_pairs_new: the saved model's pairs of (changed right x all left) and (unchanged
    right x changed left); m_pairs: those plus the saved pairs of unchanged records."""
    run(con, "CREATE OR REPLACE TEMP TABLE m_tf AS SELECT * FROM _m_saved_tf")
    _empty_pairs(con, "m_pairs_new")
    if result.right_changed:
        linker = _saved_linker(con, model, "m_left_all", "m_right_delta", "m_tf")
        result.pairs_predicted += _predict_into(con, linker, "m_pairs_new")
    if result.left_changed:
        run(con,
            "CREATE OR REPLACE TEMP TABLE m_right_kept AS SELECT * FROM m_right_open "
            "WHERE record_id NOT IN (SELECT record_id FROM m_right_changed)")  # fmt: skip
        if run(con, "SELECT count(*) FROM m_right_kept")[0][0]:
            linker = _saved_linker(con, model, "m_left_delta", "m_right_kept", "m_tf")
            result.pairs_predicted += _predict_into(con, linker, "m_pairs_new")


def _dirty_results(con, schema: str, settings: MatchSettings, result: EngineRun) -> None:
    """m_dirty: the right records whose match_result row can differ from the saved one,
    and m_result_dirty: their rows, ranked again (every other row is the saved one).

    A record's row reads its normalized record (keys), its pairs, the key entries of its
    key values (m_left_keys: which left records have that value) and the left records of
    its best two pairs (address, postcode, name core, tie_break). So it can change when:
      - the record is new or changed (m_right_delta);
      - one of its pairs leaves or arrives: a saved pair with a left record changed or
        removed, a pair predicted tonight (m_pairs_new: changed left records);
      - a left record of its pairs changed (covered above) or only its tie_break did
        (tie_break is no Splink input: compared with engine_left_ties);
      - a left record that has or had one of its key values is new, changed or removed.
    Must run before _save_incremental (reads the saved pairs and normalized records)."""
    run(con,
        "CREATE OR REPLACE TEMP TABLE m_left_ties_changed AS SELECT t.record_id "
        f"FROM _m_left_std t LEFT JOIN {schema}.engine_left_ties s USING (record_id) "
        "WHERE s.record_id IS NULL OR s.tie_break IS DISTINCT FROM t.tie_break")  # fmt: skip
    run(con,
        "CREATE OR REPLACE TEMP TABLE m_left_dirty AS SELECT record_id FROM m_left_gone "
        "UNION SELECT record_id FROM m_left_delta UNION SELECT record_id FROM m_left_ties_changed")  # fmt: skip
    # key values a dirty left record had (saved normalized form) or has (tonight's)
    run(con,
        "CREATE OR REPLACE TEMP TABLE m_left_dirty_keys AS SELECT DISTINCT key_type, key_value "
        "FROM (" + key_rows(f"(SELECT * FROM {schema}.engine_left_normalized WHERE record_id IN "
                            "(SELECT record_id FROM m_left_dirty))")
        + " UNION ALL "
        + key_rows("(SELECT * FROM m_left WHERE record_id IN (SELECT record_id FROM m_left_dirty))")
        + ")")  # fmt: skip
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE m_dirty AS
        SELECT record_id FROM (
            SELECT record_id FROM m_right_delta
            UNION SELECT right_id FROM {schema}.engine_pairs
                WHERE left_id IN (SELECT record_id FROM m_left_dirty)
            UNION SELECT right_id FROM m_pairs_new
            UNION SELECT k.record_id FROM ({key_rows("m_right")}) k
                SEMI JOIN m_left_dirty_keys d
                ON d.key_type = k.key_type AND d.key_value = k.key_value
        ) WHERE record_id IN (SELECT record_id FROM m_right)""",
    )
    run(con,
        "CREATE OR REPLACE TEMP TABLE m_right_dirty AS SELECT * FROM m_right "
        "WHERE record_id IN (SELECT record_id FROM m_dirty)")  # fmt: skip
    # tonight's pairs of those records: the saved ones between unchanged records, and
    # tonight's predictions (every pair of m_pairs_new has a dirty right record)
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE m_pairs_dirty AS
        SELECT p.* FROM {schema}.engine_pairs p
        WHERE p.right_id IN (SELECT record_id FROM m_dirty)
            AND p.right_id NOT IN (SELECT record_id FROM m_right_gone)
            AND p.left_id NOT IN (SELECT record_id FROM m_left_gone)
        UNION ALL SELECT * FROM m_pairs_new""",
    )
    _deterministic(con, "m_right_dirty", "_dirty")
    _match_result(con, settings, "m_pairs_dirty", "m_right_dirty", "m_key_links_dirty",
                  "m_result_dirty")  # fmt: skip
    result.results_recomputed = run(con, "SELECT count(*) FROM m_result_dirty")[0][0]


def _probabilistic_with_state(
    con,
    settings: MatchSettings,
    schema: str,
    retrain: bool,
    fingerprint: str,
    saved: tuple[str, dict, str] | None,
    result: EngineRun,
) -> EngineRun:
    """m_pairs and match_result for tonight, from the saved state when it can serve;
    saves the new state."""
    started = time.perf_counter()
    _drop_splink_leftovers(con)
    result.left_records, result.right_records = _open_tables(con, view=True)
    if not result.left_records or not result.right_records:
        # nothing to train on: no pairs, and no state a later night could build on
        _deterministic(con)
        _empty_pairs(con)
        _match_result(con, settings)
        _drop_state(con, schema)
        result.reason = "a side is empty"
        result.previous_night_id = None
        return result
    reusable = not retrain and saved is not None and saved[0] == fingerprint
    _fingerprints(con, schema if reusable else None)
    reason = None
    if retrain:
        reason = "retrain asked for"
    elif saved is None:
        reason = "no saved state"
    elif saved[0] != fingerprint:
        reason = "settings or engine code changed since the saved model"
    else:
        _changes(con, schema, result)
        for side in ("left", "right"):
            moved = getattr(result, f"{side}_changed") + getattr(result, f"{side}_removed")
            share = moved / getattr(result, f"{side}_records")
            if share > settings.max_changed_share:
                reason = (f"{share:.0%} of the {side} records new, changed or removed "
                          f"(> {settings.max_changed_share:.0%})")  # fmt: skip
    result.night_id = str(uuid.uuid4())
    if reason is not None:
        result = EngineRun(
            mode="full", reason=reason, left_records=result.left_records,
            right_records=result.right_records, left_changed=result.left_records,
            right_changed=result.right_records, left_normalized=result.left_normalized,
            right_normalized=result.right_normalized, night_id=result.night_id,
        )  # fmt: skip
        _deterministic(con)
        model, result.pairs_predicted = _probabilistic(con, settings)
        _match_result(con, settings)
        result.results_recomputed = result.right_records
        if reusable:
            # only the records normalized tonight were hashed: the full state needs all
            _fingerprints(con)
        _save_full(con, schema, fingerprint, model, result, reusable)
    else:
        result.previous_night_id = saved[2]
        run(con,
            f"CREATE OR REPLACE TEMP TABLE _m_saved_tf AS "
            f"SELECT * FROM {schema}.engine_term_frequencies")  # fmt: skip
        if result.left_changed or result.right_changed:
            result.mode = "incremental"
            _predict_changed(con, saved[1], result)
        else:
            result.mode = "cached"
            _empty_pairs(con, "m_pairs_new")
        _dirty_results(con, schema, settings, result)
        result.reason = (
            f"saved model, {result.right_changed} new or changed right records, "
            f"{result.left_changed} left ones" if result.mode == "incremental"
            else "no record new or changed"
        )  # fmt: skip
        _save_incremental(con, schema, result)
        # tonight's pairs and match_result are the saved ones now
        for name, table in (("m_pairs", "engine_pairs"), ("match_result", "engine_match_result")):
            drop_temp(con, name)
            run(con, f"CREATE TEMP VIEW {name} AS SELECT * FROM {schema}.{table}")
        result.pairs_kept = (
            run(con, f"SELECT count(*) FROM {schema}.engine_pairs")[0][0] - result.pairs_predicted
        )
    result.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "linking engine %s (%s): left %d (changed %d, removed %d, normalized %d), right %d "
        "(changed %d, removed %d, normalized %d), pairs predicted %d, kept %d, results "
        "ranked %d, %.1f s",
        result.mode, result.reason, result.left_records, result.left_changed,
        result.left_removed, result.left_normalized, result.right_records,
        result.right_changed, result.right_removed, result.right_normalized,
        result.pairs_predicted, result.pairs_kept, result.results_recomputed, result.seconds,
    )  # fmt: skip
    return result


def match_incremental(
    con: duckdb.DuckDBPyConnection,
    left: str,
    right: str,
    settings: MatchSettings | None = None,
    state_schema: str = "linking",
    retrain: bool = False,
) -> EngineRun:
    """Link `right` records to `left` records like `engine.match` (result in table or view
    match_result), reusing and then updating the state saved in `state_schema`. On a
    night that is not full, temp tables m_dirty (right records whose match_result row was
    ranked again), m_left_fresh and m_left_gone (left records whose raw columns changed,
    new ones, removed ones) say what moved."""
    settings = settings or MatchSettings()
    retrain = retrain or os.environ.get("RTM_LINKING_RETRAIN") == "1"
    fingerprint = state_fingerprint(settings)
    saved = _saved_state(con, state_schema)
    result = EngineRun()
    # a retraining is asked for as a clean rebuild: nothing of the cache is reused
    reuse = saved is not None and saved[0] == fingerprint and not retrain
    _prepare_cached(con, left, right, settings, state_schema, reuse, result)
    return _probabilistic_with_state(
        con, settings, state_schema, retrain, fingerprint, saved, result
    )
