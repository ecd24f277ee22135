"""Great Expectations (1.x) validation of published-candidate tables, inside DuckDB.

Expectations are declared next to the model they guard (the `quality` list in a mart's
dbt `meta`), so Python holds no model or column names. Validation runs in the database
through GX's SQL datasource: nothing is pulled into pandas.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

ERROR, WARNING = "error", "warning"
RESULT_INDEX = "rtm_result_index"


@dataclass(frozen=True)
class CheckOutcome:
    table: str
    check: str
    passed: bool
    severity: str
    observed: str
    details: str = ""


def _enable_persisted_duckdb_connection(execution_engine_module) -> None:
    """GX fetches SQL results after returning pooled connections to the pool, which DuckDB
    answers with empty results ('list index out of range'). GX keeps one persisted
    connection for the dialects in this tuple; it matches entries both with `in` (as a
    string) and through `.value`, hence a str carrying a value attribute."""
    dialects = execution_engine_module._PERSISTED_CONNECTION_DIALECTS
    if "duckdb" not in dialects:
        duckdb_dialect = type("DuckDBDialect", (str,), {"value": "duckdb"})("duckdb")
        execution_engine_module._PERSISTED_CONNECTION_DIALECTS = (*dialects, duckdb_dialect)


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_PROGRESS_BARS", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # duckdb-engine's types are compared through SQLAlchemy's generic ones, which GX
    # announces on every type expectation; the comparison itself works.
    logging.getLogger("great_expectations.expectations.type_comparison").setLevel(logging.ERROR)


def _release(execution_engine) -> None:
    """Close GX's persisted connection too: DuckDB refuses a later read-write connection
    to the same file in this process while a read-only one is still open."""
    persisted = getattr(execution_engine, "_connection", None)
    if persisted is not None:
        persisted.close()
        execution_engine._connection = None
    execution_engine.engine.dispose()


class TableValidator:
    """One GX context and one read-only connection to `database` for several tables: a
    night validates some twenty marts, and a context, a datasource and a connection per
    table cost more than the checks themselves. Use as a context manager; the connection is
    closed on exit (DuckDB refuses a read-write connection to the file from this process
    while a read-only one is open)."""

    def __init__(self, database: Path):
        _quiet_gx()
        import great_expectations as gx
        from great_expectations.execution_engine import sqlalchemy_execution_engine

        _enable_persisted_duckdb_connection(sqlalchemy_execution_engine)
        self._gx = gx
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = {"globally": False}
        self._source = context.data_sources.add_sql(
            name="warehouse",
            connection_string=f"duckdb:///{database}",
            kwargs={"connect_args": {"read_only": True}},
        )

    def __enter__(self) -> TableValidator:
        return self

    def __exit__(self, *_exc) -> None:
        _release(self._source.get_execution_engine())
        self._source.get_engine().dispose()

    def validate(self, schema: str, table: str, expectations: list[dict]) -> list[CheckOutcome]:
        """Run declared expectations ({expectation, kwargs, severity}) on one table."""
        gx = self._gx
        batch_definition = self._source.add_table_asset(
            name=f"{schema}.{table}", table_name=table, schema_name=schema
        ).add_batch_definition_whole_table("whole_table")
        suite = gx.ExpectationSuite(name=f"{schema}.{table}_suite")
        ids = []
        for spec in expectations:
            class_name = "".join(part.title() for part in spec["expectation"].split("_"))
            expectation_class = getattr(gx.expectations, class_name, None)
            if expectation_class is None:
                raise ValueError(
                    f"{table}: unknown Great Expectations expectation {spec['expectation']!r}"
                )
            # GX returns results in its own order; the index in `meta` pairs them back.
            suite.add_expectation(
                expectation_class(**spec.get("kwargs", {}), meta={RESULT_INDEX: len(ids)})
            )
            ids.append(len(ids))
        result = batch_definition.get_batch().validate(suite)
        return _outcomes(table, expectations, ids, result)


def validate_table(
    database: Path, schema: str, table: str, expectations: list[dict]
) -> list[CheckOutcome]:
    """Run declared expectations ({expectation, kwargs, severity}) on one table."""
    with TableValidator(database) as validator:
        return validator.validate(schema, table, expectations)


def _stable(sample):
    """GX lists an unexpected-values sample in the order its query returned the rows, which
    is not stable from run to run: sorted, the same data stores the same details."""
    return sorted(sample, key=repr) if isinstance(sample, list) else sample


def _outcomes(table: str, expectations: list[dict], ids: list[int], result) -> list[CheckOutcome]:
    by_id = {item.expectation_config.meta[RESULT_INDEX]: item for item in result.results}
    outcomes = []
    for spec, expectation_id in zip(expectations, ids, strict=True):
        item, severity = by_id[expectation_id], spec.get("severity", ERROR)
        details = item.result or {}
        observed = details.get("observed_value")
        if observed is None and "unexpected_count" in details:
            observed = f"{details['unexpected_count']} unexpected ({details.get('unexpected_percent') or 0:.2f}%)"
        if item.exception_info and item.exception_info.get("raised_exception"):
            observed = f"error: {item.exception_info.get('exception_message')}"
        label = spec["expectation"] + (
            f"({spec['kwargs']['column']})" if "column" in spec.get("kwargs", {}) else ""
        )
        outcomes.append(
            CheckOutcome(
                table,
                label,
                bool(item.success),
                severity,
                str(observed),
                details=str(_stable(details.get("partial_unexpected_list", "")))[:500],
            )
        )
    return outcomes
