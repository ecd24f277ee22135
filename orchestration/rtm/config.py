"""The route-to-market configuration (examples/sample_company/rtm.yaml): what a call costs
by resource type, how actual calls are compared with the class guideline, the A&P
comparison windows, the distributor reporting challenge and the reallocation rules.

Validated with the company config, against the scoring classes and the contracts, so
that a typo fails before any data moves, naming the key. `rtm_dbt_vars()` turns it into
the dbt var `rtm`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration.yaml_config import read_yaml, validation_problems

RESOURCE_TYPES = ("key_account_manager", "field_rep", "telesales", "distributor_rep")
PLANS = ("development", "prospection", "support", "retention")
SHARE_TOLERANCE = 1e-6


class RtmConfigError(ValueError):
    """A route-to-market configuration that cannot be used, with the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resource(_Strict):
    hourly_cost_eur: float = Field(ge=0)
    travel_minutes_per_visit: float = Field(ge=0)
    counts_for_guideline: bool = True


class Coverage(_Strict):
    on_plan_min_ratio: float = Field(0.75, gt=0)
    on_plan_max_ratio: float = Field(1.5, gt=0)
    zero_guideline_max_calls: int = Field(2, ge=0)
    overlap_min_people: int = Field(2, ge=2)
    remote_classes: list[str] = []
    working_weeks_per_year: float = Field(46, gt=0, le=53)

    @model_validator(mode="after")
    def _band(self) -> Coverage:
        if self.on_plan_min_ratio >= self.on_plan_max_ratio:
            raise ValueError("on_plan_min_ratio must be below on_plan_max_ratio")
        return self


class Profitability(_Strict):
    incentive_spend_types: list[str] = []
    distributor_margin_factor: float = Field(1.0, gt=0, le=1)


class ApReturns(_Strict):
    pre_months: int = Field(6, ge=1, le=12)
    post_months: int = Field(6, ge=1, le=12)
    min_treated_accounts: int = Field(10, ge=1)
    min_comparison_accounts: int = Field(20, ge=1)


class ApAllocation(_Strict):
    target_share_by_plan: dict[str, float]

    @model_validator(mode="after")
    def _plans_summing_to_one(self) -> ApAllocation:
        unknown = sorted(set(self.target_share_by_plan) - set(PLANS))
        if unknown:
            raise ValueError(f"target_share_by_plan: unknown plan {unknown}; known: {list(PLANS)}")
        if any(v < 0 for v in self.target_share_by_plan.values()):
            raise ValueError("target_share_by_plan: shares must be >= 0")
        total = sum(self.target_share_by_plan.values())
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"target_share_by_plan: shares must sum to 1, they sum to {total:.6g}")
        return self


class Challenge(_Strict):
    on_time_points: float = Field(10, ge=0)
    late_penalty_points_per_day: float = Field(1, ge=0)
    complete_points: float = Field(10, ge=0)
    complete_max_quarantine_share: float = Field(0.01, ge=0, le=1)
    linkable_points: float = Field(10, ge=0)
    linkable_min_share: float = Field(0.95, ge=0, le=1)
    declared_match_points: float = Field(5, ge=0)


class Distributors(_Strict):
    opening_stock_months: float = Field(1.0, ge=0)
    consistency_tolerance: float = Field(0.10, ge=0)
    declared_total_tolerance: float = Field(0.005, ge=0)
    challenge: Challenge = Challenge()


class Reallocation(_Strict):
    from_classes: list[str]
    to_classes: list[str]
    handover_classes: list[str] = []

    @model_validator(mode="after")
    def _disjoint(self) -> Reallocation:
        both = sorted(set(self.from_classes) & set(self.to_classes))
        if both:
            raise ValueError(f"a class cannot both give and receive calls: {both}")
        return self


class RtmConfig(_Strict):
    resources: dict[str, Resource]
    coverage: Coverage = Coverage()
    profitability: Profitability = Profitability()
    ap_returns: ApReturns = ApReturns()
    ap_allocation: ApAllocation
    distributors: Distributors = Distributors()
    reallocation: Reallocation

    @model_validator(mode="after")
    def _every_resource_type(self) -> RtmConfig:
        if set(self.resources) != set(RESOURCE_TYPES):
            missing = sorted(set(RESOURCE_TYPES) - set(self.resources))
            unknown = sorted(set(self.resources) - set(RESOURCE_TYPES))
            raise ValueError(
                f"resources: one entry per resource type {list(RESOURCE_TYPES)}"
                f" (missing {missing}, unknown {unknown})"
            )
        return self


def parse_rtm_config(
    raw: dict,
    where: str = "rtm",
    class_names: list[str] | None = None,
    spend_types: tuple[str, ...] | None = None,
) -> RtmConfig:
    """Validate raw; class_names (from the scoring config) and spend_types (from the ap_spend
    contract) are checked when given, so a class or spend type that does not exist fails."""
    try:
        config = RtmConfig.model_validate(raw)
    except ValidationError as exc:
        raise RtmConfigError(f"{where}: {validation_problems(exc)}") from exc
    problems = []
    if class_names is not None:
        for key, classes in (
            ("coverage.remote_classes", config.coverage.remote_classes),
            ("reallocation.from_classes", config.reallocation.from_classes),
            ("reallocation.to_classes", config.reallocation.to_classes),
            ("reallocation.handover_classes", config.reallocation.handover_classes),
        ):
            unknown = sorted(set(classes) - set(class_names))
            if unknown:
                problems.append(f"{key}: unknown priority class {unknown}; known: {class_names}")
    if spend_types is not None:
        unknown = sorted(set(config.profitability.incentive_spend_types) - set(spend_types))
        if unknown:
            problems.append(
                f"profitability.incentive_spend_types: unknown spend type {unknown};"
                f" known: {list(spend_types)}"
            )
    if problems:
        raise RtmConfigError(f"{where}: " + "; ".join(problems))
    return config


def load_rtm_config(
    path: Path | str,
    class_names: list[str] | None = None,
    spend_types: tuple[str, ...] | None = None,
) -> RtmConfig:
    path = Path(path)
    raw = read_yaml(path, "rtm config", RtmConfigError)
    return parse_rtm_config(raw, str(path), class_names, spend_types)


def rtm_dbt_vars(config: RtmConfig) -> dict:
    """The dbt var `rtm` (JSON-serializable)."""
    return {"rtm": config.model_dump(mode="json")}
