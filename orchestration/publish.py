"""Publish validated marts to the database BI tools read (write, audit, publish).

The run builds everything in the working database. Publishing copies the marts into a
brand-new file, checkpoints it, and swaps it over `published.duckdb` with an atomic rename:
a BI reader sees the old version or the new one, never a mix, and a crash at any point
leaves the last good version in place. The file is written in a storage version that
DuckDB 1.4/1.5 clients (bundled by many BI drivers) can open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

PUBLISHED_STORAGE_VERSION = "v1.4.0"


class PublishBlocked(RuntimeError):
    """A blocking quality check failed: the previous published tables stay as they were."""


@dataclass(frozen=True)
class Publication:
    path: Path
    version: str
    tables: dict[str, int]


def failed_blocking_checks(working_db: Path, run_id: str) -> list[tuple[str, str, str]]:
    """Error-severity checks of this run that failed, read from the stored results."""
    with duckdb.connect(str(working_db), read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'quality' AND table_name = 'data_quality_results'"
        ).fetchone()[0]
        if not exists:
            return []
        return con.execute(
            "SELECT table_name, check_name, observed_value FROM quality.data_quality_results "
            "WHERE run_id = ? AND severity = 'error' AND NOT passed ORDER BY ALL",
            [run_id],
        ).fetchall()


def publish(
    working_db: Path,
    published_db: Path,
    tables: list[tuple[str, str]],
    run_id: str,
    require_checks: bool = True,
) -> Publication:
    """Copy `tables` ((schema, name) pairs) from the working database and swap them in."""
    if require_checks:
        failures = failed_blocking_checks(working_db, run_id)
        if failures:
            listed = "; ".join(f"{t}.{c} (observed {o})" for t, c, o in failures)
            raise PublishBlocked(
                f"{len(failures)} blocking check(s) failed, nothing published: {listed}"
            )
    version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    published_db.parent.mkdir(parents=True, exist_ok=True)
    staging_file = published_db.with_name(f".{published_db.name}.{version}.tmp")
    counts = {}
    try:
        with duckdb.connect() as con:
            con.execute(f"ATTACH '{working_db}' AS work (READ_ONLY)")
            con.execute(
                f"ATTACH '{staging_file}' AS pub (STORAGE_VERSION '{PUBLISHED_STORAGE_VERSION}')"
            )
            for schema, name in tables:
                con.execute(
                    f'CREATE TABLE pub.main."{name}" AS SELECT * FROM work."{schema}"."{name}"'
                )
                counts[name] = con.execute(f'SELECT count(*) FROM pub.main."{name}"').fetchone()[0]
            con.execute(
                "CREATE TABLE pub.main._publication AS SELECT ? AS version, ? AS run_id, "
                "current_timestamp::TIMESTAMP AS published_at, ? AS tables",
                [version, run_id, ",".join(sorted(counts))],
            )
            con.execute("CHECKPOINT pub")
            con.execute("DETACH pub")
            con.execute("DETACH work")
        os.replace(staging_file, published_db)
    finally:
        staging_file.unlink(missing_ok=True)
        Path(str(staging_file) + ".wal").unlink(missing_ok=True)
    return Publication(published_db, version, counts)
