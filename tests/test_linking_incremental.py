"""The linking engine's incremental nights (orchestration/linking/incremental.py): the saved
model and pairs serve the next night, only the pairs of new or changed records are
predicted, and the result is the one a full prediction with the saved model gives."""

from __future__ import annotations

import duckdb
import pytest

from orchestration.linking.crosswalk import build_crosswalk_in
from orchestration.linking.engine import MatchSettings
from orchestration.linking.incremental import match_incremental

ACCOUNTS = 400
COPIES = 150  # right records R1..R150 are distributor spellings of accounts A1..A150
STRANGERS = 50  # R151..R200 are outlets the CRM does not know

CRM_SQL = f"""
    SELECT 'A' || i AS record_id, 'Le ' || substr(md5('n' || i), 1, 7) || ' '
            || substr(md5('m' || i), 1, 5) AS name,
        i || ' rue ' || substr(md5('s' || (i % 40)), 1, 6) AS address,
        (69001 + i % 9)::VARCHAR AS postcode, 'Lyon' AS city,
        NULL::VARCHAR AS phone, NULL::VARCHAR AS siret, 'A' || lpad(i::VARCHAR, 4, '0') AS tie_break
    FROM range(1, {ACCOUNTS + 1}) t(i)
"""
RECORDS_SQL = f"""
    SELECT 'R' || i AS record_id, upper(substr(md5('n' || i), 1, 7) || ' '
            || substr(md5('m' || i), 1, 5)) || ' SARL' AS name,
        i || ' R ' || upper(substr(md5('s' || (i % 40)), 1, 6)) AS address,
        (69001 + i % 9)::VARCHAR AS postcode, 'LYON ' || (1 + i % 9) AS city,
        NULL::VARCHAR AS phone, NULL::VARCHAR AS siret
    FROM range(1, {COPIES + 1}) t(i)
    UNION ALL
    SELECT 'R' || i, 'Chez ' || substr(md5('x' || i), 1, 8), i || ' avenue '
            || substr(md5('y' || i), 1, 7), (69001 + i % 9)::VARCHAR, 'Lyon', NULL, NULL
    FROM range({COPIES + 1}, {COPIES + STRANGERS + 1}) t(i)
"""


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute(f"CREATE TABLE crm AS {CRM_SQL}")
    con.execute(f"CREATE TABLE recs AS {RECORDS_SQL}")
    yield con
    con.close()


