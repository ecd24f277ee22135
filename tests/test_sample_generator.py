"""The seeded sample-company generator: files where the company config says, in the layouts
it says, valid against the data contracts except for exactly the bad rows the ground truth
lists, deterministic, and with a realistic (Pareto) shape.

Every landing row is re-validated here with an independent, plain-Python reading of the
contracts, so the test does not depend on the ingestion engine it is meant to exercise.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from orchestration.sample import names
from orchestration.sample.generator import DEFAULT_COMPANY_CONFIG, generate_company

REPO = Path(__file__).resolve().parent.parent
CONTRACTS = REPO / "data_contracts"
ACCOUNTS, MONTHS, SEED = 600, 6, 11


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    summary = generate_company(out, accounts=ACCOUNTS, seed=SEED, months=MONTHS)
    return out, summary


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(DEFAULT_COMPANY_CONFIG.read_text(encoding="utf-8"))


def _contract(name: str) -> dict:
    doc = yaml.safe_load((CONTRACTS / f"{name}.odcs.yaml").read_text(encoding="utf-8"))
    return doc["schema"][0]


def _columns(name: str) -> list[dict]:
    return _contract(name)["properties"]


def _key_columns(name: str) -> tuple[str, ...]:
    schema = _contract(name)
    pk = tuple(p["name"] for p in schema["properties"] if p.get("primaryKey"))
    if pk:
        return pk
    for rule in schema.get("quality") or []:
        if rule.get("metric") == "duplicateValues" and rule.get("mustBe") == 0:
            return tuple(rule["arguments"]["properties"])
    return ()


def _truth(out: Path, name: str) -> list[dict]:
    with (out / "ground_truth" / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(out: Path) -> dict[str, tuple[str, int]]:
    return {
        p.relative_to(out).as_posix(): (_digest(p), int(p.stat().st_mtime))
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


# --- an independent validator of one row against a contract --------------------------------
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_INTEGER = re.compile(r"^-?[0-9]+$")


def _defects(row: dict[str, str], props: list[dict], fmt: dict) -> list[tuple[str, str]]:
    """(column, kind) for every rule the row breaks; values already mapped to contract names."""
    found = []
    decimal = fmt.get("decimal", ".")
    date_format = fmt.get("date_format", "%Y-%m-%d")
    for prop in props:
        name = prop["name"]
        value = row.get(name)
        value = value.strip() if isinstance(value, str) else value
        if value in (None, ""):
            if prop.get("required"):
                found.append((name, "missing_required"))
            continue
        kind = prop["logicalType"]
        typed: object = value
        if kind == "number":
            text = value.replace(decimal, ".") if decimal != "." else value
            if not _NUMBER.match(text):
                found.append((name, "not_a_number"))
                continue
            typed = float(text)
        elif kind == "integer":
            if not _INTEGER.match(value):
                found.append((name, "not_a_number"))
                continue
            typed = int(value)
        elif kind == "date":
            try:
                datetime.strptime(value, date_format)
            except ValueError:
                found.append((name, "not_a_date"))
                continue
        elif kind == "timestamp":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                found.append((name, "not_a_date"))
                continue
        elif kind == "boolean" and value.lower() not in ("true", "false"):
            found.append((name, "invalid_value"))
            continue
        options = prop.get("logicalTypeOptions") or {}
        if options.get("pattern") and not re.fullmatch(options["pattern"], value):
            found.append((name, "pattern_mismatch"))
        for rule in prop.get("quality") or []:
            allowed = (rule.get("arguments") or {}).get("validValues")
            if rule.get("metric") == "invalidValues" and allowed and value not in allowed:
                found.append((name, "invalid_value"))
        low, high = options.get("minimum"), options.get("maximum")
        if isinstance(typed, (int, float)) and (
            (low is not None and typed < low) or (high is not None and typed > high)
        ):
            found.append((name, "out_of_range"))
    return found


def _layouts(config: dict) -> list[dict]:
    """Every CSV file family: contract, glob, format, file->contract column mapping."""
    out = []
    for source, spec in config["sources"].items():
        fmt = spec.get("format") or {}
        if fmt.get("type") == "jsonl":
            continue
        out.append(
            {
                "source": source,
                "glob": spec["path"],
                "format": fmt,
                "map": None,
                "constants": {},
                "value_maps": {},
                "distributor": None,
            }
        )
    for dist in config["distributors"]:
        out.append(
            {
                "source": "distributor_sell_out",
                "glob": dist["path"],
                "format": dist.get("format") or {},
                "map": {v: k for k, v in dist["columns"].items()},
                "constants": dist.get("constants") or {},
                "value_maps": dist.get("value_maps") or {},
                "distributor": dist["id"],
            }
        )
    return out


def _scan(out: Path, config: dict) -> tuple[dict, dict]:
    """Validate every landing CSV row; return ({(file, line): [(column, kind)]}, stats)."""
    landing = out / "landing"
    status = {r["file"]: r["status"] for r in _truth(out, "files.csv")}
    bad: dict[tuple[str, int], list] = {}
    stats = {"files": 0, "rows": 0}
    for layout in _layouts(config):
        props = _columns(layout["source"])
        keys = _key_columns(layout["source"])
        seen_keys: dict[tuple, tuple[str, int]] = {}
        for path in sorted(landing.glob(layout["glob"])):
            rel = path.relative_to(landing).as_posix()
            if status.get(rel) == "duplicate":
                continue
            stats["files"] += 1
            fmt = layout["format"]
            with path.open(encoding=fmt.get("encoding", "utf-8"), newline="") as fh:
                reader = csv.reader(fh, delimiter=fmt.get("delimiter", ","))
                header = next(reader)
                for fields in reader:
                    stats["rows"] += 1
                    line = reader.line_num
                    if len(fields) != len(header):
                        bad[(rel, line)] = [("", "malformed_row")]
                        continue
                    raw = dict(zip(header, fields, strict=True))
                    if layout["map"] is None:
                        row = raw
                    else:
                        row = {layout["map"][h]: v for h, v in raw.items() if h in layout["map"]}
                        row.update(layout["constants"])
                        row["distributor_id"] = layout["distributor"]
                        for column, mapping in layout["value_maps"].items():
                            if row.get(column) in mapping:
                                row[column] = mapping[row[column]]
                    problems = _defects(row, props, fmt)
                    if not problems and keys:
                        key = tuple(row.get(k) for k in keys)
                        if key in seen_keys:
                            problems = [(keys[0], "duplicate_key")]
                        else:
                            seen_keys[key] = (rel, line)
                    if problems:
                        bad[(rel, line)] = problems
    return bad, stats


# --- tests -----------------------------------------------------------------------------------
def test_same_seed_same_bytes_and_mtimes(company, tmp_path):
    out, summary = company
    again = tmp_path / "again"
    generate_company(again, accounts=ACCOUNTS, seed=SEED, months=MONTHS)
    first, second = _tree(out), _tree(again)
    assert len(first) > 60
    assert first == second
    other = tmp_path / "other"
    generate_company(other, accounts=ACCOUNTS, seed=SEED + 1, months=MONTHS)
    crm = "landing/crm/accounts_2026-10-31.csv"
    assert _tree(other)[crm][0] != first[crm][0]
    assert summary["seconds"] < 30


def test_file_names_match_the_config_globs(company, config):
    out, summary = company
    landing = out / "landing"
    files = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()}
    truth = {r["file"]: r for r in _truth(out, "files.csv")}
    assert files == set(truth)
    labels = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert {f for f in files if f.startswith("crm/")} == {"crm/accounts_2026-10-31.csv"}
    assert {f for f in files if f.startswith("erp/")} == {f"erp/sell_in_{m}.csv" for m in labels}
    assert {f for f in files if f.startswith("calls/")} == {f"calls/calls_{m}.csv" for m in labels}
    assert {f for f in files if f.startswith("ap_spend/")} == {"ap_spend/ap_spend_2026.csv"}
    for dist in config["distributors"]:
        delivered = [r for r in truth.values() if r["distributor_id"] == dist["id"]]
        matched = sorted(landing.glob(dist["path"]))
        assert {p.relative_to(landing).as_posix() for p in matched} == {
            r["file"] for r in delivered
        }
        normal_periods = sorted(r["period"] for r in delivered if r["status"] != "duplicate")
        assert len(normal_periods) == len(set(normal_periods))  # one file per month
    statuses = [r["status"] for r in truth.values() if r["distributor_id"] != "D05"]
    assert statuses.count("late") == 1 and statuses.count("duplicate") == 1
    # the planted late-and-sloppy distributor delivers every month late
    assert {r["status"] for r in truth.values() if r["distributor_id"] == "D05"} == {"late"}
    missing = _truth(out, "missing_deliveries.csv")
    assert len(missing) == 1 and not (landing / missing[0]["expected_file"]).exists()
    dist_periods = {
        r["period"] for r in truth.values() if r["distributor_id"] == missing[0]["distributor_id"]
    }
    assert missing[0]["period"] not in dist_periods and len(dist_periods) == MONTHS - 1


def test_internal_headers_are_the_contract_columns(company, config):
    out, _ = company
    for source, spec in config["sources"].items():
        fmt = spec.get("format") or {}
        if fmt.get("type") == "jsonl":
            continue
        paths = sorted((out / "landing").glob(spec["path"]))
        assert paths, source
        expected = [p["name"] for p in _columns(source)]
        for path in paths:
            with path.open(encoding=fmt.get("encoding", "utf-8"), newline="") as fh:
                header = next(csv.reader(fh, delimiter=fmt.get("delimiter", ",")))
            assert header == expected, path


def test_distributor_files_parse_with_their_layout(company, config):
    out, _ = company
    for dist in config["distributors"]:
        fmt = dist["format"]
        paths = sorted((out / "landing").glob(dist["path"]))
        assert len(paths) >= MONTHS - 1
        for path in paths:
            raw = path.read_bytes()
            if fmt["encoding"] == "utf-8-sig":
                assert raw.startswith(b"\xef\xbb\xbf")
            else:
                assert not raw.startswith(b"\xef\xbb\xbf")
            text = raw.decode(fmt["encoding"])  # strict: every byte valid in that encoding
            assert not re.search("[\x80-\x9f]", text)  # no mojibake control characters
            rows = list(csv.reader(text.splitlines(), delimiter=fmt["delimiter"]))
            header = rows[0]
            assert set(dist["columns"].values()) <= set(header), path
            assert len(rows) > 10
            sample = dict(zip(header, rows[1], strict=True))
            datetime.strptime(sample[dist["columns"]["sale_date"]], fmt["date_format"])
            amount = sample[dist["columns"]["amount"]]
            assert fmt["decimal"] in amount and amount.count(fmt["decimal"]) == 1
            if "unit" in dist["columns"]:
                codes = {
                    dict(zip(header, r, strict=False)).get(dist["columns"]["unit"])
                    for r in rows[1:]
                }
                assert codes - {None} <= set(dist["value_maps"]["unit"]) | {"PCE", "UN", "btl"}


def test_only_the_injected_rows_break_the_contracts(company, config):
    out, summary = company
    bad, stats = _scan(out, config)
    injected = {(r["file"], int(r["line"])): r for r in _truth(out, "injected_errors.csv")}
    assert stats["rows"] > 5000
    # ~2% of the late-and-sloppy D05's lines are bad on top of a few rows per file family
    d05 = [k for k in injected if k[0].startswith("distributors/d05_")]
    assert 20 <= len(injected) - len(d05) <= 60
    assert 20 <= len(d05) <= 0.04 * stats["rows"]
    assert set(bad) == set(injected)
    for key, problems in bad.items():
        assert len(problems) == 1, (key, problems)  # exactly one defect per bad row
        column, kind = problems[0]
        assert kind == injected[key]["kind"], (key, problems, injected[key])
        if kind != "malformed_row":
            assert column == injected[key]["column"], (key, problems, injected[key])
    kinds = {r["kind"] for r in injected.values()}
    assert kinds == {
        "not_a_number",
        "not_a_date",
        "missing_required",
        "pattern_mismatch",
        "invalid_value",
        "out_of_range",
        "duplicate_key",
        "malformed_row",
    }
    per_distributor = {}
    for r in injected.values():
        if r["source"] == "distributor_sell_out":
            dist = r["file"].split("/")[1]
            per_distributor[dist] = per_distributor.get(dist, 0) + 1
    assert len(per_distributor) == len(config["distributors"])
    assert summary["bad_rows"] == len(injected)


def test_injected_lines_hold_the_recorded_values(company, config):
    """Line numbers are physical lines (header = 1) of the file as delivered."""
    out, _ = company
    formats = {d["path"].split("/")[1]: d["format"] for d in config["distributors"]}
    for r in _truth(out, "injected_errors.csv"):
        if not r["file_column"]:
            continue
        fmt = (
            formats.get(r["file"].split("/")[1], {})
            if r["file"].startswith("distributors/")
            else config["sources"][r["source"]]["format"]
        )
        path = out / "landing" / r["file"]
        lines = path.read_text(encoding=fmt.get("encoding", "utf-8")).splitlines()
        header = next(csv.reader([lines[0]], delimiter=fmt.get("delimiter", ",")))
        fields = next(csv.reader([lines[int(r["line"]) - 1]], delimiter=fmt.get("delimiter", ",")))
        assert fields[header.index(r["file_column"])] == r["value"]


def test_online_listings_shape_and_watermarks(company):
    out, _ = company
    path = out / "online_api" / "listings.jsonl"
    assert not (out / "landing" / "online").exists()
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(records) > ACCOUNTS // 2
    props = {p["name"]: p for p in _columns("online_presence")}
    for rec in records:
        assert set(rec) == {
            "id",
            "platform",
            "name",
            "address",
            "contact",
            "location",
            "metrics",
            "updated_at",
        }
        assert set(rec["address"]) == {"street", "postcode", "city"}
        assert set(rec["contact"]) == {"phone", "website"}
        assert set(rec["location"]) == {"lat", "lon"}
        assert set(rec["metrics"]) == {"rating", "review_count", "followers", "last_activity"}
        flat = {
            "source_record_id": rec["id"],
            "platform": rec["platform"],
            "name": rec["name"],
            "address": rec["address"]["street"],
            "postcode": rec["address"]["postcode"],
            "city": rec["address"]["city"],
            "phone": rec["contact"]["phone"],
            "website": rec["contact"]["website"],
            "latitude": rec["location"]["lat"],
            "longitude": rec["location"]["lon"],
            "rating": rec["metrics"]["rating"],
            "review_count": rec["metrics"]["review_count"],
            "followers": rec["metrics"]["followers"],
            "last_activity_date": rec["metrics"]["last_activity"],
            "updated_at": rec["updated_at"],
        }
        row = {k: (None if v is None else str(v)) for k, v in flat.items()}
        assert _defects(row, list(props.values()), {}) == [], rec
        assert rec["metrics"]["last_activity"] <= rec["updated_at"][:10]
    months = {r["updated_at"][:7] for r in records}
    assert len(months) >= 20  # spread over the last 24 months
    assert max(r["updated_at"] for r in records) <= "2026-11-01"
    platforms = {r["platform"] for r in records}
    assert platforms == {"maps", "social"}


def test_ground_truth_is_consistent(company, config):
    out, _ = company
    landing = out / "landing"
    accounts = _truth(out, "accounts.csv")
    outlets = {r["outlet_uid"]: r for r in _truth(out, "outlets.csv")}
    crm_ids = {r["account_id"] for r in accounts}
    assert len(accounts) == ACCOUNTS
    with (landing / "crm" / "accounts_2026-10-31.csv").open(encoding="utf-8", newline="") as fh:
        crm_rows = list(csv.DictReader(fh))
    assert {r["account_id"] for r in crm_rows} == crm_ids
    dups = [r for r in accounts if r["is_crm_duplicate_of"]]
    assert 1 <= len(dups) <= ACCOUNTS * 0.03
    by_id = {r["account_id"]: r for r in accounts}
    for r in dups:
        assert by_id[r["is_crm_duplicate_of"]]["outlet_uid"] == r["outlet_uid"]
    assert sum(1 for o in outlets.values() if o["in_crm"] == "false") >= ACCOUNTS * 0.05

    customers = _truth(out, "distributor_customers.csv")
    assert customers
    for c in customers:
        outlet = outlets[c["outlet_uid"]]
        if c["account_id"]:
            assert c["account_id"] in crm_ids
            assert by_id[c["account_id"]]["outlet_uid"] == c["outlet_uid"]
            assert not by_id[c["account_id"]]["is_crm_duplicate_of"]
        else:
            assert outlet["in_crm"] == "false"
    assert any(not c["account_id"] for c in customers)  # prospects buy through distributors
    known = {(c["distributor_id"], c["distributor_account_code"]) for c in customers}
    codes_in_files = set()
    for dist in config["distributors"]:
        fmt = dist["format"]
        code_col = dist["columns"]["distributor_account_code"]
        for path in (landing).glob(dist["path"]):
            with path.open(encoding=fmt["encoding"], newline="") as fh:
                for row in csv.DictReader(fh, delimiter=fmt["delimiter"]):
                    if row.get(code_col):
                        codes_in_files.add((dist["id"], row[code_col]))
    # every code in the files is known; a code can only be missing from the files when its
    # one line had the code blanked by an injected defect
    assert codes_in_files <= known
    assert len(known - codes_in_files) <= 1

    listing_ids = {
        json.loads(line)["id"]
        for line in (out / "online_api" / "listings.jsonl").read_text(encoding="utf-8").splitlines()
    }
    online = _truth(out, "online_listings.csv")
    assert {r["source_record_id"] for r in online} == listing_ids
    external = _truth(out, "external_records.csv")
    with next(landing.glob("external/*.csv")).open(encoding="utf-8", newline="") as fh:
        ext_ids = {r["external_id"] for r in csv.DictReader(fh, delimiter="|")}
    assert {r["external_id"] for r in external} == ext_ids
    for rows in (online, external):
        for r in rows:
            assert r["outlet_uid"] in outlets
            assert (r["account_id"] or None) == (outlets[r["outlet_uid"]]["account_id"] or None)


def test_deliveries_duplicate_late_and_mtimes(company, config):
    out, _ = company
    landing = out / "landing"
    files = _truth(out, "files.csv")
    for r in files:
        delivered = datetime.fromisoformat(r["delivered_at"]).replace(tzinfo=UTC)
        assert int((landing / r["file"]).stat().st_mtime) == int(delivered.timestamp()), r
    dup = next(r for r in files if r["status"] == "duplicate")
    assert (landing / dup["file"]).read_bytes() == (landing / dup["duplicate_of"]).read_bytes()
    original = next(r for r in files if r["file"] == dup["duplicate_of"])
    assert dup["delivered_at"] > original["delivered_at"]
    late = next(r for r in files if r["status"] == "late" and r["distributor_id"] != "D05")
    dist = next(d for d in config["distributors"] if d["id"] == late["distributor_id"])
    period_end = (np.datetime64(late["period"], "M") + 1).astype("datetime64[D]") - 1
    due = period_end + dist["delivery"]["due_days_after_month_end"]
    days_late = (np.datetime64(late["delivered_at"][:10]) - due).astype(int)
    assert days_late == 25
    for r in files:
        if r["distributor_id"] and r["status"] == "normal":
            period_end = (np.datetime64(r["period"], "M") + 1).astype("datetime64[D]") - 1
            lag = (np.datetime64(r["delivered_at"][:10]) - period_end).astype(int)
            assert 1 <= lag <= 20


def test_pareto_shape_of_the_accounts(company):
    out, _ = company
    accounts = _truth(out, "accounts.csv")
    value = np.sort(
        [float(r["true_category_potential_eur"]) * float(r["true_brand_share"]) for r in accounts]
    )[::-1]
    top = value[: len(value) // 5].sum() / value.sum()
    assert top >= 0.60
    shares = np.array([float(r["true_brand_share"]) for r in accounts])
    assert 0.08 < shares.mean() < 0.25 and shares.max() <= 0.8  # A&P uplift up to +30%
    channels = [r["channel"] for r in accounts]
    assert max(set(channels), key=channels.count) == "bar_restaurant"


def test_sell_out_follows_the_truth(company, config):
    """Sell-out revenue per outlet over the window tracks potential x share."""
    out, _ = company
    customers = {
        (c["distributor_id"], c["distributor_account_code"]): c["outlet_uid"]
        for c in _truth(out, "distributor_customers.csv")
    }
    status = {r["file"]: r["status"] for r in _truth(out, "files.csv")}
    revenue: dict[str, float] = {}
    lines = 0
    for dist in config["distributors"]:
        fmt, cols = dist["format"], dist["columns"]
        for path in (out / "landing").glob(dist["path"]):
            if status[path.relative_to(out / "landing").as_posix()] == "duplicate":
                continue
            with path.open(encoding=fmt["encoding"], newline="") as fh:
                for row in csv.DictReader(fh, delimiter=fmt["delimiter"]):
                    uid = customers.get((dist["id"], row.get(cols["distributor_account_code"])))
                    try:
                        amount = float(row[cols["amount"]].replace(fmt["decimal"], "."))
                    except (ValueError, AttributeError, KeyError):
                        continue
                    if uid:
                        revenue[uid] = revenue.get(uid, 0.0) + amount
                        lines += 1
    outlets = {r["outlet_uid"]: r for r in _truth(out, "outlets.csv")}
    assert lines / len(outlets) > 10  # months=6: a quarter of the 24-month volume
    truth = np.array(
        [
            float(outlets[u]["true_category_potential_eur"])
            * float(outlets[u]["true_brand_share"])
            / 12
            * MONTHS
            for u in revenue
        ]
    )
    actual = np.array(list(revenue.values()))
    assert np.corrcoef(truth, actual)[0, 1] > 0.8
    assert 0.7 < actual.sum() / truth.sum() < 1.2


def test_vocabulary_and_text_fit_latin1():
    for word in names.all_vocabulary():
        word.encode("latin-1")
    assert len(names.all_vocabulary()) > 500


def test_summary_counts(company):
    out, summary = company
    fams = summary["families"]
    assert fams["crm_accounts"]["rows"] >= ACCOUNTS
    assert fams["online_api"]["rows"] == len(_truth(out, "online_listings.csv"))
    assert summary["ground_truth"]["injected_errors"] == summary["bad_rows"]
    assert os.path.isdir(out / "ground_truth")


# --- planted route-to-market patterns (issue 5), on the pipeline tests' company ------------------
PATTERN_ACCOUNTS, PATTERN_SEED, PATTERN_MONTHS = 800, 7, 24


@pytest.fixture(scope="module")
def company24(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample24")
    generate_company(out, accounts=PATTERN_ACCOUNTS, seed=PATTERN_SEED, months=PATTERN_MONTHS)
    return out


def _read_csv(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[dict]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def _month_index(label: str, last: str = "2026-10") -> int:
    """0 for the window's first month ... PATTERN_MONTHS - 1 for its last."""
    y, m = int(label[:4]), int(label[5:7])
    ly, lm = int(last[:4]), int(last[5:7])
    return PATTERN_MONTHS - 1 - ((ly - y) * 12 + lm - m)


