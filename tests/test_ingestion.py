"""Ingestion of every distributor layout: exact loaded rows, quarantine reasons, duplicates.

Each test writes small files by hand in a distributor's own layout (delimiter, encoding,
decimal comma, date format, own column names and unit codes) and checks what lands where.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.config import ConfigError, load_company_config
from orchestration.contracts import load_contracts
from orchestration.ingest.engine import (
    ContractLoader,
    FileLayout,
    IngestionError,
    ensure_raw_schema,
    layouts_for,
)
from orchestration.ingest.run import reconcile

CONFIG = load_company_config()
CONTRACTS = load_contracts()
SELL_OUT = CONTRACTS["distributor_sell_out"]


def _layout(distributor_id: str) -> FileLayout:
    return next(
        lay
        for lay in layouts_for("distributor_sell_out", CONFIG)
        if lay.distributor_id == distributor_id
    )


def _render(
    layout: FileLayout, rows: list[dict], extra_fields: dict[int, list[str]] | None = None
) -> bytes:
    """Write contract-named rows in the distributor's own layout."""
    fmt = layout.format
    reverse_units = {v: k for k, v in layout.value_maps.get("unit", {}).items()}
    header = list(layout.columns.values())
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=fmt.delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for index, row in enumerate(rows):
        out = []
        for contract_column in layout.columns:
            value = row.get(contract_column, "")
            if isinstance(value, float):
                value = f"{value:.2f}".replace(".", fmt.decimal)
            elif isinstance(value, date):
                value = value.strftime(fmt.date_format)
            elif contract_column == "unit":
                value = reverse_units.get(value, value)
            out.append(str(value))
        writer.writerow(out + (extra_fields or {}).get(index, []))
    return buffer.getvalue().encode(fmt.encoding)


def _good_row(i: int, **overrides) -> dict:
    row = {
        "distributor_account_code": f"C{i:06d}",
        "account_name": f"Café de l'Étoile {i}",
        "address": f"{i} avenue Jean Jaurès",
        "postcode": "69003",
        "city": "Lyon",
        "phone": "04 78 00 00 00",
        "siret": "12345678901234",
        "product_code": "3760000000017",
        "quantity": 6.0,
        "unit": "bottle",
        "amount": 123.45,
        "sale_date": date(2026, 10, 3),
        "invoice_ref": f"F{i}",
    }
    row.update(overrides)
    return row


@pytest.fixture()
def warehouse(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "rtm.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    ensure_raw_schema(con, CONTRACTS.values())
    yield con, tmp_path / "landing"
    con.close()


def _write(landing: Path, layout: FileLayout, name: str, payload: bytes) -> Path:
    folder = landing / Path(layout.glob).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(payload)
    return path


FILE_NAMES = {
    "D01": "VENTES_202610.csv",
    "D02": "sellout_2026-10.csv",
    "D03": "export_202610.txt",
    "D04": "NBS_SELLOUT_202610.csv",
    "D05": "EDB_202610.csv",
}


@pytest.mark.parametrize("distributor_id", sorted(FILE_NAMES))
def test_each_distributor_layout_loads_good_rows_and_quarantines_bad_ones(
    warehouse, tmp_path, distributor_id
):
    con, landing = warehouse
    layout = _layout(distributor_id)
    unit = layout.constants.get("unit", "case")
    rows = [
        _good_row(1, unit=unit),
        _good_row(2, unit=unit, quantity="douze"),
        _good_row(3, unit=unit, sale_date="2026-13-45"),
        _good_row(4, unit=unit, distributor_account_code=""),
        _good_row(5, unit=unit, postcode="6900"),
        _good_row(6, unit=unit, amount=-1.0, quantity=-1.0),  # a return: negative but valid
        _good_row(7, unit=unit),
    ]
    if "unit" in layout.columns:
        rows.append(_good_row(8, unit="PALETTE"))
    _write(landing, layout, FILE_NAMES[distributor_id], _render(layout, rows, {6: ["surplus"]}))

    results = ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])

    assert [r.status for r in results] == ["loaded"]
    expected_bad = 6 if "unit" in layout.columns else 5
    assert results[0].rows_read == len(rows)
    assert results[0].rows_quarantined == expected_bad
    assert results[0].rows_loaded == len(rows) - expected_bad
    loaded = con.execute(
        "SELECT distributor_id, distributor_account_code, account_name, quantity, unit, amount, "
        "sale_date, _source_line FROM raw.distributor_sell_out ORDER BY _source_line"
    ).fetchall()
    assert loaded[0] == (
        distributor_id,
        "C000001",
        "Café de l'Étoile 1",
        6.0,
        unit,
        123.45,
        date(2026, 10, 3),
        2,
    )
    assert loaded[1][1] == "C000006" and loaded[1][3] == -1.0 and loaded[1][7] == 7
    reasons = dict(con.execute("SELECT line, reason FROM raw.quarantine ORDER BY line").fetchall())
    assert reasons[3].startswith('quantity: "douze" is not a valid number')
    assert (
        reasons[4] == f'sale_date: "2026-13-45" is not a date in format {layout.format.date_format}'
    )
    assert reasons[5] == "distributor_account_code: required value missing"
    assert reasons[6] == 'postcode: "6900" does not match ^[0-9]{5}$'
    assert reasons[8].startswith("malformed row: Expected Number of Columns")
    if "unit" in layout.columns:
        assert reasons[9] == 'unit: "PALETTE" is not one of bottle, case'
    assert reconcile(con, "distributor_sell_out") == []


