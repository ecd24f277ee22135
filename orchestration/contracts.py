"""Read the ODCS v3 data contracts in data_contracts/ into the rules the pipeline applies.

The contracts are the single source of truth: ingestion derives its row-level validation
from them (required, type, pattern, allowed values, range, key uniqueness) and the quality
gate derives its table-level checks from them (row counts, duplicate shares, freshness).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from orchestration.config import CONTRACTS_DIR

_PHYSICAL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
_FREQUENCY_DAYS = {"d": 1, "day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}


class ContractError(ValueError):
    """A data contract file that does not say what the pipeline needs."""


@dataclass(frozen=True)
class Column:
    name: str
    logical_type: str
    physical_type: str
    description: str = ""
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    valid_values: tuple[str, ...] | None = None
    # Tagged `pseudonymize`: replaced at ingestion by a keyed hash (personal data).
    pseudonymize: bool = False


@dataclass(frozen=True)
class TableRule:
    """A schema-level ODCS library rule (rowCount, duplicateValues) checked by the gate."""

    metric: str
    description: str
    properties: tuple[str, ...] = ()
    operators: dict = field(default_factory=dict)
    unit: str = "rows"
    severity: str = "error"


@dataclass(frozen=True)
class Contract:
    key: str
    title: str
    family: str
    owner: str
    purpose: str
    grain: str
    columns: tuple[Column, ...]
    table_rules: tuple[TableRule, ...]
    delivery_every_days: int
    latency_days: int
    path: Path

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Columns whose combination identifies a row: the primary key, else a
        zero-tolerance duplicateValues rule. Rows repeating a key are quarantined."""
        primary = tuple(c.name for c in self.columns if c.primary_key)
        if primary:
            return primary
        for rule in self.table_rules:
            if rule.metric == "duplicateValues" and rule.operators.get("mustBe") == 0:
                return rule.properties
        return ()

    @property
    def physical_table(self) -> str:
        return f"raw.{self.key}"


def _column(prop: dict, contract_path: Path) -> Column:
    name = prop.get("name")
    logical = prop.get("logicalType")
    if not name or logical not in _PHYSICAL_TYPES:
        raise ContractError(
            f"{contract_path}: property {name!r} needs a name and a logicalType among "
            f"{sorted(_PHYSICAL_TYPES)}, got {logical!r}"
        )
    options = prop.get("logicalTypeOptions") or {}
    valid = None
    for rule in prop.get("quality") or []:
        if rule.get("metric") == "invalidValues" and "validValues" in (rule.get("arguments") or {}):
            valid = tuple(str(v) for v in rule["arguments"]["validValues"])
    return Column(
        name=name,
        logical_type=logical,
        physical_type=prop.get("physicalType") or _PHYSICAL_TYPES[logical],
        description=prop.get("description") or "",
        required=bool(prop.get("required")),
        unique=bool(prop.get("unique")),
        primary_key=bool(prop.get("primaryKey")),
        pattern=options.get("pattern"),
        minimum=options.get("minimum"),
        maximum=options.get("maximum"),
        valid_values=valid,
        pseudonymize="pseudonymize" in (prop.get("tags") or []),
    )


def _table_rule(rule: dict) -> TableRule:
    operators = {k: v for k, v in rule.items() if k.startswith("mustBe") or k.startswith("mustNot")}
    return TableRule(
        metric=rule.get("metric") or rule.get("rule") or "",
        description=rule.get("description") or "",
        properties=tuple((rule.get("arguments") or {}).get("properties") or ()),
        operators=operators,
        unit=rule.get("unit", "rows"),
        severity=rule.get("severity", "error"),
    )


def parse_contract(path: Path) -> Contract:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("kind") != "DataContract":
        raise ContractError(f"{path}: not an ODCS DataContract (kind must be DataContract)")
    if not str(doc.get("apiVersion", "")).startswith("v3"):
        raise ContractError(f"{path}: apiVersion must be ODCS v3.x, got {doc.get('apiVersion')!r}")
    schema = doc.get("schema") or []
    if len(schema) != 1:
        raise ContractError(f"{path}: expected exactly one schema object, found {len(schema)}")
    obj = schema[0]
    sla = {p["property"]: p for p in doc.get("slaProperties") or []}
    frequency = sla.get("frequency", {"value": 1, "unit": "d"})
    every_days = int(frequency["value"]) * _FREQUENCY_DAYS.get(frequency.get("unit", "d"), 1)
    owner = next((m["username"] for m in doc.get("team") or [] if m.get("role") == "owner"), "")
    return Contract(
        key=obj["name"],
        title=doc.get("name", obj["name"]),
        family=doc.get("domain", ""),
        owner=owner,
        purpose=(doc.get("description") or {}).get("purpose", ""),
        grain=obj.get("description") or "",
        columns=tuple(_column(p, path) for p in obj.get("properties") or []),
        table_rules=tuple(_table_rule(r) for r in obj.get("quality") or []),
        delivery_every_days=every_days,
        latency_days=int(sla.get("latency", {}).get("value", 0)),
        path=path,
    )


_OVERRIDABLE = {"required", "unique", "pattern", "minimum", "maximum", "valid_values"}


def apply_overrides(contract: Contract, overrides: dict[str, dict]) -> Contract:
    """The contract with a company's own value rules for some columns (company.yaml
    contract_overrides): {column: {required, pattern, minimum, maximum, valid_values}}; a
    rule given as None is removed. Names and types are the contract's, always."""
    from dataclasses import replace

    columns = []
    for column in contract.columns:
        changes = dict(overrides.get(column.name) or {})
        unknown = set(changes) - _OVERRIDABLE
        if unknown:
            raise ContractError(f"{contract.key}.{column.name}: cannot override {sorted(unknown)}")
        if "valid_values" in changes and changes["valid_values"] is not None:
            changes["valid_values"] = tuple(str(v) for v in changes["valid_values"])
        for flag in ("required", "unique"):
            if flag in changes:
                changes[flag] = bool(changes[flag])
        columns.append(replace(column, **changes))
    return replace(contract, columns=tuple(columns))


@lru_cache(maxsize=8)
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    contracts = {}
    for path in sorted(Path(directory).glob("*.odcs.yaml")):
        contract = parse_contract(path)
        if contract.key in contracts:
            raise ContractError(f"{path}: schema name {contract.key!r} is defined twice")
        contracts[contract.key] = contract
    if not contracts:
        raise ContractError(f"no *.odcs.yaml contracts found in {directory}")
    return contracts
