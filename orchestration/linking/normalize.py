"""Matching forms of business names and addresses, as DuckDB macros (set-based, no Python
per row). `install_macros(con)` creates them as temporary macros on a connection.

name      lower case, accents stripped, punctuation to spaces, abbreviations expanded
          (st -> saint, resto -> restaurant, ets -> etablissements), legal forms
          (SARL, SAS, SA, EURL, Ltd, Inc...) and articles (le, la, les, l', d') dropped.
          "SARL Le Café de l'Étoile" and "CAFE DE L'ETOILE (LE) SAS" -> "cafe de etoile".
name_core the name without generic outlet words (restaurant, bar, tabac, cafe, brasserie...),
          which say what an outlet is, not which one: "BAR DU PORT" and "Le Port" share
          their core, "Bar des Sports" and "Café des Sports" only share "des sports",
          a weak clue that the address must confirm. Falls back to the name when the
          name is nothing but generic words.
address   the same cleaning plus street abbreviations (av. -> avenue, bd -> boulevard, r ->
          rue, pl -> place...).
city      cleaning, st -> saint, arrondissement numbers and CEDEX dropped
          ("LYON 3", "Lyon 3e" -> "lyon").
"""

from __future__ import annotations

import duckdb

LEGAL_FORMS = [
    "sarl", "sas", "sasu", "sa", "eurl", "snc", "sci", "scop", "selarl", "eirl", "ei",
    "ltd", "limited", "inc", "llc", "gmbh", "sprl", "srl",
]  # fmt: skip
ARTICLES = ["le", "la", "les", "l", "d", "the"]
NAME_ABBREVIATIONS = {
    "st": "saint",
    "ste": "sainte",
    "resto": "restaurant",
    "ets": "etablissements",
    "etab": "etablissements",
    "hotel": "hotel",
    "bar tabac": "bar tabac",
}
GENERIC_WORDS = [
    "restaurant", "bar", "tabac", "cafe", "brasserie", "bistrot", "bistro", "hotel",
    "pizzeria", "creperie", "cave", "caviste", "epicerie", "alimentation", "generale",
    "superette", "supermarche", "hypermarche", "marche", "boulangerie", "traiteur",
    "pub", "club", "snack", "auberge", "relais", "comptoir", "etablissements",
    "chez", "de", "du", "des", "et", "a", "au", "aux", "en", "sur",
]  # fmt: skip
ADDRESS_ABBREVIATIONS = {
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "blvd": "boulevard",
    "r": "rue",
    "pl": "place",
    "rte": "route",
    "che": "chemin",
    "ch": "chemin",
    "chem": "chemin",
    "all": "allee",
    "imp": "impasse",
    "fbg": "faubourg",
    "sq": "square",
    "qu": "quai",
    "crs": "cours",
    "st": "saint",
    "ste": "sainte",
    "gal": "general",
    "gen": "general",
    "mal": "marechal",
    "ccial": "centre commercial",
    "zc": "zone commerciale",
    "za": "zone activites",
    "zi": "zone industrielle",
    "pa": "parc activites",
    "res": "residence",
    "lot": "lotissement",
}
ADDRESS_STOPWORDS = ["de", "du", "des", "la", "le", "les", "l", "d", "et"]


def _replace_words(expr: str, mapping: dict[str, str]) -> str:
    for short, long in mapping.items():
        if short != long:
            expr = f"regexp_replace({expr}, '\\b{short}\\b', '{long}', 'g')"
    return expr


def _drop_words(expr: str, words: list[str]) -> str:
    return f"regexp_replace({expr}, '\\b({'|'.join(words)})\\b', ' ', 'g')"


def _squash(expr: str) -> str:
    return f"nullif(trim(regexp_replace({expr}, ' +', ' ', 'g')), '')"


CLEAN = "regexp_replace(strip_accents(lower(s)), '[^a-z0-9]+', ' ', 'g')"


# A legal establishment id (column siret): 14 digits in France; a company whose id differs
# (a US state licence number, ...) sets company.yaml linking.legal_id_pattern.
DEFAULT_LEGAL_ID_PATTERN = "[0-9]{14}"


