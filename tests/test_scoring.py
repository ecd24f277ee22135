"""Scoring (issue 4): the config fails fast naming the key, and on the generated company the
accounts built "high potential, low share" land in development/prospection with class A/B
while tiny saturated ones do not."""

from __future__ import annotations

import copy
import csv

import duckdb
import pytest
import yaml

from orchestration.config import REPO_ROOT, ConfigError, load_company_config
from orchestration.scoring.config import (
    ScoringConfigError,
    load_overrides,
    load_scoring_config,
    parse_scoring_config,
    scoring_dbt_vars,
    set_path,
)

SAMPLE = REPO_ROOT / "examples" / "sample_company"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((SAMPLE / "scoring.yaml").read_text(encoding="utf-8"))


def _broken(raw: dict, change) -> dict:
    result = copy.deepcopy(raw)
    change(result)
    return result


def test_sample_config_is_valid_and_matches_the_dbt_default(raw):
    config = load_scoring_config(SAMPLE / "scoring.yaml")
    overrides = load_overrides(SAMPLE / config.overrides_file, config)
    assert overrides, "the sample ships example overrides"
    dbt_default = yaml.safe_load((REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text())
    passed = scoring_dbt_vars(config, overrides)["scoring"]
    default = parse_scoring_config(dbt_default["vars"]["scoring"]).model_dump(
        mode="json", exclude={"overrides_file"}
    )
    assert passed == default, "dbt_project.yml's scoring default drifted from the sample"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["criteria"]["volume"].update(weight=0.5), "weights must sum to 1"),
        (
            lambda r: r["criteria"].update(charisma={"weight": 0, "source": "x"}),
            "unknown criterion",
        ),
        (lambda r: r["tiers"][1].update(max_cumulative_share=0.4), "tiers"),
        (lambda r: r["tiers"][-1].update(max_cumulative_share=0.9), "last tier"),
        (lambda r: r["classes"][1].update(min_score=0.7), "classes"),
        (lambda r: r["supplier_status"][-1].update(min_share=0.05), "supplier_status"),
        (lambda r: r["mode"].update(prospection_max_share=0.5), "overlap"),
        (lambda r: r["plan_rules"].pop(), "catch-all"),
        (lambda r: r["plan_rules"][0].update(tier=["gold"]), "unknown tier"),
        (lambda r: r["treatments"].pop("small"), "treatments"),
        (lambda r: r.update(colour="blue"), "colour"),
    ],
)
def test_bad_config_fails_naming_the_key(raw, change, message):
    with pytest.raises(ScoringConfigError, match=message):
        parse_scoring_config(_broken(raw, change))


def test_bad_overrides_fail_with_the_line(tmp_path):
    config = load_scoring_config(SAMPLE / "scoring.yaml")
    path = tmp_path / "overrides.csv"
    path.write_text(
        "account_id,field,value,reason,author,date\n"
        "ACC1,priority_class,Z,why,me,2026-10-01\n"
        "ACC2,colour,A,why,me,2026-10-01\n"
        "ACC3,plan,support,,me,2026-10-01\n",
        encoding="utf-8",
    )
    with pytest.raises(ScoringConfigError) as info:
        load_overrides(path, config)
    text = str(info.value)
    assert "line 2" in text and "line 3" in text and "line 4" in text


def test_company_config_fails_fast_on_a_bad_scoring_file(tmp_path, raw):
    company = yaml.safe_load((SAMPLE / "company.yaml").read_text(encoding="utf-8"))
    (tmp_path / "scoring.yaml").write_text(
        yaml.safe_dump(_broken(raw, lambda r: r["criteria"]["growth"].update(weight=0.3))),
        encoding="utf-8",
    )
    (tmp_path / "scoring_overrides.csv").write_text(
        (SAMPLE / "scoring_overrides.csv").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "company.yaml").write_text(yaml.safe_dump(company), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"scoring: .*criteria.*weights must sum to 1"):
        load_company_config(tmp_path / "company.yaml")