def _sell_out_by_account_month(out: Path, config: dict) -> dict[tuple[str, int], float]:
    """Sell-out value per CRM account and month index, from the delivered distributor files."""
    customers = {
        (c["distributor_id"], c["distributor_account_code"]): c["account_id"]
        for c in _truth(out, "distributor_customers.csv")
        if c["account_id"]
    }
    status = {r["file"]: r["status"] for r in _truth(out, "files.csv")}
    value: dict[tuple[str, int], float] = {}
    for dist in config["distributors"]:
        fmt, cols = dist["format"], dist["columns"]
        for path in (out / "landing").glob(dist["path"]):
            if status[path.relative_to(out / "landing").as_posix()] == "duplicate":
                continue
            for row in _read_csv(path, fmt["delimiter"], fmt["encoding"]):
                acc = customers.get((dist["id"], row.get(cols["distributor_account_code"])))
                try:
                    amount = float(row[cols["amount"]].replace(fmt["decimal"], "."))
                    day = datetime.strptime(row[cols["sale_date"]], fmt["date_format"])
                except (ValueError, AttributeError, KeyError, TypeError):
                    continue
                if acc:
                    key = (acc, _month_index(f"{day.year}-{day.month:02d}"))
                    value[key] = value.get(key, 0.0) + amount
    return value


