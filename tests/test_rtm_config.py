"""The route-to-market config: the sample validates, dbt's default mirrors it, and each
kind of mistake fails naming its key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from orchestration.config import ConfigError, load_company_config
from orchestration.rtm.config import RtmConfigError, load_rtm_config, parse_rtm_config, rtm_dbt_vars

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample_company"
CLASSES = ["A", "B", "C", "D"]
SPEND_TYPES = ("listing_fee", "promotion", "pos_material", "event", "sampling", "incentive")


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((SAMPLE / "rtm.yaml").read_text(encoding="utf-8"))


def test_sample_config_is_valid_and_mirrored_by_the_dbt_default():
    config = load_rtm_config(SAMPLE / "rtm.yaml", CLASSES, SPEND_TYPES)
    dbt_default = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())
    mirrored = parse_rtm_config(dbt_default["vars"]["rtm"]).model_dump(mode="json")
    assert rtm_dbt_vars(config)["rtm"] == mirrored, "dbt_project.yml's rtm default drifted"


def _set(raw: dict, dotted: str, value) -> dict:
    result = copy.deepcopy(raw)
    node = result
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return result


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        (
            "resources.telesales",
            None,
            r"resources: one entry per resource type.*missing \['telesales'\]",
        ),
        ("resources.field_rep.hourly_cost_eur", -5, r"resources.field_rep.hourly_cost_eur"),
        ("coverage.on_plan_min_ratio", 2.0, r"on_plan_min_ratio must be below on_plan_max_ratio"),
        (
            "coverage.remote_classes",
            ["E"],
            r"coverage.remote_classes: unknown priority class \['E'\]",
        ),
        ("ap_allocation.target_share_by_plan.support", 0.5, r"shares must sum to 1"),
        ("ap_allocation.target_share_by_plan.growth", 0.0, r"unknown plan \['growth'\]"),
        ("profitability.incentive_spend_types", ["bribes"], r"unknown spend type \['bribes'\]"),
        ("reallocation.to_classes", ["C"], r"cannot both give and receive calls: \['C'\]"),
        ("distributors.challenge.linkable_min_share", 1.5, r"linkable_min_share"),
        ("coverage.typo_key", 1, r"coverage.typo_key: Extra inputs are not permitted"),
    ],
)
def test_bad_config_fails_naming_the_key(raw, dotted, value, message):
    with pytest.raises(RtmConfigError, match=message):
        parse_rtm_config(_set(raw, dotted, value), "rtm", CLASSES, SPEND_TYPES)


def test_company_config_fails_fast_on_a_bad_rtm_file(tmp_path, raw):
    for name in ("company.yaml", "scoring.yaml", "scoring_overrides.csv"):
        (tmp_path / name).write_text((SAMPLE / name).read_text(encoding="utf-8"), encoding="utf-8")
    broken = _set(raw, "reallocation.handover_classes", ["Z"])
    (tmp_path / "rtm.yaml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rtm: .*handover_classes: unknown priority class"):
        load_company_config(tmp_path / "company.yaml")