def _rows(con, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def _links(con) -> dict[str, str | None]:
    return dict(con.execute("SELECT record_id, left_id FROM match_result").fetchall())


def _full_predict_with_the_saved_model(con) -> tuple[list, list]:
    """m_pairs and match_result of tonight's records, every pair predicted with the saved
    model: the saved fingerprints forgotten, every record counts as new (and the share
    threshold is lifted, so that this is not a retraining)."""
    con.execute("DELETE FROM linking.engine_left_records")
    con.execute("DELETE FROM linking.engine_right_records")
    night = match_incremental(con, "crm", "recs", MatchSettings(max_changed_share=1.0))
    assert night.mode == "incremental" and night.pairs_kept == 0
    return _rows(con, "m_pairs"), _rows(con, "match_result")


def test_first_night_trains_and_links_the_copies(con):
    night = match_incremental(con, "crm", "recs")
    assert (night.mode, night.reason) == ("full", "no saved state")
    assert (night.left_records, night.right_records) == (ACCOUNTS, COPIES + STRANGERS)
    links = _links(con)
    assert sum(links[f"R{i}"] == f"A{i}" for i in range(1, COPIES + 1)) >= COPIES - 5
    assert not any(links[f"R{i}"] for i in range(COPIES + 1, COPIES + STRANGERS + 1))
    saved = con.execute("SELECT count(*) FROM linking.engine_pairs").fetchone()[0]
    assert saved == night.pairs_predicted == len(_rows(con, "m_pairs")) > COPIES


def test_identical_night_is_served_from_the_cache(tmp_path):
    """Same inputs: no Splink call, and the crosswalk and match_result do not move."""
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.stg_crm__accounts AS SELECT record_id AS account_id, "
        "name AS account_name, address, postcode, city, phone, siret, true AS is_active, "
        "DATE '2020-01-01' AS created_date, NULL::VARCHAR AS website, "
        f"NULL::VARCHAR AS legal_name, NULL::DOUBLE AS latitude, NULL::DOUBLE AS longitude FROM ({CRM_SQL})"
    )
    con.execute(
        "CREATE TABLE staging.stg_distributors__sell_out_lines AS SELECT 'D01' AS distributor_id, "
        "record_id AS distributor_account_code, name AS customer_name, address AS customer_address, "
        "postcode AS customer_postcode, city AS customer_city, phone AS customer_phone, "
        f"siret AS customer_siret, DATE '2026-01-01' AS sale_date, 10.0 AS amount FROM ({RECORDS_SQL})"
    )
    # every column but is_carried_over (the second night keeps the first one's links)
    crosswalk = "(SELECT * EXCLUDE (is_carried_over) FROM linking.account_crosswalk)"
    first = build_crosswalk_in(con, "staging", [], run_at="2026-11-01 02:00:00")
    links, result = _rows(con, crosswalk), _rows(con, "match_result")
    second = build_crosswalk_in(con, "staging", [], run_at="2026-11-01 02:00:00")
    assert (first.engine_mode, second.engine_mode) == ("full", "cached")
    assert (second.records_changed, second.accounts_changed, second.pairs_predicted) == (0, 0, 0)
    assert first.linked == second.linked == second.carried_over >= COPIES - 5
    assert _rows(con, crosswalk) == links
    assert _rows(con, "match_result") == result
    con.close()


def test_changed_records_only_are_predicted_and_match_a_full_prediction(con):
    """A new record, an edited record and an edited account: only their pairs are
    predicted, the rest comes from the cache, and the result is the one of predicting
    every pair with the same saved model."""
    match_incremental(con, "crm", "recs")
    before = _rows(con, "m_pairs")
    # new: another spelling of A200; edited: R7 now carries A300's name and address;
    # edited account: A20 moved (its distributor copy R20 still has the old address)
    con.execute(
        "INSERT INTO recs SELECT 'R999', upper(name), address, postcode, city, phone, siret "
        "FROM crm WHERE record_id = 'A200'"
    )
    con.execute(
        "UPDATE recs SET name = c.name, address = c.address, postcode = c.postcode "
        "FROM crm c WHERE c.record_id = 'A300' AND recs.record_id = 'R7'"
    )
    con.execute("UPDATE crm SET address = '1 place Bellecour' WHERE record_id = 'A20'")
    night = match_incremental(con, "crm", "recs")
    assert night.mode == "incremental"
    assert (night.right_changed, night.left_changed) == (2, 1)
    assert (night.right_removed, night.left_removed) == (0, 0)
    # only they were normalized again, the rest came from the cache
    assert (night.right_normalized, night.left_normalized) == (2, 1)
    pairs, result = _rows(con, "m_pairs"), _rows(con, "match_result")
    touched = [p for p in pairs if p[1] in {"R999", "R7"} or p[0] == "A20"]
    assert night.pairs_predicted == len(touched) > 0
    assert night.pairs_kept == len(pairs) - len(touched)
    # the untouched pairs are the first night's, value for value
    untouched = [p for p in before if p[1] not in {"R999", "R7"} and p[0] != "A20"]
    assert [p for p in pairs if p not in touched] == untouched
    links = _links(con)
    assert (links["R999"], links["R7"]) == ("A200", "A300")
    assert _full_predict_with_the_saved_model(con) == (pairs, result)