def test_call_patterns_are_planted_in_the_calls(company24):
    out = company24
    planted = _truth(out, "call_patterns.csv")
    assert set(planted[0]) == {"account_id", "pattern", "planted_calls_per_year"}
    by_pattern = {
        p: [r for r in planted if r["pattern"] == p] for p in ("over_served", "under_served")
    }
    assert {r["pattern"] for r in planted} == set(by_pattern)
    crm = {r["account_id"]: r for r in _read_csv(next((out / "landing").glob("crm/*.csv")))}
    truth = {r["account_id"]: r for r in _truth(out, "accounts.csv")}
    reps = {
        r["rep_id"]: r for r in _read_csv(next((out / "landing").glob("sales_force/reps_*.csv")))
    }
    active = [
        a for a, r in truth.items() if not r["is_crm_duplicate_of"] and crm[a]["status"] == "active"
    ]
    for rows in by_pattern.values():
        assert 20 <= len(rows) <= 0.06 * len(active)
        for r in rows:
            assert r["account_id"] in crm and crm[r["account_id"]]["status"] == "active"
            assert not truth[r["account_id"]]["is_crm_duplicate_of"]
    # calls of the last 12 months, per account
    calls: dict[str, list[dict]] = {}
    for path in sorted((out / "landing").glob("calls/*.csv")):
        if _month_index(path.stem[-7:]) >= PATTERN_MONTHS - 12:
            for row in _read_csv(path):
                calls.setdefault(row["account_id"], []).append(row)
    value = {
        a: float(r["true_category_potential_eur"]) * float(r["base_share"])
        for a, r in truth.items()
    }
    potential = {a: float(r["true_category_potential_eur"]) for a, r in truth.items()}
    pot_median = np.median([potential[a] for a in active])
    value_p40 = np.quantile([value[a] for a in active], 0.4)
    pot_p85 = np.quantile([potential[a] for a in active], 0.85)
    over_calls = []
    for r in by_pattern["over_served"]:
        acc = r["account_id"]
        assert 24 <= float(r["planted_calls_per_year"]) <= 40
        assert value[acc] <= value_p40 * 1.01 and potential[acc] <= pot_median * 1.01
        owner = crm[acc]["owner_rep_id"]
        assert reps[owner]["role"] == "field_rep"
        visits = [
            c for c in calls.get(acc, []) if c["rep_id"] == owner and c["contact_mode"] == "visit"
        ]
        over_calls.append(len(visits))
    assert min(over_calls) >= 10 and np.mean(over_calls) >= 20
    for r in by_pattern["under_served"]:
        acc = r["account_id"]
        assert float(r["planted_calls_per_year"]) <= 1
        assert potential[acc] >= pot_p85 * 0.99
        assert len(calls.get(acc, [])) <= 1


