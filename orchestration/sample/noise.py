"""How each source misspells an outlet: case, accents, articles, abbreviations, typos.

All transformations are vectorised over arrow string arrays (pyarrow.compute, RE2
regexes); only the typo step loops, over the ~10% of rows it touches.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sample.util import strip_accents, to_arrow, to_object

ADDRESS_ABBREVIATIONS = [
    ("avenue", "AV."),
    ("boulevard", "BD"),
    ("place", "PL."),
    ("route", "RTE"),
    ("chemin", "CHE"),
    ("allée", "ALL."),
    ("impasse", "IMP."),
    ("faubourg", "FBG"),
    ("square", "SQ."),
    ("quai", "QU."),
    ("cours", "CRS"),
    ("saint", "ST"),
    ("sainte", "STE"),
    ("général", "GAL"),
    ("maréchal", "MAL"),
    ("centre commercial", "CCIAL"),
    ("zone commerciale", "ZC"),
    ("parc d'activités", "PA"),
]
NAME_ABBREVIATIONS = [
    ("saint", "ST"),
    ("sainte", "STE"),
    ("restaurant", "RESTO"),
    ("établissements", "ETS"),
    ("hôtel", "HOTEL"),
]

# Per distributor: probabilities of each kind of noise in its customer master.
STYLES = {
    "D01": dict(
        upper=1.0,
        strip=0.3,
        legal=0.25,
        article=0.05,
        comma_article=0.0,
        abbrev=0.7,
        typo=0.10,
        no_addr=0.03,
        city_var=0.03,
        arrondissement=0.3,
        phone=0.0,
        siret=0.0,
        quote=0.0,
    ),
    "D02": dict(
        upper=0.1,
        strip=0.2,
        legal=0.05,
        article=0.0,
        comma_article=0.06,
        abbrev=0.2,
        typo=0.08,
        no_addr=0.02,
        city_var=0.02,
        arrondissement=0.0,
        phone=0.9,
        siret=0.85,
        quote=0.0,
    ),
    "D03": dict(
        upper=1.0,
        strip=1.0,
        legal=0.1,
        article=0.6,
        comma_article=0.0,
        abbrev=0.8,
        typo=0.12,
        no_addr=0.08,
        city_var=0.04,
        arrondissement=0.0,
        phone=0.0,
        siret=0.0,
        quote=0.0,
    ),
    "D04": dict(
        upper=1.0,
        strip=1.0,
        legal=0.2,
        article=0.2,
        comma_article=0.0,
        abbrev=0.6,
        typo=0.10,
        no_addr=0.03,
        city_var=0.03,
        arrondissement=0.5,
        phone=0.8,
        siret=0.0,
        quote=0.0,
    ),
    "D05": dict(
        upper=0.3,
        strip=0.5,
        legal=0.3,
        article=0.05,
        comma_article=0.0,
        abbrev=0.4,
        typo=0.10,
        no_addr=0.04,
        city_var=0.03,
        arrondissement=0.0,
        phone=0.0,
        siret=0.4,
        quote=0.005,
    ),
}
DEFAULT_STYLE = dict(
    upper=0.5,
    strip=0.5,
    legal=0.15,
    article=0.1,
    comma_article=0.0,
    abbrev=0.5,
    typo=0.10,
    no_addr=0.04,
    city_var=0.03,
    arrondissement=0.0,
    phone=0.5,
    siret=0.5,
    quote=0.0,
)

# Customer code formats: prefix, minimum digits, first number.
CODE_FORMATS = {
    "D01": ("C", 6, 4_512),
    "D02": ("CUST-", 5, 451),
    "D03": ("", 5, 10_000),
    "D04": ("NB/", 5, 12_000),
    "D05": ("EDB", 4, 451),
}

_KEYBOARD_NEIGHBOURS = {
    "a": "zqs",
    "z": "aes",
    "e": "zrd",
    "r": "etf",
    "t": "ryg",
    "y": "tuh",
    "u": "yij",
    "i": "uok",
    "o": "ipl",
    "p": "om",
    "q": "asw",
    "s": "qdz",
    "d": "sfe",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "j": "hku",
    "k": "jli",
    "l": "kmo",
    "m": "lp",
    "w": "xq",
    "x": "wc",
    "c": "xv",
    "v": "cb",
    "b": "vn",
    "n": "bm",
}


def _mask_apply(array: pa.Array, mask: np.ndarray, transformed: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), transformed, array)


def _word_regex(word: str) -> str:
    return r"(?i)(^|[\s'-])" + word + r"($|[\s,.-])"


def abbreviate(array: pa.Array, rules, mask: np.ndarray) -> pa.Array:
    out = array
    for word, abbr in rules:
        out = pc.replace_substring_regex(out, _word_regex(word), r"\1" + abbr + r"\2")
    return _mask_apply(array, mask, out)


def move_article(array: pa.Array, mask: np.ndarray, comma: bool = False) -> pa.Array:
    if comma:
        moved = pc.replace_substring_regex(array, r"(?i)^(le|la|les) (.+)$", r"\2, \1")
        moved = pc.replace_substring_regex(moved, r"(?i)^(l)'(.+)$", r"\2, \1'")
    else:
        moved = pc.replace_substring_regex(array, r"(?i)^(le|la|les) (.+)$", r"\2 (\1)")
        moved = pc.replace_substring_regex(moved, r"(?i)^(l)'(.+)$", r"\2 (\1')")
    return _mask_apply(array, mask, moved)


def drop_article(array: pa.Array, mask: np.ndarray) -> pa.Array:
    dropped = pc.replace_substring_regex(array, r"(?i)^(le |la |les |l')", "")
    return _mask_apply(array, mask, dropped)


def typos(rng: np.random.Generator, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1 or 2 keyboard typos (drop, swap, double, neighbour key) on the masked rows."""
    out = values.copy()
    rows = np.flatnonzero(mask)
    if not len(rows):
        return out
    n_typos = np.where(rng.random(len(rows)) < 0.8, 1, 2)
    ops = rng.integers(0, 4, (len(rows), 2))
    positions = rng.random((len(rows), 2))
    for k, i in enumerate(rows):
        s = out[i]
        if s is None or len(s) < 4:
            continue
        for j in range(n_typos[k]):
            letters = [p for p, c in enumerate(s) if c.isalpha()]
            if len(letters) < 3:
                break
            p = letters[1 + int(positions[k, j] * (len(letters) - 1)) % (len(letters) - 1)]
            op = ops[k, j]
            c = s[p]
            if op == 0:
                s = s[:p] + s[p + 1 :]
            elif op == 1 and p + 1 < len(s):
                s = s[:p] + s[p + 1] + s[p] + s[p + 2 :]
            elif op == 2:
                s = s[:p] + c + s[p:]
            else:
                near = _KEYBOARD_NEIGHBOURS.get(c.lower())
                if near:
                    r = near[int(positions[k, 1 - j] * len(near)) % len(near)]
                    s = s[:p] + (r.upper() if c.isupper() else r) + s[p + 1 :]
        out[i] = s
    return out


