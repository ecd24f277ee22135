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
  engine_left_normalized    every record's normalized form and a hash of its raw columns:
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

Deterministic keys and the ranking into match_result run every night as in `engine.match`,
on every record (set-based SQL, a few seconds at 200k accounts).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
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
                "engine_right_normalized"]  # fmt: skip
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
    seconds: float = 0.0


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
    sees the changes (19 of 30 s at 200k accounts). m_{side}_norm keeps tonight's normalized
    records with their raw hash, for _save_normalized."""
    install_macros(con, settings.legal_id_pattern)
    for side, table in (("left", left), ("right", right)):
        run(con, f"CREATE OR REPLACE TEMP TABLE _m_{side}_std AS {standard_columns(con, table)}")
        packed = ", ".join(f"{c} := {c}" for c in RAW_COLUMNS)
        run(con,
            f"CREATE OR REPLACE TEMP TABLE _m_{side}_raw AS SELECT record_id, "
            f"md5(to_json(struct_pack({packed}))) AS raw_hash FROM _m_{side}_std")  # fmt: skip
        if reuse:
            run(con,
                f"CREATE OR REPLACE TEMP TABLE m_{side}_norm AS SELECT c.* "
                f"FROM {schema}.engine_{side}_normalized c "
                f"JOIN _m_{side}_raw r ON r.record_id = c.record_id AND r.raw_hash = c.raw_hash")  # fmt: skip
            fresh = (f"(SELECT * FROM _m_{side}_std WHERE record_id NOT IN "
                     f"(SELECT record_id FROM m_{side}_norm))")  # fmt: skip
        else:
            run(con, f"CREATE OR REPLACE TEMP TABLE m_{side}_norm AS SELECT NULL::VARCHAR "
                     f"AS raw_hash, * FROM ({normalized_sql(f'_m_{side}_std')}) WHERE false")  # fmt: skip
            fresh = f"_m_{side}_std"
        cached = run(con, f"SELECT count(*) FROM m_{side}_norm")[0][0]
        run(con,
            f"INSERT INTO m_{side}_norm BY NAME SELECT r.raw_hash, n.* "
            f"FROM ({normalized_sql(fresh)}) n JOIN _m_{side}_raw r USING (record_id)")  # fmt: skip
        normalized = run(con, f"SELECT count(*) FROM m_{side}_norm")[0][0] - cached
        setattr(result, f"{side}_normalized", normalized)
    run(con,
        "CREATE OR REPLACE TEMP TABLE m_left AS SELECT n.* EXCLUDE (raw_hash), s.tie_break "
        "FROM m_left_norm n JOIN _m_left_std s USING (record_id)")  # fmt: skip
    run(
        con, "CREATE OR REPLACE TEMP TABLE m_right AS SELECT * EXCLUDE (raw_hash) FROM m_right_norm"
    )


def _save_normalized(con, schema: str, side: str) -> None:
    run(con,
        f"CREATE OR REPLACE TABLE {schema}.engine_{side}_normalized AS "
        f"SELECT * FROM m_{side}_norm")  # fmt: skip


def _fingerprints(con) -> None:
    """m_left_fp, m_right_fp: record_id and a hash of every normalized column Splink reads
    (the inputs minus the ids), so that any change a comparison could see is seen."""
    for side, table in (("left", "m_left_all"), ("right", "m_right_open")):
        cols = [r[0] for r in run(con, f"DESCRIBE {table}")
                if r[0] not in {"record_id", "unique_id"}]  # fmt: skip
        packed = ", ".join(f'"{c}" := "{c}"' for c in cols)
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_fp AS SELECT record_id, "
            f"md5(to_json(struct_pack({packed}))) AS fingerprint FROM {table}")  # fmt: skip


def _saved_state(con, schema: str) -> tuple[str, dict] | None:
    """(state fingerprint, model) of the saved state, None when there is none complete."""
    catalog = run(con, "SELECT current_database()")[0][0]
    present = {
        r[0]
        for r in run(
            con,
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND database_name = ?",
            [schema, catalog],
        )
    }
    if not set(STATE_TABLES) <= present:
        return None
    row = run(con, f"SELECT state_fingerprint, model_json FROM {schema}.engine_state")
    return (row[0][0], json.loads(row[0][1])) if row else None


def _changes(con, schema: str, result: EngineRun) -> None:
    """m_{side}_same (ids unchanged since the saved state), m_{side}_delta (the records new
    or changed, Splink input columns), and the counts."""
    for side, table in (("left", "m_left_all"), ("right", "m_right_open")):
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_same AS SELECT f.record_id "
            f"FROM m_{side}_fp f JOIN {schema}.engine_{side}_records s "
            "ON s.record_id = f.record_id AND s.fingerprint = f.fingerprint")  # fmt: skip
        run(con,
            f"CREATE OR REPLACE TEMP TABLE m_{side}_delta AS SELECT * FROM {table} "
            f"WHERE record_id NOT IN (SELECT record_id FROM m_{side}_same)")  # fmt: skip
        changed = run(con, f"SELECT count(*) FROM m_{side}_delta")[0][0]
        removed = run(con,
                      f"SELECT count(*) FROM {schema}.engine_{side}_records WHERE record_id "
                      f"NOT IN (SELECT record_id FROM {table})")[0][0]  # fmt: skip
        setattr(result, f"{side}_changed", changed)
        setattr(result, f"{side}_removed", removed)


def _save_full(con, schema: str, fingerprint: str, model: dict, result: EngineRun) -> None:
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
        _save_normalized(con, schema, "left")
        _save_normalized(con, schema, "right")
        run(con,
            f"CREATE OR REPLACE TABLE {schema}.engine_state AS SELECT ?::VARCHAR AS "
            "state_fingerprint, ?::VARCHAR AS model_json, current_timestamp::TIMESTAMP AS "
            "trained_at, current_timestamp::TIMESTAMP AS updated_at, ?::VARCHAR AS last_mode, "
            "?::JSON AS last_run",
            [fingerprint, json.dumps(model), result.mode, json.dumps(asdict(result))])  # fmt: skip
        run(con, "COMMIT")
    except Exception:
        run(con, "ROLLBACK")
        raise


def _save_incremental(con, schema: str, result: EngineRun) -> None:
    """Bring the saved state to tonight: pairs of stale records out, tonight's in; the
    model, its frequencies and its training date stay."""
    run(con, "BEGIN TRANSACTION")
    try:
        run(con,
            f"DELETE FROM {schema}.engine_pairs WHERE left_id NOT IN "
            "(SELECT record_id FROM m_left_same) OR right_id NOT IN "
            "(SELECT record_id FROM m_right_same)")  # fmt: skip
        run(con, f"INSERT INTO {schema}.engine_pairs SELECT * FROM m_pairs_new")
        for side in ("left", "right"):
            if getattr(result, f"{side}_changed") or getattr(result, f"{side}_removed"):
                run(con,
                    f"CREATE OR REPLACE TABLE {schema}.engine_{side}_records AS "
                    f"SELECT * FROM m_{side}_fp")  # fmt: skip
            # raw changes that normalize to the same record change no pair, but the cache
            # keys on the raw hash
            if getattr(result, f"{side}_normalized") or getattr(result, f"{side}_removed"):
                _save_normalized(con, schema, side)
        run(con,
            f"UPDATE {schema}.engine_state SET updated_at = current_timestamp::TIMESTAMP, "
            "last_mode = ?, last_run = ?::JSON",
            [result.mode, json.dumps(asdict(result))])  # fmt: skip
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
            "WHERE record_id IN (SELECT record_id FROM m_right_same)")  # fmt: skip
        if run(con, "SELECT count(*) FROM m_right_kept")[0][0]:
            linker = _saved_linker(con, model, "m_left_delta", "m_right_kept", "m_tf")
            result.pairs_predicted += _predict_into(con, linker, "m_pairs_new")


def _probabilistic_with_state(
    con,
    settings: MatchSettings,
    schema: str,
    retrain: bool,
    fingerprint: str,
    saved: tuple[str, dict] | None,
    result: EngineRun,
) -> EngineRun:
    """m_pairs for tonight, from the saved state when it can serve; saves the new state."""
    started = time.perf_counter()
    _drop_splink_leftovers(con)
    result.left_records, result.right_records = _open_tables(con)
    if not result.left_records or not result.right_records:
        # nothing to train on: no pairs, and no state a later night could build on
        _empty_pairs(con)
        _drop_state(con, schema)
        result.reason = "a side is empty"
        return result
    _fingerprints(con)
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
    if reason is not None:
        result = EngineRun(
            mode="full", reason=reason, left_records=result.left_records,
            right_records=result.right_records, left_changed=result.left_records,
            right_changed=result.right_records, left_normalized=result.left_normalized,
            right_normalized=result.right_normalized,
        )  # fmt: skip
        model, result.pairs_predicted = _probabilistic(con, settings)
        _save_full(con, schema, fingerprint, model, result)
    else:
        run(con,
            f"CREATE OR REPLACE TEMP TABLE _m_saved_tf AS "
            f"SELECT * FROM {schema}.engine_term_frequencies")  # fmt: skip
        if result.left_changed or result.right_changed:
            result.mode = "incremental"
            _predict_changed(con, saved[1], result)
        else:
            result.mode = "cached"
            _empty_pairs(con, "m_pairs_new")
        run(con,
            "CREATE OR REPLACE TEMP TABLE m_pairs AS "
            f"SELECT p.* FROM {schema}.engine_pairs p "
            "WHERE p.left_id IN (SELECT record_id FROM m_left_same) "
            "AND p.right_id IN (SELECT record_id FROM m_right_same) "
            "UNION ALL SELECT * FROM m_pairs_new")  # fmt: skip
        result.pairs_kept = run(con, "SELECT count(*) FROM m_pairs")[0][0] - result.pairs_predicted
        result.reason = (
            f"saved model, {result.right_changed} new or changed right records, "
            f"{result.left_changed} left ones" if result.mode == "incremental"
            else "no record new or changed"
        )  # fmt: skip
        _save_incremental(con, schema, result)
    result.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "linking engine %s (%s): left %d (changed %d, removed %d, normalized %d), right %d "
        "(changed %d, removed %d, normalized %d), pairs predicted %d, kept %d, %.1f s",
        result.mode, result.reason, result.left_records, result.left_changed,
        result.left_removed, result.left_normalized, result.right_records,
        result.right_changed, result.right_removed, result.right_normalized,
        result.pairs_predicted, result.pairs_kept, result.seconds,
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
    """Link `right` records to `left` records like `engine.match` (result in table
    match_result), reusing and then updating the state saved in `state_schema`."""
    settings = settings or MatchSettings()
    retrain = retrain or os.environ.get("RTM_LINKING_RETRAIN") == "1"
    fingerprint = state_fingerprint(settings)
    saved = _saved_state(con, state_schema)
    result = EngineRun()
    # a retraining is asked for as a clean rebuild: nothing of the cache is reused
    reuse = saved is not None and saved[0] == fingerprint and not retrain
    _prepare_cached(con, left, right, settings, state_schema, reuse, result)
    _deterministic(con)
    result = _probabilistic_with_state(
        con, settings, state_schema, retrain, fingerprint, saved, result
    )
    _match_result(con, settings)
    return result
