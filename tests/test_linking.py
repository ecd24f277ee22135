"""Account linking engine: normalization, the crosswalk's human control and stability,
prospects, and `rtm match` on a hand-written pair of files with known answers."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.linking.crosswalk import OverridesError, build_crosswalk_in, read_overrides
from orchestration.linking.normalize import install_macros

DATA = Path(__file__).parent / "data" / "linking"


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    install_macros(con)
    yield con
    con.close()


def _one(con, sql, value):
    return con.execute(sql, [value]).fetchone()[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # legal forms, wherever they stand
        ("SARL Le Petit Zinc", "petit zinc"),
        ("PETIT ZINC (LE) SAS", "petit zinc"),
        ("Petit Zinc EURL", "petit zinc"),
        ("Petit Zinc Ltd.", "petit zinc"),
        ("Petit Zinc, Inc", "petit zinc"),
        ("SA Maison Blanche", "maison blanche"),
        # accents and case
        ("CAFÉ DE L'ÉTOILE", "cafe de etoile"),
        ("Café de l'Étoile", "cafe de etoile"),
        # abbreviations
        ("RESTO ST-MICHEL", "restaurant saint michel"),
        ("Ets Dupont", "etablissements dupont"),
        ("STE ANNE", "sainte anne"),
    ],
)
def test_name_normalization(con, raw, expected):
    assert _one(con, "SELECT rtm_norm_name(?)", raw) == expected


@pytest.mark.parametrize(
    ("a", "b", "same_core"),
    [
        # generic words say what an outlet is, not which one
        ("Bar du Port", "Restaurant du Port", True),
        ("Le Café des Sports", "BAR TABAC DES SPORTS", True),
        ("Bar des Sports", "Bar de la Gare", False),
        ("Brasserie Martin", "Cave Martin", True),
        ("Restaurant", "Bar", False),
    ],
)
def test_generic_words_are_not_the_identity(con, a, b, same_core):
    core_a, core_b = (_one(con, "SELECT rtm_name_core(?)", x) for x in (a, b))
    assert (core_a == core_b) is same_core, (core_a, core_b)


def test_generic_only_name_keeps_its_words(con):
    assert _one(con, "SELECT rtm_name_core(?)", "Bar Tabac") == "bar tabac"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12 AV. DU GAL DE GAULLE", "12 avenue general gaulle"),
        ("12 avenue du Général de Gaulle", "12 avenue general gaulle"),
        ("3 BD ST MICHEL", "3 boulevard saint michel"),
        ("3 boulevard Saint-Michel", "3 boulevard saint michel"),
        ("5 PL. DE LA MAIRIE", "5 place mairie"),
    ],
)
def test_address_normalization(con, raw, expected):
    assert _one(con, "SELECT rtm_norm_address(?)", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("LYON 3", "lyon"), ("Lyon 3e", "lyon"), ("ST ÉGRÈVE", "saint egreve"),
     ("Saint-Égrève", "saint egreve"), ("PARIS CEDEX 05", "paris")],
)  # fmt: skip
def test_city_normalization(con, raw, expected):
    assert _one(con, "SELECT rtm_norm_city(?)", raw) == expected


def test_phone_website_siret(con):
    row = con.execute(
        "SELECT rtm_phone('+33 (0)4 78 12 34 56'), rtm_phone('04.78.12.34.56'), "
        "rtm_website('https://www.Bar-X.fr/menu'), rtm_siret('820 248 029 00051'), rtm_siret('12')"
    ).fetchone()
    assert row == ("0478123456", "0478123456", "bar-x.fr", "82024802900051", None)


# --- rtm match ----------------------------------------------------------------------------

EXPECTED_PAIRS = {"R1": "A1", "R2": "A2", "R3": "A3", "R4": "A4", "R5": "A5"}


@pytest.mark.parametrize(
    ("name", "city", "local"),
    [
        # social pages append their city (normalized like the name: articles dropped),
        # in brackets, twice, or "officiel"
        ("Auberge des Halles (Douchy-les-Mines)", "Douchy-les-Mines", "halles"),
        ("Le Fanal Choisy-le-Roi Choisy-le-Roi", "Choisy-le-Roi", "fanal"),
        ("La Mouette Officiel", "Witry-lès-Reims", "mouette"),
        ("Le Vieux Port Fougères", "FOUGERES", "vieux port"),
        # a name that is nothing but the city keeps it
        ("Bar de Paris", "Paris", "paris"),
        ("Chez Sandrine", None, "sandrine"),
    ],
)
def test_name_without_the_page_city(con, name, city, local):
    from orchestration.linking.normalize import normalized_sql

    con.execute(
        "CREATE OR REPLACE TEMP TABLE one AS SELECT '1' AS record_id, ? AS name, "
        "NULL::VARCHAR AS address, NULL::VARCHAR AS postcode, ? AS city, NULL::VARCHAR AS phone, "
        "NULL::VARCHAR AS siret, NULL::VARCHAR AS website, NULL::DOUBLE AS latitude, "
        "NULL::DOUBLE AS longitude",
        [name, city],
    )
    assert con.execute(f"SELECT name_local FROM ({normalized_sql('one')})").fetchone()[0] == local


def test_coordinates_confirm_a_listing_with_a_name_and_a_city_only(tmp_path):
    """A social page with a name and a city only is linked when its coordinates fall
    next to the account, not when the account is in another part of town; different
    outlets of one street are not linked on their coordinates alone."""
    from orchestration.linking.engine import match

    con = duckdb.connect()
    # 600 reference outlets in 30 towns, so that u probabilities are estimated on something
    con.execute(
        """CREATE TABLE crm AS
        SELECT 'A' || i AS record_id, 'Le ' || substr(md5('n' || i), 1, 8) AS name,
            i || ' rue Pasteur' AS address, NULL::VARCHAR AS postcode,
            'Bourg ' || substr(md5('c' || (i % 30)), 1, 6) AS city,
            45.0 + (i % 30) * 0.1 + i * 0.0001 AS latitude, 4.0 + i * 0.0001 AS longitude
        FROM range(1, 601) t(i)"""
    )
    # P1: A120's name and town, 170 m away; P2: A121's name and town, 20 km away;
    # P3: another name in A122's town, at its door; P4: A123's name and town, no coordinates
    con.execute(
        """CREATE TABLE pages AS
        SELECT 'P' || (i - 119) AS record_id,
            CASE WHEN i = 122 THEN 'Atelier du Bois' ELSE name || ' Officiel' END AS name,
            city,
            CASE WHEN i < 123 THEN latitude + CASE WHEN i = 121 THEN 0.2 ELSE 0.0015 END
            END AS latitude,
            CASE WHEN i < 123 THEN longitude END AS longitude
        FROM crm JOIN range(120, 124) t(i) ON record_id = 'A' || i"""
    )
    links = dict(
        con.execute(f"SELECT record_id, left_id FROM {match(con, 'crm', 'pages')}").fetchall()
    )
    probability = dict(
        con.execute("SELECT record_id, match_probability FROM match_result").fetchall()
    )
    assert links == {"P1": "A120", "P2": None, "P3": None, "P4": None}
    # the name and the town alone are not enough; the coordinates tip it either way
    assert probability["P2"] < probability["P4"] < 0.9 <= probability["P1"]


def test_cli_match_on_hand_written_files(tmp_path):
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        app,
        [
            "match", str(DATA / "left.csv"), str(DATA / "right.csv"),
            "--map", "name=nom:name,address=adresse:address,postcode=cp:postcode,"
            "city=ville:city,phone=tel:phone",
            "--left-id", "id", "--right-id", "code", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out, newline="") as fh:
        pairs = {row["right_id"]: row for row in csv.DictReader(fh)}
    # R6 (another outlet in A1's postcode) and R7 (a homonym in another city) stay unmatched;
    # "Bar des Sports" (R3) goes to the bar, not to the "Café des Sports" next door
    assert {r: p["left_id"] for r, p in pairs.items()} == EXPECTED_PAIRS
    assert pairs["R4"]["match_method"] == "key" and pairs["R4"]["match_rule"] == "key_phone"
    assert pairs["R1"]["match_method"] == "probabilistic"
    assert "name" in pairs["R1"]["evidence"] and "address" in pairs["R1"]["evidence"]
    assert "linked 5: key 1, probabilistic 4" in result.output
    assert "unmatched 2" in result.output


def test_cli_match_rejects_an_unknown_column(tmp_path):
    result = CliRunner().invoke(
        app, ["match", str(DATA / "left.csv"), str(DATA / "right.csv"),
              "--map", "name=nope", "--out", str(tmp_path / "p.csv")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "nope" in result.output


# --- crosswalk: overrides, stability, prospects -------------------------------------------

CRM = [
    # account_id, name, address, postcode, city, phone, siret, active, created
    ("ACC1", "Le Petit Zinc", "12 rue de la République", "69003", "Lyon", None, None, True, "2010-01-01"),
    ("ACC2", "Café des Sports", "3 avenue Jean Jaurès", "38000", "Grenoble", None, None, True, "2011-01-01"),
    ("ACC3", "Bar des Sports", "45 rue Victor Hugo", "38000", "Grenoble", None, None, True, "2012-01-01"),
    ("ACC4", "Boulangerie Martin", "8 place du Marché", "26000", "Valence", "0475000001", None, True, "2013-01-01"),
    ("ACC5", "Cave Dupont", "22 chemin des Vignes", "21200", "Beaune", None, "82024802900051", True, "2014-01-01"),
]  # fmt: skip
CUSTOMERS = [
    # code, name, address, postcode, city, phone, siret, lines
    ("C1", "SARL PETIT ZINC (LE)", "12 R DE LA REPUBLIQUE", "69003", "LYON 3", None, None, 5),
    ("C2", "CAFE DES SPORTS", "3 AV. JEAN JAURES", "38000", "GRENOBLE", None, None, 5),
    ("C3", "BAR DES SPORTS", "45 RUE V. HUGO", "38000", "GRENOBLE", None, None, 5),
    ("C4", "ETS MARTIN", None, "26000", "VALENCE", "04 75 00 00 01", None, 5),
    ("C5", "DUPONT VINS", "22 CHE DES VIGNES", "21200", "BEAUNE", None, "82024802900051", 5),
    ("C6", "LA TABLE DE MARIE", "9 RUE DES LILAS", "13002", "MARSEILLE", None, None, 6),
    ("C7", "DIVERS", None, "13002", "MARSEILLE", None, None, 9),
    ("C8", "LE COMPTOIR NEUF", "1 RUE NEUVE", "75011", "PARIS", None, None, 1),
]  # fmt: skip
ENGINE_LINKS = {"C1": "ACC1", "C2": "ACC2", "C3": "ACC3", "C4": "ACC4", "C5": "ACC5"}


def _staging(db: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.stg_crm__accounts (account_id VARCHAR, account_name VARCHAR, "
        "address VARCHAR, postcode VARCHAR, city VARCHAR, phone VARCHAR, siret VARCHAR, "
        "is_active BOOLEAN, created_date DATE, website VARCHAR, legal_name VARCHAR, "
        "latitude DOUBLE, longitude DOUBLE)"
    )
    con.executemany(
        "INSERT INTO staging.stg_crm__accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL)",
        CRM,
    )
    con.execute(
        "CREATE TABLE staging.stg_distributors__sell_out_lines (distributor_id VARCHAR, "
        "distributor_account_code VARCHAR, customer_name VARCHAR, customer_address VARCHAR, "
        "customer_postcode VARCHAR, customer_city VARCHAR, customer_phone VARCHAR, "
        "customer_siret VARCHAR, sale_date DATE, amount DOUBLE)"
    )
    for code, name, addr, pc, city, phone, siret, lines in CUSTOMERS:
        for i in range(lines):
            con.execute(
                "INSERT INTO staging.stg_distributors__sell_out_lines VALUES "
                "('D01', ?, ?, ?, ?, ?, ?, ?, DATE '2026-01-01' + ?::INTEGER, 10.0)",
                [code, name, addr, pc, city, phone, siret, i],
            )
    return con


def _links(con) -> dict[str, tuple]:
    return {
        code: (account, method, rule)
        for code, account, method, rule in con.execute(
            "SELECT source_code, account_id, match_method, match_rule FROM linking.account_crosswalk"
        ).fetchall()
    }


@pytest.fixture()
def staging_db(tmp_path):
    con = _staging(tmp_path / "work.duckdb")
    yield con
    con.close()


def test_crosswalk_links_keys_and_probabilistic(staging_db):
    summary = build_crosswalk_in(staging_db, "staging", [], run_at="2026-11-01 02:00:00")
    links = _links(staging_db)
    assert {c: v[0] for c, v in links.items() if v[0]} == ENGINE_LINKS
    assert links["C4"][1:] == ("key", "key_phone")
    assert links["C5"][1:] == ("key", "key_siret")
    assert links["C1"][1] == "probabilistic"
    assert links["C6"] == (None, "none", None)
    assert summary.records == len(CUSTOMERS) and summary.linked == len(ENGINE_LINKS)
    # one row per code, with evidence and a probability for every link
    rows = staging_db.execute(
        "SELECT count(*), count(DISTINCT source_code), "
        "count(*) FILTER (WHERE account_id IS NOT NULL AND (evidence IS NULL OR match_probability IS NULL)) "
        "FROM linking.account_crosswalk"
    ).fetchone()
    assert rows == (len(CUSTOMERS), len(CUSTOMERS), 0)


def test_prospects_are_unmatched_customers_that_look_like_outlets(staging_db):
    build_crosswalk_in(staging_db, "staging", [])
    prospects = {
        r[0] for r in staging_db.execute("SELECT source_code FROM linking.prospects").fetchall()
    }
    unmatched = {
        r[0]
        for r in staging_db.execute("SELECT source_code FROM linking.unmatched_records").fetchall()
    }
    assert unmatched == {"C6", "C7", "C8"}
    # a placeholder name and a one-off purchase are not prospects
    assert prospects == {"C6"}


def test_overrides_win_and_persist(staging_db, tmp_path):
    path = tmp_path / "link_overrides.csv"
    path.write_text(
        "# human decisions\n"
        "source,source_code,account_id,action,reason,decided_by,decided_on\n"
        "distributor:D01,C2,ACC3,force,same owner took over,jdoe,2026-11-02\n"
        "distributor:D01,C1,ACC1,reject,closed and re-opened elsewhere,jdoe,2026-11-02\n"
        "distributor:D01,C6,ACC5,confirm,phone call,jdoe,2026-11-02\n"
        "distributor:D01,C3,,reject,not our customer,jdoe,2026-11-02\n"
    )
    overrides = read_overrides(path)
    for night in ("2026-11-02 02:00:00", "2026-11-03 02:00:00"):
        build_crosswalk_in(staging_db, "staging", overrides, run_at=night)
        links = _links(staging_db)
        assert links["C2"] == ("ACC3", "manual", "override_force")
        assert links["C6"] == ("ACC5", "manual", "override_confirm")
        assert links["C1"][0] is None and links["C1"][2] == "override_reject"
        assert links["C3"] == (None, "manual", "override_reject")
        assert links["C4"][0] == "ACC4"  # untouched records follow the engine
    # manual decisions are not in the review queue
    queued = {
        r[0]
        for r in staging_db.execute("SELECT source_code FROM linking.link_review_queue").fetchall()
    }
    assert not queued & {"C1", "C2", "C3", "C6"}


def test_bad_overrides_file_fails_with_the_line(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("source,source_code,account_id,action\ndistributor:D01,C1,,force\n")
    with pytest.raises(OverridesError, match="line 2"):
        read_overrides(path)


def test_stable_link_survives_a_rerun_until_the_evidence_changes(staging_db):
    build_crosswalk_in(staging_db, "staging", [], run_at="2026-11-01 02:00:00")
    # as if an earlier night's model had linked C1 to ACC2 on the same evidence
    staging_db.execute(
        "UPDATE linking.account_crosswalk SET account_id = 'ACC2' WHERE source_code = 'C1'"
    )
    build_crosswalk_in(staging_db, "staging", [], run_at="2026-11-02 02:00:00")
    row = staging_db.execute(
        "SELECT account_id, is_carried_over, first_linked_at FROM linking.account_crosswalk "
        "WHERE source_code = 'C1'"
    ).fetchone()
    assert row[:2] == ("ACC2", True)
    assert str(row[2]) == "2026-11-01 02:00:00"  # linked since the first night
    # the distributor renames the customer: the evidence changed, relink
    staging_db.execute(
        "INSERT INTO staging.stg_distributors__sell_out_lines VALUES ('D01', 'C1', "
        "'AU PETIT ZINC', '12 RUE DE LA REPUBLIQUE', '69003', 'LYON', NULL, NULL, "
        "DATE '2026-10-01', 10.0)"
    )
    build_crosswalk_in(staging_db, "staging", [], run_at="2026-11-03 02:00:00")
    row = staging_db.execute(
        "SELECT account_id, is_carried_over, first_linked_at FROM linking.account_crosswalk "
        "WHERE source_code = 'C1'"
    ).fetchone()
    assert row[:2] == ("ACC1", False)
    assert str(row[2]) == "2026-11-03 02:00:00"
    # every other link stayed put across the three nights
    assert {c: v[0] for c, v in _links(staging_db).items() if v[0]} == ENGINE_LINKS


def test_override_naming_an_unknown_account_fails(staging_db):
    overrides = [
        {"source": "distributor:D01", "source_code": "C1", "account_id": "ACC404",
         "action": "force", "reason": None, "decided_by": None, "decided_on": None}
    ]  # fmt: skip
    with pytest.raises(OverridesError, match="ACC404"):
        build_crosswalk_in(staging_db, "staging", overrides)