def test_cp1252_only_characters_survive_transcoding(warehouse, tmp_path):
    con, landing = warehouse
    layout = _layout("D01")
    assert layout.format.encoding == "cp1252"
    _write(
        landing,
        layout,
        "VENTES_202609.csv",
        _render(layout, [_good_row(1, account_name="L’Œuf — Bar à vins €", unit="case")]),
    )
    ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])
    assert (
        con.execute("SELECT account_name FROM raw.distributor_sell_out").fetchone()[0]
        == "L’Œuf — Bar à vins €"
    )


def test_file_delivered_twice_is_loaded_once(warehouse, tmp_path):
    con, landing = warehouse
    layout = _layout("D02")
    payload = _render(layout, [_good_row(i, unit="bottle") for i in range(1, 4)])
    _write(landing, layout, "sellout_2026-09.csv", payload)
    _write(landing, layout, "sellout_2026-09_resent.csv", payload)
    loader = ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp")

    first = loader.load([layout])
    second = loader.load([layout])  # the next night sees the same two files again

    assert sorted(r.status for r in first) == ["duplicate", "loaded"]
    assert {r.status for r in second} == {"unchanged"}
    assert con.execute("SELECT count(*) FROM raw.distributor_sell_out").fetchone()[0] == 3
    ledger = con.execute(
        "SELECT file, status, duplicate_of FROM raw.file_deliveries ORDER BY file"
    ).fetchall()
    assert ledger == [
        ("distributors/d02_chr_ouest/sellout_2026-09.csv", "loaded", None),
        (
            "distributors/d02_chr_ouest/sellout_2026-09_resent.csv",
            "duplicate",
            "distributors/d02_chr_ouest/sellout_2026-09.csv",
        ),
    ]


def test_a_file_the_ledger_knows_by_name_size_and_time_is_not_read_again(
    warehouse, tmp_path, monkeypatch
):
    import os

    from orchestration.ingest import engine

    con, landing = warehouse
    layout = _layout("D02")
    path = _write(landing, layout, "sellout_2026-07.csv", _render(layout, [_good_row(1)]))
    ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])

    def no_hashing(_path):
        raise AssertionError("an unchanged file was read again")

    monkeypatch.setattr(engine, "file_sha256", no_hashing)
    again = ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])
    assert [r.status for r in again] == ["unchanged"]
    # rehash_unchanged (company.yaml ingestion.rehash_unchanged_files) reads it anyway
    with pytest.raises(AssertionError, match="read again"):
        ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp", rehash_unchanged=True).load(
            [layout]
        )
    monkeypatch.undo()
    # same name and size, other content and time: hashed, and loaded as a restatement
    stat = path.stat()
    path.write_bytes(_render(layout, [_good_row(2)]))
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    restated = ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])
    assert [r.status for r in restated] == ["loaded"]
    assert con.execute("SELECT invoice_ref FROM raw.distributor_sell_out").fetchall() == [("F2",)]


def test_daily_files_do_not_restate_each_other_but_a_monthly_correction_does(warehouse, tmp_path):
    """D01's period pattern stops at the month: a distributor that moves to daily files
    (VENTES_YYYYMMDD) gets one delivery per day, not each day replacing the last."""
    con, landing = warehouse
    layout = _layout("D01")
    loader = ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp")
    for day in (3, 4):
        _write(landing, layout, f"VENTES_202611{day:02d}.csv", _render(layout, [_good_row(day)]))
    _write(landing, layout, "VENTES_202610.csv", _render(layout, [_good_row(1)]))
    loader.load([layout])
    _write(landing, layout, "VENTES_202610_v2.csv", _render(layout, [_good_row(2)]))
    loader.load([layout])
    ledger = dict(
        con.execute(
            "SELECT regexp_extract(file, '[^/]+$'), status FROM raw.file_deliveries"
        ).fetchall()
    )
    assert ledger == {
        "VENTES_20261103.csv": "loaded",
        "VENTES_20261104.csv": "loaded",
        "VENTES_202610.csv": "superseded",
        "VENTES_202610_v2.csv": "loaded",
    }
    assert con.execute(
        "SELECT list(invoice_ref ORDER BY invoice_ref) FROM raw.distributor_sell_out"
    ).fetchone()[0] == ["F2", "F3", "F4"]


