"""The territories configuration (examples/sample_company/territories.yaml): how accounts are
grouped into assignable zones, how workload is counted, the tolerance band, the scenarios,
the locked assignments and whether territories must be contiguous (with which adjacency). Validated with the company config, naming the key at fault.
`territories_dbt_vars()` turns it into the dbt var `territories`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from orchestration.territories.adjacency import read_adjacency
from orchestration.territories.model import TerritoryInputError
from orchestration.territories.solver import Scenario
from orchestration.yaml_config import read_yaml, validation_problems

# zone: the account's zone from the postcode_zones reference (int_accounts__zones: a county,
# a district), for companies whose postcodes do not name their zones.
ZONE_LEVELS = ("postcode", "city", "department_code", "account", "zone")
REP_ROLES = ("field_rep", "key_account_manager", "telesales")


class TerritoriesConfigError(ValueError):
    """A territories configuration or locks file that cannot be used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToleranceBand(_Strict):
    low: float = Field(0.85, ge=0, le=1)
    high: float = Field(1.15, ge=1)


class ScenarioConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # km of yearly travel that one account moved away from its rep is worth; 0 = min travel,
    # null = min disruption (fewest moves, then least travel).
    km_per_move: float | None = Field(0.0, ge=0)
    # each rep's zones one connected set; null = the top-level `contiguity`
    contiguity: StrictBool | None = None

    def scenario(self, contiguity: bool = False) -> Scenario:
        """`contiguity`: the top-level default, when the scenario does not say."""
        own = self.contiguity
        return Scenario(self.name, self.km_per_move, contiguity if own is None else own)


class WhiteSpace(_Strict):
    # a zone is weakly covered below this share of its guideline calls made (r12)
    weak_coverage_ratio: float = Field(0.5, ge=0, le=1)
    # a zone is saturated when its share of wallet is at least this and its opportunity
    # per account is below the company median: one more partner adds little
    saturated_share_of_wallet: float = Field(0.3, ge=0, le=1)


class GeneratedReps(_Strict):
    """Reps to plan with when the company has no roster (no sales_reps source): `count`
    reps of `weekly_capacity_hours`, their bases placed by a workload-weighted k-means on
    the zone centroids. Territories are then a proposal from scratch (no current owner)."""

    count: int = Field(ge=1, le=500)
    weekly_capacity_hours: float = Field(40, gt=0, le=80)


class TerritoriesConfig(_Strict):
    zone_level: str = "postcode"
    tolerance: ToleranceBand = ToleranceBand()
    call_minutes: float = Field(45, gt=0)
    travel_minutes_per_visit: float = Field(35, ge=0)
    working_weeks_per_year: float = Field(46, gt=0, le=53)
    rep_roles: list[str] = ["field_rep", "key_account_manager"]
    scenarios: list[ScenarioConfig] = [
        ScenarioConfig(name="min_travel", km_per_move=0),
        ScenarioConfig(name="km_per_move_50", km_per_move=50),
        ScenarioConfig(name="km_per_move_200", km_per_move=200),
        ScenarioConfig(name="min_disruption", km_per_move=None),
    ]
    time_limit_seconds: float = Field(60, gt=0, le=3600)
    # stop a scenario once its proven gap to optimal is at most this (0 = prove optimality)
    gap_limit: float = Field(0.001, ge=0, lt=1)
    # each zone may only go to its nearest N reps (plus its current and locked rep);
    # null = any rep. Smaller models on large companies; the gap is then relative to them.
    max_candidate_reps: int | None = Field(8, ge=1)
    locks_file: str | None = None
    # every rep's zones one connected set of the adjacency (all scenarios unless a scenario
    # says otherwise); slower: see README "Sales territories"
    contiguity: StrictBool = False
    # CSV unit_a,unit_b of neighbouring zones (ids of zone_level), relative to this file;
    # null = derived from the zones' centroids (Delaunay triangulation)
    adjacency_file: str | None = None
    white_space: WhiteSpace = WhiteSpace()
    # plan with this many generated reps when the roster is empty (see GeneratedReps)
    generated_reps: GeneratedReps | None = None

    @model_validator(mode="after")
    def _check(self) -> TerritoriesConfig:
        if self.zone_level not in ZONE_LEVELS:
            raise ValueError(f"zone_level {self.zone_level!r}: one of {list(ZONE_LEVELS)}")
        bad = [r for r in self.rep_roles if r not in REP_ROLES]
        if bad or not self.rep_roles:
            raise ValueError(f"rep_roles {bad or '[]'}: non-empty, from {list(REP_ROLES)}")
        names = [s.name for s in self.scenarios]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"scenarios: names must be unique and non-empty, got {names}")
        return self

    @property
    def hours_per_visit(self) -> float:
        return (self.call_minutes + self.travel_minutes_per_visit) / 60


@dataclass(frozen=True)
class Lock:
    zone_id: str | None
    account_id: str | None
    rep_id: str
    reason: str
    line: int


def load_territories_config(path: Path | str) -> TerritoriesConfig:
    path = Path(path)
    raw = read_yaml(path, "territories config", TerritoriesConfigError) or {}
    try:
        config = TerritoriesConfig.model_validate(raw)
    except ValidationError as exc:
        raise TerritoriesConfigError(f"{path}: {validation_problems(exc)}") from exc
    if config.locks_file:
        load_locks(path.resolve().parent / config.locks_file)
    if config.adjacency_file:
        adjacency = path.resolve().parent / config.adjacency_file
        try:
            read_adjacency(adjacency)
        except TerritoryInputError as exc:
            raise TerritoriesConfigError(f"{path}: adjacency_file: {exc}") from exc
        # absolute, so the pipeline finds it wherever the config was loaded from
        config = config.model_copy(update={"adjacency_file": str(adjacency)})
    return config


def load_locks(path: Path | str) -> list[Lock]:
    """CSV: zone_id or account_id (one of the two per row), rep_id, reason."""
    path = Path(path)
    if not path.exists():
        raise TerritoriesConfigError(f"locks file {path} does not exist")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        if "rep_id" not in columns or not ({"zone_id", "account_id"} & columns):
            raise TerritoriesConfigError(
                f"{path}: columns zone_id or account_id, rep_id, reason expected"
            )
        locks = []
        for line, row in enumerate(reader, start=2):
            zone = (row.get("zone_id") or "").strip() or None
            account = (row.get("account_id") or "").strip() or None
            rep = (row.get("rep_id") or "").strip()
            if (zone is None) == (account is None) or not rep:
                raise TerritoriesConfigError(
                    f"{path}:{line}: give a rep_id and exactly one of zone_id, account_id"
                )
            locks.append(Lock(zone, account, rep, (row.get("reason") or "").strip(), line))
    return locks


def territories_dbt_vars(config: TerritoriesConfig) -> dict:
    """The dbt var `territories` (JSON-serializable)."""
    return {
        "territories": {
            "zone_level": config.zone_level,
            "tolerance_low": config.tolerance.low,
            "tolerance_high": config.tolerance.high,
            "hours_per_visit": config.hours_per_visit,
            "working_weeks_per_year": config.working_weeks_per_year,
            "rep_roles": config.rep_roles,
            "weak_coverage_ratio": config.white_space.weak_coverage_ratio,
            "saturated_share_of_wallet": config.white_space.saturated_share_of_wallet,
        }
    }