def macro_sql(legal_id_pattern: str = DEFAULT_LEGAL_ID_PATTERN) -> list[str]:
    quoted_pattern = legal_id_pattern.replace("'", "''")
    name = _squash(_drop_words(_replace_words(f"(' ' || {CLEAN} || ' ')", NAME_ABBREVIATIONS),
                               LEGAL_FORMS + ARTICLES))  # fmt: skip
    address = _squash(
        _drop_words(_replace_words(f"(' ' || {CLEAN} || ' ')", ADDRESS_ABBREVIATIONS),
                    ADDRESS_STOPWORDS)
    )  # fmt: skip
    city = _squash(
        "regexp_replace(regexp_replace(regexp_replace("
        f"' ' || {CLEAN} || ' ', '\\bste\\b', 'sainte', 'g'), '\\bst\\b', 'saint', 'g'), "
        "'\\b(cedex|[0-9]+ *(e|er|eme)?)\\b', ' ', 'g')"
    )
    digits = "regexp_replace(coalesce(s, ''), '[^0-9]', '', 'g')"
    return [
        f"CREATE OR REPLACE TEMP MACRO rtm_norm_name(s) AS {name}",
        "CREATE OR REPLACE TEMP MACRO rtm_name_core(s) AS coalesce("
        + _squash(_drop_words("(' ' || rtm_norm_name(s) || ' ')", GENERIC_WORDS))
        + ", rtm_norm_name(s))",
        f"CREATE OR REPLACE TEMP MACRO rtm_norm_address(s) AS {address}",
        # the street without its number: '12 bis rue x' -> 'rue x'
        "CREATE OR REPLACE TEMP MACRO rtm_street(s) AS nullif(trim(regexp_replace("
        "rtm_norm_address(s), '^[0-9]+( (bis|ter|quater|[a-d]))? ', '')), '')",
        "CREATE OR REPLACE TEMP MACRO rtm_street_number(s) AS "
        "nullif(regexp_extract(coalesce(s, ''), '^ *0*([0-9]+)', 1), '')",
        f"CREATE OR REPLACE TEMP MACRO rtm_norm_city(s) AS {city}",
        "CREATE OR REPLACE TEMP MACRO rtm_norm_postcode(s) AS "
        "CASE WHEN regexp_full_match(trim(coalesce(s, '')), '[0-9]{5}') THEN trim(s) END",
        # French department of a postcode (Corsica 2A/2B, overseas on three digits)
        "CREATE OR REPLACE TEMP MACRO rtm_department(p) AS CASE WHEN p IS NULL THEN NULL "
        "WHEN p LIKE '20%' THEN (CASE WHEN p < '20200' THEN '2A' ELSE '2B' END) "
        "WHEN p LIKE '97%' OR p LIKE '98%' THEN substr(p, 1, 3) ELSE substr(p, 1, 2) END",
        f"CREATE OR REPLACE TEMP MACRO rtm_phone(s) AS CASE "
        f"WHEN {digits} LIKE '330%' AND length({digits}) = 12 THEN '0' || substr({digits}, 4) "
        f"WHEN {digits} LIKE '0033%' AND length({digits}) = 13 THEN '0' || substr({digits}, 5) "
        f"WHEN {digits} LIKE '33%' AND length({digits}) = 11 THEN '0' || substr({digits}, 3) "
        f"WHEN length({digits}) = 9 AND {digits} NOT LIKE '0%' THEN '0' || {digits} "
        f"WHEN length({digits}) = 10 AND {digits} LIKE '0%' THEN {digits} END",
        "CREATE OR REPLACE TEMP MACRO rtm_siret(s) AS CASE WHEN "
        "regexp_full_match(regexp_replace(coalesce(s, ''), '[^0-9]', '', 'g'), "
        f"'{quoted_pattern}') "
        "THEN regexp_replace(s, '[^0-9]', '', 'g') END",
        "CREATE OR REPLACE TEMP MACRO rtm_website(s) AS nullif(split_part(split_part("
        "regexp_replace(lower(trim(coalesce(s, ''))), '^([a-z]+://)?(www[0-9]?[.])?', ''), "
        "'/', 1), '?', 1), '')",
        # tokens sorted: word order does not matter ("PETIT ZINC LE" / "le petit zinc")
        "CREATE OR REPLACE TEMP MACRO rtm_sorted_tokens(s) AS "
        "array_to_string(list_sort(string_split(s, ' ')), ' ')",
    ]


def install_macros(
    con: duckdb.DuckDBPyConnection, legal_id_pattern: str = DEFAULT_LEGAL_ID_PATTERN
) -> None:
    for statement in macro_sql(legal_id_pattern):
        con.execute(statement).fetchall()


def normalized_sql(table: str) -> str:
    """SELECT adding the matching columns to a table of standard record columns
    (record_id, name, address, postcode, city, phone, siret, website, latitude, longitude)."""
    return f"""
        SELECT
            record_id,
            rtm_norm_name(name) AS name_norm,
            rtm_name_core(name) AS name_core,
            rtm_sorted_tokens(rtm_norm_name(name)) AS name_sorted,
            -- the core without the outlet's own city and page words: online pages append
            -- them ("Le Grand Coin Thiais", "Chez Sandrine Officiel", "Le Bistrot
            -- (Sotteville-lès-Rouen)"). The city is normalized like the name (articles and
            -- generic words dropped: "sotteville rouen") so that it is found in it, every
            -- time it occurs.
            coalesce(nullif(trim(regexp_replace(regexp_replace(' ' || rtm_name_core(name) || ' ',
                '\\b' || coalesce(rtm_name_core(rtm_norm_city(city)), '#') || '\\b', ' ', 'g'),
                '\\b(officiel|official|page)\\b', ' ', 'g')), ''), rtm_name_core(name))
                AS name_local,
            rtm_norm_address(address) AS address_norm,
            rtm_street(address) AS street,
            rtm_street_number(address) AS street_number,
            rtm_norm_postcode(postcode) AS postcode,
            rtm_department(rtm_norm_postcode(postcode)) AS department,
            rtm_norm_city(city) AS city_norm,
            rtm_phone(phone) AS phone,
            rtm_siret(siret) AS siret,
            rtm_website(website) AS website,
            latitude,
            longitude
        FROM {table}
    """
