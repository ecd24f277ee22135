"""Territory design inputs: units (accounts or zones), reps, distances, tolerance band.

Plain dataclasses and CSV readers, no DataFrames, so the optimizer runs standalone on
published territory-design benchmarks as well as on the pipeline's zones.

Distances (km) come from one of three places, first that applies:
1. a unit-to-rep matrix (`unit_id, rep_id, distance`),
2. a unit-to-unit matrix (`from_id, to_id, distance`), each rep's office being a unit
   (`office_unit` column of the reps file),
3. coordinates (haversine great-circle km between the unit and the rep's office).

`adjacency` (pairs of unit ids that touch) is only needed for contiguous territories; see
`adjacency.py` for where it comes from.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path


class TerritoryInputError(ValueError):
    """An input file or structure that cannot be used, with the row or id at fault."""


@dataclass(frozen=True)
class Unit:
    """An assignable unit: one account or one zone of accounts."""

    id: str
    workload: float  # hours per year (or any unit, as long as all units share it)
    current_rep: str | None = None
    lat: float | None = None
    lon: float | None = None
    visits: float = 1.0  # travel = distance to the rep's office x visits
    accounts: int = 1  # disruption counts accounts moved, not units
    locked_rep: str | None = None
    # accounts of the unit per current owner, when a zone is shared by several reps; None =
    # all `accounts` belong to current_rep
    owned: dict[str, int] | None = None

    def moved_accounts(self, rep_id: str) -> int:
        """Accounts that change owner when the unit goes to rep_id."""
        if self.owned is not None:
            return sum(self.owned.values()) - self.owned.get(rep_id, 0)
        return self.accounts if self.current_rep and rep_id != self.current_rep else 0


@dataclass(frozen=True)
class Rep:
    id: str
    lat: float | None = None
    lon: float | None = None
    capacity: float | None = None  # hours per year; reported, not a constraint
    office_unit: str | None = None  # the unit holding the office (unit-to-unit matrix)


@dataclass(frozen=True)
class Tolerance:
    """Workload band as fractions of the mean workload per rep."""

    low: float = 0.85
    high: float = 1.15

    def __post_init__(self):
        if not (0 <= self.low <= 1 <= self.high):
            raise TerritoryInputError(
                f"tolerance {self.low}..{self.high}: need 0 <= low <= 1 <= high"
            )

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        """'0.85..1.15' or '15%' (symmetric) or '0.15' (symmetric)."""
        text = text.strip()
        try:
            if ".." in text:
                low, high = text.split("..", 1)
                return cls(float(low), float(high))
            value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        except ValueError as exc:
            raise TerritoryInputError(f"tolerance {text!r}: expected like 0.85..1.15") from exc
        return cls(1 - value, 1 + value)

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}"


@dataclass
class Instance:
    units: list[Unit]
    reps: list[Rep]
    tolerance: Tolerance = field(default_factory=Tolerance)
    unit_rep_km: dict[tuple[str, str], float] | None = None
    unit_unit_km: dict[tuple[str, str], float] | None = None
    # undirected pairs of neighbouring units; None = derive from coordinates when needed
    adjacency: list[tuple[str, str]] | None = None

    def __post_init__(self):
        ids = [u.id for u in self.units]
        if len(set(ids)) != len(ids):
            raise TerritoryInputError(f"unit ids must be unique, repeated: {_repeated(ids)}")
        rep_ids = [r.id for r in self.reps]
        if len(set(rep_ids)) != len(rep_ids):
            raise TerritoryInputError(f"rep ids must be unique, repeated: {_repeated(rep_ids)}")
        if not self.reps:
            raise TerritoryInputError("no reps")
        known = set(rep_ids)
        for u in self.units:
            if u.workload < 0:
                raise TerritoryInputError(f"unit {u.id}: negative workload {u.workload}")
            if u.locked_rep is not None and u.locked_rep not in known:
                raise TerritoryInputError(f"unit {u.id}: locked to unknown rep {u.locked_rep}")
        unit_ids = set(ids)
        for a, b in self.adjacency or []:
            for end in (a, b):
                if end not in unit_ids:
                    raise TerritoryInputError(f"adjacency pair {a},{b}: unknown unit {end}")

    @property
    def mean_workload(self) -> float:
        return sum(u.workload for u in self.units) / len(self.reps)

    def distance(self, unit: Unit, rep: Rep) -> float:
        if self.unit_rep_km is not None:
            try:
                return self.unit_rep_km[(unit.id, rep.id)]
            except KeyError:
                raise TerritoryInputError(
                    f"distance matrix: no distance from unit {unit.id} to rep {rep.id}"
                ) from None
        if self.unit_unit_km is not None:
            if rep.office_unit is None:
                raise TerritoryInputError(f"rep {rep.id}: office_unit needed with a unit matrix")
            if rep.office_unit == unit.id:
                return 0.0
            d = self.unit_unit_km.get((unit.id, rep.office_unit))
            if d is None:
                d = self.unit_unit_km.get((rep.office_unit, unit.id))
            if d is None:
                raise TerritoryInputError(
                    f"distance matrix: no distance between units {unit.id} and {rep.office_unit}"
                )
            return d
        if None in (unit.lat, unit.lon):
            raise TerritoryInputError(f"unit {unit.id}: no coordinates and no distance matrix")
        if None in (rep.lat, rep.lon):
            raise TerritoryInputError(f"rep {rep.id}: no office coordinates")
        return haversine_km(unit.lat, unit.lon, rep.lat, rep.lon)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def _repeated(ids: list[str]) -> list[str]:
    seen, out = set(), []
    for i in ids:
        if i in seen and i not in out:
            out.append(i)
        seen.add(i)
    return out[:5]


# --- files ------------------------------------------------------------------------------


def _rows(path: Path | str, required: set[str]) -> list[dict[str, str]]:
    path = Path(path)
    if not path.exists():
        raise TerritoryInputError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise TerritoryInputError(f"{path}: missing column(s) {sorted(missing)}")
        return [{k: (v or "").strip() for k, v in row.items()} for row in reader]


def _num(path, line: int, row: dict, column: str, default=None):
    value = row.get(column, "")
    if value == "":
        if default is not None or column not in row:
            return default
        return None
    try:
        return float(value)
    except ValueError:
        raise TerritoryInputError(f"{path}:{line}: {column}={value!r} is not a number") from None


def read_units(path: Path | str) -> list[Unit]:
    """CSV: unit_id, workload[, current_rep, lat, lon, visits, accounts, locked_rep]."""
    out = []
    for line, row in enumerate(_rows(path, {"unit_id", "workload"}), start=2):
        out.append(
            Unit(
                id=row["unit_id"],
                workload=_num(path, line, row, "workload"),
                current_rep=row.get("current_rep") or None,
                lat=_num(path, line, row, "lat"),
                lon=_num(path, line, row, "lon"),
                visits=_num(path, line, row, "visits", 1.0),
                accounts=int(_num(path, line, row, "accounts", 1)),
                locked_rep=row.get("locked_rep") or None,
            )
        )
    return out


def read_reps(path: Path | str) -> list[Rep]:
    """CSV: rep_id[, lat, lon, capacity, office_unit]."""
    return [
        Rep(
            id=row["rep_id"],
            lat=_num(path, line, row, "lat"),
            lon=_num(path, line, row, "lon"),
            capacity=_num(path, line, row, "capacity"),
            office_unit=row.get("office_unit") or None,
        )
        for line, row in enumerate(_rows(path, {"rep_id"}), start=2)
    ]


def read_matrix(path: Path | str, reps: list[Rep]) -> dict:
    """A distance matrix in long form; returns {'unit_rep_km': ...} or {'unit_unit_km': ...}.

    `unit_id, rep_id, distance` is unit-to-rep; `from_id, to_id, distance` is unit-to-unit.
    """
    with Path(path).open(newline="", encoding="utf-8-sig") as f:
        header = set(csv.DictReader(f).fieldnames or [])
    if {"unit_id", "rep_id", "distance"} <= header:
        rows = _rows(path, {"unit_id", "rep_id", "distance"})
        return {
            "unit_rep_km": {
                (r["unit_id"], r["rep_id"]): _num(path, i, r, "distance")
                for i, r in enumerate(rows, start=2)
            }
        }
    if {"from_id", "to_id", "distance"} <= header:
        rows = _rows(path, {"from_id", "to_id", "distance"})
        return {
            "unit_unit_km": {
                (r["from_id"], r["to_id"]): _num(path, i, r, "distance")
                for i, r in enumerate(rows, start=2)
            }
        }
    raise TerritoryInputError(
        f"{path}: expected columns unit_id,rep_id,distance or from_id,to_id,distance"
    )