def test_corrected_redelivery_replaces_its_own_rows(warehouse, tmp_path):
    con, landing = warehouse
    layout = _layout("D02")
    loader = ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp")
    path = _write(
        landing,
        layout,
        "sellout_2026-08.csv",
        _render(layout, [_good_row(1, unit="bottle"), _good_row(2, unit="bottle", quantity="x")]),
    )
    loader.load([layout])
    path.write_bytes(
        _render(layout, [_good_row(1, unit="bottle", quantity=9.0), _good_row(2, unit="bottle")])
    )
    loader.load([layout])
    assert con.execute(
        "SELECT sum(quantity), count(*) FROM raw.distributor_sell_out"
    ).fetchone() == (15.0, 2)
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0
    assert con.execute("SELECT status FROM raw.file_deliveries ORDER BY loaded_at").fetchall() == [
        ("superseded",),
        ("loaded",),
    ]
    assert reconcile(con, "distributor_sell_out") == []


def test_duplicate_primary_keys_are_quarantined_after_the_first(warehouse, tmp_path):
    con, landing = warehouse
    contract = CONTRACTS["sales_reps"]
    layout = layouts_for("sales_reps", CONFIG)[0]
    header = ",".join(contract.column_names)
    good = "REP001,Ana Martin,field_rep,T01,69003,45.76,4.85,38,2024-01-02"
    lines = [
        header,
        good,
        good.replace("Ana Martin", "Ana Martin-Duval"),
        "REP002,Bo,field_rep,T01,69003,45.76,4.85,38,2024-01-02",
    ]
    path = landing / "sales_force" / "reps_2026-10-31.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ContractLoader(con, contract, landing, tmp_path / "tmp").load([layout])
    assert con.execute("SELECT rep_id, rep_name FROM raw.sales_reps ORDER BY 1").fetchall() == [
        ("REP001", "Ana Martin"),
        ("REP002", "Bo"),
    ]
    assert con.execute("SELECT line, reason FROM raw.quarantine").fetchall() == [
        (3, "duplicate key (rep_id): first seen on line 2")
    ]


def test_layout_missing_a_mapped_column_fails_naming_file_and_column(warehouse, tmp_path):
    con, landing = warehouse
    layout = _layout("D02")
    _write(landing, layout, "sellout_2026-07.csv", b"customer_code,customer_name\nC1,Bar\n")
    with pytest.raises(IngestionError, match=r"sellout_2026-07.csv: columns \['street'"):
        ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])


def test_undecodable_bytes_fail_the_file_with_the_offset(warehouse, tmp_path):
    con, landing = warehouse
    layout = _layout("D01")
    _write(
        landing,
        layout,
        "VENTES_202607.csv",
        _render(layout, [_good_row(1, unit="case")]) + b"\x81\r\n",
    )
    with pytest.raises(IngestionError, match=r"VENTES_202607.csv: byte \d+ is not valid cp1252"):
        ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])


def test_jsonl_source_extracts_nested_fields(warehouse, tmp_path):
    con, landing = warehouse
    layout = layouts_for("online_presence", CONFIG)[0]
    record = {
        "id": "ON0000001",
        "platform": "maps",
        "name": "Le Petit Zinc",
        "address": {"street": "3 rue Mercière", "postcode": "69002", "city": "Lyon"},
        "contact": {"phone": "0478000000", "website": None},
        "location": {"lat": 45.76, "lon": 4.83},
        "metrics": {
            "rating": 4.5,
            "review_count": 120,
            "followers": 800,
            "last_activity": "2026-10-02",
        },
        "updated_at": "2026-10-03T08:12:00Z",
    }
    bad = {**record, "id": "ON0000002", "metrics": {**record["metrics"], "rating": 7}}
    path = landing / "online" / "listings_1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    ContractLoader(con, CONTRACTS["online_presence"], landing, tmp_path / "tmp").load([layout])
    assert con.execute(
        "SELECT source_record_id, city, rating, review_count, updated_at::VARCHAR FROM raw.online_presence"
    ).fetchall() == [("ON0000001", "Lyon", 4.5, 120, "2026-10-03 08:12:00")]
    assert con.execute("SELECT line, reason FROM raw.quarantine").fetchall() == [
        (2, 'rating: "7" is outside [0, 5]')
    ]


def test_bad_company_config_fails_fast_naming_the_key(tmp_path):
    text = Path(CONFIG_PATH := "examples/sample_company/company.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "company.yaml"
    broken.write_text(
        text.replace("encoding: cp1252", "encoding: klingon").replace(
            "quantity: QTE\n      unit: UNITE", "quantite: QTE\n      unit: UNITE", 1
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_company_config(broken)
    assert "distributors.0.format.encoding" in str(error.value) and "klingon" in str(error.value)
    assert CONFIG_PATH


def test_unreadable_file_fails_its_asset_once_with_the_file_named(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.defs.ingestion.assets import ingestion_asset
    from orchestration.defs.resources import RtmResource

    monkeypatch.setenv("RTM_WAREHOUSE", str(tmp_path))
    layout = _layout("D02")
    _write(tmp_path / "landing", layout, "sellout_2026-06.csv", b"customer_code\nC1\n")
    result = dg.materialize(
        [ingestion_asset(SELL_OUT)], resources={"rtm": RtmResource()}, raise_on_error=False
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1  # not retried: a malformed file stays malformed
    message = failures[0].step_failure_data.user_failure_data.description
    assert "sellout_2026-06.csv" in message and "'street'" in message