def test_late_and_sloppy_distributor(company24, config):
    out = company24
    landing = out / "landing"
    patterns = {r["distributor_id"]: r for r in _truth(out, "distributor_patterns.csv")}
    assert {d: r["pattern"] for d, r in patterns.items()} == {
        d["id"]: "late_and_sloppy" if d["id"] == "D05" else "reliable"
        for d in config["distributors"]
    }
    dists = {d["id"]: d for d in config["distributors"]}
    files = [r for r in _truth(out, "files.csv") if r["source"] == "distributor_sell_out"]
    for r in files:
        if r["status"] == "duplicate":
            continue
        period_end = (np.datetime64(r["period"], "M") + 1).astype("datetime64[D]") - 1
        due = period_end + dists[r["distributor_id"]]["delivery"]["due_days_after_month_end"]
        late = int((np.datetime64(r["delivered_at"][:10]) - due).astype(int))
        if r["distributor_id"] == "D05":
            assert 8 <= late <= 25 and r["status"] == "late", r
        elif r["status"] != "late":
            assert late <= 0, r
    assert sum(r["status"] == "late" for r in files if r["distributor_id"] != "D05") == 1
    # bad lines: D05 sends far more of them (all recorded in the injected errors)
    rows = {d: 0 for d in dists}
    for r in files:
        if r["status"] != "duplicate":
            fmt = dists[r["distributor_id"]]["format"]
            with (landing / r["file"]).open(encoding=fmt["encoding"], newline="") as fh:
                rows[r["distributor_id"]] += sum(1 for _ in fh) - 1
    bad = {d: 0 for d in dists}
    for e in _truth(out, "injected_errors.csv"):
        if e["source"] == "distributor_sell_out":
            bad[next(d for d in dists if e["file"].startswith(dists[d]["path"].split("*")[0]))] += 1
    rate = {d: bad[d] / rows[d] for d in dists}
    assert 0.01 <= rate["D05"] <= 0.04
    assert all(rate["D05"] > 5 * rate[d] for d in dists if d != "D05")
    # declarations: the reliable ones declare their file's lines and value, D05 does not
    fmt_decl = config["sources"]["distributor_declarations"]["format"]
    declared = {}
    for path in sorted(landing.glob(config["sources"]["distributor_declarations"]["path"])):
        for r in _read_csv(path, fmt_decl["delimiter"]):
            assert (r["distributor_id"], r["period"]) not in declared
            assert path.stem.endswith(r["period"])
            declared[(r["distributor_id"], r["period"])] = r
    delivered = {(r["distributor_id"], r["period"]): r for r in files if r["status"] != "duplicate"}
    assert set(declared) == set(delivered)  # a missing month is not declared, a resent one once
    missing = _truth(out, "missing_deliveries.csv")
    assert missing and all((m["distributor_id"], m["period"]) not in declared for m in missing)
    for key, r in delivered.items():
        d = dists[key[0]]
        fmt = d["format"]
        lines = _read_csv(landing / r["file"], fmt["delimiter"], fmt["encoding"])
        amount = 0.0
        for row in lines:
            with contextlib.suppress(ValueError, AttributeError, KeyError, TypeError):
                amount += float(row[d["columns"]["amount"]].replace(fmt["decimal"], "."))
        decl = declared[key]
        assert decl["declared_at"] == r["delivered_at"][:10]
        off = abs(float(decl["declared_amount_eur"]) / amount - 1)
        if key[0] == "D05":
            assert 0.035 <= off <= 0.13, (key, off)
            assert int(decl["declared_lines"]) != len(lines)
        else:
            assert off < 0.01, (key, off)
            assert int(decl["declared_lines"]) == len(lines)