def phone_format(digits: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """10-digit numbers in the ways people type them."""
    arr = to_arrow(digits)
    pairs = [pc.utf8_slice_codeunits(arr, i, i + 2) for i in range(0, 10, 2)]
    national = pc.utf8_slice_codeunits(arr, 1, 10)
    first = pc.utf8_slice_codeunits(arr, 1, 2)
    forms = [
        pc.binary_join_element_wise(*pairs, " "),
        arr,
        pc.binary_join_element_wise("+33", first, *pairs[1:], " "),
        pc.binary_join_element_wise(*pairs, "."),
        pc.binary_join_element_wise("+33", national, ""),
        pc.binary_join_element_wise(*pairs, "-"),
    ]
    out = to_object(forms[0])
    for k in range(1, len(forms)):
        sel = variant == k
        if sel.any():
            out[sel] = to_object(forms[k])[sel]
    return out


def city_variants(
    rng, city: pa.Array, postcode: np.ndarray, p_var: float, p_arr: float, upper: np.ndarray
) -> pa.Array:
    n = len(city)
    out = city
    u = rng.random(n)
    saint = pc.replace_substring_regex(out, r"(?i)^saint-", "ST ")
    saint = pc.replace_substring_regex(saint, r"(?i)-saint-", " ST ")
    out = _mask_apply(out, u < 0.5, saint)
    hyphen = pc.replace_substring(out, "-", " ")
    out = _mask_apply(out, upper & (rng.random(n) < 0.5), hyphen)
    arr_num = pc.utf8_ltrim(pc.utf8_slice_codeunits(to_arrow(postcode), 3, 5), "0")
    big = pc.is_in(city, pa.array(["Paris", "Lyon", "Marseille"]))
    with_arr = pc.binary_join_element_wise(out, arr_num, " ")
    out = _mask_apply(out, np.asarray(big) & (rng.random(n) < p_arr), with_arr)
    bad = rng.random(n) < p_var
    out_obj = typos(rng, to_object(out), bad)
    return to_arrow(out_obj)


def spell_customers(
    rng: np.random.Generator,
    style: dict,
    name: np.ndarray,
    legal_form: np.ndarray,
    street: np.ndarray,
    city: np.ndarray,
    postcode: np.ndarray,
) -> dict:
    """A distributor's customer master: name, address, city as it spells them."""
    n = len(name)
    upper = rng.random(n) < style["upper"]
    strip = rng.random(n) < style["strip"]
    nm = to_arrow(name)
    nm = move_article(nm, rng.random(n) < style["article"])
    nm = move_article(nm, rng.random(n) < style["comma_article"], comma=True)
    nm = abbreviate(nm, NAME_ABBREVIATIONS, rng.random(n) < style["abbrev"] * 0.5)
    lf = to_arrow(legal_form)
    u = rng.random(n)
    with_form = pc.if_else(
        pa.array(u < 0.5),
        pc.binary_join_element_wise(nm, lf, " "),
        pc.binary_join_element_wise(lf, nm, " "),
    )
    nm = _mask_apply(nm, rng.random(n) < style["legal"], with_form)
    nm = _mask_apply(nm, strip, strip_accents(nm))
    nm = _mask_apply(nm, upper, pc.utf8_upper(nm))
    quoted = pc.binary_join_element_wise('"', nm, '"', "")
    nm = _mask_apply(nm, rng.random(n) < style["quote"], quoted)
    nm_obj = typos(rng, to_object(nm), rng.random(n) < style["typo"])

    ad = to_arrow(street)
    ad = abbreviate(ad, ADDRESS_ABBREVIATIONS, rng.random(n) < style["abbrev"])
    ad = _mask_apply(ad, strip, strip_accents(ad))
    ad = _mask_apply(ad, upper, pc.utf8_upper(ad))
    ad_obj = typos(rng, to_object(ad), rng.random(n) < style["typo"] * 0.5)
    ad_obj[rng.random(n) < style["no_addr"]] = None

    ct = city_variants(
        rng, to_arrow(city), postcode, style["city_var"], style["arrondissement"], upper
    )
    ct = _mask_apply(ct, strip, strip_accents(ct))
    ct = _mask_apply(ct, upper, pc.utf8_upper(ct))
    pc_obj = postcode.copy()
    pc_obj[rng.random(n) < 0.005] = None
    return {"name": nm_obj, "address": ad_obj, "city": to_object(ct), "postcode": pc_obj}


def crm_duplicate_names(rng, name: np.ndarray, street: np.ndarray, channel_word: np.ndarray):
    """How a second CRM entry of the same outlet tends to differ from the first."""
    n = len(name)
    nm = to_arrow(name)
    kind = rng.integers(0, 5, n)
    prefixed = pc.binary_join_element_wise(to_arrow(channel_word), nm, " ")
    nm = _mask_apply(nm, kind == 0, prefixed)
    nm = drop_article(nm, kind == 1)
    nm = _mask_apply(nm, kind == 2, pc.utf8_upper(nm))
    nm = move_article(nm, kind == 3)
    nm_obj = typos(rng, to_object(nm), (kind == 4) | (rng.random(n) < 0.2))
    ad = abbreviate(to_arrow(street), ADDRESS_ABBREVIATIONS, rng.random(n) < 0.5)
    return nm_obj, to_object(ad)


def online_names(
    rng, name: np.ndarray, city: np.ndarray, kind_word: np.ndarray, platform_social: bool
) -> np.ndarray:
    """Listing titles: 'Le Petit Zinc', 'Le Petit Zinc - Bar', 'Le Petit Zinc Lyon'..."""
    n = len(name)
    nm = to_arrow(name)
    u = rng.random(n)
    if platform_social:
        forms = [
            nm,
            pc.binary_join_element_wise(nm, "Officiel", " "),
            pc.binary_join_element_wise(nm, to_arrow(city), " "),
            pc.binary_join_element_wise(
                nm, pc.binary_join_element_wise("(", to_arrow(city), ")", ""), " "
            ),
        ]
        cuts = [0.45, 0.6, 0.85]
    else:
        forms = [
            nm,
            pc.binary_join_element_wise(nm, to_arrow(kind_word), " - "),
            pc.binary_join_element_wise(nm, to_arrow(city), " "),
            drop_article(nm, np.ones(n, bool)),
        ]
        cuts = [0.55, 0.75, 0.9]
    out = forms[0]
    for k, cut in enumerate(cuts):
        sel = u >= cut
        out = _mask_apply(out, sel, forms[k + 1])
    obj = typos(rng, to_object(out), rng.random(n) < 0.05)
    return obj


def customer_codes(dist_id: str, count: int, rng: np.random.Generator) -> np.ndarray:
    prefix, width, start = CODE_FORMATS.get(dist_id, (f"{dist_id}-", 6, 1))
    numbers = start + rng.permutation(count) * (1 if count > 50_000 else int(rng.integers(1, 4)))
    width = max(width, len(str(int(numbers.max()) if count else 0)))
    text = pc.cast(pa.array(numbers.astype(np.int64)), pa.string())
    if prefix:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return to_object(pc.binary_join_element_wise(prefix, text, ""))


def listing_address(rng, street: np.ndarray) -> np.ndarray:
    """Addresses as typed into listing sites: capitalised street types, abbreviations,
    the odd typo."""
    n = len(street)
    arr = to_arrow(street)
    capital = arr
    for word in (
        "rue",
        "avenue",
        "boulevard",
        "place",
        "route",
        "chemin",
        "allée",
        "impasse",
        "quai",
        "cours",
        "faubourg",
        "square",
    ):
        capital = pc.replace_substring_regex(
            capital, r"(^|[0-9] |bis |ter )" + word + " ", r"\1" + word.capitalize() + " "
        )
    arr = _mask_apply(arr, rng.random(n) < 0.6, capital)
    arr = abbreviate(arr, ADDRESS_ABBREVIATIONS, rng.random(n) < 0.2)
    return typos(rng, to_object(arr), rng.random(n) < 0.04)
