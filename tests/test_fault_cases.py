"""Fault cases at ingestion (issue 7): every broken delivery ends in a clear error or in
rows loaded + quarantined with a reason, never in rows silently lost or garbled.

Files are written by hand in a distributor's own layout (helpers from test_ingestion)."""

from __future__ import annotations

import pytest
from test_ingestion import (
    CONFIG,
    CONTRACTS,
    SELL_OUT,
    _good_row,
    _layout,
    _render,
    _write,
    warehouse,  # noqa: F401 (fixture)
)

from orchestration.ingest.engine import ContractLoader, IngestionError, layouts_for
from orchestration.ingest.run import reconcile


def _load(con, landing, tmp_path, layout):
    return ContractLoader(con, SELL_OUT, landing, tmp_path / "tmp").load([layout])


def _ledger(con):
    return con.execute(
        "SELECT rows_read, rows_loaded, rows_quarantined FROM raw.file_deliveries"
    ).fetchall()


def test_truncated_file_keeps_good_rows_and_quarantines_the_cut_line_once(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    payload = _render(layout, [_good_row(i, unit="bottle") for i in range(1, 4)])
    _write(landing, layout, "sellout_2026-01.csv", payload[:-25])  # transfer cut mid-line
    _load(con, landing, tmp_path, layout)
    assert con.execute("SELECT count(*) FROM raw.distributor_sell_out").fetchone()[0] == 2
    held = con.execute("SELECT line, reason FROM raw.quarantine").fetchall()
    assert len(held) == 1 and held[0][0] == 4 and "Expected Number of Columns" in held[0][1]
    assert _ledger(con) == [(3, 2, 1)]
    assert reconcile(con, "distributor_sell_out") == []


def test_a_huge_line_is_quarantined_not_fatal(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    rows = [
        _good_row(1, unit="bottle", account_name="X" * 3_000_000),
        _good_row(2, unit="bottle"),
    ]
    _write(landing, layout, "sellout_2026-01.csv", _render(layout, rows))
    _load(con, landing, tmp_path, layout)
    assert con.execute("SELECT invoice_ref FROM raw.distributor_sell_out").fetchall() == [("F2",)]
    (reason,) = con.execute("SELECT reason FROM raw.quarantine").fetchone()
    assert "Maximum line size" in reason
    assert _ledger(con) == [(2, 1, 1)]


def test_an_extra_field_on_a_line_quarantines_that_line(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    rows = [_good_row(1, unit="bottle"), _good_row(2, unit="bottle")]
    _write(landing, layout, "sellout_2026-01.csv", _render(layout, rows, {0: ["stray"]}))
    _load(con, landing, tmp_path, layout)
    assert con.execute("SELECT line FROM raw.quarantine").fetchall() == [(2,)]
    assert reconcile(con, "distributor_sell_out") == []


def test_header_only_file_is_recorded_with_zero_rows(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    _write(landing, layout, "sellout_2026-01.csv", _render(layout, []))
    results = _load(con, landing, tmp_path, layout)
    assert [(r.status, r.rows_read) for r in results] == [("loaded", 0)]
    assert _ledger(con) == [(0, 0, 0)]


def test_empty_file_fails_clearly_and_loads_nothing(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    _write(landing, layout, "sellout_2026-01.csv", b"")
    with pytest.raises(IngestionError, match=r"sellout_2026-01.csv: file is empty"):
        _load(con, landing, tmp_path, layout)
    assert con.execute("SELECT count(*) FROM raw.file_deliveries").fetchone()[0] == 0


def test_a_header_only_snapshot_keeps_the_previous_snapshot(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    contract = CONTRACTS["sales_reps"]
    layout = layouts_for("sales_reps", CONFIG)[0]
    folder = landing / "sales_force"
    folder.mkdir(parents=True)
    header = ",".join(contract.column_names)
    (folder / "reps_2026-09-30.csv").write_text(
        header + "\nREP001,Ana Martin,field_rep,T01,69003,45.76,4.85,38,2024-01-02\n",
        encoding="utf-8",
    )
    loader = ContractLoader(con, contract, landing, tmp_path / "tmp")
    loader.load([layout])
    (folder / "reps_2026-10-31.csv").write_text(header + "\n", encoding="utf-8")
    with pytest.raises(IngestionError, match=r"reps_2026-10-31.csv: this snapshot has no data"):
        loader.load([layout])
    assert con.execute("SELECT rep_id FROM raw.sales_reps").fetchall() == [("REP001",)]


def test_a_utf8_file_in_a_cp1252_layout_is_refused_not_garbled(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D01")
    text = _render(layout, [_good_row(1, unit="case")]).decode("cp1252")
    _write(landing, layout, "VENTES_202601.csv", text.encode("utf-8"))
    with pytest.raises(IngestionError, match=r"VENTES_202601.csv: the file is UTF-8 encoded"):
        _load(con, landing, tmp_path, layout)
    assert con.execute("SELECT count(*) FROM raw.distributor_sell_out").fetchone()[0] == 0
    assert not list((tmp_path / "tmp").glob("*.utf8")), "no half-transcoded copy left"


def test_a_cp1252_file_in_a_utf8_layout_fails_naming_the_byte(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    text = _render(layout, [_good_row(1, unit="bottle")]).decode("utf-8")
    _write(landing, layout, "sellout_2026-01.csv", text.encode("cp1252"))
    with pytest.raises(IngestionError, match=r"sellout_2026-01.csv: .*can't decode byte 0xe9"):
        _load(con, landing, tmp_path, layout)


def test_a_renamed_column_fails_naming_it(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    payload = _render(layout, [_good_row(1, unit="bottle")]).replace(b"qty_bottles", b"qty")
    _write(landing, layout, "sellout_2026-01.csv", payload)
    with pytest.raises(IngestionError, match=r"columns \['qty_bottles'\] expected by the"):
        _load(con, landing, tmp_path, layout)
    assert con.execute("SELECT count(*) FROM raw.file_deliveries").fetchone()[0] == 0


def test_personal_data_is_pseudonymized_in_raw_and_quarantine(warehouse, tmp_path, monkeypatch):  # noqa: F811
    import hashlib

    con, landing = warehouse
    monkeypatch.setenv("RTM_PSEUDONYMIZATION_KEY", "k" * 20)
    contract = CONTRACTS["crm_accounts"]
    layout = layouts_for("crm_accounts", CONFIG)[0]
    header = ",".join(contract.column_names)
    good = (
        "ACC000001,Le Zinc,SARL LE ZINC,82024802900051,,05 23 79 49 98,,marcel.dupont@free.fr,"
        "6 rue des Acacias,24000,Périgueux,45.17,0.72,specialist,multi_brand,false,REP046,T11,"
        "active,2004-01-21,2006-01-24 10:20:53"
    )
    bad = (
        good.replace("ACC000001", "ACC000002")
        .replace("marcel.dupont", "jeanne.m")
        .replace("specialist", "spaceship")
    )
    folder = landing / "crm"
    folder.mkdir(parents=True)
    (folder / "accounts_2026-10-31.csv").write_text(f"{header}\n{good}\n{bad}\n", encoding="utf-8")
    ContractLoader(con, contract, landing, tmp_path / "tmp").load([layout])

    expected = (
        "pseud:"
        + hashlib.sha256(("k" * 20 + "\x1f" + "marcel.dupont@free.fr").encode()).hexdigest()
    )
    assert con.execute("SELECT email FROM raw.crm_accounts").fetchall() == [(expected,)]
    (record,) = con.execute("SELECT record FROM raw.quarantine").fetchone()
    assert "jeanne" not in record and '"email":"pseud:' in record.replace(" ", "")
    assert "spaceship" in record, "the rest of the quarantined line is kept as delivered"


def test_pseudonymizing_without_a_key_fails_clearly(warehouse, tmp_path, monkeypatch):  # noqa: F811
    con, landing = warehouse
    monkeypatch.delenv("RTM_PSEUDONYMIZATION_KEY", raising=False)
    contract = CONTRACTS["crm_accounts"]
    folder = landing / "crm"
    folder.mkdir(parents=True)
    (folder / "accounts_2026-10-31.csv").write_text(
        ",".join(contract.column_names) + "\n", encoding="utf-8"
    )
    with pytest.raises(IngestionError, match="RTM_PSEUDONYMIZATION_KEY must hold a secret"):
        ContractLoader(con, contract, landing, tmp_path / "tmp").load(
            [layouts_for("crm_accounts", CONFIG)[0]]
        )


def test_a_landing_symlink_leading_outside_is_refused(warehouse, tmp_path):  # noqa: F811
    con, landing = warehouse
    layout = _layout("D02")
    outside = tmp_path / "secret.csv"
    outside.write_bytes(_render(layout, [_good_row(1, unit="bottle")]))
    folder = landing / "distributors" / "d02_chr_ouest"
    folder.mkdir(parents=True)
    (folder / "sellout_2026-01.csv").symlink_to(outside)
    with pytest.raises(
        IngestionError, match=r"sellout_2026-01.csv: resolves to .*outside the landing"
    ):
        _load(con, landing, tmp_path, layout)
    assert con.execute("SELECT count(*) FROM raw.file_deliveries").fetchone()[0] == 0


def test_a_late_restatement_of_a_past_month_replaces_that_month(warehouse, tmp_path):  # noqa: F811
    import os

    con, landing = warehouse
    layout = _layout("D02")  # period_from_file_name: sellout_(?P<period>YYYY-MM)
    original = _write(
        landing,
        layout,
        "sellout_2026-08.csv",
        _render(layout, [_good_row(i, unit="bottle") for i in range(1, 4)]),
    )
    september = _write(
        landing, layout, "sellout_2026-09.csv", _render(layout, [_good_row(9, unit="bottle")])
    )
    os.utime(original, (1_790_000_000, 1_790_000_000))
    os.utime(september, (1_791_000_000, 1_791_000_000))
    _load(con, landing, tmp_path, layout)
    corrected = _write(
        landing,
        layout,
        "sellout_2026-08_corrected.csv",
        _render(layout, [_good_row(1, unit="bottle", quantity=12.0), _good_row(2, unit="bottle")]),
    )
    os.utime(corrected, (1_792_000_000, 1_792_000_000))  # delivered after September's file
    _load(con, landing, tmp_path, layout)

    assert con.execute(
        "SELECT _source_file, count(*), sum(quantity) FROM raw.distributor_sell_out "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        ("distributors/d02_chr_ouest/sellout_2026-08_corrected.csv", 2, 18.0),
        ("distributors/d02_chr_ouest/sellout_2026-09.csv", 1, 6.0),
    ]
    assert con.execute(
        "SELECT file, status, delivery_key FROM raw.file_deliveries ORDER BY delivered_at"
    ).fetchall() == [
        ("distributors/d02_chr_ouest/sellout_2026-08.csv", "superseded", "D02:2026-08"),
        ("distributors/d02_chr_ouest/sellout_2026-09.csv", "loaded", "D02:2026-09"),
        ("distributors/d02_chr_ouest/sellout_2026-08_corrected.csv", "loaded", "D02:2026-08"),
    ]
    assert reconcile(con, "distributor_sell_out") == []


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"sellout_(\d{4}-\d{2})", r"needs a named group \(\?P<period>"),
        (r"sellout_(?P<period>\d{4", r"not a valid regular expression"),
    ],
)
def test_a_bad_period_pattern_fails_fast_naming_the_key(tmp_path, pattern, message):
    from pathlib import Path

    from orchestration.config import ConfigError, load_company_config

    text = Path("examples/sample_company/company.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "company.yaml"
    broken.write_text(
        text.replace(r"'sellout_(?P<period>\d{4}-\d{2})(?!-?\d)'", repr(pattern)), encoding="utf-8"
    )
    assert broken.read_text(encoding="utf-8") != text
    with pytest.raises(ConfigError, match=rf"distributors.1.period_from_file_name: .*{message}"):
        load_company_config(broken)