def test_a_raw_change_that_normalizes_the_same_needs_no_prediction(con):
    match_incremental(con, "crm", "recs")
    result = _rows(con, "match_result")
    # a legal form and a spelling of the street type: the same normalized record
    con.execute("UPDATE recs SET name = 'SAS ' || name, address = replace(address, ' R ', "
                "' RUE ') WHERE record_id = 'R3'")  # fmt: skip
    night = match_incremental(con, "crm", "recs")
    assert (night.mode, night.right_normalized, night.right_changed) == ("cached", 1, 0)
    assert _rows(con, "match_result") == result
    # the cache now holds the new raw hash: nothing to normalize the night after
    assert match_incremental(con, "crm", "recs").right_normalized == 0


def test_changed_settings_or_code_mean_a_full_rebuild(con):
    match_incremental(con, "crm", "recs")
    night = match_incremental(con, "crm", "recs", MatchSettings(seed=7))
    assert night.mode == "full" and "settings" in night.reason
    assert night.pairs_predicted > COPIES
    # normalization is redone too (a legal id pattern changes it)
    assert (night.left_normalized, night.right_normalized) == (ACCOUNTS, COPIES + STRANGERS)
    # when to rebuild is not what is rebuilt: the share threshold alone keeps the model
    night = match_incremental(con, "crm", "recs", MatchSettings(seed=7, max_changed_share=0.1))
    assert night.mode == "cached"
    # the engine's code is part of the state
    con.execute("UPDATE linking.engine_state SET state_fingerprint = 'older code'")
    night = match_incremental(con, "crm", "recs", MatchSettings(seed=7))
    assert night.mode == "full" and "code" in night.reason


def test_retrain_asked_for_or_too_much_changed_means_a_full_rebuild(con, monkeypatch):
    match_incremental(con, "crm", "recs")
    assert match_incremental(con, "crm", "recs", retrain=True).mode == "full"
    monkeypatch.setenv("RTM_LINKING_RETRAIN", "1")
    assert match_incremental(con, "crm", "recs").mode == "full"
    monkeypatch.delenv("RTM_LINKING_RETRAIN")
    # 80 of 200 records renamed: 40% > 30%
    con.execute("UPDATE recs SET name = name || ' BIS' WHERE record_id IN "
                "(SELECT 'R' || i FROM range(1, 81) t(i))")  # fmt: skip
    night = match_incremental(con, "crm", "recs")
    assert night.mode == "full" and "40% of the right records" in night.reason
    assert night.right_changed == COPIES + STRANGERS


def test_removed_records_leave_the_pairs(con):
    match_incremental(con, "crm", "recs")
    saved = {(p[0], p[1]) for p in _rows(con, "linking.engine_pairs")}
    assert any(r == "R5" for _, r in saved) and any(a == "A9" for a, _ in saved)
    con.execute("DELETE FROM recs WHERE record_id = 'R5'")
    con.execute("DELETE FROM crm WHERE record_id = 'A9'")
    night = match_incremental(con, "crm", "recs")
    # removals alone need no prediction
    assert night.mode == "cached" and night.pairs_predicted == 0
    assert (night.right_removed, night.left_removed) == (1, 1)
    for table in ("m_pairs", "linking.engine_pairs"):
        ids = con.execute(f"SELECT list(left_id), list(right_id) FROM {table}").fetchone()
        assert "A9" not in ids[0] and "R5" not in ids[1], table
    assert {(p[0], p[1]) for p in _rows(con, "m_pairs")} == {
        (a, r) for a, r in saved if a != "A9" and r != "R5"
    }
    links = _links(con)
    assert "R5" not in links and links["R9"] is None  # its account is gone
    assert "A9" not in {
        r[0] for r in con.execute("SELECT candidate_id FROM match_result").fetchall()
    }
    assert con.execute("SELECT count(*) FROM linking.engine_right_records").fetchone()[0] == (
        COPIES + STRANGERS - 1
    )