def test_set_path_for_whatif(raw):
    changed = set_path(raw, "weights.opportunity", 0.5)
    assert changed["criteria"]["opportunity"]["weight"] == 0.5
    assert raw["criteria"]["opportunity"]["weight"] != 0.5
    assert set_path(raw, "mode.cruise_min_share", 0.4)["mode"]["cruise_min_share"] == 0.4
    with pytest.raises(ScoringConfigError, match="unknown criterion"):
        set_path(raw, "weights.charisma", 0.1)


# ------------------------------------------------------------------ on the generated company


def _ground_truth_kinds(warehouse) -> dict[str, str]:
    """'hp_ls': true potential in the top quarter and true brand share in the bottom quarter;
    'tiny_saturated': potential in the bottom quarter and share in the top quarter."""
    with (warehouse / "ground_truth" / "accounts.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if not r["is_crm_duplicate_of"]]
    potentials = sorted(float(r["true_category_potential_eur"]) for r in rows)
    shares = sorted(float(r["true_brand_share"]) for r in rows)

    def quantile(values, q):
        return values[int(q * (len(values) - 1))]

    kinds = {}
    for r in rows:
        potential, share = float(r["true_category_potential_eur"]), float(r["true_brand_share"])
        if potential >= quantile(potentials, 0.75) and share <= quantile(shares, 0.25):
            kinds[r["account_id"]] = "hp_ls"
        elif potential <= quantile(potentials, 0.25) and share >= quantile(shares, 0.75):
            kinds[r["account_id"]] = "tiny_saturated"
    return kinds


@pytest.mark.slow
def test_high_potential_low_share_accounts_get_development_plans_and_a_b(pipeline_run):
    kinds = _ground_truth_kinds(pipeline_run.warehouse)
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as pub:
        rows = pub.execute(
            "SELECT s.account_id, s.plan, p.priority_class "
            "FROM account_segments s JOIN account_priorities p USING (account_id)"
        ).fetchall()
    stats: dict[str, list[tuple[bool, bool]]] = {"hp_ls": [], "tiny_saturated": []}
    for account_id, plan, priority_class in rows:
        if account_id in kinds:
            stats[kinds[account_id]].append(
                (plan in ("development", "prospection"), priority_class in ("A", "B"))
            )

    def rate(kind, pick):
        values = stats[kind]
        return sum(pick(v) for v in values) / len(values)

    assert len(stats["hp_ls"]) >= 20 and len(stats["tiny_saturated"]) >= 20
    # Measured on the 800-account test company (seed 7) with the sample weights: high
    # potential / low share 46 accounts, 100 % development or prospection, 96 % A/B; tiny
    # saturated 55 accounts, 15 % development or prospection, 25 % A/B, 9 % both.
    assert rate("hp_ls", lambda v: v[0]) >= 0.9
    assert rate("hp_ls", lambda v: v[1]) >= 0.8
    assert rate("hp_ls", lambda v: v[0] and v[1]) >= 0.8
    assert rate("tiny_saturated", lambda v: v[0]) <= 0.25
    assert rate("tiny_saturated", lambda v: v[1]) <= 0.4
    # 16 % both (9 of 55) since the Splink crosswalk links ~8 % more distributor codes (more
    # sell-out reaches its account); was 9 % with the deterministic dbt rules.
    assert rate("tiny_saturated", lambda v: v[0] and v[1]) <= 0.2


@pytest.mark.slow
def test_scoring_marts_are_published_with_overrides_audited(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as pub:
        tables = {row[0] for row in pub.execute("SHOW TABLES").fetchall()}
        assert {"account_segments", "account_priorities", "source_reliability"} <= tables
        classes = dict(
            pub.execute(
                "SELECT priority_class, count(*) FROM account_priorities GROUP BY 1"
            ).fetchall()
        )
        assert set(classes) == {"A", "B", "C", "D"}
        accounts = pub.execute("SELECT count(*) FROM dim_accounts").fetchone()[0]
        assert pub.execute("SELECT count(*) FROM account_priorities").fetchone()[0] == accounts
        notes = pub.execute(
            "SELECT account_id, override_note FROM account_priorities WHERE is_overridden"
        ).fetchall()
        ids = {row[0] for row in pub.execute("SELECT account_id FROM dim_accounts").fetchall()}
        if "ACC000010" in ids:  # the sample overrides file moves ACC000010 to class A
            assert ("ACC000010" in {a for a, _ in notes}) and all(n for _, n in notes)
        missing = pub.execute("SELECT DISTINCT missing_criteria FROM account_priorities").fetchall()
        # every configured criterion has data now that account_profitability feeds contribution
        assert missing == [(None,)]
        reliability = dict(
            pub.execute("SELECT source_name, reliability FROM source_reliability").fetchall()
        )
        assert 0.5 <= reliability["distributor_sell_out"] <= 1


@pytest.mark.slow
def test_whatif_writes_its_own_schema_and_leaves_published_tables_alone(pipeline_run):
    from orchestration.scoring.whatif import run_whatif

    settings = pipeline_run.settings
    published_before = settings.published_db.read_bytes()
    checksum = (
        "SELECT count(*), sum(hash(account_id, priority_class, priority_score)) "
        "FROM marts.account_priorities"
    )
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        marts_before = con.execute(checksum).fetchone()
    result = run_whatif(settings, ["weights.opportunity=0.6"])
    assert result.config.criteria["opportunity"].weight == 0.6
    assert abs(sum(c.weight for c in result.config.criteria.values()) - 1) < 1e-9
    assert result.accounts > 0
    assert sum(result.classes_after.values()) == result.accounts
    assert result.changed == sum(count for _, _, count in result.transitions)
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        assert con.execute(checksum).fetchone() == marts_before
        assert con.execute("SELECT count(*) FROM whatif.account_priorities").fetchone()[0] > 0
    assert settings.published_db.read_bytes() == published_before
    with pytest.raises(ScoringConfigError, match="overwrite"):
        run_whatif(settings, ["weights.opportunity=0.6"], schema="marts")


@pytest.mark.slow
def test_scorecard_purchase_behaviour_and_image(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as pub:
        bad = pub.execute(
            """SELECT
                count(*) FILTER (WHERE months_with_purchases_r12 > 0 AND frequency_r12 IS NULL),
                count(*) FILTER (WHERE months_with_purchases_r12 = 0 AND frequency_r12 IS NOT NULL),
                count(*) FILTER (WHERE regularity_r12 NOT BETWEEN 0 AND 1),
                count(*) FILTER (WHERE revenue_r12 > 0 AND monthly_revenue_cv_r12 IS NULL),
                count(*) FILTER (WHERE (image_raw IS NULL) <> (image_score IS NULL)),
                count(*) FILTER (WHERE image_score NOT BETWEEN 0 AND 1)
            FROM account_scorecard"""
        ).fetchone()
        assert bad == (0, 0, 0, 0, 0, 0)
        # image is normalized within the channel: each channel with listings reaches 1
        tops = pub.execute(
            "SELECT channel, max(image_score) FROM account_scorecard "
            "WHERE image_score IS NOT NULL GROUP BY 1"
        ).fetchall()
        assert tops and all(top == 1.0 for _, top in tops if top is not None)
        # without a listing, no image score: the accounts with no linked listing
        no_listing = pub.execute(
            """SELECT count(*) FROM account_scorecard s JOIN dim_accounts d USING (account_id)
            WHERE NOT d.has_online_presence AND s.image_score IS NOT NULL"""
        ).fetchone()[0]
        assert no_listing == 0
        # a steady monthly buyer is more regular than a one-month buyer
        steady, burst = pub.execute(
            """SELECT avg(regularity_r12) FILTER (WHERE months_with_purchases_r12 = 12),
                avg(regularity_r12) FILTER (WHERE months_with_purchases_r12 = 1)
            FROM account_scorecard"""
        ).fetchone()
        assert steady > burst
