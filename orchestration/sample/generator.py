"""Seeded generator of the sample company "Distillerie Aurore" (a French spirits maker).

    generate_company(out_dir, accounts=15000, seed=42, months=24, end_month="2026-10")

writes, under out_dir:

- landing/...          the source files, at the paths and in the layouts of the company
                       config (CRM, ERP sell-in, products, sales force, calls, A&P, surveys,
                       external firmographics, one sell-out file per distributor and month);
- online_api/listings.jsonl   what the local listings API serves (pulled over HTTP);
- ground_truth/...     the truth the pipeline never reads: true potential and share per
                       account, which distributor code / listing / external record is which
                       outlet, every injected bad row (file, line, column, kind), every
                       delivered file (late, duplicate) and the planted patterns below.

Planted route-to-market patterns, each with its ground truth file:

- call_patterns.csv (account_id, pattern, planted_calls_per_year): ~4% of active CRM
  accounts over_served (small, low potential, visited 24-40 times a year by their field
  rep) and ~4% under_served (top-15% potential, low share, 0-1 calls a year);
- distributor_patterns.csv (distributor_id, pattern, over_reported_periods): D05 is
  late_and_sloppy (every report 8-25 days after its due date, ~2% bad lines, portal
  declarations 4-12% off its lines, two months over-reported beyond what it bought from
  us), the others reliable (apart from the one-off missing, late and resent files);
- ap_effects.csv (spend_type, true_uplift, accounts, accounts_with_6m_pre_post): the
  sell-out uplift after an account's first A&P spend depends on its (single) spend type;
  pos_material is useless (no uplift).

The distributor portal's monthly export (distributors/declarations/) holds what each
distributor declared for its report: the file's own totals for the reliable ones.

Same seed and arguments give byte-identical files (mtimes included). Work is vectorised
and chunked over outlets, so memory stays flat from 15k to 1M accounts.

Command line: python -m orchestration.sample.generator OUT_DIR [--accounts N] [--seed S]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from orchestration.sample import defects, noise
from orchestration.sample import names as V
from orchestration.sample.csvout import CsvSink, Layout, render_lines, set_mtime
from orchestration.sample.facts import (
    AP_UPLIFT,
    CALL_PATTERNS,
    CONTACT_MODES,
    MODE_PROBS,
    OUTCOME_P,
    OUTCOMES,
    OVER_SERVED,
    RESOURCE_TYPES,
    SPEND_TYPES,
    UNDER_SERVED,
    call_counts,
    call_rates,
    cap_calls_per_year,
    plant_call_patterns,
    simulate_purchases,
    spend_types_for,
)
from orchestration.sample.util import (
    Window,
    choice_rows,
    choice_weighted,
    fmt_ids,
    grouped_pick,
    latin1_safe,
    pick,
    random_days,
    stream,
    strip_accents,
    to_arrow,
    to_object,
    where,
)
from orchestration.sample.world import (
    BAR,
    CHANNELS,
    CONV,
    ETAIL,
    HYPER,
    LOYAL,
    PATTERNS,
    SIZE_BANDS,
    SPEC,
    SUPER,
    WHOLE,
    build_crm,
    build_outlets,
    build_products,
    build_relations,
    build_sales_force,
    load_communes,
    true_brand_share,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_COMPANY_CONFIG = REPO_ROOT / "examples" / "sample_company" / "company.yaml"
CONTRACTS_DIR = REPO_ROOT / "data_contracts"
CHUNK_OUTLETS = 25_000
CHUNK_ACCOUNTS = 100_000

CUSTOMER_COLUMNS = (
    "distributor_account_code",
    "account_name",
    "address",
    "postcode",
    "city",
    "phone",
    "siret",
)
LINE_COLUMNS = ("product_code", "quantity", "unit", "amount", "sale_date", "invoice_ref")
MARKUPS = {"D01": 1.22, "D02": 1.25, "D03": 1.18, "D04": 1.24, "D05": 1.20}
INVOICE_REFS = {
    "D01": "'FA' || strftime(sale_date, '%y%m') || '-' || printf('%06d', inv)",
    "D02": "'INV-' || strftime(sale_date, '%y%m') || printf('%06d', inv)",
    "D03": "strftime(sale_date, '%y%m') || printf('%06d', inv)",
    "D04": "'NB' || strftime(sale_date, '%y%m') || printf('%06d', inv)",
    "D05": "'F' || strftime(sale_date, '%y%m') || '/' || printf('%06d', inv)",
}
NAF = {
    HYPER: ["47.11F"],
    SUPER: ["47.11D"],
    CONV: ["47.11B", "47.11C"],
    SPEC: ["47.25Z"],
    BAR: ["56.30Z", "56.10A", "56.10C"],
    ETAIL: ["47.91B"],
    WHOLE: ["46.34Z"],
}
NAF_P = {CONV: [0.6, 0.4], BAR: [0.6, 0.35, 0.05]}
SPIRITS_SHARE_OF_REVENUE = np.array([0.03, 0.04, 0.06, 0.35, 0.18, 0.5, 0.25])
REVENUE_BANDS = ("<0.5M", "0.5-2M", "2-10M", "10-50M", ">50M")
# The planted late-and-sloppy distributor: every report 8-25 days after its due date, ~2% of
# its lines broken (quarantined by ingestion), declarations that do not match its lines, and
# two months of sell-out over-reported (quantities x OVER_REPORT_FACTOR) beyond what it
# bought. The other distributors are reliable.
LATE_AND_SLOPPY = "D05"
SLOPPY_BAD_LINE_RATE = 0.02
SLOPPY_DAYS_LATE = (8, 25)
OVER_REPORT_FACTOR = 3
# A&P design: steady customers with at least this yearly brand value get most of the spend;
# turns of each spend type (SPEND_TYPES order) among those measurable before and after
AP_STEADY_MIN_EUR = 600.0
AP_DESIGN_TURNS = np.array([1, 1, 2, 1, 1, 1])


# ---------------------------------------------------------------------------------------
@dataclass
class FileRecord:
    file: str
    source: str
    distributor_id: str
    period: str
    delivered_at: datetime
    status: str = "normal"
    duplicate_of: str = ""


@dataclass
class Ctx:
    out_dir: Path
    landing: Path
    seed: int
    window: Window
    cfg: dict
    con: duckdb.DuckDBPyConnection
    columns: dict[str, list[str]]
    files: list[FileRecord] = field(default_factory=list)
    sinks: list[tuple[CsvSink, str]] = field(default_factory=list)  # (sink, family)

    def source_layout(self, source: str) -> Layout:
        fmt = (self.cfg.get("sources", {}).get(source) or {}).get("format") or {}
        return Layout.from_format(fmt)

    def source_path(self, source: str, token: str) -> str:
        pattern = (self.cfg.get("sources", {}).get(source) or {}).get("path")
        if not pattern:
            raise KeyError(f"company config has no sources.{source}.path")
        return pattern.replace("*", token, 1)

    def open_sink(
        self,
        source: str,
        rel: str,
        header: list[str],
        layout: Layout,
        period: str,
        family: str,
        distributor_id: str | None = None,
    ) -> CsvSink:
        sink = CsvSink(self.landing / rel, rel, header, layout, source, distributor_id, period)
        self.sinks.append((sink, family))
        return sink


# Typical headcount and yearly category potential of an outlet, by channel index (same
# order as the channel list): headcount scales with potential relative to the typical one.
_TYPICAL_HEADCOUNT = np.array([150, 35, 4, 3, 6, 12, 40], float)
_TYPICAL_POTENTIAL = np.array([380_000, 65_000, 8_000, 26_000, 9_500, 110_000, 420_000], float)


def _headcount(rng, channel, potential, elasticity: float, noise: float, bounds) -> np.ndarray:
    """People at an outlet as a surveyor or a business register would count them."""
    scale = (potential / _TYPICAL_POTENTIAL[channel]) ** elasticity
    noisy = _TYPICAL_HEADCOUNT[channel] * scale * rng.lognormal(0, noise, len(channel))
    return np.clip(np.round(noisy), *bounds).astype(np.int64)


def _contract_columns() -> dict[str, list[str]]:
    out = {}
    for path in sorted(CONTRACTS_DIR.glob("*.odcs.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        schema = doc["schema"][0]
        out[schema["name"]] = [p["name"] for p in schema["properties"]]
    return out


def _at(day: np.datetime64, hour: float) -> datetime:
    base = datetime.fromisoformat(str(day))
    return base + timedelta(minutes=int(hour * 60))


def _check_header(ctx: Ctx, source: str, columns: list[tuple[str, str]]) -> list[str]:
    names = [c[0] for c in columns]
    expected = ctx.columns[source]
    if names != expected:
        raise AssertionError(f"{source}: generator columns {names} != contract {expected}")
    return names


# ---------------------------------------------------------------------------------------
# What generate_company reports to its progress callback, in order.
GENERATION_PARTS = (
    "outlets and products",
    "CRM, products, sales force",
    "sell-out and sell-in",
    "calls, A&P, surveys",
    "external and online records",
    "ground truth",
)


def generate_company(
    out_dir: Path,
    accounts: int = 15000,
    seed: int = 42,
    months: int = 24,
    end_month: str = "2026-10",
    company_config: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Generate the sample company into out_dir; return a summary of what was written.

    `progress(done, total, what)` is called as each part is built and written (rtm sample
    draws its bar from it)."""
    parts = iter(enumerate([*GENERATION_PARTS, "written"]))

    def next_part() -> None:
        if progress is not None:
            done, what = next(parts)
            progress(done, len(GENERATION_PARTS), what)

    started = time.perf_counter()
    if accounts < 20:
        raise ValueError("accounts must be at least 20")
    if months < 1:
        raise ValueError("months must be at least 1")
    out_dir = Path(out_dir)
    config_path = Path(company_config) if company_config else DEFAULT_COMPANY_CONFIG
    cfg = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for sub in ("landing", "online_api", "ground_truth"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    landing = out_dir / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    window = Window(end_month, months)

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET threads = 2")
    ctx = Ctx(out_dir, landing, seed, window, cfg, con, _contract_columns())

    next_part()
    products = build_products(seed, window)
    communes = load_communes()
    outlets, n_dup = build_outlets(seed, accounts, communes, products, window)
    sf = build_sales_force(seed, communes, outlets, accounts)
    crm = build_crm(seed, outlets, n_dup, communes, sf, window)
    dists = cfg.get("distributors") or []
    dist_ids = [d["id"] for d in dists]
    rel = build_relations(seed, outlets, communes, dist_ids, window)
    crm_row_of_outlet = np.full(len(outlets), -1, dtype=np.int64)
    originals = np.flatnonzero(crm.dup_of < 0)
    crm_row_of_outlet[crm.outlet[originals]] = originals

    ap = _ap_spend_rows(ctx, outlets, crm)  # also sets outlets.ap_month (A&P uplift)
    truth_share = true_brand_share(outlets, window)

    next_part()
    _write_products(ctx, products)
    _write_territories(ctx, sf)
    _write_reps(ctx, sf, communes)
    _write_crm(ctx, outlets, crm, communes, sf)
    next_part()
    sell = _write_sell_out_and_direct(
        ctx, outlets, crm, rel, products, communes, dists, crm_row_of_outlet
    )
    next_part()
    calls = _write_calls(ctx, outlets, crm, sf, rel, dist_ids, sell["dist_reps"])
    _write_ap_spend(ctx, ap, crm)
    _write_surveys(ctx, outlets, crm, sf)
    next_part()
    ext = _write_external(ctx, outlets, communes, crm_row_of_outlet, crm)
    online = _write_online(ctx, outlets, communes, crm_row_of_outlet, crm)

    next_part()
    _close_all(ctx, dists)
    gt = _write_ground_truth(ctx, outlets, crm, truth_share, sell, ext, online, communes)
    gt.update(_write_pattern_truth(ctx, crm, sell, calls, ap, dists))
    con.close()
    next_part()

    families: dict[str, dict] = {}
    for sink, family in ctx.sinks:
        f = families.setdefault(family, {"files": 0, "rows": 0, "bad_rows": 0})
        f["files"] += 1
        f["rows"] += sink.rows
        f["bad_rows"] += len(sink.errors)
    for rec in ctx.files:
        if rec.status == "duplicate":
            fam = rec.distributor_id or rec.source
            families[fam]["files"] += 1
    families["online_api"] = {"files": 1, "rows": online["count"], "bad_rows": 0}
    return {
        "out_dir": str(out_dir),
        "accounts": accounts,
        "outlets": len(outlets),
        "seed": seed,
        "months": months,
        "end_month": end_month,
        "families": families,
        "bad_rows": sum(f["bad_rows"] for f in families.values()),
        "ground_truth": gt,
        "special_files": sell["special"],
        "seconds": round(time.perf_counter() - started, 2),
    }


# ---------------------------------------------------------------------------------------
def _snapshot_token(window: Window) -> str:
    return str(window.last_day)


def _snapshot_delivery(window: Window, rng, hours=(1.5, 5.0)) -> datetime:
    return _at(window.last_day + 1, rng.uniform(*hours))


def _write_table(
    ctx: Ctx,
    source: str,
    table: pa.Table,
    columns: list[tuple[str, str]],
    token: str,
    period: str,
    delivered_at: datetime,
    family: str | None = None,
    inject: bool = False,
    rng=None,
) -> CsvSink:
    header = _check_header(ctx, source, columns)
    layout = ctx.source_layout(source)
    rel = ctx.source_path(source, token)
    sink = ctx.open_sink(source, rel, header, layout, period, family or source)
    if inject:
        sink.pending = defects.internal_plan(source, header, _fmt(ctx, source))
    if table.num_rows:
        sink.write(render_lines(ctx.con, table, columns, layout), rng)
    sink.close(delivered_at)
    ctx.files.append(FileRecord(rel, source, "", period, delivered_at))
    return sink


def _fmt(ctx: Ctx, source: str) -> dict:
    return dict((ctx.cfg.get("sources", {}).get(source) or {}).get("format") or {})


def _write_products(ctx: Ctx, p) -> None:
    rng = stream(ctx.seed, "deliver.products")
    table = pa.table(
        {
            "sku": to_arrow(p.sku),
            "ean": to_arrow(p.ean),
            "product_name": to_arrow(p.name),
            "brand": to_arrow(p.brand),
            "category": to_arrow(p.category),
            "bottle_size_l": pa.array(p.size_l),
            "bottles_per_case": pa.array(p.bottles_per_case),
            "list_price": pa.array(p.list_price),
            "unit_cost": pa.array(p.unit_cost),
            "launch_date": pa.array(p.launch_date),
            "status": to_arrow(p.status),
        }
    )
    cols = [
        ("sku", "raw"),
        ("ean", "raw"),
        ("product_name", "text"),
        ("brand", "text"),
        ("category", "raw"),
        ("bottle_size_l", "dec1"),
        ("bottles_per_case", "int"),
        ("list_price", "dec2"),
        ("unit_cost", "dec2"),
        ("launch_date", "date"),
        ("status", "raw"),
    ]
    _write_table(
        ctx,
        "products",
        table,
        cols,
        _snapshot_token(ctx.window),
        ctx.window.labels[-1],
        _snapshot_delivery(ctx.window, rng),
    )


def _write_territories(ctx: Ctx, sf) -> None:
    rng = stream(ctx.seed, "deliver.territories")
    table = pa.table(
        {
            "territory_id": to_arrow(sf.territory_id),
            "territory_name": to_arrow(sf.territory_name),
            "region": to_arrow(pick(V.REGIONS, sf.territory_region)),
            "departments": pa.array([";".join(d) for d in sf.territory_depts]),
            "manager_name": to_arrow(pick(sf.region_manager, sf.territory_region)),
        }
    )
    cols = [
        ("territory_id", "raw"),
        ("territory_name", "text"),
        ("region", "text"),
        ("departments", "text"),
        ("manager_name", "text"),
    ]
    _write_table(
        ctx,
        "territories",
        table,
        cols,
        _snapshot_token(ctx.window),
        ctx.window.labels[-1],
        _snapshot_delivery(ctx.window, rng),
    )


def _write_reps(ctx: Ctx, sf, communes) -> None:
    rng = stream(ctx.seed, "deliver.reps")
    table = pa.table(
        {
            "rep_id": to_arrow(sf.rep_id),
            "rep_name": to_arrow(sf.rep_name),
            "role": to_arrow(sf.role),
            "territory_id": to_arrow(sf.territory_id[sf.rep_territory]),
            "home_postcode": to_arrow(communes.postcode[sf.home_commune]),
            "home_latitude": pa.array(sf.home_lat),
            "home_longitude": pa.array(sf.home_lon),
            "weekly_capacity_hours": pa.array(sf.capacity),
            "start_date": pa.array(sf.start_date),
        }
    )
    cols = [
        ("rep_id", "raw"),
        ("rep_name", "text"),
        ("role", "raw"),
        ("territory_id", "raw"),
        ("home_postcode", "raw"),
        ("home_latitude", "dec5"),
        ("home_longitude", "dec5"),
        ("weekly_capacity_hours", "dec1"),
        ("start_date", "date"),
    ]
    _write_table(
        ctx,
        "sales_reps",
        table,
        cols,
        _snapshot_token(ctx.window),
        ctx.window.labels[-1],
        _snapshot_delivery(ctx.window, rng),
    )


# ---------------------------------------------------------------------------------------
def _write_crm(ctx: Ctx, o, crm, communes, sf) -> None:
    rng = stream(ctx.seed, "crm.spelling")
    n = len(crm)
    out = crm.outlet
    is_dup = crm.dup_of >= 0
    ch = o.channel[out]
    name = o.trade_name[out].copy()
    street = o.street[out].copy()
    name = noise.typos(rng, name, ~is_dup & (rng.random(n) < 0.03))
    street_arr = noise.abbreviate(
        to_arrow(street), noise.ADDRESS_ABBREVIATIONS, ~is_dup & (rng.random(n) < 0.03)
    )
    street = to_object(street_arr)
    dup_rows = np.flatnonzero(is_dup)
    if len(dup_rows):
        word = pick([V.CHAIN_FAMILY[c] for c in CHANNELS], ch[dup_rows])
        dn, ds = noise.crm_duplicate_names(rng, name[dup_rows], street[dup_rows], word)
        name[dup_rows] = dn
        street[dup_rows] = ds

    band = o.size_band[out]
    has_siret = rng.random(n) < np.where(is_dup, 0.4, 0.62 + 0.12 * band)
    siret = where(has_siret, o.siret[out], None)
    siren = to_object(pc.utf8_slice_codeunits(to_arrow(o.siret[out]), 0, 9))
    siren_num = pc.cast(to_arrow(siren), pa.int64()).to_numpy(zero_copy_only=False)
    key = (12 + 3 * (siren_num % 97)) % 97
    vat = "FR" + to_object(pc.utf8_lpad(pc.cast(pa.array(key), pa.string()), 2, "0")) + siren
    vat = where(has_siret & (rng.random(n) < 0.6), vat, None)
    variant = choice_weighted(rng, np.array([0.6, 0.15, 0.1, 0.1, 0.0, 0.05]), n)
    phone = noise.phone_format(o.phone[out], variant)
    phone = where(rng.random(n) < np.where(is_dup, 0.6, 0.85), phone, None)
    website = where(rng.random(n) < 0.85, o.website[out], None)
    email = where(rng.random(n) < 0.8, o.email[out], None)
    legal = where(rng.random(n) < 0.75, o.legal_name[out], None)
    geocoded = rng.random(n) < 0.92
    lat = np.where(geocoded, o.lat[out], np.nan)
    lon = np.where(geocoded, o.lon[out], np.nan)
    owner = where(crm.owner >= 0, sf.rep_id[np.maximum(crm.owner, 0)], None)
    end = ctx.window.last_day
    span = np.maximum(0, (end - crm.created).astype(np.int64))
    upd_day = crm.created + np.floor(rng.random(n) ** 0.5 * (span + 1)).astype(np.int64)
    upd_day = np.minimum(upd_day, end)
    upd = upd_day.astype("datetime64[s]") + rng.integers(7 * 3600, 19 * 3600, n).astype(
        "timedelta64[s]"
    )
    order = np.argsort(crm.account_id, kind="stable")
    table = pa.table(
        {
            "account_id": to_arrow(crm.account_id),
            "account_name": to_arrow(name),
            "legal_name": to_arrow(legal),
            "siret": to_arrow(siret),
            "vat_number": to_arrow(vat),
            "phone": to_arrow(phone),
            "website": to_arrow(website),
            "email": to_arrow(email),
            "address": to_arrow(street),
            "postcode": to_arrow(communes.postcode[o.commune[out]]),
            "city": to_arrow(communes.city[o.commune[out]]),
            "latitude": pa.array(lat, from_pandas=True),
            "longitude": pa.array(lon, from_pandas=True),
            "channel": to_arrow(pick(CHANNELS, ch)),
            "brand_model": to_arrow(
                np.where(o.mono_brand[out], "mono_brand", "multi_brand").astype(object)
            ),
            "is_direct": pa.array(o.is_direct[out]),
            "owner_rep_id": to_arrow(owner),
            "territory_id": to_arrow(sf.territory_id[crm.territory]),
            "status": to_arrow(np.where(crm.status_inactive, "inactive", "active").astype(object)),
            "created_date": pa.array(crm.created),
            "updated_at": pa.array(upd),
        }
    ).take(pa.array(order))
    cols = [
        ("account_id", "raw"),
        ("account_name", "text"),
        ("legal_name", "text"),
        ("siret", "raw"),
        ("vat_number", "raw"),
        ("phone", "text"),
        ("website", "text"),
        ("email", "text"),
        ("address", "text"),
        ("postcode", "raw"),
        ("city", "text"),
        ("latitude", "dec6"),
        ("longitude", "dec6"),
        ("channel", "raw"),
        ("brand_model", "raw"),
        ("is_direct", "bool"),
        ("owner_rep_id", "raw"),
        ("territory_id", "raw"),
        ("status", "raw"),
        ("created_date", "date"),
        ("updated_at", "ts"),
    ]
    _write_table(
        ctx,
        "crm_accounts",
        table,
        cols,
        _snapshot_token(ctx.window),
        ctx.window.labels[-1],
        _snapshot_delivery(ctx.window, rng),
        inject=True,
        rng=stream(ctx.seed, "inject.crm"),
    )


# ---------------------------------------------------------------------------------------
def _dist_token(dist_id: str, label: str, last_day: int) -> str:
    y, m = label.split("-")
    return {
        "D01": f"{y}{m}",
        "D02": f"{y}-{m}",
        "D03": f"{y}_{m}",
        "D04": f"{y}{m}{last_day:02d}",
        "D05": f"EDB_ventes_{m}-{y}",
    }.get(dist_id, label)


@dataclass
class DistLayout:
    spec: dict
    id: str
    layout: Layout
    header: list[str]
    header_of: dict[str, str]
    customer_cols: list[str]
    line_cols: list[str]
    unit_codes: tuple[str, str] | None  # (bottle code, case code) when the unit is a column
    constant_unit: str | None
    product_codes: pa.Array
    designation: bool


def _dist_layout(spec: dict, products) -> DistLayout:
    did = spec["id"]
    fmt = spec.get("format") or {}
    layout = Layout.from_format(fmt, eol="\r\n" if did == "D01" else "\n")
    cols = dict(spec.get("columns") or {})
    constants = dict(spec.get("constants") or {})
    maps = dict(spec.get("value_maps") or {})
    customer = [c for c in cols if c in CUSTOMER_COLUMNS]
    line = [c for c in cols if c in LINE_COLUMNS]
    header = [cols[c] for c in customer]
    designation = did == "D01"
    for c in line:
        header.append(cols[c])
        if c == "product_code" and designation:
            header.append("DESIGNATION")
    unit_codes = None
    if "unit" in cols:
        inverse = {v: k for k, v in (maps.get("unit") or {}).items()}
        unit_codes = (inverse.get("bottle", "bottle"), inverse.get("case", "case"))
    codes = products.ean if spec.get("product_code_type", "ean") == "ean" else products.sku
    return DistLayout(
        spec,
        did,
        layout,
        header,
        cols,
        customer,
        line,
        unit_codes,
        constants.get("unit"),
        to_arrow(codes),
        designation,
    )


def _customer_masters(ctx: Ctx, o, rel, communes, crm_row_of_outlet, dls: list[DistLayout]):
    """Per distributor: its customer rows (one per relation, plus a new code for the ~1% of
    customers it re-coded), their codes and the rendered customer part of each line."""
    out = []
    for d, dl in enumerate(dls):
        rng = stream(ctx.seed, "customers", d)
        rels = np.flatnonzero(rel.dist == d)
        recoded = rels[rel.recode_month[rels] < ctx.window.months]
        rows_rel = np.concatenate([rels, recoded])
        n = len(rows_rel)
        outlet = rel.outlet[rows_rel]
        style = noise.STYLES.get(dl.id, noise.DEFAULT_STYLE)
        city = communes.city[o.commune[outlet]]
        postcode = communes.postcode[o.commune[outlet]]
        spelled = noise.spell_customers(
            rng, style, o.trade_name[outlet], o.legal_form[outlet], o.street[outlet], city, postcode
        )
        codes = noise.customer_codes(dl.id, n, rng)
        data = {
            "distributor_account_code": codes,
            "account_name": spelled["name"],
            "address": spelled["address"],
            "postcode": spelled["postcode"],
            "city": spelled["city"],
        }
        if "phone" in dl.customer_cols:
            variant = np.where(rng.random(n) < 0.5, 1, 3 if dl.id == "D04" else 0)
            phone = noise.phone_format(o.phone[outlet], variant)
            data["phone"] = where(rng.random(n) < style["phone"], phone, None)
        if "siret" in dl.customer_cols:
            data["siret"] = where(rng.random(n) < style["siret"], o.siret[outlet], None)
        enc = dl.layout.encoding.lower().replace("_", "-")
        table_cols = {}
        for c in dl.customer_cols:
            arr = to_arrow(data.get(c, np.full(n, None, dtype=object)))
            if enc in ("latin-1", "latin1", "iso-8859-1", "iso8859-1"):
                arr = latin1_safe(arr)
            table_cols[c] = arr
        table = pa.table(table_cols)
        kinds = [(c, "text") for c in dl.customer_cols]
        prefix = render_lines(ctx.con, table, kinds, dl.layout, with_eol=False).combine_chunks()
        # customer row of each relation (main code), and of its new code when re-coded
        main_row = np.full(len(rel.outlet), -1, dtype=np.int64)
        alt_row = np.full(len(rel.outlet), -1, dtype=np.int64)
        main_row[rels] = np.arange(len(rels))
        alt_row[recoded] = len(rels) + np.arange(len(recoded))
        acc = crm_row_of_outlet[outlet]
        out.append(
            {
                "rel": rows_rel,
                "outlet": outlet,
                "codes": codes,
                "prefix": prefix,
                "main_row": main_row,
                "alt_row": alt_row,
                "crm_row": acc,
                "seen": np.zeros(n, dtype=bool),
            }
        )
    return out


def _write_sell_out_and_direct(
    ctx: Ctx, o, crm, rel, products, communes, dists, crm_row_of_outlet
) -> dict:
    window = ctx.window
    m_count = window.months
    labels = window.labels
    dls = [_dist_layout(spec, products) for spec in dists]
    n_d = len(dls)
    masters = _customer_masters(ctx, o, rel, communes, crm_row_of_outlet, dls)

    # Delivery quirks: one distributor skips a month, one delivers a month late, one
    # re-delivers a month under another name.
    def pos(i):
        return min(i, n_d - 1) if n_d else 0

    missing = (pos(2), max(0, m_count - 5)) if n_d >= 1 else None
    late = (pos(3), max(0, m_count - 4)) if n_d >= 1 else None
    dup = (pos(1), max(0, m_count - 2)) if n_d >= 1 else None
    if n_d and len({missing[0], late[0], dup[0]}) < 3 and m_count >= 3:
        late = (late[0], max(0, m_count - 3))

    rng_inj = stream(ctx.seed, "inject.sellout")
    sloppy = _sloppy_setup(ctx, dls)
    sinks: dict[tuple[int, int], CsvSink] = {}
    for d, dl in enumerate(dls):
        plan = defects.distributor_plan(
            dl.id,
            dl.header_of,
            dl.header,
            dl.spec.get("format") or {},
            dl.spec.get("value_maps") or {},
        )
        eligible = [
            m for m in range(m_count) if (d, m) != missing and (d, m) != dup and (d, m) != late
        ] or list(range(m_count))
        targets = {m: [] for m in range(m_count)}
        for inj in plan:
            targets[int(eligible[int(rng_inj.integers(len(eligible)))])].append(inj)
        for m in range(m_count):
            if (d, m) == missing:
                continue
            token = _dist_token(dl.id, labels[m], int(window.days[m]))
            rel_path = dl.spec["path"].replace("*", token, 1)
            sink = ctx.open_sink(
                "distributor_sell_out", rel_path, dl.header, dl.layout, labels[m], dl.id, dl.id
            )
            sink.pending = targets[m]
            sinks[(d, m)] = sink

    erp_layout = ctx.source_layout("erp_sell_in")
    erp_cols = [
        ("invoice_id", "raw"),
        ("line_number", "int"),
        ("invoice_date", "date"),
        ("customer_type", "raw"),
        ("customer_id", "raw"),
        ("sku", "raw"),
        ("quantity", "int"),
        ("unit", "raw"),
        ("net_amount", "dec2"),
        ("currency", "raw"),
    ]
    erp_header = _check_header(ctx, "erp_sell_in", erp_cols)
    erp_sinks = []
    erp_target = int(stream(ctx.seed, "inject.erp").integers(m_count))
    for m in range(m_count):
        rel_path = ctx.source_path("erp_sell_in", labels[m])
        sink = ctx.open_sink(
            "erp_sell_in", rel_path, erp_header, erp_layout, labels[m], "erp_sell_in"
        )
        if m == erp_target:
            sink.pending = defects.internal_plan(
                "erp_sell_in", erp_header, _fmt(ctx, "erp_sell_in")
            )
        erp_sinks.append(sink)
    block = 89_000_000 // m_count
    erp_counter = np.zeros(m_count, dtype=np.int64)

    sold = np.zeros((max(n_d, 1), m_count, len(products)), dtype=np.int64)  # bottles
    inv_counter = np.zeros((max(n_d, 1), m_count), dtype=np.int64)
    dist_lines = np.zeros((max(n_d, 1), m_count), dtype=np.int64)
    # what each distributor's own system totals per month (the basis of its declaration)
    dist_bottles = np.zeros((max(n_d, 1), m_count), dtype=np.int64)
    dist_amount = np.zeros((max(n_d, 1), m_count))
    markup = np.array([MARKUPS.get(dl.id, 1.2) for dl in dls] or [1.2])
    avg_markup = float(markup.mean())
    case_buyer = np.isin(o.channel, [HYPER, WHOLE])
    direct_lines = 0
    n = len(o)
    for chunk_no, a in enumerate(range(0, n, CHUNK_OUTLETS)):
        idx_all = np.arange(a, min(a + CHUNK_OUTLETS, n))
        rng = stream(ctx.seed, "purchases", chunk_no)
        # --- sell-out through distributors
        idx = idx_all[(rel.first[idx_all] >= 0) & (o.share[idx_all] > 0)] if n_d else idx_all[:0]
        if len(idx):
            pf = avg_markup * (1 - o.discount[idx])
            pur = simulate_purchases(rng, o, idx, window, products, pf)
            r1 = rel.first[pur.order_outlet]
            r2 = rel.second[pur.order_outlet]
            w2 = np.where(r2 >= 0, rel.weight[np.maximum(r2, 0)], 0.0)
            order_rel = np.where(pur.order_choice < w2, r2, r1)
            order_dist = rel.dist[order_rel]
            line_rel = order_rel[pur.order]
            line_dist = order_dist[pur.order]
            # invoice numbers per distributor and month, in date order
            o_sort = np.lexsort(
                (np.arange(len(order_rel)), pur.order_day, pur.order_month, order_dist)
            )
            key = order_dist[o_sort] * m_count + pur.order_month[o_sort]
            first = np.ones(len(key), dtype=bool)
            first[1:] = key[1:] != key[:-1]
            gstart = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
            rank = np.arange(len(key)) - gstart
            inv = np.empty(len(key), dtype=np.int64)
            inv[o_sort] = rank + 1 + inv_counter.reshape(-1)[key]
            np.add.at(inv_counter.reshape(-1), key, 1)
            for d, dl in enumerate(dls):
                sel = np.flatnonzero(line_dist == d)
                if not len(sel):
                    continue
                _emit_distributor_lines(
                    ctx,
                    d,
                    dl,
                    masters[d],
                    rel,
                    pur,
                    sel,
                    line_rel,
                    inv,
                    products,
                    markup[d] / avg_markup,
                    sinks,
                    sold,
                    (dist_lines, dist_bottles, dist_amount),
                    rng_inj,
                    rng,
                    sloppy,
                )
        # --- direct accounts: ERP sell-in lines
        didx = idx_all[o.is_direct[idx_all] & (o.share[idx_all] > 0) & o.in_crm[idx_all]]
        if len(didx):
            rng_d = stream(ctx.seed, "direct", chunk_no)
            pf = 1 - 0.08 - o.discount[didx]
            pur = simulate_purchases(
                rng_d, o, didx, window, products, pf, case_buyers=case_buyer[didx]
            )
            direct_lines += _emit_direct_lines(
                ctx,
                pur,
                o,
                crm,
                crm_row_of_outlet,
                products,
                erp_sinks,
                erp_counter,
                block,
                erp_cols,
                erp_layout,
                rng_inj,
            )

    # --- ERP sell-in to distributors, consistent with their sell-out and stock
    dist_erp_lines = _emit_distributor_sell_in(
        ctx, dls, sold, products, erp_sinks, erp_counter, block, erp_cols, erp_layout, rng_inj
    )

    # --- delivery times, late / duplicate / missing files
    rng_t = stream(ctx.seed, "deliver.sellout")
    special = {"missing": [], "late": [], "duplicate": []}
    delivered_on: dict[tuple[int, int], datetime] = {}
    if n_d:
        d, m = missing
        token = _dist_token(dls[d].id, labels[m], int(window.days[m]))
        special["missing"].append(
            {
                "distributor_id": dls[d].id,
                "period": labels[m],
                "expected_file": dls[d].spec["path"].replace("*", token, 1),
            }
        )
    for (d, m), sink in sinks.items():
        due = int((dls[d].spec.get("delivery") or {}).get("due_days_after_month_end", 10))
        if (d, m) == late:
            delivered = _at(window.ends[m] + due + 25, rng_t.uniform(8, 18))
            status = "late"
        elif dls[d].id == LATE_AND_SLOPPY:
            lo_late, hi_late = SLOPPY_DAYS_LATE
            days_late = int(rng_t.integers(lo_late, hi_late + 1))
            delivered = _at(window.ends[m] + due + days_late, rng_t.uniform(5, 20))
            status = "late"
        else:
            days_after = int(rng_t.integers(2, max(3, due + 1)))
            delivered = _at(window.ends[m] + days_after, rng_t.uniform(5, 20))
            status = "normal"
        sink.close(delivered)
        delivered_on[(d, m)] = delivered
        ctx.files.append(
            FileRecord(sink.rel, "distributor_sell_out", dls[d].id, labels[m], delivered, status)
        )
        if status == "late":
            special["late"].append(
                {
                    "distributor_id": dls[d].id,
                    "period": labels[m],
                    "file": sink.rel,
                    "delivered_at": delivered.isoformat(),
                    "due": str(window.ends[m] + due),
                }
            )
        if (d, m) == dup:
            token = _dist_token(dls[d].id, labels[m], int(window.days[m])) + "_resent"
            copy_rel = dls[d].spec["path"].replace("*", token, 1)
            copy_path = ctx.landing / copy_rel
            shutil.copyfile(sink.path, copy_path)
            again = delivered + timedelta(days=12, minutes=int(rng_t.integers(0, 600)))
            set_mtime(copy_path, again)
            ctx.files.append(
                FileRecord(
                    copy_rel,
                    "distributor_sell_out",
                    dls[d].id,
                    labels[m],
                    again,
                    "duplicate",
                    sink.rel,
                )
            )
            special["duplicate"].append(
                {
                    "distributor_id": dls[d].id,
                    "period": labels[m],
                    "file": copy_rel,
                    "duplicate_of": sink.rel,
                }
            )
    rng_e = stream(ctx.seed, "deliver.erp")
    for m, sink in enumerate(erp_sinks):
        delivered = _at(window.ends[m] + 1, rng_e.uniform(1, 6))
        sink.close(delivered)
        ctx.files.append(FileRecord(sink.rel, "erp_sell_in", "", labels[m], delivered))

    _write_declarations(ctx, dls, sinks, delivered_on, dist_bottles, dist_amount, sloppy)

    dist_reps = {d: max(3, int(round(len(masters[d]["codes"]) / 600))) for d in range(n_d)}
    return {
        "sloppy": sloppy,
        "masters": masters,
        "dls": dls,
        "special": special,
        "dist_lines": dist_lines,
        "direct_lines": direct_lines,
        "dist_erp_lines": dist_erp_lines,
        "dist_reps": dist_reps,
    }


def _write_declarations(
    ctx: Ctx, dls, sinks, delivered_on, dist_bottles, dist_amount, sloppy=None
) -> None:
    """The distributor portal's monthly export: per distributor and reported month, the lines,
    bottles and value it declares, on the day it delivered its report. A reliable
    distributor declares what its delivered file holds (its own system's totals, before any
    export glitch garbled a row); a month it did not deliver has no declaration; a file it
    re-sent is declared once. One export per month, once the late reports are in. The
    late-and-sloppy distributor declares other figures than its lines: value 4-12% off,
    bottles 3-10% off, lines 2-8% off (at least one line)."""
    if not dls or "distributor_declarations" not in (ctx.cfg.get("sources") or {}):
        return
    window = ctx.window
    rng = stream(ctx.seed, "deliver.declarations")
    cols = [
        ("distributor_id", "raw"),
        ("period", "raw"),
        ("declared_lines", "int"),
        ("declared_bottles", "int"),
        ("declared_amount_eur", "dec2"),
        ("declared_at", "date"),
    ]
    lines = np.zeros(dist_bottles.shape, dtype=np.int64)
    for (d, m), sink in sinks.items():
        lines[d, m] = sink.rows
    bottles = dist_bottles.copy()
    amount = np.round(dist_amount, 2)
    if sloppy is not None:
        rng_s = stream(ctx.seed, "declarations.sloppy")
        d, m_count = sloppy["d"], window.months
        sign = np.where(rng_s.random((3, m_count)) < 0.5, -1.0, 1.0)
        amount[d] = np.round(amount[d] * (1 + sign[0] * rng_s.uniform(0.04, 0.12, m_count)), 2)
        bottles[d] = np.round(bottles[d] * (1 + sign[1] * rng_s.uniform(0.03, 0.10, m_count)))
        off = np.maximum(1, np.round(lines[d] * rng_s.uniform(0.02, 0.08, m_count)))
        lines[d] = np.maximum(0, lines[d] + sign[2] * off).astype(np.int64)
    for m in range(window.months):
        ds = [d for d in range(len(dls)) if (d, m) in sinks]
        declared_at = [np.datetime64(delivered_on[(d, m)].date()) for d in ds]
        table = pa.table(
            {
                "distributor_id": pa.array([dls[d].id for d in ds], pa.string()),
                "period": pa.array([window.labels[m]] * len(ds), pa.string()),
                "declared_lines": pa.array([int(lines[d, m]) for d in ds], pa.int64()),
                "declared_bottles": pa.array([int(bottles[d, m]) for d in ds], pa.int64()),
                "declared_amount_eur": pa.array([float(amount[d, m]) for d in ds], pa.float64()),
                "declared_at": pa.array(np.array(declared_at, dtype="datetime64[D]")),
            }
        )
        export_day = max([window.ends[m] + 40] + [day + 1 for day in declared_at])
        _write_table(
            ctx,
            "distributor_declarations",
            table,
            cols,
            window.labels[m],
            window.labels[m],
            _at(export_day, rng.uniform(8, 18)),
            family="distributor_declarations",
        )


def _emit_distributor_lines(
    ctx,
    d,
    dl: DistLayout,
    master,
    rel,
    pur,
    sel,
    line_rel,
    inv,
    products,
    price_scale,
    sinks,
    sold,
    totals,
    rng_inj,
    rng,
    sloppy: dict | None = None,
) -> None:
    dist_lines, dist_bottles, dist_amount = totals
    if dl.constant_unit == "case":
        # A layout in cases: its customers buy whole cases (stochastic rounding keeps the
        # expected volume; lines that round to nothing are not bought).
        bpc = products.bottles_per_case[pur.sku[sel]]
        raw = pur.bottles[sel] / bpc
        cases = np.sign(raw) * np.floor(np.abs(raw) + rng.random(len(sel)))
        keep = cases != 0
        sel, cases = sel[keep], cases[keep].astype(np.int64)
        if not len(sel):
            return
    month = pur.month[sel]
    relx = line_rel[sel]
    use_alt = (master["alt_row"][relx] >= 0) & (month >= rel.recode_month[relx])
    cust = np.where(use_alt, master["alt_row"][relx], master["main_row"][relx])
    delivered = np.array([(d, m) in sinks for m in range(ctx.window.months)])
    master["seen"][cust[delivered[month]]] = True
    sku = pur.sku[sel]
    bpc = products.bottles_per_case[sku]
    bottles = cases * bpc if dl.constant_unit == "case" else pur.bottles[sel]
    np.add.at(sold[d], (month, sku), bottles)
    price = pur.unit_price[sel] * price_scale
    is_sloppy = sloppy is not None and sloppy["d"] == d
    if is_sloppy:
        # over-reported months: the report shows more than was sold (and bought from us)
        qty_now = cases if dl.constant_unit == "case" else bottles
        inflate = np.isin(month, sloppy["over_months"]) & (
            np.abs(qty_now) * OVER_REPORT_FACTOR <= 9999
        )
        factor = np.where(inflate, OVER_REPORT_FACTOR, 1)
        bottles = bottles * factor
        if dl.constant_unit == "case":
            cases = cases * factor
    if dl.constant_unit == "case":
        qty = cases
        amount = np.round(qty * bpc * price, 2)
        unit = None
    elif dl.unit_codes is not None:
        as_case = (bottles % bpc == 0) & (np.abs(bottles) >= bpc) & (rng.random(len(sel)) < 0.75)
        qty = np.where(as_case, bottles // bpc, bottles)
        amount = np.round(bottles * price, 2)
        unit = pc.take(pa.array(list(dl.unit_codes)), pa.array(as_case.astype(np.int8)))
    else:
        qty = bottles
        amount = np.round(bottles * price, 2)
        unit = None
    cols = {
        "prefix": pc.take(master["prefix"], pa.array(cust)),
        "product_code": pc.take(dl.product_codes, pa.array(sku)),
        "quantity": pa.array(qty),
        "amount": pa.array(amount),
        "sale_date": pa.array(pur.day[sel]),
        "inv": pa.array(inv[pur.order[sel]]),
    }
    kinds = [("prefix", "raw")]
    for c in dl.line_cols:
        if c == "product_code":
            kinds.append(("product_code", "raw"))
            if dl.designation:
                cols["designation"] = pc.take(to_arrow(products.name), pa.array(sku))
                kinds.append(("designation", "text"))
        elif c == "quantity":
            kinds.append(("quantity", "int"))
        elif c == "unit":
            cols["unit"] = (
                unit
                if unit is not None
                else pa.array(np.full(len(sel), dl.constant_unit or "bottle", dtype=object))
            )
            kinds.append(("unit", "raw"))
        elif c == "amount":
            kinds.append(("amount", "dec2"))
        elif c == "sale_date":
            kinds.append(("sale_date", "date"))
        elif c == "invoice_ref":
            expr = INVOICE_REFS.get(
                dl.id, f"'{dl.id}-' || strftime(sale_date, '%y%m') || printf('%06d', inv)"
            )
            kinds.append(("invoice_ref", "sql:" + expr))
    lines = render_lines(ctx.con, pa.table(cols), kinds, dl.layout).combine_chunks()
    # lines are sorted by month: write each month's slice to its file
    bounds = np.searchsorted(month, np.arange(ctx.window.months + 1))
    dist_bottles[d] += np.bincount(month, weights=bottles, minlength=ctx.window.months).astype(
        np.int64
    )
    dist_amount[d] += np.bincount(month, weights=amount, minlength=ctx.window.months)
    for m in range(ctx.window.months):
        lo, hi = int(bounds[m]), int(bounds[m + 1])
        if hi > lo:
            dist_lines[d, m] += hi - lo
            sink = sinks.get((d, m))
            if sink is None:
                continue
            if is_sloppy:
                plan = sloppy["plan"]
                n_bad = int(sloppy["rng"].binomial(hi - lo, SLOPPY_BAD_LINE_RATE))
                if plan and n_bad:
                    start = int(sloppy["rng"].integers(len(plan)))
                    sink.pending.extend(plan[(start + i) % len(plan)] for i in range(n_bad))
                sink.write(lines.slice(lo, hi - lo), sloppy["rng"])
            else:
                sink.write(lines.slice(lo, hi - lo), rng_inj)


def _sloppy_setup(ctx: Ctx, dls) -> dict | None:
    """The late-and-sloppy distributor's index, its over-reported months (two of the last 12
    closed months, not the last one), its stream and the kinds of bad lines it sends."""
    ids = [dl.id for dl in dls]
    if LATE_AND_SLOPPY not in ids:
        return None
    d = ids.index(LATE_AND_SLOPPY)
    dl = dls[d]
    rng = stream(ctx.seed, "sloppy." + LATE_AND_SLOPPY)
    m_count = ctx.window.months
    pool = np.arange(max(0, m_count - 12), max(1, m_count - 1))
    over = np.sort(rng.choice(pool, size=min(2, len(pool)), replace=False))
    plan = [
        inj
        for inj in defects.distributor_plan(
            dl.id,
            dl.header_of,
            dl.header,
            dl.spec.get("format") or {},
            dl.spec.get("value_maps") or {},
        )
        if not inj.raw and not inj.insert
    ]
    return {"d": d, "over_months": over, "rng": rng, "plan": plan}


def _emit_direct_lines(
    ctx,
    pur,
    o,
    crm,
    crm_row_of_outlet,
    products,
    erp_sinks,
    erp_counter,
    block,
    erp_cols,
    erp_layout,
    rng_inj,
) -> int:
    m_count = ctx.window.months
    # invoice ids: one per order, numbered per month block in date order
    o_sort = np.lexsort((np.arange(len(pur.order_day)), pur.order_day, pur.order_month))
    om = pur.order_month[o_sort]
    first = np.ones(len(om), dtype=bool)
    first[1:] = om[1:] != om[:-1]
    gstart = np.maximum.accumulate(np.where(first, np.arange(len(om)), 0))
    rank = np.arange(len(om)) - gstart
    inv = np.empty(len(om), dtype=np.int64)
    inv[o_sort] = 10_000_000 + om * block + erp_counter[om] + rank
    np.add.at(erp_counter, om, 1)
    sku = pur.sku
    bpc = products.bottles_per_case[sku]
    case_buyer = np.isin(o.channel[pur.outlet], [HYPER, WHOLE])
    as_case = case_buyer & (pur.bottles % bpc == 0)
    qty = np.where(as_case, pur.bottles // bpc, pur.bottles)
    amount = np.round(pur.bottles * pur.unit_price, 2)
    acc = crm.account_id[crm_row_of_outlet[pur.outlet]]
    order = np.lexsort((pur.line_no, inv[pur.order]))
    table = pa.table(
        {
            "invoice_id": to_arrow(fmt_ids("INV", inv[pur.order], 8)),
            "line_number": pa.array(pur.line_no),
            "invoice_date": pa.array(pur.day),
            "customer_type": pa.array(np.full(len(sku), "direct_account", dtype=object)),
            "customer_id": to_arrow(acc),
            "sku": to_arrow(products.sku[sku]),
            "quantity": pa.array(qty),
            "unit": to_arrow(np.where(as_case, "case", "bottle").astype(object)),
            "net_amount": pa.array(amount),
            "currency": pa.array(np.full(len(sku), "EUR", dtype=object)),
        }
    ).take(pa.array(order))
    month = pur.month[order]
    lines = render_lines(ctx.con, table, erp_cols, erp_layout).combine_chunks()
    bounds = np.searchsorted(month, np.arange(m_count + 1))
    for m in range(m_count):
        lo, hi = int(bounds[m]), int(bounds[m + 1])
        if hi > lo:
            erp_sinks[m].write(lines.slice(lo, hi - lo), rng_inj)
    return len(sku)


def _emit_distributor_sell_in(
    ctx, dls, sold, products, erp_sinks, erp_counter, block, erp_cols, erp_layout, rng_inj
) -> int:
    """Weekly deliveries to each distributor: what it sold this month and next (stock built
    ahead of demand), with noise and a few credit notes."""
    if not dls:
        return 0
    rng = stream(ctx.seed, "sell_in.distributors")
    window = ctx.window
    m_count = window.months
    n_p = len(products)
    bpc = products.bottles_per_case
    total = 0
    disc = rng.uniform(0.10, 0.16, len(dls))
    for m in range(m_count):
        rows = []
        for d in range(len(dls)):
            nxt = sold[d, m + 1] if m + 1 < m_count else sold[d, m]
            need = np.maximum(0, 0.55 * sold[d, m] + 0.45 * nxt) * rng.normal(1.0, 0.04, n_p)
            cases = np.round(need / bpc).astype(np.int64)
            weights = rng.dirichlet([2.0] * 4, n_p)
            split = np.floor(cases[:, None] * weights).astype(np.int64)
            split[np.arange(n_p), np.argmax(weights, axis=1)] += cases - split.sum(axis=1)
            week_days = window.starts[m] + np.array([2, 9, 16, 23])
            week_days = np.minimum(week_days, window.ends[m])
            for k in range(4):
                skus = np.flatnonzero(split[:, k] > 0)
                if len(skus):
                    rows.append((d, week_days[k], skus, split[skus, k]))
            if rng.random() < 0.05:
                skus = rng.choice(n_p, size=int(rng.integers(1, 3)), replace=False)
                skus = np.sort(skus[products.available[m, skus]])
                if len(skus):
                    rows.append((d, window.ends[m], skus, -rng.integers(1, 4, len(skus))))
        if not rows:
            continue
        rows.sort(key=lambda r: (r[1], r[0]))
        ids, line_no, dates, cust, sku_all, qty_all, amt = [], [], [], [], [], [], []
        for r_i, (d, day, skus, q) in enumerate(rows):
            inv_no = 10_000_000 + m * block + erp_counter[m] + r_i
            ids.append(np.full(len(skus), inv_no))
            line_no.append(np.arange(1, len(skus) + 1))
            dates.append(np.full(len(skus), day))
            cust.append(np.full(len(skus), dls[d].id, dtype=object))
            sku_all.append(skus)
            qty_all.append(q)
            amt.append(np.round(q * bpc[skus] * products.list_price[skus] * (1 - disc[d]), 2))
        erp_counter[m] += len(rows)
        sku_c = np.concatenate(sku_all)
        table = pa.table(
            {
                "invoice_id": to_arrow(fmt_ids("INV", np.concatenate(ids), 8)),
                "line_number": pa.array(np.concatenate(line_no)),
                "invoice_date": pa.array(np.concatenate(dates).astype("datetime64[D]")),
                "customer_type": pa.array(np.full(len(sku_c), "distributor", dtype=object)),
                "customer_id": to_arrow(np.concatenate(cust)),
                "sku": to_arrow(products.sku[sku_c]),
                "quantity": pa.array(np.concatenate(qty_all)),
                "unit": pa.array(np.full(len(sku_c), "case", dtype=object)),
                "net_amount": pa.array(np.concatenate(amt)),
                "currency": pa.array(np.full(len(sku_c), "EUR", dtype=object)),
            }
        )
        erp_sinks[m].write(render_lines(ctx.con, table, erp_cols, erp_layout), rng_inj)
        total += len(sku_c)
    return total


# ---------------------------------------------------------------------------------------
def _write_calls(ctx: Ctx, o, crm, sf, rel, dist_ids, dist_reps) -> dict:
    """Monthly call files. Returns the planted call patterns (rate and pattern per CRM row):
    over-served accounts are visited by their owner, under-served ones get at most one call
    in each 12 months and no distributor-rep calls."""
    window = ctx.window
    m_count = window.months
    labels = window.labels
    layout = ctx.source_layout("call_log")
    cols = [
        ("call_id", "raw"),
        ("call_date", "date"),
        ("rep_id", "raw"),
        ("account_id", "raw"),
        ("resource_type", "raw"),
        ("contact_mode", "raw"),
        ("duration_minutes", "int"),
        ("outcome", "raw"),
    ]
    header = _check_header(ctx, "call_log", cols)
    target = int(stream(ctx.seed, "inject.calls").integers(m_count))
    sinks = []
    for m in range(m_count):
        sink = ctx.open_sink(
            "call_log",
            ctx.source_path("call_log", labels[m]),
            header,
            layout,
            labels[m],
            "call_log",
        )
        if m == target:
            sink.pending = defects.internal_plan("call_log", header, _fmt(ctx, "call_log"))
        sinks.append(sink)
    rng0 = stream(ctx.seed, "calls.rates")
    out = crm.outlet
    value = o.potential[out] * o.share[out]
    rates = call_rates(
        rng0, value, o.potential[out], crm.owner >= 0, crm.status_inactive, crm.dup_of >= 0
    )
    field_owner = (crm.owner >= 0) & (sf.role[np.maximum(crm.owner, 0)] == "field_rep")
    rates, call_pattern = plant_call_patterns(
        stream(ctx.seed, "calls.patterns"),
        rates,
        o.potential[out],
        o.share[out],
        (crm.dup_of < 0) & ~crm.status_inactive,
        field_owner,
    )
    over = call_pattern == OVER_SERVED
    under = call_pattern == UNDER_SERVED
    prim = rel.first[out]
    has_dist = prim >= 0
    dist_rate = np.where(has_dist, rng0.gamma(1.0, 1.5, len(crm)), 0.0)
    dist_rate = np.where(under, 0.0, dist_rate)
    dist_of = np.where(has_dist, rel.dist[np.maximum(prim, 0)], 0)
    n_rep = np.array([dist_reps.get(d, 3) for d in range(max(1, len(dist_ids)))])
    dist_rep_no = 1 + (rng0.integers(0, 1 << 30, len(crm)) % n_rep[dist_of])
    small = value < np.quantile(value, 0.5) if len(crm) else np.zeros(0, bool)
    tel_support = small & (crm.owner >= 0) & (rng0.random(len(crm)) < 0.10)
    tel_support &= sf.role[np.maximum(crm.owner, 0)] != "telesales"
    field_by_t = [
        np.flatnonzero((sf.role == "field_rep") & (sf.rep_territory == t))
        for t in range(len(sf.territory_id))
    ]
    de_facto = grouped_pick(field_by_t, crm.territory, rng0.random(len(crm)))
    tel_by_r = [
        np.flatnonzero((sf.role == "telesales") & (sf.rep_region == r))
        for r in range(len(V.REGIONS))
    ]
    block = 999_000_000 // m_count
    counter = np.zeros(m_count, dtype=np.int64)
    role_index = {r: i for i, r in enumerate(RESOURCE_TYPES)}
    rep_role = np.array([role_index[r] for r in sf.role])
    order_key = np.argsort(crm.account_id, kind="stable")
    total = 0
    for chunk_no, a in enumerate(range(0, len(crm), CHUNK_ACCOUNTS)):
        rows = order_key[a : a + CHUNK_ACCOUNTS]
        rng = stream(ctx.seed, "calls", chunk_no)
        counts = call_counts(rng, rates[rows], window)
        u = under[rows]
        counts[u] = cap_calls_per_year(counts[u], window)
        dcounts = call_counts(rng, dist_rate[rows], window) * (dist_ids != [])
        ri, mi = np.nonzero(counts)
        c = counts[ri, mi]
        call_row = rows[np.repeat(ri, c)]
        call_month = np.repeat(mi, c)
        dri, dmi = np.nonzero(dcounts)
        dc = dcounts[dri, dmi]
        d_row = rows[np.repeat(dri, dc)]
        d_month = np.repeat(dmi, dc)
        k = len(call_row)
        # who calls: owner, overlapping second rep, telesales of the region, any territory rep
        owner = crm.owner[call_row]
        second = crm.second_rep[call_row]
        probs = np.zeros((k, 4))
        probs[:, 0] = np.where(owner >= 0, 1.0, 0.0)
        probs[:, 1] = np.where(second >= 0, 0.45, 0.0)
        probs[:, 2] = np.where(tel_support[call_row], 0.5, 0.0)
        probs[:, 3] = np.where(owner >= 0, 0.0, 1.0)
        who = choice_rows(rng, probs)
        who = np.where(over[call_row], 0, who)  # over-served: their own field rep
        terr = crm.territory[call_row]
        region = sf.territory_region[terr]
        # unallocated accounts: mostly the same rep of the territory, sometimes another one
        any_field = np.where(
            rng.random(k) < 0.8, de_facto[call_row], grouped_pick(field_by_t, terr, rng.random(k))
        )
        tel = grouped_pick(tel_by_r, region, rng.random(k), fallback=-1)
        tel = np.where(tel >= 0, tel, any_field)
        rep = np.select([who == 0, who == 1, who == 2], [owner, second, tel], any_field)
        rep_ids = sf.rep_id[rep]
        res = rep_role[rep]
        # distributor reps
        dd = dist_of[d_row]
        d_rep_ids = (
            pick(dist_ids or ["D00"], dd)
            + "-R"
            + to_object(pc.utf8_lpad(pc.cast(pa.array(dist_rep_no[d_row]), pa.string()), 2, "0"))
        )
        all_row = np.concatenate([call_row, d_row])
        all_month = np.concatenate([call_month, d_month])
        all_rep = np.concatenate([rep_ids, d_rep_ids])
        all_res = np.concatenate([res, np.full(len(d_row), 3)])
        n_all = len(all_row)
        days = random_days(rng, window.starts[all_month], window.days[all_month])
        mode = choice_rows(rng, MODE_PROBS[all_res])
        mode = np.where(over[all_row] & (all_res != 3), 0, mode)  # ... who visits them
        dur_median = np.array([35.0, 8.0, 5.0, 30.0])[mode] * np.where(all_res == 0, 1.5, 1.0)
        duration = np.clip(np.round(rng.lognormal(np.log(dur_median), 0.45)), 2, 480)
        duration = np.where(mode == 2, 5, np.where(mode == 0, np.round(duration / 5) * 5, duration))
        outcome = choice_weighted(rng, OUTCOME_P, n_all)
        srt = np.lexsort((all_row, days, all_month))
        all_month = all_month[srt]
        first = np.ones(n_all, dtype=bool)
        first[1:] = all_month[1:] != all_month[:-1]
        gstart = np.maximum.accumulate(np.where(first, np.arange(n_all), 0)) if n_all else first
        call_no = 1 + all_month * block + counter[all_month] + (np.arange(n_all) - gstart)
        np.add.at(counter, all_month, 1)
        outcome_txt = pick(OUTCOMES, outcome[srt])
        outcome_txt = where(outcome_txt == "", None, outcome_txt)
        table = pa.table(
            {
                "call_id": to_arrow(fmt_ids("CALL", call_no, 9)),
                "call_date": pa.array(days[srt]),
                "rep_id": to_arrow(all_rep[srt]),
                "account_id": to_arrow(crm.account_id[all_row[srt]]),
                "resource_type": to_arrow(pick(RESOURCE_TYPES, all_res[srt])),
                "contact_mode": to_arrow(pick(CONTACT_MODES, mode[srt])),
                "duration_minutes": pa.array(duration[srt].astype(np.int64)),
                "outcome": to_arrow(outcome_txt),
            }
        )
        if not n_all:
            continue
        lines = render_lines(ctx.con, table, cols, layout).combine_chunks()
        bounds = np.searchsorted(all_month, np.arange(m_count + 1))
        rng_inj = stream(ctx.seed, "inject.calls.rows", chunk_no)
        for m in range(m_count):
            lo, hi = int(bounds[m]), int(bounds[m + 1])
            if hi > lo:
                sinks[m].write(lines.slice(lo, hi - lo), rng_inj)
        total += n_all
    rng_t = stream(ctx.seed, "deliver.calls")
    for m, sink in enumerate(sinks):
        delivered = _at(window.ends[m] + int(rng_t.integers(1, 3)), rng_t.uniform(0.5, 4))
        sink.close(delivered)
        ctx.files.append(FileRecord(sink.rel, "call_log", "", labels[m], delivered))
    return {"rate": rates, "pattern": call_pattern}


# ---------------------------------------------------------------------------------------
def _ap_spend_rows(ctx: Ctx, o, crm) -> dict:
    """A&P spend lines (~25% of active accounts, bigger ones more often), one spend type per
    account. Sets o.ap_month and o.ap_uplift: sell-out gets the uplift of the account's spend
    type (AP_UPLIFT, none for pos_material) from the month of its first spend on.

    Marketing favours steady, regular customers (loyal, buying all through the window, not
    won or lost). So that the effect of each type can be measured with 6 months before and
    after the first spend, most of those start spending between the 7th month of the window
    and 6 months before its end, and get the spend types in turn (balanced); the other
    spending accounts started before the window or start in its last 5 months, and get a
    type that suits their channel."""
    rng = stream(ctx.seed, "ap_spend")
    window = ctx.window
    m_count = window.months
    rows = np.flatnonzero((crm.dup_of < 0) & ~crm.status_inactive)
    out = crm.outlet[rows]
    # steady, regular customers (buying all through the window, not won or lost, loyal) are
    # where marketing puts most of its money, and where its effect can be measured
    steady = (o.share[out] > 0) & (o.start_month[out] == 0) & (o.stop_month[out] >= m_count)
    steady &= (o.pattern[out] == LOYAL) & (o.potential[out] * o.share[out] >= AP_STEADY_MIN_EUR)
    w = np.sqrt(o.potential[out]) * np.where(steady, 6.0, 0.5)
    p = np.clip(0.29 * w / w.mean(), 0, 0.9) if len(rows) else w
    pick_acc = rng.random(len(rows)) < p
    chosen = rows[pick_acc]
    steady = steady[pick_acc]
    n_acc = len(chosen)
    if m_count >= 13:
        mid = (rng.random(n_acc) < 0.95) & steady
        # the others were spending before the window, or start in its last months
        edge = rng.integers(0, 11, n_acc)
        edge = np.where(edge < 6, edge, m_count - 11 + edge)
        first = np.where(mid, rng.integers(6, m_count - 5, n_acc), edge).astype(np.int64)
    else:
        first = rng.integers(0, m_count, n_acc).astype(np.int64)
    identifiable = (first >= 6) & (first <= m_count - 6)
    acc_type = spend_types_for(o.channel[crm.outlet[chosen]], rng)
    ident = np.flatnonzero(identifiable)
    turns = np.flatnonzero(AP_DESIGN_TURNS)  # spend type of each turn (pos_material twice)
    turns = np.repeat(turns, AP_DESIGN_TURNS[turns])
    acc_type[ident[rng.permutation(len(ident))]] = turns[np.arange(len(ident)) % len(turns)]
    n_lines = 1 + rng.poisson(1.5 * m_count / 12, n_acc)
    line_acc = np.repeat(np.arange(n_acc), n_lines)
    line_row = chosen[line_acc]
    k = len(line_row)
    # the first line of each account is its first spend; the others follow it
    starts = (np.cumsum(n_lines) - n_lines).astype(np.int64)
    f = first[line_acc]
    month = f + np.floor(rng.random(k) * (m_count - f)).astype(np.int64)
    month[starts] = first
    day = random_days(rng, window.starts[month], window.days[month])
    outlet = crm.outlet[line_row]
    stype = acc_type[line_acc]
    amount = np.round(np.clip(o.potential[outlet] * rng.uniform(0.004, 0.03, k), 50, 200_000), 2)
    o.ap_month[crm.outlet[chosen]] = first
    o.ap_uplift[crm.outlet[chosen]] = AP_UPLIFT[acc_type]
    srt = np.lexsort((line_row, day))
    cat = np.array(["LF", "PR", "PLV", "EV", "SA", "IN"], dtype=object)
    label = pick(window.labels, month)
    campaign = (
        "CMP-"
        + to_object(pc.utf8_slice_codeunits(to_arrow(label), 0, 4))
        + "-"
        + to_object(pc.utf8_slice_codeunits(to_arrow(label), 5, 7))
        + "-"
        + cat[stype]
    )
    campaign = where(rng.random(k) < 0.8, campaign, None)
    return {
        "row": line_row[srt],
        "day": day[srt],
        "type": stype[srt],
        "amount": amount[srt],
        "campaign": campaign[srt],
        "accounts": {"row": chosen, "type": acc_type, "first": first, "ident": identifiable},
    }


def _write_ap_spend(ctx: Ctx, ap: dict, crm) -> None:
    window = ctx.window
    cols = [
        ("spend_id", "raw"),
        ("account_id", "raw"),
        ("spend_date", "date"),
        ("spend_type", "raw"),
        ("amount", "dec2"),
        ("currency", "raw"),
        ("campaign_id", "text"),
    ]
    years = ap["day"].astype("datetime64[Y]").astype(int) + 1970
    ids = fmt_ids("AP", 10_001 + np.arange(len(years)), 8)
    rng = stream(ctx.seed, "deliver.ap")
    year_list = sorted(
        set(int(y) for y in window.starts.astype("datetime64[Y]").astype(int) + 1970)
    )
    counts = {y: int((years == y).sum()) for y in year_list}
    target = max(counts, key=lambda y: counts[y]) if counts else None
    for y in year_list:
        sel = np.flatnonzero(years == y)
        table = pa.table(
            {
                "spend_id": to_arrow(ids[sel]),
                "account_id": to_arrow(crm.account_id[ap["row"][sel]]),
                "spend_date": pa.array(ap["day"][sel]),
                "spend_type": to_arrow(pick(SPEND_TYPES, ap["type"][sel])),
                "amount": pa.array(ap["amount"][sel]),
                "currency": pa.array(np.full(len(sel), "EUR", dtype=object)),
                "campaign_id": to_arrow(ap["campaign"][sel]),
            }
        )
        if y < int(str(window.last_day)[:4]):
            delivered = _at(
                np.datetime64(f"{y + 1}-01-10") + int(rng.integers(0, 5)), rng.uniform(8, 18)
            )
        else:
            delivered = _at(window.last_day + 5, rng.uniform(8, 18))
        _write_table(
            ctx,
            "ap_spend",
            table,
            cols,
            str(y),
            str(y),
            delivered,
            inject=(y == target),
            rng=stream(ctx.seed, "inject.ap"),
        )


def _write_surveys(ctx: Ctx, o, crm, sf) -> None:
    rng = stream(ctx.seed, "surveys")
    window = ctx.window
    rows = np.flatnonzero((crm.dup_of < 0) & ~crm.status_inactive)
    out = crm.outlet[rows]
    p = np.where(crm.owner[rows] >= 0, 1.0, 0.4) * (0.7 + 0.3 * o.size_band[out])
    p = p * 0.205 * len(rows) / max(1e-9, p.sum()) if len(rows) else p
    chosen = rows[rng.random(len(rows)) < np.clip(p, 0, 0.95)]
    again = chosen[rng.random(len(chosen)) < 0.1]
    srow = np.concatenate([chosen, again])
    k = len(srow)
    month = rng.integers(0, window.months, k)
    day = random_days(rng, window.starts[month], window.days[month])
    outlet = crm.outlet[srow]
    ch = o.channel[outlet]
    owner = crm.owner[srow]
    field_by_t = [
        np.flatnonzero((sf.role == "field_rep") & (sf.rep_territory == t))
        for t in range(len(sf.territory_id))
    ]
    fallback = grouped_pick(field_by_t, crm.territory[srow], rng.random(k))
    surveyor = np.where(
        (owner >= 0) & (sf.role[np.maximum(owner, 0)] != "telesales"), owner, fallback
    )
    estimate = np.round(o.potential[outlet] * rng.uniform(0.7, 1.3, k), -2)
    comp_base = np.array([80, 45, 10, 60, 12, 120, 90], float)[ch]
    competitors = np.clip(np.round(comp_base * rng.lognormal(0, 0.3, k)), 0, 200).astype(np.int64)
    shelf = np.round(
        np.clip(o.share[outlet] * 100 * rng.uniform(0.6, 1.4, k) + rng.normal(0, 2, k), 0, 100), 1
    )
    staff = _headcount(rng, ch, o.potential[outlet], elasticity=0.6, noise=0.3, bounds=(1, 5000))
    quality = np.clip(np.round(3 + 1.1 * o.quality[outlet] + rng.normal(0, 0.5, k)), 1, 5)
    srt = np.lexsort((srow, day))
    ids = fmt_ids("SRV", 1 + np.arange(k), 7)
    cols = [
        ("survey_id", "raw"),
        ("account_id", "raw"),
        ("survey_date", "date"),
        ("rep_id", "raw"),
        ("category_spend_estimate", "dec2"),
        ("competitor_brands_listed", "int"),
        ("shelf_share_pct", "dec1"),
        ("staff_count", "int"),
        ("quality_score", "int"),
    ]
    month_s = month[srt]
    target = int(np.bincount(month_s, minlength=window.months).argmax()) if k else -1
    rng_d = stream(ctx.seed, "deliver.surveys")
    for m in range(window.months):
        sel = srt[month_s == m]
        if not len(sel):
            continue
        table = pa.table(
            {
                "survey_id": to_arrow(ids[np.flatnonzero(month_s == m)]),
                "account_id": to_arrow(crm.account_id[srow[sel]]),
                "survey_date": pa.array(day[sel]),
                "rep_id": to_arrow(sf.rep_id[surveyor[sel]]),
                "category_spend_estimate": pa.array(estimate[sel]),
                "competitor_brands_listed": pa.array(competitors[sel]),
                "shelf_share_pct": pa.array(shelf[sel]),
                "staff_count": pa.array(staff[sel]),
                "quality_score": pa.array(quality[sel].astype(np.int64)),
            }
        )
        delivered = _at(window.ends[m] + int(rng_d.integers(3, 6)), rng_d.uniform(8, 18))
        _write_table(
            ctx,
            "field_surveys",
            table,
            cols,
            window.labels[m],
            window.labels[m],
            delivered,
            inject=(m == target),
            rng=stream(ctx.seed, "inject.surveys"),
        )


# ---------------------------------------------------------------------------------------
def _official_city(communes, commune_idx) -> np.ndarray:
    name = to_arrow(communes.name[commune_idx])
    name = pc.replace_substring_regex(
        name, r"^(Paris|Lyon|Marseille) (\d+)(er|e) Arrondissement$", r"\1 \2"
    )
    return to_object(pc.utf8_upper(strip_accents(name)))


def _write_external(ctx: Ctx, o, communes, crm_row_of_outlet, crm) -> dict:
    rng = stream(ctx.seed, "external")
    n = len(o)
    p = np.array([0.95, 0.9, 0.5, 0.6, 0.55, 0.8, 0.9])[o.channel]
    idx = np.flatnonzero(rng.random(n) < p)
    k = len(idx)
    ch = o.channel[idx]
    siret = where(rng.random(k) < 0.9, o.siret[idx], None)
    legal = o.legal_name[idx]
    no_form = to_object(pc.replace_substring_regex(to_arrow(legal), r"^[A-Z]+ ", ""))
    company = where(rng.random(k) < 0.2, no_form, legal)
    company = to_object(strip_accents(to_arrow(company)))
    address = to_object(pc.utf8_upper(strip_accents(to_arrow(o.street[idx]))))
    address = where(rng.random(k) < 0.97, address, None)
    naf = np.empty(k, dtype=object)
    for c, codes in NAF.items():
        sel = np.flatnonzero(ch == c)
        probs = np.array(NAF_P.get(c, [1.0] * len(codes)))
        naf[sel] = pick(codes, choice_weighted(rng, probs, len(sel)))
    employees = _headcount(
        rng, ch, o.potential[idx], elasticity=0.7, noise=0.4, bounds=(0, 100_000)
    )
    revenue = o.potential[idx] / SPIRITS_SHARE_OF_REVENUE[ch] * rng.lognormal(0, 0.25, k)
    band = np.searchsorted([500_000, 2_000_000, 10_000_000, 50_000_000], revenue)
    revenue_band = where(rng.random(k) < 0.9, pick(REVENUE_BANDS, band), None)
    spend = np.round(o.potential[idx] * rng.uniform(0.75, 1.25, k), -2)
    spend_present = rng.random(k) < 0.95
    ext_no = 1_000_000 + rng.choice(8_999_999, size=k, replace=False)
    ext_id = fmt_ids("EXT", ext_no, 7)
    srt = np.argsort(ext_no, kind="stable")
    table = pa.table(
        {
            "external_id": to_arrow(ext_id),
            "siret": to_arrow(siret),
            "company_name": to_arrow(company),
            "address": to_arrow(address),
            "postcode": to_arrow(communes.postcode[o.commune[idx]]),
            "city": to_arrow(_official_city(communes, o.commune[idx])),
            "naf_code": to_arrow(naf),
            "employees": pa.array(employees),
            "revenue_band": to_arrow(revenue_band),
            "estimated_category_spend": pa.array(
                np.where(spend_present, spend, np.nan), from_pandas=True
            ),
            "zone_population": pa.array(communes.population[o.commune[idx]]),
        }
    ).take(pa.array(srt))
    cols = [
        ("external_id", "raw"),
        ("siret", "raw"),
        ("company_name", "text"),
        ("address", "text"),
        ("postcode", "raw"),
        ("city", "text"),
        ("naf_code", "raw"),
        ("employees", "int"),
        ("revenue_band", "raw"),
        ("estimated_category_spend", "dec2"),
        ("zone_population", "int"),
    ]
    _write_table(
        ctx,
        "external_firmographics",
        table,
        cols,
        _snapshot_token(ctx.window),
        ctx.window.labels[-1],
        _snapshot_delivery(ctx.window, rng, (6, 9)),
        inject=True,
        rng=stream(ctx.seed, "inject.external"),
    )
    crm_row = crm_row_of_outlet[idx]
    return {"external_id": ext_id[srt], "outlet": idx[srt], "crm_row": crm_row[srt]}


def _write_online(ctx: Ctx, o, communes, crm_row_of_outlet, crm) -> dict:
    rng = stream(ctx.seed, "online")
    n = len(o)
    parts = []
    for platform, probs in (
        ("maps", np.array([0.95, 0.85, 0.60, 0.75, 0.80, 0.30, 0.50])),
        ("social", np.array([0.35, 0.15, 0.08, 0.35, 0.38, 0.85, 0.20])),
    ):
        idx = np.flatnonzero(rng.random(n) < probs[o.channel])
        k = len(idx)
        social = platform == "social"
        city = communes.city[o.commune[idx]]
        kind_word = pick([V.CHAIN_FAMILY[c] for c in CHANNELS], o.channel[idx])
        name = noise.online_names(rng, o.trade_name[idx], city, kind_word, social)
        street = noise.listing_address(rng, o.street[idx])
        has_addr = rng.random(k) < (0.4 if social else 0.95)
        variant = np.where(rng.random(k) < 0.8, 2, 0)
        phone = where(
            rng.random(k) < (0.3 if social else 0.8),
            noise.phone_format(o.phone[idx], variant),
            None,
        )
        website = where(rng.random(k) < 0.9, o.website[idx], None)
        has_loc = rng.random(k) < (0.5 if social else 0.98)
        jitter = 0.0003 if not social else 0.003
        lat = np.round(np.clip(o.lat[idx] + rng.normal(0, jitter, k), 41.0, 51.5), 6)
        lon = np.round(np.clip(o.lon[idx] + rng.normal(0, jitter, k), -5.5, 10.0), 6)
        size = (o.potential[idx] / 10_000) ** 0.45
        if social:
            rating = np.full(k, np.nan)
            reviews = np.full(k, np.nan)
            followers = np.round(rng.lognormal(np.log(300 * size), 1.0)).astype(float)
        else:
            rating = np.round(np.clip(3.9 + 0.35 * o.quality[idx] + rng.normal(0, 0.3, k), 1, 5), 1)
            bar = np.where(o.channel[idx] == BAR, 1.5, 1.0)
            reviews = np.round(rng.lognormal(np.log(40 * size * bar), 0.8)).astype(float)
            followers = np.full(k, np.nan)
        span_s = 24 * 30 * 86400
        end_ts = (ctx.window.last_day + 1).astype("datetime64[s]")
        updated = end_ts - (rng.random(k) ** 0.8 * span_s).astype("timedelta64[s]")
        dead = (o.share[idx] == 0) & o.inactive[idx]
        back = np.where(dead, rng.uniform(60, 400, k), rng.uniform(0, 60, k)).astype(np.int64)
        last_activity = updated.astype("datetime64[D]") - back
        parts.append(
            {
                "outlet": idx,
                "platform": np.full(k, platform, dtype=object),
                "name": name,
                "street": where(has_addr, street, None),
                "postcode": where(
                    has_addr | (rng.random(k) < 0.5), communes.postcode[o.commune[idx]], None
                ),
                "city": city,
                "phone": phone,
                "website": website,
                "lat": np.where(has_loc, lat, np.nan),
                "lon": np.where(has_loc, lon, np.nan),
                "rating": rating,
                "reviews": reviews,
                "followers": followers,
                "last_activity": last_activity,
                "updated": updated,
            }
        )
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    total = len(cat["outlet"])
    numbers = 1_000_000 + rng.permutation(total)
    if total > 8_999_999:
        raise ValueError("too many listings for the ON + 7 digits id space")
    order = np.argsort(numbers, kind="stable")
    ids = fmt_ids("ON", numbers, 7)
    table = pa.table(
        {
            "id": to_arrow(ids),
            "platform": to_arrow(cat["platform"]),
            "name": to_arrow(cat["name"]),
            "street": to_arrow(cat["street"]),
            "postcode": to_arrow(cat["postcode"]),
            "city": to_arrow(cat["city"]),
            "phone": to_arrow(cat["phone"]),
            "website": to_arrow(cat["website"]),
            "lat": pa.array(cat["lat"], from_pandas=True),
            "lon": pa.array(cat["lon"], from_pandas=True),
            "rating": pa.array(cat["rating"], from_pandas=True),
            "review_count": pa.array(cat["reviews"], from_pandas=True).cast(pa.int64()),
            "followers": pa.array(cat["followers"], from_pandas=True).cast(pa.int64()),
            "last_activity": pa.array(cat["last_activity"]),
            "updated_at": pa.array(cat["updated"]),
        }
    ).take(pa.array(order))
    path = ctx.out_dir / "online_api" / "listings.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    ctx.con.register("_listings", table)
    try:
        lines = (
            ctx.con.sql(
                "SELECT to_json({'id': id, 'platform': platform, 'name': name, "
                "'address': {'street': street, 'postcode': postcode, 'city': city}, "
                "'contact': {'phone': phone, 'website': website}, "
                "'location': {'lat': lat, 'lon': lon}, "
                "'metrics': {'rating': rating, 'review_count': review_count, 'followers': followers, "
                "'last_activity': strftime(last_activity, '%Y-%m-%d')}, "
                "'updated_at': strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ')}) || chr(10) AS line "
                "FROM _listings"
            )
            .to_arrow_table()
            .column("line")
        )
    finally:
        ctx.con.unregister("_listings")
    with path.open("wb") as fh:
        for chunk in lines.chunks:
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
                chunk.offset : chunk.offset + len(chunk) + 1
            ]
            fh.write(memoryview(chunk.buffers()[2])[offsets[0] : offsets[-1]])
    set_mtime(path, _at(ctx.window.last_day + 1, 0.5))
    crm_row = crm_row_of_outlet[cat["outlet"][order]]
    return {"id": ids[order], "outlet": cat["outlet"][order], "crm_row": crm_row, "count": total}


# ---------------------------------------------------------------------------------------
def _close_all(ctx: Ctx, dists) -> None:
    for sink, _family in ctx.sinks:
        if not sink._fh.closed:
            sink.close()


def _write_csv(
    path: Path, header: list[str], rows_table: pa.Table, kinds: list[tuple[str, str]], con
) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = Layout()
    with path.open("wb") as fh:
        fh.write((",".join(header) + "\n").encode())
        if rows_table.num_rows:
            lines = render_lines(con, rows_table, kinds, layout)
            for chunk in lines.chunks:
                offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
                    chunk.offset : chunk.offset + len(chunk) + 1
                ]
                fh.write(memoryview(chunk.buffers()[2])[offsets[0] : offsets[-1]])
    return rows_table.num_rows


def _write_ground_truth(ctx: Ctx, o, crm, truth_share, sell, ext, online, communes) -> dict:
    gt = ctx.out_dir / "ground_truth"
    con = ctx.con
    counts = {}
    acc_order = np.argsort(crm.account_id, kind="stable")
    out = crm.outlet[acc_order]
    dup_of = crm.dup_of[acc_order]
    table = pa.table(
        {
            "account_id": to_arrow(crm.account_id[acc_order]),
            "outlet_uid": to_arrow(o.uid[out]),
            "true_category_potential_eur": pa.array(o.potential[out]),
            "true_brand_share": pa.array(np.round(truth_share[out], 6)),
            "size_band": to_arrow(pick(SIZE_BANDS, o.size_band[out])),
            "is_crm_duplicate_of": to_arrow(
                where(dup_of >= 0, crm.account_id[np.maximum(dup_of, 0)], None)
            ),
            "channel": to_arrow(pick(CHANNELS, o.channel[out])),
            "is_direct": pa.array(o.is_direct[out]),
            "purchase_pattern": to_arrow(pick(PATTERNS, o.pattern[out])),
            "base_share": pa.array(o.share[out]),
        }
    )
    kinds = [
        ("account_id", "raw"),
        ("outlet_uid", "raw"),
        ("true_category_potential_eur", "dec0"),
        ("true_brand_share", "dec6"),
        ("size_band", "raw"),
        ("is_crm_duplicate_of", "raw"),
        ("channel", "raw"),
        ("is_direct", "bool"),
        ("purchase_pattern", "raw"),
        ("base_share", "dec4"),
    ]
    counts["accounts"] = _write_csv(gt / "accounts.csv", [k for k, _ in kinds], table, kinds, con)

    crm_row_of_outlet = np.full(len(o), -1, dtype=np.int64)
    originals = np.flatnonzero(crm.dup_of < 0)
    crm_row_of_outlet[crm.outlet[originals]] = originals
    acc_of_outlet = where(
        crm_row_of_outlet >= 0, crm.account_id[np.maximum(crm_row_of_outlet, 0)], None
    )
    table = pa.table(
        {
            "outlet_uid": to_arrow(o.uid),
            "in_crm": pa.array(o.in_crm),
            "account_id": to_arrow(acc_of_outlet),
            "channel": to_arrow(pick(CHANNELS, o.channel)),
            "true_category_potential_eur": pa.array(o.potential),
            "true_brand_share": pa.array(np.round(truth_share, 6)),
            "size_band": to_arrow(pick(SIZE_BANDS, o.size_band)),
            "is_direct": pa.array(o.is_direct),
            "purchase_pattern": to_arrow(pick(PATTERNS, o.pattern)),
            "commune_insee": to_arrow(communes.insee[o.commune]),
            "latitude": pa.array(o.lat),
            "longitude": pa.array(o.lon),
            "siret": to_arrow(o.siret),
        }
    )
    kinds = [
        ("outlet_uid", "raw"),
        ("in_crm", "bool"),
        ("account_id", "raw"),
        ("channel", "raw"),
        ("true_category_potential_eur", "dec0"),
        ("true_brand_share", "dec6"),
        ("size_band", "raw"),
        ("is_direct", "bool"),
        ("purchase_pattern", "raw"),
        ("commune_insee", "raw"),
        ("latitude", "dec6"),
        ("longitude", "dec6"),
        ("siret", "raw"),
    ]
    counts["outlets"] = _write_csv(gt / "outlets.csv", [k for k, _ in kinds], table, kinds, con)

    ids, codes, uids, accs = [], [], [], []
    for d, master in enumerate(sell["masters"]):
        seen = np.flatnonzero(master["seen"])
        ids.append(np.full(len(seen), sell["dls"][d].id, dtype=object))
        codes.append(master["codes"][seen])
        uids.append(o.uid[master["outlet"][seen]])
        row = master["crm_row"][seen]
        accs.append(where(row >= 0, crm.account_id[np.maximum(row, 0)], None))

    def cat(xs):
        return np.concatenate(xs) if xs else np.zeros(0, dtype=object)

    table = pa.table(
        {
            "distributor_id": to_arrow(cat(ids)),
            "distributor_account_code": to_arrow(cat(codes)),
            "outlet_uid": to_arrow(cat(uids)),
            "account_id": to_arrow(cat(accs)),
        }
    )
    kinds = [
        ("distributor_id", "raw"),
        ("distributor_account_code", "raw"),
        ("outlet_uid", "raw"),
        ("account_id", "raw"),
    ]
    counts["distributor_customers"] = _write_csv(
        gt / "distributor_customers.csv", [k for k, _ in kinds], table, kinds, con
    )

    for name, data, key in (
        ("online_listings.csv", online, "source_record_id"),
        ("external_records.csv", ext, "external_id"),
    ):
        ids_arr = data["id"] if "id" in data else data["external_id"]
        row = data["crm_row"]
        table = pa.table(
            {
                key: to_arrow(ids_arr),
                "outlet_uid": to_arrow(o.uid[data["outlet"]]),
                "account_id": to_arrow(where(row >= 0, crm.account_id[np.maximum(row, 0)], None)),
            }
        )
        kinds = [(key, "raw"), ("outlet_uid", "raw"), ("account_id", "raw")]
        counts[name[:-4]] = _write_csv(gt / name, [k for k, _ in kinds], table, kinds, con)

    errors = [e for sink, _ in ctx.sinks for e in sink.errors]
    errors.sort(key=lambda e: (e.file, e.line))
    with (gt / "injected_errors.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["source", "file", "line", "column", "kind", "file_column", "value"])
        for e in errors:
            w.writerow([e.source, e.file, e.line, e.column, e.kind, e.file_column, e.value])
    counts["injected_errors"] = len(errors)

    files = sorted(ctx.files, key=lambda r: r.file)
    with (gt / "files.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            ["file", "source", "distributor_id", "period", "delivered_at", "status", "duplicate_of"]
        )
        for r in files:
            w.writerow(
                [
                    r.file,
                    r.source,
                    r.distributor_id,
                    r.period,
                    r.delivered_at.isoformat(timespec="seconds"),
                    r.status,
                    r.duplicate_of,
                ]
            )
    counts["files"] = len(files)
    with (gt / "missing_deliveries.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["distributor_id", "period", "expected_file"])
        for r in sell["special"]["missing"]:
            w.writerow([r["distributor_id"], r["period"], r["expected_file"]])
    stamp = _at(ctx.window.last_day + 1, 0.25)
    for path in sorted(gt.iterdir()):
        set_mtime(path, stamp)  # fixed mtimes: reruns are byte- and stat-identical
    return counts


def _write_pattern_truth(ctx: Ctx, crm, sell, calls, ap, dists) -> dict:
    """The planted route-to-market patterns: call_patterns.csv, distributor_patterns.csv,
    ap_effects.csv."""
    gt = ctx.out_dir / "ground_truth"
    counts = {}
    rows = np.flatnonzero(calls["pattern"] > 0)
    rows = rows[np.argsort(crm.account_id[rows], kind="stable")]
    table = pa.table(
        {
            "account_id": to_arrow(crm.account_id[rows]),
            "pattern": to_arrow(pick(CALL_PATTERNS, calls["pattern"][rows])),
            "planted_calls_per_year": pa.array(calls["rate"][rows]),
        }
    )
    kinds = [("account_id", "raw"), ("pattern", "raw"), ("planted_calls_per_year", "dec1")]
    counts["call_patterns"] = _write_csv(
        gt / "call_patterns.csv", [k for k, _ in kinds], table, kinds, ctx.con
    )
    sloppy = sell.get("sloppy")
    over = set(int(m) for m in sloppy["over_months"]) if sloppy else set()
    with (gt / "distributor_patterns.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["distributor_id", "pattern", "over_reported_periods"])
        for d, spec in enumerate(dists):
            bad = sloppy is not None and sloppy["d"] == d
            periods = ";".join(ctx.window.labels[m] for m in sorted(over)) if bad else ""
            w.writerow([spec["id"], "late_and_sloppy" if bad else "reliable", periods])
    counts["distributor_patterns"] = len(dists)
    acc = ap["accounts"]
    with (gt / "ap_effects.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["spend_type", "true_uplift", "accounts", "accounts_with_6m_pre_post"])
        for t, name in enumerate(SPEND_TYPES):
            of_type = acc["type"] == t
            w.writerow(
                [
                    name,
                    f"{AP_UPLIFT[t]:.2f}",
                    int(of_type.sum()),
                    int((of_type & acc["ident"]).sum()),
                ]
            )
    counts["ap_effects"] = len(SPEND_TYPES)
    stamp = _at(ctx.window.last_day + 1, 0.25)
    for name in ("call_patterns.csv", "distributor_patterns.csv", "ap_effects.csv"):
        set_mtime(gt / name, stamp)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--accounts", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--end-month", default="2026-10")
    parser.add_argument("--company-config", type=Path, default=None)
    args = parser.parse_args(argv)
    summary = generate_company(
        args.out_dir, args.accounts, args.seed, args.months, args.end_month, args.company_config
    )
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
