"""The scoring configuration (examples/sample_company/scoring.yaml): criteria, weights,
bands, plan rules, classes, treatments and manual overrides.

Validated when the company config is loaded, so that a bad file fails before any data
moves, naming the key at fault. dbt cannot read YAML: `scoring_dbt_vars()` turns the
validated config into the dbt var `scoring` (and `scoring_overrides`).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestration.yaml_config import read_yaml, validation_problems

# Criteria the models know how to compute (intermediate/scoring/int_scoring__criteria.sql).
KNOWN_CRITERIA = (
    "volume",
    "opportunity",
    "growth",
    "potential",
    "regularity",
    "image",
    "contribution",
)
PLANS = ("development", "prospection", "support", "retention")
MODES = ("prospection", "development", "cruise")
OVERRIDABLE_FIELDS = (
    "tier",
    "plan",
    "priority_class",
    "partner_ranking",
    "supplier_status",
    "mode",
)
WEIGHT_TOLERANCE = 1e-6


class ScoringConfigError(ValueError):
    """A scoring configuration that cannot be used, with the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Criterion(_Strict):
    weight: float = Field(ge=0, le=1)
    source: str = Field(min_length=1)


class Reliability(_Strict):
    floor: float = Field(0.5, ge=0, le=1)
    fixed: dict[str, float] = {}

    @field_validator("fixed")
    @classmethod
    def _between_0_and_1(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"reliability must be between 0 and 1: {bad}")
        return value


class Tier(_Strict):
    name: str = Field(pattern=r"^[a-z_]+$")
    max_cumulative_share: float = Field(gt=0, le=1)


class PartnerRanking(_Strict):
    loyal_min_months: int = Field(9, ge=1, le=12)
    loyal_min_share: float = Field(0.15, ge=0, le=1)
    occasional_min_months: int = Field(4, ge=1, le=12)

    @model_validator(mode="after")
    def _ordered(self) -> PartnerRanking:
        if self.occasional_min_months > self.loyal_min_months:
            raise ValueError("occasional_min_months must not exceed loyal_min_months")
        return self


class ShareBand(_Strict):
    name: str = Field(pattern=r"^[a-z_]+$")
    min_share: float = Field(ge=0, le=1)


class Mode(_Strict):
    prospection_max_share: float = Field(ge=0, le=1)
    cruise_min_share: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Mode:
        if self.prospection_max_share > self.cruise_min_share:
            raise ValueError("prospection_max_share must not exceed cruise_min_share (overlap)")
        return self


class PlanRule(_Strict):
    mode: list[Literal["prospection", "development", "cruise"]] | None = None
    opportunity: list[Literal["high", "low"]] | None = None
    tier: list[str] | None = None
    plan: Literal["development", "prospection", "support", "retention"]

    @property
    def is_catch_all(self) -> bool:
        return self.mode is None and self.opportunity is None and self.tier is None


class PriorityClass(_Strict):
    name: str = Field(pattern=r"^[A-Z]$")
    min_score: float = Field(ge=0, le=1)
    calls_per_year: int = Field(ge=0)
    guideline: str


class Treatment(_Strict):
    contact_model: Literal[
        "key_account_manager", "field_rep", "telesales", "distributor_managed", "mail"
    ]
    treatment: str


class ScoringConfig(_Strict):
    criteria: dict[str, Criterion]
    reliability: Reliability = Reliability()
    tiers: list[Tier]
    partner_ranking: PartnerRanking = PartnerRanking()
    supplier_status: list[ShareBand]
    mode: Mode
    high_opportunity_min_percentile: float = Field(0.6, ge=0, le=1)
    plan_rules: list[PlanRule]
    classes: list[PriorityClass]
    treatments: dict[str, Treatment]
    distributor_managed_tiers: list[str] = []
    overrides_file: str | None = None

    @field_validator("criteria")
    @classmethod
    def _known_criteria_summing_to_one(cls, value: dict[str, Criterion]) -> dict:
        unknown = sorted(set(value) - set(KNOWN_CRITERIA))
        if unknown:
            raise ValueError(f"unknown criterion {unknown}; known: {list(KNOWN_CRITERIA)}")
        total = sum(c.weight for c in value.values())
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise ValueError(f"weights must sum to 1, they sum to {total:.6g}")
        return value

    @field_validator("tiers")
    @classmethod
    def _tiers_ascending_to_one(cls, value: list[Tier]) -> list[Tier]:
        _unique_names("tiers", value)
        shares = [t.max_cumulative_share for t in value]
        if any(b <= a for a, b in zip(shares, shares[1:], strict=False)):
            raise ValueError(f"max_cumulative_share must be strictly ascending (overlap): {shares}")
        if not value or shares[-1] != 1:
            raise ValueError("the last tier must have max_cumulative_share 1")
        return value

    @field_validator("supplier_status")
    @classmethod
    def _status_descending_to_zero(cls, value: list[ShareBand]) -> list[ShareBand]:
        _unique_names("supplier_status", value)
        _descending_to_zero([b.min_share for b in value], "min_share")
        return value

    @field_validator("classes")
    @classmethod
    def _classes_descending_to_zero(cls, value: list[PriorityClass]) -> list[PriorityClass]:
        _unique_names("classes", value)
        _descending_to_zero([c.min_score for c in value], "min_score")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScoringConfig:
        tiers = {t.name for t in self.tiers}
        if not self.plan_rules or not self.plan_rules[-1].is_catch_all:
            raise ValueError("plan_rules: the last rule must have no condition (catch-all)")
        for i, rule in enumerate(self.plan_rules):
            unknown = sorted(set(rule.tier or []) - tiers)
            if unknown:
                raise ValueError(f"plan_rules[{i}].tier: unknown tier {unknown}")
        if set(self.treatments) != tiers:
            raise ValueError(
                f"treatments: one entry per tier {sorted(tiers)}, got {sorted(self.treatments)}"
            )
        unknown = sorted(set(self.distributor_managed_tiers) - tiers)
        if unknown:
            raise ValueError(f"distributor_managed_tiers: unknown tier {unknown}")
        return self