def test_late_and_sloppy_distributor_over_reports(company24, config):
    """Over the last 12 months D05's reported sell-out clearly exceeds what it bought from us;
    the reliable distributors' sell-out stays close to their sell-in."""
    out = company24
    landing = out / "landing"
    over = _truth(out, "distributor_patterns.csv")[-1]["over_reported_periods"].split(";")
    assert len(over) == 2 and all(_month_index(p) >= PATTERN_MONTHS - 12 for p in over)
    products = _read_csv(next(landing.glob("products/*.csv")))
    bpc = {p["sku"]: int(p["bottles_per_case"]) for p in products}
    bpc.update({p["ean"]: int(p["bottles_per_case"]) for p in products})
    since = PATTERN_MONTHS - 12
    sell_in = {}
    for path in landing.glob("erp/*.csv"):
        if _month_index(path.stem[-7:]) < since:
            continue
        for r in _read_csv(path):
            if r["customer_type"] == "distributor" and r["sku"] in bpc:
                try:
                    q = int(r["quantity"]) * (bpc[r["sku"]] if r["unit"] == "case" else 1)
                except ValueError:
                    continue
                sell_in[r["customer_id"]] = sell_in.get(r["customer_id"], 0) + q
    declared = {}
    for path in landing.glob(config["sources"]["distributor_declarations"]["path"]):
        for r in _read_csv(path):
            if _month_index(r["period"]) >= since:
                declared[r["distributor_id"]] = declared.get(r["distributor_id"], 0) + int(
                    r["declared_bottles"]
                )
    status = {r["file"]: r for r in _truth(out, "files.csv")}
    sold = {}
    for d in config["distributors"]:
        fmt, cols = d["format"], d["columns"]
        unit_map = (d.get("value_maps") or {}).get("unit", {})
        for path in landing.glob(d["path"]):
            rec = status[path.relative_to(landing).as_posix()]
            if rec["status"] == "duplicate" or _month_index(rec["period"]) < since:
                continue
            for row in _read_csv(path, fmt["delimiter"], fmt["encoding"]):
                unit = unit_map.get(
                    row.get(cols.get("unit", "")), (d.get("constants") or {}).get("unit")
                )
                try:
                    q = int(float(row[cols["quantity"]].replace(fmt["decimal"], ".")))
                    size = bpc[row[cols["product_code"]]]
                except (ValueError, KeyError, AttributeError):
                    continue
                if unit in ("bottle", "case") and abs(q) <= 10000:
                    sold[d["id"]] = sold.get(d["id"], 0) + q * (size if unit == "case" else 1)
    ratio = {d: sold[d] / sell_in[d] for d in sold}
    assert ratio["D05"] > 1.2, ratio
    for d, r in ratio.items():
        if d not in ("D05", "D03"):  # D03 skipped a month: less reported than bought
            assert 0.85 < r < 1.08, ratio
    assert declared["D05"] > 1.1 * sell_in["D05"]


