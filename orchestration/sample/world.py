"""The true world behind the sample company: products, geography, sales force, outlets.

Everything here is the *truth*: what the outlets really are, what they could buy and what
share of it they buy from us. The source files (CRM, distributor feeds, online, external)
are noisy, partial views of it, generated in the other modules. All arrays are numpy
(object arrays for text), one element per outlet / account / rep, built vectorised.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sample import names as V
from orchestration.sample.util import (
    Window,
    choice_weighted,
    digits_to_str,
    fmt_ids,
    grouped_pick,
    luhn_complete,
    pick,
    slug,
    stream,
    strip_accents,
    to_arrow,
    to_object,
    where,
)

DATA_DIR = Path(__file__).resolve().parent / "data"

CHANNELS = (
    "hypermarket",
    "supermarket",
    "convenience",
    "specialist",
    "bar_restaurant",
    "etailer",
    "wholesaler",
)
HYPER, SUPER, CONV, SPEC, BAR, ETAIL, WHOLE = range(7)
CATEGORIES = ("whisky", "rum", "gin", "vodka", "cognac", "liqueur", "aperitif")

# Per channel (order of CHANNELS).
CRM_MIX = np.array([0.030, 0.100, 0.120, 0.100, 0.615, 0.006, 0.016])
PROSPECT_MIX = np.array([0.002, 0.040, 0.200, 0.120, 0.630, 0.003, 0.005])
BASE_POTENTIAL = np.array([320_000, 65_000, 8_000, 26_000, 9_500, 110_000, 300_000], float)
# Our brands are a smaller part of the big, many-brand shelves than of a bar's back bar.
SHARE_MULT = np.array([0.55, 0.75, 1.0, 1.1, 1.15, 0.8, 0.6])
SIGMA = np.array([0.45, 0.50, 0.60, 0.75, 0.80, 1.00, 0.80])
DIRECT_P = np.array([0.85, 0.03, 0.0, 0.02, 0.004, 0.80, 0.90])
POP_ALPHA = np.array([0.80, 0.95, 1.00, 1.05, 1.00, 1.20, 0.70])
ASSORT_K = np.array([[20, 38], [10, 25], [3, 10], [12, 36], [3, 14], [20, 40], [25, 41]])
MAPS_P = np.array([0.95, 0.85, 0.60, 0.75, 0.80, 0.30, 0.50])
SOCIAL_P = np.array([0.35, 0.15, 0.08, 0.35, 0.38, 0.85, 0.20])
WEBSITE_P = np.array([0.70, 0.40, 0.05, 0.40, 0.15, 1.00, 0.60])
EMPLOYEES = np.array([150, 35, 4, 3, 6, 12, 40], float)
ON_TRADE = np.array([False, False, False, False, True, False, False])
# Seasonality by calendar month, on-trade (bars) and off-trade (shops); normalised to mean 1.
SEASON_ON = np.array([0.80, 0.82, 0.90, 0.95, 1.02, 1.12, 1.20, 1.10, 0.95, 0.95, 1.00, 1.19])
SEASON_OFF = np.array([0.70, 0.75, 0.85, 0.90, 0.95, 1.00, 1.00, 0.95, 0.90, 1.00, 1.25, 1.75])
SEASON_ON /= SEASON_ON.mean()
SEASON_OFF /= SEASON_OFF.mean()
PROMO_MONTHS = (3, 6, 10, 12)

LOYAL, OCCASIONAL, OPPORTUNIST = 0, 1, 2
PATTERNS = ("loyal", "occasional", "opportunist")
SIZE_BANDS = ("small", "medium", "large")

# brand, category, line name, bottle sizes, list price of the 0.7 L bottle (EUR), lifecycle
PRODUCT_LINES = [
    ("Aurore", "whisky", "Aurore Blended Whisky", (0.7, 1.0, 1.5), 14.5, ""),
    ("Aurore", "whisky", "Aurore Single Malt 10 ans", (0.7,), 32.0, ""),
    ("Aurore", "whisky", "Aurore Single Malt 15 ans", (0.7,), 52.0, ""),
    ("Aurore", "whisky", "Aurore Tourbé", (0.7,), 38.0, ""),
    ("Aurore", "whisky", "Aurore Double Fût", (0.7,), 42.0, ""),
    ("Île Rouge", "rum", "Île Rouge Rhum Blanc", (0.7, 1.0), 13.0, ""),
    ("Île Rouge", "rum", "Île Rouge Rhum Ambré", (0.7, 1.0), 16.0, ""),
    ("Île Rouge", "rum", "Île Rouge Rhum Vieux 7 ans", (0.7,), 29.0, ""),
    ("Île Rouge", "rum", "Île Rouge Épicé", (0.7,), 18.0, ""),
    ("Jardin d'Hiver", "gin", "Jardin d'Hiver London Dry", (0.7, 1.0, 1.5), 19.0, ""),
    ("Jardin d'Hiver", "gin", "Jardin d'Hiver Rose", (0.7,), 23.0, ""),
    ("Jardin d'Hiver", "gin", "Jardin d'Hiver Agrumes", (0.7,), 23.0, "launch:14"),
    ("Jardin d'Hiver", "gin", "Jardin d'Hiver Navy Strength", (0.7,), 31.0, ""),
    ("Blanc Givré", "vodka", "Blanc Givré Vodka", (0.7, 1.0, 1.5), 12.0, ""),
    ("Blanc Givré", "vodka", "Blanc Givré Citron", (0.7,), 14.0, ""),
    ("Blanc Givré", "vodka", "Blanc Givré Vanille", (0.7,), 14.0, "launch:5"),
    ("Maison Delaunay", "cognac", "Maison Delaunay VS", (0.7, 1.0), 26.0, ""),
    ("Maison Delaunay", "cognac", "Maison Delaunay VSOP", (0.7,), 38.0, ""),
    ("Maison Delaunay", "cognac", "Maison Delaunay XO", (0.7,), 95.0, ""),
    ("Maison Delaunay", "cognac", "Maison Delaunay Napoléon", (0.7,), 62.0, "stop:10"),
    ("Mirabelle & Co", "liqueur", "Liqueur de Mirabelle", (0.7,), 17.0, ""),
    ("Mirabelle & Co", "liqueur", "Crème de Cassis", (0.7, 1.0), 11.0, ""),
    ("Mirabelle & Co", "liqueur", "Liqueur de Noix", (0.7,), 15.0, ""),
    ("Mirabelle & Co", "liqueur", "Triple Sec", (0.7, 1.0), 13.0, ""),
    ("Soleil d'Oc", "aperitif", "Soleil d'Oc Pastis", (0.7, 1.0, 1.5), 12.0, ""),
    ("Soleil d'Oc", "aperitif", "Soleil d'Oc Gentiane", (0.7,), 14.0, ""),
    ("Soleil d'Oc", "aperitif", "Soleil d'Oc Amer", (1.0,), 13.0, "stop:16"),
    ("Soleil d'Oc", "aperitif", "Soleil d'Oc Vermouth Rouge", (0.7,), 10.0, ""),
]
# How much each channel favours each category (order of CATEGORIES).
CATEGORY_PREF = np.array(
    [
        [1.0, 0.8, 0.7, 0.8, 0.5, 0.6, 1.0],  # hypermarket
        [1.0, 0.8, 0.7, 0.8, 0.4, 0.6, 1.0],  # supermarket
        [0.9, 0.8, 0.5, 1.0, 0.2, 0.5, 1.0],  # convenience
        [1.0, 1.0, 1.0, 0.5, 1.0, 0.7, 0.4],  # specialist
        [1.0, 1.0, 1.0, 0.9, 0.3, 0.9, 1.2],  # bar_restaurant
        [1.0, 1.0, 1.0, 0.6, 0.9, 0.6, 0.4],  # etailer
        [1.0, 0.9, 0.8, 0.9, 0.5, 0.8, 1.0],  # wholesaler
    ]
)
SIZE_PREF = {  # 0.7 L, 1 L, 1.5 L
    "on": (0.6, 1.0, 0.15),
    "off": (1.0, 0.45, 0.35),
    "spec": (1.0, 0.25, 0.05),
}


# ---------------------------------------------------------------------------------------
@dataclass
class Products:
    sku: np.ndarray
    ean: np.ndarray
    name: np.ndarray
    brand: np.ndarray
    category: np.ndarray
    size_l: np.ndarray
    bottles_per_case: np.ndarray
    list_price: np.ndarray
    unit_cost: np.ndarray
    launch_date: np.ndarray  # datetime64[D]
    status: np.ndarray
    available: np.ndarray  # (months, products) bool
    popularity: np.ndarray  # (channels, products)

    def __len__(self) -> int:
        return len(self.sku)


def ean13(body12: list[str]) -> list[str]:
    out = []
    for body in body12:
        total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
        out.append(body + str((10 - total % 10) % 10))
    return out


def build_products(seed: int, window: Window) -> Products:
    rng = stream(seed, "products")
    rows = []
    for line_no, (brand, cat, line, sizes, price, life) in enumerate(PRODUCT_LINES):
        for size in sizes:
            rows.append((brand, cat, line, size, price, life, line_no))
    n = len(rows)
    brands = sorted({r[0] for r in rows}, key=[r[0] for r in rows].index)
    sku, ean_body, name, price, bpc, launch, status, stop = [], [], [], [], [], [], [], []
    per_brand: dict[str, int] = {}
    end = window.last_day
    for i, (brand, _cat, line, size, base, life, _ln) in enumerate(rows):
        b = brands.index(brand) + 1
        per_brand[brand] = per_brand.get(brand, 0) + 1
        sku.append(f"SKU{b}{per_brand[brand]:03d}")
        ean_body.append(f"3760123{b}{per_brand[brand]:02d}{i:02d}")
        label = {0.7: "70cl", 1.0: "1L", 1.5: "1,5L"}[size]
        name.append(f"{line} {label}")
        mult = {0.7: 1.0, 1.0: 1.35, 1.5: 1.9}[size]
        price.append(round(base * mult * (1 + rng.uniform(-0.03, 0.03)), 2))
        if size == 1.5 or base >= 25:
            bpc.append(6)
        elif size == 1.0:
            bpc.append(12 if rng.random() < 0.7 else 6)
        else:
            bpc.append(12 if rng.random() < 0.5 else 6)
        kind, _, months_ago = life.partition(":")
        if kind == "launch":
            launch.append((end.astype("datetime64[M]") - int(months_ago)).astype("datetime64[D]"))
        else:
            year = int(rng.integers(2006, 2023))
            launch.append(np.datetime64(f"{year}-{int(rng.integers(1, 13)):02d}-01"))
        if kind == "stop":
            status.append("discontinued")
            stop.append((end.astype("datetime64[M]") - int(months_ago)).astype("datetime64[D]"))
        else:
            status.append("active")
            stop.append(np.datetime64("2100-01-01"))
    margin = rng.uniform(0.25, 0.60, n)
    list_price = np.array(price)
    unit_cost = np.round(list_price * (1 - margin), 2)
    launch_arr = np.array(launch, dtype="datetime64[D]")
    stop_arr = np.array(stop, dtype="datetime64[D]")
    starts = window.starts
    available = (launch_arr[None, :] <= window.ends[:, None]) & (
        stop_arr[None, :] > starts[:, None]
    )

    cats = np.array([CATEGORIES.index(r[1]) for r in rows])
    sizes = np.array([r[3] for r in rows])
    size_idx = np.select([sizes == 0.7, sizes == 1.0], [0, 1], 2)
    pop = np.zeros((len(CHANNELS), n))
    line_weight = rng.uniform(0.5, 1.5, len(PRODUCT_LINES))[[r[6] for r in rows]]
    for ch in range(len(CHANNELS)):
        kind = "on" if ON_TRADE[ch] else ("spec" if ch in (SPEC, ETAIL) else "off")
        size_w = np.array(SIZE_PREF[kind])[size_idx]
        price_w = list_price ** (-0.3 if ch in (SPEC, ETAIL) else -0.8)
        pop[ch] = CATEGORY_PREF[ch, cats] * size_w * price_w * line_weight
        pop[ch] /= pop[ch].sum()
    return Products(
        sku=np.array(sku, dtype=object),
        ean=np.array(ean13(ean_body), dtype=object),
        name=np.array(name, dtype=object),
        brand=np.array([r[0] for r in rows], dtype=object),
        category=np.array([r[1] for r in rows], dtype=object),
        size_l=sizes,
        bottles_per_case=np.array(bpc),
        list_price=list_price,
        unit_cost=unit_cost,
        launch_date=launch_arr,
        status=np.array(status, dtype=object),
        available=available,
        popularity=pop,
    )


# ---------------------------------------------------------------------------------------
@dataclass
class Communes:
    insee: np.ndarray
    name: np.ndarray  # official name
    city: np.ndarray  # postal city name (Paris for its arrondissements)
    postcode: np.ndarray
    dept: np.ndarray
    population: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.insee)


_ARRONDISSEMENT = re.compile(r"^(Paris|Lyon|Marseille) \d+(er|e) Arrondissement$")


def load_communes(path: Path | None = None) -> Communes:
    path = path or DATA_DIR / "communes_fr.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if len(r["department"]) == 2]
    cities = []
    for r in rows:
        m = _ARRONDISSEMENT.match(r["commune"])
        cities.append(m.group(1) if m else r["commune"])
    return Communes(
        insee=np.array([r["insee_code"] for r in rows], dtype=object),
        name=np.array([r["commune"] for r in rows], dtype=object),
        city=np.array(cities, dtype=object),
        postcode=np.array([r["postcode"] for r in rows], dtype=object),
        dept=np.array([r["department"] for r in rows], dtype=object),
        population=np.array([int(r["population"]) for r in rows], dtype=np.int64),
        lat=np.array([float(r["latitude"]) for r in rows]),
        lon=np.array([float(r["longitude"]) for r in rows]),
    )


# ---------------------------------------------------------------------------------------
@dataclass
class SalesForce:
    territory_id: np.ndarray  # T01...
    territory_name: np.ndarray
    territory_region: np.ndarray  # index into V.REGIONS
    territory_depts: list[list[str]]
    region_manager: list[str]
    dept_territory: dict[str, int]
    rep_id: np.ndarray
    rep_name: np.ndarray
    role: np.ndarray  # key_account_manager / field_rep / telesales
    rep_territory: np.ndarray  # index
    home_commune: np.ndarray
    home_lat: np.ndarray
    home_lon: np.ndarray
    capacity: np.ndarray
    start_date: np.ndarray

    @property
    def rep_region(self) -> np.ndarray:
        return self.territory_region[self.rep_territory]


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    first = pick(V.FIRST_NAMES, rng.integers(0, len(V.FIRST_NAMES), n))
    last = pick(V.LAST_NAMES, rng.integers(0, len(V.LAST_NAMES), n))
    return first + " " + last


# ---------------------------------------------------------------------------------------
@dataclass
class Outlets:
    """The universe of outlets that buy the category (one row per real outlet)."""

    uid: np.ndarray
    in_crm: np.ndarray
    channel: np.ndarray
    commune: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    potential: np.ndarray  # true yearly category purchases, all brands, EUR
    share: np.ndarray  # base share of wallet of our brands
    size_band: np.ndarray  # index into SIZE_BANDS
    mono_brand: np.ndarray
    is_direct: np.ndarray
    inactive: np.ndarray  # CRM status inactive (meaningful for CRM outlets)
    pattern: np.ndarray  # LOYAL / OCCASIONAL / OPPORTUNIST
    trend: np.ndarray  # yearly relative change of share
    start_month: np.ndarray  # first month with purchases (won accounts), 0 otherwise
    stop_month: np.ndarray  # month from which it no longer buys (lost), months otherwise
    discount: np.ndarray  # trade discount off the distributor price
    assort: np.ndarray  # (n, 41) product indices in order of preference
    assort_k: np.ndarray  # how many of them the outlet lists
    quality: np.ndarray  # latent image / execution quality, N(0, 1)
    trade_name: np.ndarray
    legal_form: np.ndarray
    legal_name: np.ndarray
    street: np.ndarray  # street address line
    siret: np.ndarray
    phone: np.ndarray  # 10 digits
    website: np.ndarray  # None when none
    email: np.ndarray
    ap_month: np.ndarray = field(default=None)  # first A&P spend month (uplift from then)
    ap_uplift: np.ndarray = field(default=None)  # sell-out uplift from ap_month (by spend type)

    def __len__(self) -> int:
        return len(self.uid)


def _outlet_names(rng, ch, city, n):
    """Trade names by channel, vectorised over object arrays."""
    first = pick(V.FIRST_NAMES, rng.integers(0, len(V.FIRST_NAMES), n))
    last = pick(V.LAST_NAMES, rng.integers(0, len(V.LAST_NAMES), n))
    u = rng.random(n)
    t = rng.random(n)

    bar = np.empty(n, dtype=object)
    simple = pick(V.BAR_SIMPLE, rng.integers(0, len(V.BAR_SIMPLE), n))
    kind = pick(V.BAR_KINDS, rng.integers(0, len(V.BAR_KINDS), n))
    place = pick(V.BAR_PLACES, rng.integers(0, len(V.BAR_PLACES), n))
    adj = pick(V.BAR_ADJ, rng.integers(0, len(V.BAR_ADJ), n))
    noun = pick(V.BAR_NOUNS, rng.integers(0, len(V.BAR_NOUNS), n))
    pub = pick(V.PUB_NAMES, rng.integers(0, len(V.PUB_NAMES), n))
    pizza = pick(V.PIZZA_NAMES, rng.integers(0, len(V.PIZZA_NAMES), n))
    bar[:] = simple
    bar = where(t >= 0.34, kind + " " + place, bar)
    bar = where(t >= 0.62, "Le " + adj + " " + noun, bar)
    bar = where(t >= 0.71, "Chez " + first, bar)
    bar = where(t >= 0.80, kind + " " + last, bar)
    bar = where(t >= 0.85, pub + " Pub", bar)
    bar = where(t >= 0.89, "Pizzeria " + pizza, bar)
    bar = where(t >= 0.93, "La Table de " + first, bar)
    bar = where(t >= 0.96, simple + " " + city, bar)

    conv_pat = pick(V.CONVENIENCE_PATTERNS, rng.integers(0, len(V.CONVENIENCE_PATTERNS), n))
    conv = where(u < 0.4, conv_pat + " " + last, conv_pat + " " + place)
    conv = where(u >= 0.8, conv_pat, conv)
    conv = where(u >= 0.9, "Alimentation Générale", conv)

    sup = pick(V.SUPERMARKET_BANNERS, rng.integers(0, len(V.SUPERMARKET_BANNERS), n)) + " " + city
    hyp = pick(V.HYPER_BANNERS, rng.integers(0, len(V.HYPER_BANNERS), n)) + " " + city

    spec_pat = pick(V.SPECIALIST_PATTERNS, rng.integers(0, len(V.SPECIALIST_PATTERNS), n))
    spec = where(np.isin(spec_pat, ["Cave", "Le Chai"]), spec_pat + " " + last, spec_pat)
    spec = where(np.isin(spec_pat, ["La Cave de"]), spec_pat + " " + city, spec)
    spec = where(np.isin(spec_pat, ["Les Caves du"]), spec_pat + " " + noun, spec)
    spec = where(
        np.isin(spec_pat, ["Spiritueux", "Vins et Spiritueux", "Le Cellier"]) & (u < 0.6),
        spec_pat + " " + last,
        spec,
    )

    whole_pat = pick(V.WHOLESALER_PATTERNS, rng.integers(0, len(V.WHOLESALER_PATTERNS), n))
    whole = where(u < 0.55, last + " " + whole_pat, whole_pat + " " + city)
    whole = where(u >= 0.85, whole_pat + " " + last + " et Fils", whole)

    etail = pick(V.ETAILER_NAMES, rng.integers(0, len(V.ETAILER_NAMES), n))
    etail = where(u < 0.5, etail + ".fr", etail)

    out = np.select(
        [ch == HYPER, ch == SUPER, ch == CONV, ch == SPEC, ch == BAR, ch == ETAIL],
        [hyp, sup, conv, spec, bar, etail],
        whole,
    )
    return out.astype(object), last


def _route_to(rng, communes: Communes, commune: np.ndarray) -> np.ndarray:
    """'route de <a neighbouring town>' with French contractions (du, des, de la, de l')."""
    depts = np.array(sorted(set(communes.dept)), dtype=object)
    dept_of = np.searchsorted(depts, communes.dept)
    groups = [np.flatnonzero(dept_of == i) for i in range(len(depts))]
    other = grouped_pick(groups, dept_of[commune], rng.random(len(commune)))
    text = pc.binary_join_element_wise("route de", to_arrow(communes.city[other]), " ")
    for pattern, repl in (
        (r"^route de Le ", "route du "),
        (r"^route de Les ", "route des "),
        (r"^route de La ", "route de la "),
        (r"^route de L'", "route de l'"),
        (r"^route de ([AEIOUYÉÈÊÂÎÔ])", "route d'\\1"),
    ):
        text = pc.replace_substring_regex(text, pattern, repl)
    return to_object(text)


def _streets(rng, ch, city, n, route):
    num = np.clip(np.round(np.exp(rng.normal(2.6, 1.0, n))), 1, 240).astype(int)
    num_s = np.char.mod("%d", num).astype(object)
    suffix = np.where(rng.random(n) < 0.04, np.where(rng.random(n) < 0.7, " bis", " ter"), "")
    types = [t[0] for t in V.STREET_TYPES]
    weights = np.array([t[1] for t in V.STREET_TYPES], float)
    stype = pick(types, choice_weighted(rng, weights, n))
    sname = pick(V.STREET_NAMES, rng.integers(0, len(V.STREET_NAMES), n))
    street = num_s + suffix.astype(object) + " " + stype + " " + sname
    # A place name takes no number most of the time.
    street = where((stype == "place") & (rng.random(n) < 0.6), "place " + sname, street)
    zt = pick(V.ZONE_TYPES, rng.integers(0, len(V.ZONE_TYPES), n))
    zn = pick(V.ZONE_NAMES, rng.integers(0, len(V.ZONE_NAMES), n))
    zone = zt + " " + zn
    zone = where(rng.random(n) < 0.25, route, zone)
    zone = where(rng.random(n) < 0.3, num_s + " " + zone, zone)
    big = np.isin(ch, [HYPER, WHOLE, ETAIL])
    return where(big | ((ch == SUPER) & (rng.random(n) < 0.3)), zone, street)


def _siret(rng, n):
    head = rng.integers(0, 10, (n, 8))
    head[:, 0] = rng.integers(3, 9, n)
    siren = luhn_complete(head)
    nic = np.zeros((n, 4), dtype=np.int64)
    nic[:, 3] = rng.integers(1, 10, n)
    nic[:, 2] = np.where(rng.random(n) < 0.15, rng.integers(1, 4, n), 0)
    return digits_to_str(luhn_complete(np.concatenate([siren, nic], axis=1)))


def _phones(rng, dept, ch, n):
    zone = pick(
        [V.PHONE_ZONE[d] for d in sorted(V.PHONE_ZONE)],
        np.searchsorted(np.array(sorted(V.PHONE_ZONE), dtype=object), dept),
    )
    mobile_p = np.where(np.isin(ch, [BAR, CONV, SPEC]), 0.15, 0.02)
    mobile = np.where(rng.random(n) < 0.5, "06", "07").astype(object)
    prefix = where(rng.random(n) < mobile_p, mobile, zone)
    rest = rng.integers(0, 10, (n, 8))
    rest[:, 0] = rng.integers(1, 10, n)
    return prefix + digits_to_str(rest)


def build_outlets(
    seed: int, accounts: int, communes: Communes, products: Products, window: Window
) -> tuple[Outlets, int]:
    """Return the outlet universe and the number of CRM duplicate rows to add."""
    rng = stream(seed, "outlets")
    n_dup = int(round(0.01 * accounts)) if accounts >= 50 else 0
    n_crm = accounts - n_dup
    n_pros = int(round(0.10 * accounts))
    n = n_crm + n_pros
    in_crm = rng.permutation(n) < n_crm

    ch = np.where(in_crm, choice_weighted(rng, CRM_MIX, n), choice_weighted(rng, PROSPECT_MIX, n))
    commune = np.empty(n, dtype=np.int64)
    for c in range(len(CHANNELS)):
        idx = np.flatnonzero(ch == c)
        commune[idx] = choice_weighted(rng, communes.population ** POP_ALPHA[c], len(idx))
    pop = communes.population[commune]

    sd_m = 250 + 600 * np.sqrt(pop / 100_000)
    dx = rng.normal(0, 1, n) * sd_m
    dy = rng.normal(0, 1, n) * sd_m
    big = np.isin(ch, [HYPER, WHOLE])
    angle = rng.uniform(0, 2 * np.pi, n)
    dist = np.where(big, rng.uniform(1500, 4500, n), 0)
    dx += dist * np.cos(angle)
    dy += dist * np.sin(angle)
    lat = communes.lat[commune] + dy / 111_000
    lon = communes.lon[commune] + dx / (111_000 * np.cos(np.radians(communes.lat[commune])))
    lat = np.round(np.clip(lat, 41.3, 51.1), 6)
    lon = np.round(np.clip(lon, -5.2, 9.6), 6)

    z = rng.normal(0, 1, n)
    potential = BASE_POTENTIAL[ch] * np.exp(SIGMA[ch] * z) * (pop / 20_000) ** 0.08
    potential = np.round(np.clip(potential, 1_500, 20_000_000), 0)
    size_band = np.zeros(n, dtype=np.int64)
    for c in range(len(CHANNELS)):
        idx = np.flatnonzero(ch == c)
        if len(idx):
            rank = np.argsort(np.argsort(potential[idx], kind="stable"), kind="stable")
            pct = (rank + 0.5) / len(idx)
            size_band[idx] = np.select([pct >= 0.85, pct >= 0.50], [2, 1], 0)

    is_direct = in_crm & (rng.random(n) < DIRECT_P[ch])
    inactive = in_crm & (rng.random(n) < 0.10)
    mono = in_crm & np.isin(ch, [BAR, SPEC, CONV]) & (rng.random(n) < 0.05)
    share = np.clip(rng.beta(1.4, 7.5, n) * SHARE_MULT[ch], 0.0, 0.6)
    share = np.where(mono, rng.uniform(0.42, 0.60, n), share)
    non_buyer = in_crm & ~mono & (rng.random(n) < 0.12)
    share = np.where(non_buyer, 0.0, share)
    share = np.where(inactive & (rng.random(n) < 0.75), 0.0, share)
    share = np.round(share, 4)

    p_loyal = np.clip(0.20 + 1.6 * share, 0.2, 0.85)
    p_opp = np.clip(0.25 - 0.5 * share, 0.05, 0.25)
    u = rng.random(n)
    pattern = np.where(u < p_loyal, LOYAL, np.where(u < p_loyal + p_opp, OPPORTUNIST, OCCASIONAL))
    trend = np.clip(rng.normal(0.03, 0.15, n), -0.5, 0.6)
    m = window.months
    won = rng.random(n) < 0.04
    lost = (rng.random(n) < 0.04) & ~won
    start_month = np.where(won & (m >= 4), rng.integers(1, max(2, m - 3), n), 0)
    stop_month = np.where(lost & (m >= 4), rng.integers(1, max(2, m - 3), n), m)
    discount = np.clip(
        0.02 + 0.035 * np.log10(potential / 8000) + rng.uniform(-0.01, 0.01, n), 0, 0.14
    )

    # Assortment: each outlet lists its K preferred products (popularity + taste noise).
    gumbel = -np.log(-np.log(rng.random((n, len(products))).clip(1e-12, 1 - 1e-12)))
    score = np.log(products.popularity[ch]) + gumbel
    assort = np.argsort(-score, axis=1, kind="stable").astype(np.int16)
    lo, hi = ASSORT_K[ch, 0], ASSORT_K[ch, 1]
    frac = np.clip((size_band / 2) * 0.6 + rng.uniform(0, 0.4, n), 0, 1)
    assort_k = np.minimum(np.round(lo + (hi - lo) * frac).astype(np.int64), len(products))
    quality = rng.normal(0, 1, n)

    city = communes.city[commune]
    dept = communes.dept[commune]
    trade, last = _outlet_names(rng, ch, city, n)
    street = _streets(rng, ch, city, n, _route_to(rng, communes, commune))

    form_probs = {
        HYPER: ([1, 3], [0.7, 0.3]),
        SUPER: ([1, 3, 0], [0.7, 0.2, 0.1]),
        CONV: ([0, 2, 4], [0.5, 0.3, 0.2]),
        SPEC: ([0, 1, 2], [0.5, 0.3, 0.2]),
        BAR: ([0, 1, 2, 4, 5], [0.45, 0.2, 0.15, 0.15, 0.05]),
        ETAIL: ([1, 5], [0.7, 0.3]),
        WHOLE: ([1, 3, 0], [0.6, 0.2, 0.2]),
    }
    form_idx = np.zeros(n, dtype=np.int64)
    for c, (forms, probs) in form_probs.items():
        idx = np.flatnonzero(ch == c)
        form_idx[idx] = np.array(forms)[choice_weighted(rng, np.array(probs), len(idx))]
    legal_form = pick(V.LEGAL_FORMS, form_idx)
    upper_trade = to_object(pc.utf8_upper(to_arrow(trade)))
    upper_last = to_object(pc.utf8_upper(to_arrow(last)))
    upper_city = to_object(pc.utf8_upper(strip_accents(to_arrow(city))))
    v = rng.random(n)
    base = where(v < 0.6, upper_trade, upper_last)
    base = where((v >= 0.75) & (v < 0.85), upper_last + " ET FILS", base)
    base = where(v >= 0.92, "ETS " + upper_last, base)
    chain = np.isin(ch, [HYPER, SUPER])
    sodi = "SODI" + to_object(
        pc.utf8_slice_codeunits(
            pc.replace_substring_regex(to_arrow(upper_city), r"[^A-Z]", ""), 0, 5
        )
    )
    base = where(chain, where(v < 0.5, sodi, upper_last + " DISTRIBUTION"), base)
    legal_name = legal_form + " " + base

    siret = _siret(rng, n)
    phone = _phones(rng, dept, ch, n)
    name_slug = to_object(slug(to_arrow(trade)))
    has_site = rng.random(n) < WEBSITE_P[ch]
    site_host = where(rng.random(n) < 0.75, "www." + name_slug + ".fr", name_slug + ".com")
    site_host = where(chain, "www." + name_slug + ".fr", site_host)
    website = where(has_site, site_host, None)
    domain = to_object(pc.replace_substring_regex(to_arrow(site_host), r"^www\.", ""))
    provider = pick(V.EMAIL_DOMAINS, rng.integers(0, len(V.EMAIL_DOMAINS), n))
    email = where(has_site, "contact@" + domain, name_slug + dept.astype(object) + "@" + provider)
    email = where(rng.random(n) < 0.45, email, None)

    uid = fmt_ids("OUT", np.arange(1, n + 1), 7)
    outlets = Outlets(
        uid=uid,
        in_crm=in_crm,
        channel=ch,
        commune=commune,
        lat=lat,
        lon=lon,
        potential=potential,
        share=share,
        size_band=size_band,
        mono_brand=mono,
        is_direct=is_direct,
        inactive=inactive,
        pattern=pattern,
        trend=trend,
        start_month=start_month,
        stop_month=stop_month,
        discount=discount,
        assort=assort,
        assort_k=assort_k,
        quality=quality,
        trade_name=trade,
        legal_form=legal_form,
        legal_name=legal_name,
        street=street,
        siret=siret,
        phone=phone,
        website=website,
        email=email,
    )
    outlets.ap_month = np.full(n, m, dtype=np.int64)
    outlets.ap_uplift = np.zeros(n)
    return outlets, n_dup


def expected_monthly_value(o: Outlets, idx: np.ndarray, window: Window) -> np.ndarray:
    """Expected brand purchases (EUR, outlet purchase prices) per outlet and month, (n, M).

    potential x share / 12, shaped by seasonality, the outlet's share trend (centred on the
    last 12 months so that their average is the base share), won/lost months and the uplift
    that follows the first A&P spend (its size set by the spend type, none for POS material)."""
    m = window.months
    t = np.arange(m)
    cal = window.calendar_month - 1
    season = np.where(
        ON_TRADE[o.channel[idx]][:, None], SEASON_ON[cal][None, :], SEASON_OFF[cal][None, :]
    )
    t_ref = m - 6.5 if m >= 12 else (m - 1) / 2
    trend = np.clip(1 + o.trend[idx][:, None] * (t[None, :] - t_ref) / 12, 0.2, None)
    active = (t[None, :] >= o.start_month[idx][:, None]) & (t[None, :] < o.stop_month[idx][:, None])
    uplift = np.where(t[None, :] >= o.ap_month[idx][:, None], 1.0 + o.ap_uplift[idx][:, None], 1.0)
    base = (o.potential[idx] * o.share[idx] / 12)[:, None]
    return base * season * trend * active * uplift


def true_brand_share(o: Outlets, window: Window, chunk: int = 100_000) -> np.ndarray:
    """Share of wallet over the last 12 months (or the whole window when shorter)."""
    out = np.zeros(len(o))
    last = min(12, window.months)
    for a in range(0, len(o), chunk):
        idx = np.arange(a, min(a + chunk, len(o)))
        value = expected_monthly_value(o, idx, window)[:, -last:].sum(axis=1) * 12 / last
        out[idx] = value / o.potential[idx]
    return out


# ---------------------------------------------------------------------------------------
def build_sales_force(seed: int, communes: Communes, outlets: Outlets, accounts: int) -> SalesForce:
    rng = stream(seed, "sales_force")
    terr = V.TERRITORIES
    dept_territory = {d: i for i, (_, _, deps) in enumerate(terr) for d in deps}
    missing = sorted(set(communes.dept) - set(dept_territory))
    if missing:
        raise ValueError(f"departments without a territory: {missing}")
    n_t = len(terr)
    t_of_outlet = np.array([dept_territory[d] for d in communes.dept])[outlets.commune]
    crm = outlets.in_crm
    workload = np.bincount(t_of_outlet[crm], minlength=n_t).astype(float)
    n_field = int(np.clip(round(accounts / 330), n_t, 850))
    quota = workload / workload.sum() * n_field
    alloc = np.maximum(1, np.floor(quota)).astype(int)
    while alloc.sum() < n_field:
        alloc[np.argmax(quota - alloc)] += 1
    n_kam = int(np.clip(round(n_field / 8), len(V.REGIONS), 100))
    n_tel = int(np.clip(round(accounts / 4000), len(V.REGIONS), 48))
    t_region = np.array([r for (_, r, _) in terr])

    roles, rep_t = [], []
    for t in range(n_t):
        roles += ["field_rep"] * alloc[t]
        rep_t += [t] * alloc[t]
    kam_region = np.arange(n_kam) % len(V.REGIONS)
    tel_region = np.arange(n_tel) % len(V.REGIONS)
    for region_list, role in ((kam_region, "key_account_manager"), (tel_region, "telesales")):
        for r in region_list:
            ts = np.flatnonzero(t_region == r)
            roles.append(role)
            rep_t.append(
                int(ts[np.argmax(workload[ts])]) if role == "telesales" else int(rng.choice(ts))
            )
    order = rng.permutation(len(roles))
    roles_arr = np.array(roles, dtype=object)[order]
    rep_t_arr = np.array(rep_t)[order]
    n = len(roles_arr)

    home = np.empty(n, dtype=np.int64)
    comm_t = np.array([dept_territory[d] for d in communes.dept])
    for i in range(n):
        cand = np.flatnonzero(comm_t == rep_t_arr[i])
        w = communes.population[cand].astype(float) ** 0.8
        home[i] = cand[choice_weighted(rng, w, 1)[0]]
    home_lat = np.round(communes.lat[home] + rng.normal(0, 0.01, n), 5)
    home_lon = np.round(communes.lon[home] + rng.normal(0, 0.01, n), 5)
    capacity = np.round(rng.uniform(35, 40, n) * 2) / 2
    start = (np.datetime64("2008-01-01") + rng.integers(0, 6500, n)).astype("datetime64[D]")
    return SalesForce(
        territory_id=np.array([f"T{i + 1:02d}" for i in range(n_t)], dtype=object),
        territory_name=np.array([t[0] for t in terr], dtype=object),
        territory_region=t_region,
        territory_depts=[list(t[2]) for t in terr],
        region_manager=list(person_names(rng, len(V.REGIONS))),
        dept_territory=dept_territory,
        rep_id=np.array([f"REP{i + 1:03d}" for i in range(n)], dtype=object),
        rep_name=person_names(rng, n),
        role=roles_arr,
        rep_territory=rep_t_arr,
        home_commune=home,
        home_lat=home_lat,
        home_lon=home_lon,
        capacity=capacity,
        start_date=start,
    )


# ---------------------------------------------------------------------------------------
@dataclass
class Crm:
    """The CRM account rows: one per account, duplicates included."""

    outlet: np.ndarray  # outlet index
    account_id: np.ndarray
    dup_of: np.ndarray  # row index of the original, -1 otherwise
    created: np.ndarray
    territory: np.ndarray
    owner: np.ndarray  # rep index, -1 when unallocated
    second_rep: np.ndarray  # rep index of an overlapping second rep, -1 otherwise
    status_inactive: np.ndarray

    def __len__(self) -> int:
        return len(self.outlet)

    @property
    def original_row(self) -> np.ndarray:
        return np.where(self.dup_of >= 0, self.dup_of, np.arange(len(self)))


def build_crm(
    seed: int, outlets: Outlets, n_dup: int, communes: Communes, sf: SalesForce, window: Window
) -> Crm:
    rng = stream(seed, "crm")
    crm_outlets = np.flatnonzero(outlets.in_crm)
    n_orig = len(crm_outlets)
    dup_src = rng.choice(n_orig, size=n_dup, replace=False) if n_dup else np.array([], int)
    outlet = np.concatenate([crm_outlets, crm_outlets[dup_src]])
    dup_of = np.concatenate([np.full(n_orig, -1), dup_src])
    n = len(outlet)

    end = window.last_day
    span = int((end - np.datetime64("2004-01-01")).astype(int))
    created = np.datetime64("2004-01-01") + np.floor(span * rng.random(n_orig) ** 0.7).astype(int)
    dup_created = created[dup_src] + np.floor(
        rng.random(n_dup) * (end - created[dup_src]).astype(int)
    ).astype(int)
    created = np.concatenate([created, dup_created]).astype("datetime64[D]")

    space = 1_000_000
    lower = 1 if accounts_fit(n) else 0
    top = min(space, int(n * 1.25) + 100)
    ids = np.sort(rng.choice(np.arange(lower, top), size=n, replace=False))
    order = np.lexsort((np.arange(n), created))
    numbers = np.empty(n, dtype=np.int64)
    numbers[order] = ids
    account_id = fmt_ids("ACC", numbers, 6)

    dept = communes.dept[outlets.commune[outlet]]
    territory = np.array([sf.dept_territory[d] for d in dept])
    region = sf.territory_region[territory]
    owner = np.full(n, -1, dtype=np.int64)
    ch = outlets.channel[outlet]
    pot = outlets.potential[outlet]
    field_mask = sf.role == "field_rep"
    # Field reps own the accounts nearest to their home base inside their territory.
    lat = np.radians(outlets.lat[outlet])
    lon = np.radians(outlets.lon[outlet])
    for t in range(len(sf.territory_id)):
        reps = np.flatnonzero(field_mask & (sf.rep_territory == t))
        rows = np.flatnonzero(territory == t)
        if not len(rows) or not len(reps):
            continue
        rl, ro = np.radians(sf.home_lat[reps]), np.radians(sf.home_lon[reps])
        best = np.full(len(rows), np.inf)
        choice = np.zeros(len(rows), dtype=np.int64)
        for j, rep in enumerate(reps):
            d = (lat[rows] - rl[j]) ** 2 + ((lon[rows] - ro[j]) * np.cos(lat[rows])) ** 2
            # a little randomness: reps also inherit accounts beyond their natural patch
            d = d * rng.uniform(0.6, 1.4, len(rows))
            better = d < best
            best[better] = d[better]
            choice[better] = rep
        owner[rows] = choice
    top_pot = pot >= np.quantile(pot, 0.99) if n else np.zeros(0, bool)
    kam_target = (np.isin(ch, [HYPER, WHOLE, ETAIL]) | top_pot) & (rng.random(n) < 0.8)
    tel_target = (pot < np.quantile(pot, 0.4) if n else False) & (rng.random(n) < 0.25)
    for role, target in (("key_account_manager", kam_target), ("telesales", tel_target)):
        for r in range(len(V.REGIONS)):
            reps = np.flatnonzero((sf.role == role) & (sf.rep_region == r))
            rows = np.flatnonzero(target & (region == r))
            if len(reps) and len(rows):
                owner[rows] = reps[rng.integers(0, len(reps), len(rows))]
    owner[rng.random(n) < 0.06] = -1

    second = np.full(n, -1, dtype=np.int64)
    overlap = rng.random(n) < 0.06
    for t in range(len(sf.territory_id)):
        reps = np.flatnonzero(field_mask & (sf.rep_territory == t))
        rows = np.flatnonzero(overlap & (territory == t))
        if len(reps) and len(rows):
            second[rows] = reps[rng.integers(0, len(reps), len(rows))]
    second = np.where(second == owner, -1, second)

    inactive = np.concatenate([outlets.inactive[crm_outlets], rng.random(n_dup) < 0.3])
    return Crm(
        outlet=outlet,
        account_id=account_id,
        dup_of=dup_of,
        created=created,
        territory=territory,
        owner=owner,
        second_rep=second,
        status_inactive=inactive,
    )


def accounts_fit(n: int) -> bool:
    """Whether n account ids fit in ACC000001..ACC999999 (else ACC000000 is used too)."""
    return n <= 999_999


# ---------------------------------------------------------------------------------------
@dataclass
class Relations:
    """Distributor -> outlet customer relationships (who buys through whom)."""

    outlet: np.ndarray
    dist: np.ndarray  # index into the configured distributors
    weight: np.ndarray  # share of the outlet's orders placed with this distributor
    recode_month: np.ndarray  # month from which the alt code is used, months if never
    # per-outlet lookup (outlets without relation have -1)
    first: np.ndarray  # relation index of the primary distributor per outlet
    second: np.ndarray  # relation index of the secondary distributor per outlet, -1


def build_relations(
    seed: int, outlets: Outlets, communes: Communes, dist_ids: list[str], window: Window
) -> Relations:
    rng = stream(seed, "relations")
    zones = {d: set(V.DISTRIBUTOR_ZONES.get(d, [])) for d in dist_ids}
    depts = sorted(set(communes.dept))
    cover = np.array([[dep in zones[d] for d in dist_ids] for dep in depts], dtype=bool)
    if not cover.all(axis=1).any() and len(dist_ids):
        pass
    # Departments no configured distributor serves fall back to all distributors.
    cover[~cover.any(axis=1)] = True
    dept_idx = np.searchsorted(np.array(depts, dtype=object), communes.dept[outlets.commune])
    n = len(outlets)
    eligible = ~outlets.is_direct & (outlets.share > 0)
    cov = cover[dept_idx] & eligible[:, None]
    w = cov * rng.uniform(0.5, 1.5, (n, len(dist_ids)))
    primary = np.argmax(w + cov * 10, axis=1)
    w2 = np.where(np.arange(len(dist_ids))[None, :] == primary[:, None], 0, w)
    has_second = eligible & (cov.sum(axis=1) >= 2) & (rng.random(n) < 0.15)
    secondary = np.argmax(w2, axis=1)
    share1 = np.where(has_second, rng.uniform(0.6, 0.85, n), 1.0)

    idx1 = np.flatnonzero(eligible)
    idx2 = np.flatnonzero(has_second)
    outlet = np.concatenate([idx1, idx2])
    dist = np.concatenate([primary[idx1], secondary[idx2]])
    weight = np.concatenate([share1[idx1], 1 - share1[idx2]])
    order = np.lexsort((outlet, dist))
    outlet, dist, weight = outlet[order], dist[order], weight[order]
    m = window.months
    recode = np.where(
        (rng.random(len(outlet)) < 0.01) & (m >= 4), rng.integers(1, max(2, m - 1), len(outlet)), m
    )
    first = np.full(n, -1, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)
    is_primary = np.zeros(len(outlet), dtype=bool)
    is_primary[:] = dist == primary[outlet]
    first[outlet[is_primary]] = np.flatnonzero(is_primary)
    second[outlet[~is_primary]] = np.flatnonzero(~is_primary)
    return Relations(
        outlet=outlet, dist=dist, weight=weight, recode_month=recode, first=first, second=second
    )


def as_arrow(values: np.ndarray) -> pa.Array:
    return to_arrow(values)
