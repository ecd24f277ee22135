"""Run the ingestion of one source end to end: (pull,) load, reconcile, summarise.

Shared by the Dagster assets and the CLI so both behave the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from orchestration.config import Settings
from orchestration.contracts import load_contracts
from orchestration.ingest.engine import ContractLoader, FileResult, ensure_raw_schema, layouts_for


@dataclass
class SourceSummary:
    source: str
    files_loaded: int = 0
    files_duplicate: int = 0
    files_unchanged: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    table_rows: int = 0
    reconciled: bool = True
    reconciliation_problems: list[str] = field(default_factory=list)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    pull: dict = field(default_factory=dict)

    def add(self, result: FileResult) -> None:
        if result.status == "loaded":
            self.files_loaded += 1
        elif result.status == "duplicate":
            self.files_duplicate += 1
        else:
            self.files_unchanged += 1
        self.rows_loaded += result.rows_loaded
        self.rows_quarantined += result.rows_quarantined
        for rule, count in result.quarantine_reasons.items():
            self.quarantine_reasons[rule] = self.quarantine_reasons.get(rule, 0) + count


def connect(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        str(settings.working_db), read_only=read_only, config=settings.duckdb_config()
    )
    con.execute("SET TimeZone = 'UTC'")
    return con


def reconcile(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """Every delivered row is either in the raw table or in quarantine: prove it per file."""
    table = load_contracts()[source].physical_table
    mismatches = con.execute(
        f"""
        WITH loaded AS (SELECT _source_file AS file, count(*) AS n FROM {table} GROUP BY 1),
             held AS (SELECT file, count(*) AS n FROM raw.quarantine WHERE source = ? GROUP BY 1)
        SELECT d.file, d.rows_read, d.rows_loaded, d.rows_quarantined,
               coalesce(l.n, 0), coalesce(h.n, 0)
        FROM raw.file_deliveries d
        LEFT JOIN loaded l USING (file) LEFT JOIN held h USING (file)
        WHERE d.source = ? AND d.status = 'loaded'
          AND (d.rows_read <> d.rows_loaded + d.rows_quarantined
               OR coalesce(l.n, 0) <> d.rows_loaded OR coalesce(h.n, 0) <> d.rows_quarantined)
        """,
        [source, source],
    ).fetchall()
    return [
        f"{file}: read {read}, ledger {loaded}+{held}, found {found_loaded} loaded and "
        f"{found_held} quarantined"
        for file, read, loaded, held, found_loaded, found_held in mismatches
    ]


def ingest_source(
    settings: Settings, source: str, log: Callable[[str], None] = lambda _m: None
) -> SourceSummary:
    # the company's contract_overrides apply to the rows it delivers
    contracts = settings.contracts
    contract = contracts[source]
    config = settings.company
    summary = SourceSummary(source)
    source_config = config.sources.get(source)
    if source_config is not None and source_config.api is not None:
        summary.pull = pull_online(settings, source, log)
    with connect(settings) as con:
        ensure_raw_schema(con, contracts.values())
        loader = ContractLoader(
            con,
            contract,
            settings.landing_dir,
            settings.tmp_dir,
            log,
            rehash_unchanged=config.ingestion.rehash_unchanged_files,
        )
        for result in loader.load(layouts_for(source, config)):
            summary.add(result)
        summary.reconciliation_problems = reconcile(con, source)
        summary.reconciled = not summary.reconciliation_problems
        summary.table_rows = con.execute(
            f"SELECT count(*) FROM {contract.physical_table}"
        ).fetchone()[0]
    return summary


def pull_online(settings: Settings, source: str, log: Callable[[str], None]) -> dict:
    """Pull what changed since the newest record already loaded (the watermark)."""
    from orchestration.online.client import ListingsClient

    source_config = settings.company.sources[source]
    contract = load_contracts()[source]
    with connect(settings) as con:
        ensure_raw_schema(con, load_contracts().values())
        latest = con.execute(
            f"SELECT strftime(max(updated_at), '%Y-%m-%dT%H:%M:%SZ') FROM {contract.physical_table}"
        ).fetchone()[0]
    landing = settings.landing_dir / source_config.path.split("/")[0]
    client = ListingsClient(source_config.api)
    result = client.pull(landing, latest, log)
    log(
        f"pulled {result.records} records in {result.pages} pages "
        f"({result.requests} requests, {result.retries} retries) since {latest or 'the beginning'}"
    )
    return {
        "watermark_before": latest,
        "watermark_after": result.watermark,
        "records": result.records,
        "pages": result.pages,
        "requests": result.requests,
        "retries": result.retries,
    }
