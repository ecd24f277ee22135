"""Issue 8: the whole pipeline on a slice of Iowa's real liquor sell-out, by configuration.

A slice of the real data (one month, a few hundred stores, the real store and item masters,
the head of the raw 24-column export) is cut at test time from ../shared/data/iowa_liquor
(RTM_IOWA_DATA overrides the folder) into a temporary landing folder, the nightly job runs
on examples/iowa_liquor/company.yaml, and the published figures are compared with figures
computed here independently, in plain DuckDB SQL on the slice files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.config import REPO_ROOT, Settings

DATA = Path(os.environ.get("RTM_IOWA_DATA", REPO_ROOT.parent / "shared" / "data" / "iowa_liquor"))
CONFIG = REPO_ROOT / "examples" / "iowa_liquor" / "company.yaml"
BRAND = "DIAGEO AMERICAS"
MONTH = "2022-10"
STORES = 300
RAW_LINES = 300

pytestmark = pytest.mark.skipif(
    not (DATA / "sales_lines" / f"sales_{MONTH}.parquet").exists(),
    reason=f"the Iowa liquor data set is not at {DATA} (set RTM_IOWA_DATA to its folder)",
)


@pytest.fixture(scope="module")
def iowa(tmp_path_factory):
    """The slice's landing folder and the published database of one nightly run on it."""
    import dagster as dg

    from orchestration.cli import run_nightly

    landing = tmp_path_factory.mktemp("iowa_landing")
    (landing / "sales_lines").mkdir()
    sales = landing / "sales_lines" / f"sales_{MONTH}.parquet"
    with duckdb.connect() as con:
        source = DATA / "sales_lines" / f"sales_{MONTH}.parquet"
        # the first STORES store numbers that bought this month (a fixed, reproducible cut)
        con.execute(
            f"""COPY (
                SELECT * FROM read_parquet('{source}') WHERE store_number IN (
                    SELECT DISTINCT store_number FROM read_parquet('{source}')
                    ORDER BY store_number LIMIT {STORES})
            ) TO '{sales}' (FORMAT parquet)"""
        )
    for name in ("stores_2022-11-01.csv", "products_2022-11-01.csv", "zip_county_fips.csv"):
        shutil.copy(DATA / name, landing / name)
    raw = (DATA / "raw_layout_sample_2012-2015.csv").read_text(encoding="utf-8").splitlines()
    (landing / "raw_layout_sample_2012-2015.csv").write_text(
        "\n".join(raw[: RAW_LINES + 1]) + "\n", encoding="utf-8"
    )

    warehouse = tmp_path_factory.mktemp("iowa_warehouse")
    env = {
        "RTM_COMPANY_CONFIG": str(CONFIG),
        "RTM_WAREHOUSE": str(warehouse),
        "RTM_LANDING_DIR": str(landing),
    }
    previous = {k: os.environ.get(k) for k in [*env, "RTM_BRAND"]}
    os.environ.update(env)
    os.environ.pop("RTM_BRAND", None)
    try:
        settings = Settings.from_env()
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_nightly(settings, instance=instance)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert result.success, "the nightly job failed on the Iowa slice"
    yield landing, settings


def _truth(landing: Path, sql: str) -> list[tuple]:
    """Plain DuckDB SQL on the slice files: sales, stores, products."""
    with duckdb.connect() as con:
        con.execute(
            f"CREATE VIEW sales AS SELECT * FROM read_parquet('{landing}/sales_lines/*.parquet')"
        )
        con.execute(
            f"CREATE VIEW stores AS SELECT * FROM read_csv('{landing}/stores_2022-11-01.csv', "
            "all_varchar = true)"
        )
        con.execute(
            f"CREATE VIEW zips AS SELECT * FROM read_csv('{landing}/zip_county_fips.csv', "
            "all_varchar = true)"
        )
        con.execute(
            f"CREATE VIEW products AS SELECT * FROM read_csv('{landing}/products_2022-11-01.csv', "
            "all_varchar = true)"
        )
        return con.execute(sql).fetchall()