def test_ap_effects_by_spend_type(company24):
    out = company24
    landing = out / "landing"
    effects = {r["spend_type"]: r for r in _truth(out, "ap_effects.csv")}
    assert list(next(iter(effects.values()))) == [
        "spend_type",
        "true_uplift",
        "accounts",
        "accounts_with_6m_pre_post",
    ]
    assert float(effects["pos_material"]["true_uplift"]) == 0
    for name, r in effects.items():
        assert int(r["accounts_with_6m_pre_post"]) >= 15, r
        if name != "pos_material":
            assert 0.2 <= float(r["true_uplift"]) <= 0.3
    spend: dict[str, dict] = {}
    for path in landing.glob("ap_spend/*.csv"):
        for r in _read_csv(path, ";"):
            try:
                day = datetime.strptime(r["spend_date"], "%d/%m/%Y")
            except ValueError:
                continue
            acc = spend.setdefault(r["account_id"], {"types": set(), "first": 99})
            acc["types"].add(r["spend_type"])
            acc["first"] = min(acc["first"], _month_index(f"{day.year}-{day.month:02d}"))
    truth = {r["account_id"]: r for r in _truth(out, "accounts.csv")}
    crm = {r["account_id"]: r for r in _read_csv(next(landing.glob("crm/*.csv")))}
    active = [
        a for a, r in truth.items() if not r["is_crm_duplicate_of"] and crm[a]["status"] == "active"
    ]
    assert 0.2 <= len(spend) / len(active) <= 0.32
    known = {t for t in effects}
    typed = {}
    for acc, s in spend.items():
        s["types"] &= known  # one line may carry an injected bad type
        assert len(s["types"]) == 1, (acc, s)
        typed[acc] = next(iter(s["types"]))
    for name, r in effects.items():
        assert sum(t == name for t in typed.values()) == int(r["accounts"])
    # the planted effect shows in the sell-out: 6 months after vs 6 months before the first
    # spend, against the same months of accounts without spend
    value = _sell_out_by_account_month(out, yaml.safe_load(DEFAULT_COMPANY_CONFIG.read_text()))
    accounts = sorted({a for a, _ in value})
    months = np.zeros((len(accounts), PATTERN_MONTHS))
    row = {a: i for i, a in enumerate(accounts)}
    for (a, m), v in value.items():
        months[row[a], m] += v
    control = months[[row[a] for a in accounts if a not in spend]].sum(axis=0)
    # per account: log(after / before) minus the same for the accounts without spend
    lift: dict[str, list[float]] = {name: [] for name in effects}
    for acc, t in typed.items():
        f = spend[acc]["first"]
        if acc not in row or not 6 <= f <= PATTERN_MONTHS - 6:
            continue
        v = months[row[acc]]
        pre, post = v[f - 6 : f].sum(), v[f : f + 6].sum()
        if pre > 0:
            base = np.log(control[f : f + 6].sum() / control[f - 6 : f].sum())
            lift[t].append(np.log((post + 1) / (pre + 1)) - base)
    assert all(len(v) >= 10 for v in lift.values()), {k: len(v) for k, v in lift.items()}
    useless = np.exp(np.median(lift["pos_material"])) - 1
    useful = np.exp(np.median([x for k, v in lift.items() if k != "pos_material" for x in v])) - 1
    assert abs(useless) < 0.12, useless
    assert useful > 0.12 and useful > useless + 0.1, (useful, useless)