def _unique_names(key: str, items) -> None:
    names = [i.name for i in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{key}: names must be unique, repeated: {repeated}")


def _descending_to_zero(bounds: list[float], key: str) -> None:
    if any(b >= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError(f"{key} must be strictly descending (overlap): {bounds}")
    if not bounds or bounds[-1] != 0:
        raise ValueError(f"the last band must have {key} 0")


class Override(_Strict):
    account_id: str = Field(min_length=1)
    field: Literal["tier", "plan", "priority_class", "partner_ranking", "supplier_status", "mode"]
    value: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    author: str = Field(min_length=1)
    date: dt.date


def parse_scoring_config(raw: dict, where: str = "scoring") -> ScoringConfig:
    try:
        return ScoringConfig.model_validate(raw)
    except ValidationError as exc:
        raise ScoringConfigError(f"{where}: {validation_problems(exc)}") from exc


def load_scoring_config(path: Path | str) -> ScoringConfig:
    path = Path(path)
    raw = read_yaml(path, "scoring config", ScoringConfigError)
    return parse_scoring_config(raw, str(path))


def load_overrides(path: Path | str, config: ScoringConfig) -> list[Override]:
    """Read the overrides CSV; every row must name a known field and an allowed value."""
    path = Path(path)
    if not path.exists():
        raise ScoringConfigError(f"overrides file {path} does not exist")
    allowed = {
        "tier": {t.name for t in config.tiers},
        "plan": set(PLANS),
        "priority_class": {c.name for c in config.classes},
        "partner_ranking": {"loyal", "occasional", "opportunist", "non_buyer"},
        "supplier_status": {b.name for b in config.supplier_status},
        "mode": set(MODES),
    }
    overrides, problems, seen = [], [], set()
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                override = Override.model_validate(row)
            except ValidationError as exc:
                problems.append(validation_problems(exc, f"line {line}: "))
                continue
            if override.value not in allowed[override.field]:
                problems.append(
                    f"line {line}: {override.field} {override.value!r} not in "
                    f"{sorted(allowed[override.field])}"
                )
            if (override.account_id, override.field) in seen:
                problems.append(
                    f"line {line}: second override of {override.field} for {override.account_id}"
                )
            seen.add((override.account_id, override.field))
            overrides.append(override)
    if problems:
        raise ScoringConfigError(f"{path}: " + "; ".join(problems))
    return overrides


def scoring_dbt_vars(config: ScoringConfig, overrides: list[Override] | None = None) -> dict:
    """The dbt vars `scoring` and `scoring_overrides` (JSON-serializable)."""
    scoring = config.model_dump(mode="json", exclude={"overrides_file"})
    return {
        "scoring": scoring,
        "scoring_overrides": [o.model_dump(mode="json") for o in overrides or []],
    }


# Source of a criterion added by `rtm whatif --set weights.<criterion>=...`.
DEFAULT_SOURCES = {
    "volume": "distributor_sell_out",
    "opportunity": "distributor_sell_out",
    "growth": "distributor_sell_out",
    "potential": "external_firmographics",
    "regularity": "distributor_sell_out",
    "image": "online_presence",
    "contribution": "profitability",
}


def set_path(raw: dict, dotted: str, value) -> dict:
    """Return a copy of raw with `a.b.c` set to value (for `rtm whatif --set`); a number
    indexes a list (classes.0.min_score); weights.<criterion> sets criteria.<criterion>.weight
    (adding a known criterion with its default source)."""
    import copy

    result = copy.deepcopy(raw)
    keys = dotted.split(".")
    if keys[0] == "weights":
        if len(keys) != 2 or keys[1] not in KNOWN_CRITERIA:
            raise ScoringConfigError(
                f"--set {dotted}: unknown criterion; known: {list(KNOWN_CRITERIA)}"
            )
        criteria = result.setdefault("criteria", {})
        criteria.setdefault(keys[1], {"weight": 0, "source": DEFAULT_SOURCES[keys[1]]})
        criteria[keys[1]]["weight"] = value
        return result
    node = result
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            index = int(key)
        elif isinstance(node, dict) and (key in node or last):
            index = key
        else:
            raise ScoringConfigError(f"--set {dotted}: no key {key!r}")
        if last:
            node[index] = value
        else:
            node = node[index]
    return result