def _published(settings: Settings, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(settings.published_db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


# Brand revenue and category purchases per store (active stores of the master, which the
# published tables cover), from the raw files only.
STORE_FIGURES = f"""
    WITH items AS (
        SELECT "Item Number" AS item, "Category Name" AS category, "Vendor Name" AS vendor
        FROM products
    ),
    brand_categories AS (SELECT DISTINCT category FROM items WHERE vendor = '{BRAND}')
    SELECT s.store_number,
        sum(CASE WHEN i.vendor = '{BRAND}' THEN s.sale_dollars ELSE 0 END) AS brand,
        sum(CASE WHEN i.category IN (SELECT category FROM brand_categories)
            THEN s.sale_dollars ELSE 0 END) AS category_purchases
    FROM sales s LEFT JOIN items i ON i.item = s.item_number
    -- the published tables cover active stores; a store without a ZIP is quarantined
    WHERE s.store_number IN (
        SELECT "Store" FROM stores WHERE "Store Status" = 'A' AND "Zip Code" IS NOT NULL)
    GROUP BY s.store_number
"""


def test_share_of_wallet_and_potential_are_the_real_figures(iowa):
    landing, settings = iowa
    # the store with the largest brand revenue in the slice, and a mid-sized one
    figures = _truth(landing, STORE_FIGURES + " ORDER BY brand DESC, store_number")
    buyers = [f for f in figures if f[1] > 0]
    for store, brand, category in (buyers[0], buyers[len(buyers) // 2]):
        published = _published(
            settings,
            "SELECT revenue_r12, potential_eur, potential_method, share_of_wallet "
            "FROM account_scorecard WHERE account_id = ?",
            [store],
        )
        assert published, f"store {store} is not in the published scorecard"
        revenue, potential, method, share = published[0]
        assert method == "market_purchases"
        assert revenue == pytest.approx(brand, abs=0.01)
        assert potential == pytest.approx(category, abs=0.01)
        assert share == pytest.approx(min(brand / category, 1.0), abs=1e-4)


def test_vip_accounts_follow_the_pareto_rule(iowa):
    landing, settings = iowa
    # VIP: accounts sorted by brand revenue (desc), each one whose revenue *before* it is
    # below 50 % of the total (scoring.yaml tiers: vip max_cumulative_share 0.5)
    expected = _truth(
        landing,
        f"""WITH f AS ({STORE_FIGURES}), ranked AS (
            SELECT brand, sum(brand) OVER (ORDER BY brand DESC, store_number
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
                sum(brand) OVER () AS total
            FROM f WHERE brand > 0)
        SELECT count(*) FROM ranked WHERE coalesce(before, 0) / total < 0.5""",
    )[0][0]
    published = _published(settings, "SELECT count(*) FROM account_segments WHERE tier = 'vip'")
    assert published[0][0] == expected
    assert 0 < expected < 60


def test_every_line_is_accounted_for_brand_and_market(iowa):
    landing, settings = iowa
    total, brand_total, returns = _truth(
        landing,
        f"""SELECT sum(s.sale_dollars),
            sum(CASE WHEN p."Vendor Name" = '{BRAND}' THEN s.sale_dollars ELSE 0 END),
            count(*) FILTER (WHERE s.bottles_sold < 0)
        FROM sales s LEFT JOIN products p ON p."Item Number" = s.item_number""",
    )[0]
    checks = dict(
        _published(
            settings,
            "SELECT check_id, is_reconciled FROM data_reconciliation",
        )
    )
    assert all(checks.values()), [k for k, ok in checks.items() if not ok]
    assert checks["sell_out_amount_eur:linked->own+market"]
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        loaded = con.execute(
            "SELECT sum(amount), count(*) FILTER (WHERE is_return) "
            "FROM staging.stg_distributors__sell_out_lines WHERE distributor_id = 'D01'"
        ).fetchone()
        own = con.execute(
            "SELECT sum(amount_eur) FROM intermediate.int_sell_out_lines__linked "
            "WHERE distributor_id = 'D01' AND is_own_product"
        ).fetchone()[0]
        raw_layout = con.execute(
            "SELECT rows_loaded + rows_quarantined FROM raw.file_deliveries "
            "WHERE distributor_id = 'D02' AND status = 'loaded'"
        ).fetchone()[0]
    assert loaded[0] == pytest.approx(total, abs=0.01)  # no line lost at ingestion
    assert loaded[1] == returns  # returns: negative bottles, kept and netted
    assert own == pytest.approx(brand_total, abs=0.01)  # the brand's lines, nobody else's
    assert raw_layout == RAW_LINES  # the raw 24-column export, through layout config only


def test_missing_sources_are_left_out_with_a_note(iowa):
    _, settings = iowa
    rows = dict(
        (name, (delivered, note))
        for name, delivered, note in _published(
            settings, "SELECT source_name, is_delivered, note FROM source_reliability"
        )
    )
    assert rows["distributor_sell_out"][0] and rows["crm_accounts"][0]
    assert rows["online_presence"] == (
        False,
        "not delivered by this company; criteria left out of the scores: image",
    )
    assert not rows["call_log"][0] and "contribution" in rows["call_log"][1]
    missing = _published(settings, "SELECT DISTINCT missing_criteria FROM account_priorities")
    assert all("image" not in str(m[0] or "") for m in missing)


def test_real_problems_are_counted(iowa):
    landing, settings = iowa
    returns, unknown = _truth(
        landing,
        """SELECT count(*) FILTER (WHERE bottles_sold < 0),
            count(*) FILTER (WHERE item_number NOT IN (SELECT "Item Number" FROM products))
        FROM sales""",
    )[0]
    no_coordinates, inactive, multi_county = _truth(
        landing,
        """SELECT
            count(*) FILTER (WHERE "Store Status" = 'A' AND latitude IS NULL),
            count(*) FILTER (WHERE "Store Status" = 'I'),
            count(*) FILTER (WHERE "Zip Code" IN (
                SELECT "ZIP" FROM zips GROUP BY "ZIP" HAVING count(*) > 1))
        FROM stores WHERE "Zip Code" IS NOT NULL""",
    )[0]
    issues = {i: n for i, n in _published(settings, "SELECT issue_id, affected FROM data_issues")}
    # the raw 24-column sample adds its own returns: count the Parquet feed's apart
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        feed_returns = con.execute(
            "SELECT count(*) FROM intermediate.int_sell_out_lines__linked "
            "WHERE is_return AND distributor_id = 'D01'"
        ).fetchone()[0]
    assert feed_returns == returns
    assert issues["sell_out_returns"] >= returns
    assert issues["sell_out_unknown_products"] >= unknown
    assert issues["accounts_without_coordinates"] == no_coordinates
    assert issues["inactive_accounts"] == inactive
    assert issues["accounts_in_multi_zone_postcodes"] == multi_county > 0


def test_territories_from_counties_with_planned_reps(iowa):
    _, settings = iowa
    proposal = _published(
        settings,
        "SELECT count(DISTINCT zone_id), count(DISTINCT proposed_rep_id), "
        "min(zone_level), bool_and(proposed_rep_id IS NOT NULL) FROM territory_proposal",
    )[0]
    zones, reps, level, all_assigned = proposal
    assert level == "zone" and reps == 6 and all_assigned
    assert 50 < zones <= 99  # Iowa has 99 counties; the slice's stores cover most of them
    white = _published(settings, "SELECT count(*), min(zone_level) FROM white_space")[0]
    assert white[0] > 0 and white[1] == "zone"
