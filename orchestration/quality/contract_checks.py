"""Checks derived from the data contracts, for every source (issue 7).

The ingestion engine already enforces the contracts row by row (a row that breaks a rule
is quarantined with its reason). These checks audit the result as a whole, so that a
loader bug, a drifting source or a source that stopped arriving is seen before anything
is published:

- a Great Expectations suite generated from the contract and validated inside DuckDB on
  `raw.<source>`: every column present with its type, required columns not null, keys
  unique, allowed values, ranges, and the contract's table-level rules (rowCount,
  duplicateValues with their thresholds);
- the share of delivered rows quarantined, when the contract sets a ceiling for it (a
  schema-level `invalidValues` rule with `unit: percent`);
- freshness: the newest delivery (per distributor for sell-out) is not older than the
  contract's delivery frequency plus its latency, against the wall clock when the company
  runs live. When the company replays a pinned `as_of_month` (the sample company) the
  clock is the night the source's data for that month is due (the month's end plus the
  source's latency), so a sender that stopped months before is still caught, and a
  snapshot source is current when its extract was taken after the replayed month.

Severities come from the contract rules (`severity: warning` publishes and reports; the
default, error, blocks publishing). Generated checks are errors, freshness a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.contracts import Contract, TableRule
from orchestration.quality.gx_checks import ERROR, WARNING, CheckOutcome, validate_table

# Type names GX may observe for a contract's physical type (DuckDB's own name, or the
# SQLAlchemy type duckdb-engine maps it to).
_TYPE_NAMES = {
    "VARCHAR": ["VARCHAR", "String", "TEXT"],
    "DOUBLE": ["DOUBLE", "FLOAT", "Float", "DOUBLE_PRECISION"],
    "BIGINT": ["BIGINT", "BigInteger"],
    "INTEGER": ["INTEGER", "Integer", "BIGINT", "BigInteger"],
    "DATE": ["DATE", "Date"],
    "TIMESTAMP": ["TIMESTAMP", "DateTime", "DATETIME"],
    "BOOLEAN": ["BOOLEAN", "Boolean"],
}
FRESHNESS_CHECK = "freshness"
QUARANTINE_CHECK = "quarantined_share"


def _spec(expectation: str, severity: str = ERROR, **kwargs) -> dict:
    return {"expectation": expectation, "kwargs": kwargs, "severity": severity}


def _bounds(rule: TableRule, scale: float = 1.0) -> tuple[float | None, float | None]:
    """ODCS operators (mustBeGreaterThan, mustBeLessOrEqualTo, ...) as inclusive bounds."""
    ops = rule.operators
    low = ops.get("mustBeGreaterOrEqualTo", ops.get("mustBeGreaterThan"))
    high = ops.get("mustBeLessOrEqualTo", ops.get("mustBeLessThan"))
    if "mustBe" in ops:
        low = high = ops["mustBe"]
    if "mustBeBetween" in ops:
        low, high = ops["mustBeBetween"]
    return (None if low is None else low * scale, None if high is None else high * scale)


def contract_expectations(contract: Contract) -> list[dict]:
    """The Great Expectations suite of a source, as declarative specs."""
    specs = []
    for column in contract.columns:
        name = column.name
        specs.append(_spec("expect_column_to_exist", column=name))
        physical = (column.physical_type or "VARCHAR").upper()
        types = _TYPE_NAMES.get(physical, [physical])
        specs.append(_spec("expect_column_values_to_be_in_type_list", column=name, type_list=types))
        if column.required:
            specs.append(_spec("expect_column_values_to_not_be_null", column=name))
        if column.valid_values:
            specs.append(
                _spec(
                    "expect_column_values_to_be_in_set",
                    column=name,
                    value_set=list(column.valid_values),
                )
            )
        if column.minimum is not None or column.maximum is not None:
            specs.append(
                _spec(
                    "expect_column_values_to_be_between",
                    column=name,
                    min_value=column.minimum,
                    max_value=column.maximum,
                )
            )
    keys = contract.key_columns
    if len(keys) == 1:
        specs.append(_spec("expect_column_values_to_be_unique", column=keys[0]))
    elif keys:
        specs.append(_spec("expect_compound_columns_to_be_unique", column_list=list(keys)))
    for rule in contract.table_rules:
        if rule.metric == "rowCount":
            low, high = _bounds(rule)
            specs.append(
                _spec(
                    "expect_table_row_count_to_be_between",
                    severity=rule.severity,
                    min_value=low,
                    max_value=high,
                )
            )
        elif rule.metric == "duplicateValues" and rule.properties:
            _, high = _bounds(rule, 0.01 if rule.unit == "percent" else 1.0)
            kwargs = {"column_list": list(rule.properties)}
            if rule.unit == "percent" and high is not None:
                kwargs["mostly"] = round(1 - high, 6)
            specs.append(
                _spec("expect_compound_columns_to_be_unique", severity=rule.severity, **kwargs)
            )
    # GX keeps one of two identical expectations (a key that a rule also declares unique).
    unique, seen = [], set()
    for spec in specs:
        signature = json.dumps([spec["expectation"], spec["kwargs"]], sort_keys=True)
        if signature not in seen:
            seen.add(signature)
            unique.append(spec)
    return unique


def quarantine_rule(contract: Contract) -> TableRule | None:
    return next(
        (r for r in contract.table_rules if r.metric == "invalidValues" and r.unit == "percent"),
        None,
    )


def _quarantined_share(
    con: duckdb.DuckDBPyConnection, contract: Contract, rule: TableRule
) -> CheckOutcome:
    loaded, held = con.execute(
        "SELECT coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
        "FROM raw.file_deliveries WHERE source = ? AND status = 'loaded'",
        [contract.key],
    ).fetchone()
    share = 100.0 * held / (loaded + held) if loaded + held else 0.0
    _, ceiling = _bounds(rule)
    passed = ceiling is None or share <= ceiling
    return CheckOutcome(
        contract.key,
        QUARANTINE_CHECK,
        passed,
        rule.severity,
        f"{share:.3f}% of {loaded + held} delivered rows quarantined (ceiling {ceiling}%)",
        rule.description,
    )


def _freshness(
    con: duckdb.DuckDBPyConnection, contract: Contract, clock: FreshnessClock
) -> list[CheckOutcome]:
    """One outcome per sender (each distributor on its own), newest delivery vs the SLA."""
    allowed_days = contract.delivery_every_days + contract.latency_days
    rows = con.execute(
        "SELECT coalesce(distributor_id, ''), max(delivered_at) FROM raw.file_deliveries "
        "WHERE source = ? AND status IN ('loaded', 'duplicate', 'unchanged') "
        "GROUP BY ALL ORDER BY ALL",
        [contract.key],
    ).fetchall()
    if not rows:
        return [CheckOutcome(contract.key, FRESHNESS_CHECK, False, WARNING, "no delivery received")]
    outcomes = []
    reference = clock.reference(contract)
    for sender, newest in rows:
        age_days = (reference - newest).total_seconds() / 86400
        fresh = age_days <= allowed_days
        if clock.replay_month_end and contract.key in clock.snapshot_sources:
            # a replayed month has one extract: current when taken after the month closed
            fresh = newest >= clock.replay_month_end
        outcomes.append(
            CheckOutcome(
                contract.key,
                FRESHNESS_CHECK + (f"({sender})" if sender else ""),
                fresh,
                WARNING,
                f"newest delivery {newest:%Y-%m-%d %H:%M}, {age_days:.1f} days before "
                f"{reference:%Y-%m-%d} (allowed {allowed_days})",
            )
        )
    return outcomes


@dataclass(frozen=True)
class FreshnessClock:
    """What "now" means for freshness: the wall clock (live), or, for a replayed month,
    the night each source's data for it is due: the month's end plus the source's latency."""

    now: datetime | None
    replay_month_end: datetime | None = None
    snapshot_sources: tuple[str, ...] = ()

    def reference(self, contract: Contract) -> datetime:
        if self.now is not None:
            return self.now
        return self.replay_month_end + timedelta(days=contract.latency_days)

    @classmethod
    def for_company(cls, company, now: datetime | None = None) -> FreshnessClock:
        if not company.company.as_of_month:
            return cls(now=(now or datetime.now(UTC)).replace(tzinfo=None))
        year, month = map(int, company.company.as_of_month.split("-"))
        return cls(
            now=None,
            replay_month_end=datetime(year + month // 12, month % 12 + 1, 1),
            snapshot_sources=tuple(n for n, s in company.sources.items() if s.mode == "snapshot"),
        )


def check_source(working_db: Path, contract: Contract, clock: FreshnessClock) -> list[CheckOutcome]:
    """Every contract-derived check of one source, on what is loaded now."""
    schema, table = contract.physical_table.split(".")
    outcomes = validate_table(working_db, schema, table, contract_expectations(contract))
    with duckdb.connect(str(working_db), read_only=True) as con:
        rule = quarantine_rule(contract)
        if rule is not None:
            outcomes.append(_quarantined_share(con, contract, rule))
        outcomes.extend(_freshness(con, contract, clock))
    return [
        CheckOutcome(contract.key, o.check, o.passed, o.severity, o.observed, o.details)
        for o in outcomes
    ]
