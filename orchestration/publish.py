"""Publish validated marts to the database BI tools read (write, audit, publish).

The run builds everything in the working database. Publishing copies the marts into a
brand-new file, checkpoints it, and swaps it over `published.duckdb` with an atomic rename:
a BI reader sees the old version or the new one, never a mix (a reader that has the old
file open keeps reading the old inode), and a crash at any point leaves the last good
version in place. The file is written in a storage version that DuckDB 1.4/1.5 clients
(bundled by many BI drivers) can open.

Each publication is also kept under `published_versions/` (a hard link to the same file,
so it costs no space while it is current); the last `keep_versions` are kept, and
`rollback()` swaps an earlier one back in with the same atomic rename.

For tools that read files rather than databases, every published table is also written as
Parquet under `exports/<version>/`, before the swap (a failed export publishes nothing);
`exports/current` is a symlink switched atomically to the version published (or rolled
back to).

BI tools also find what dbt knows about each table: the table and column descriptions
(dbt `persist_docs`, comments in the working database) are copied with the tables, and
the stable views with business names (dbt models in `models/marts/bi`, views in the
working database) are recreated in the published file over the published tables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

PUBLISHED_STORAGE_VERSION = "v1.4.0"
# Published with the marts: BI shows which checks passed for the data it is reading.
QUALITY_RESULTS = ("quality", "data_quality_results")
VERSION_PREFIX = "published_"


class PublishBlocked(RuntimeError):
    """A blocking quality check failed: the previous published tables stay as they were."""


class ViewNotPublishable(RuntimeError):
    """A view to publish reads a table that is not published: it could not be queried."""


class RollbackError(RuntimeError):
    """No such published version to roll back to."""


@dataclass(frozen=True)
class Publication:
    path: Path
    version: str
    tables: dict[str, int]


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    path: Path
    run_id: str
    published_at: datetime
    is_current: bool


def sql_literal(value: str | Path) -> str:
    """A SQL string literal: ATTACH takes no bound parameters, and a path with a quote in it
    must neither break nor inject into the statement."""
    return "'" + str(value).replace("'", "''") + "'"


def versions_dir(published_db: Path) -> Path:
    return published_db.parent / "published_versions"


def exports_dir(published_db: Path) -> Path:
    return published_db.parent / "exports"


def _write_parquet_exports(database: Path, target: Path) -> None:
    """Every table of `database` as `<table>.parquet` in the new folder `target`."""
    target.mkdir(parents=True)
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
            ).fetchall()
        ]
        for table in tables:
            con.execute(
                f'COPY "{table}" TO {sql_literal(target / f"{table}.parquet")} (FORMAT parquet)'
            )


def _point_current_exports(published_db: Path, version: str) -> None:
    """Switch exports/current to `version` in one rename, when that version has exports."""
    root = exports_dir(published_db)
    if not (root / version).is_dir():
        return
    staged_link = root / ".current.tmp"
    staged_link.unlink(missing_ok=True)
    os.symlink(version, staged_link)
    os.replace(staged_link, root / "current")


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
    keep_versions: int = 7,
    views: list[tuple[str, str]] = (),
) -> Publication:
    """Copy `tables` ((schema, name) pairs) from the working database into the published
    file's main schema, recreate `views` (same schema and name) over them, and swap it in."""
    if require_checks:
        failures = failed_blocking_checks(working_db, run_id)
        if failures:
            listed = "; ".join(f"{t}.{c} (observed {o})" for t, c, o in failures)
            raise PublishBlocked(
                f"{len(failures)} blocking check(s) failed, nothing published: {listed}"
            )
    version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    published_db.parent.mkdir(parents=True, exist_ok=True)
    kept = versions_dir(published_db)
    kept.mkdir(exist_ok=True)
    staging_file = published_db.with_name(f".{published_db.name}.{version}.tmp")
    kept_staging = kept / f".{VERSION_PREFIX}{version}.duckdb.tmp"
    export_staging = exports_dir(published_db) / f".{version}.tmp"
    counts = {}
    try:
        with duckdb.connect() as con:
            con.execute(f"ATTACH {sql_literal(working_db)} AS work (READ_ONLY)")
            con.execute(
                f"ATTACH {sql_literal(staging_file)} AS pub "
                f"(STORAGE_VERSION {sql_literal(PUBLISHED_STORAGE_VERSION)})"
            )
            for schema, name in tables:
                con.execute(
                    f'CREATE TABLE pub.main."{name}" AS SELECT * FROM work."{schema}"."{name}"'
                )
                counts[name] = con.execute(f'SELECT count(*) FROM pub.main."{name}"').fetchone()[0]
                _copy_comments(con, (schema, name), ("main", name))
            for schema, name in views:
                _publish_view(con, schema, name, set(tables))
            con.execute(
                "CREATE TABLE pub.main._publication AS SELECT ? AS version, ? AS run_id, "
                "current_timestamp::TIMESTAMP AS published_at, ? AS tables",
                [version, run_id, ",".join(sorted(counts))],
            )
            con.execute("CHECKPOINT pub")
            con.execute("DETACH pub")
            con.execute("DETACH work")
        _write_parquet_exports(staging_file, export_staging)
        _link_or_copy(staging_file, kept_staging)
        os.replace(staging_file, published_db)
        os.replace(kept_staging, kept / f"{VERSION_PREFIX}{version}.duckdb")
        os.replace(export_staging, exports_dir(published_db) / version)
        _point_current_exports(published_db, version)
    finally:
        for leftover in (staging_file, Path(f"{staging_file}.wal"), kept_staging):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(export_staging, ignore_errors=True)
    prune_versions(published_db, keep_versions)
    return Publication(published_db, version, counts)


def _copy_comments(con, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Carry the table (or view) and column comments of `work`.source over to `pub`.target:
    CREATE TABLE AS SELECT copies data, not comments."""
    kind, comment = con.execute(
        "SELECT 'TABLE', comment FROM duckdb_tables() "
        "WHERE database_name = 'work' AND schema_name = ? AND table_name = ? UNION ALL "
        "SELECT 'VIEW', comment FROM duckdb_views() "
        "WHERE database_name = 'work' AND schema_name = ? AND view_name = ?",
        [*source, *source],
    ).fetchone()
    relation = f'pub."{target[0]}"."{target[1]}"'
    if comment:
        con.execute(f"COMMENT ON {kind} {relation} IS {sql_literal(comment)}")
    for column, column_comment in con.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = 'work' "
        "AND schema_name = ? AND table_name = ? AND comment IS NOT NULL ORDER BY column_index",
        list(source),
    ).fetchall():
        con.execute(f'COMMENT ON COLUMN {relation}."{column}" IS {sql_literal(column_comment)}')


_VIEW_BODY = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+.+?\s+AS\s+(.*?);?\s*$", re.S | re.I
)


def _publish_view(con, schema: str, name: str, published: set[tuple[str, str]]) -> None:
    """Recreate the working database's view `schema.name` in `pub`, reading the published
    tables (`main.<name>`) where it read the working ones (`<schema>.<name>`).

    The references are rewritten on DuckDB's own parse tree (json_serialize_sql), not by
    text search. They are left without a catalog, so the view works however the published
    file is attached or opened."""
    [(definition,)] = con.execute(
        "SELECT sql FROM duckdb_views() "
        "WHERE database_name = 'work' AND schema_name = ? AND view_name = ?",
        [schema, name],
    ).fetchall()
    match = _VIEW_BODY.match(definition)
    if match is None:
        raise ViewNotPublishable(f"{schema}.{name}: cannot read its definition {definition!r}")
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [match.group(1)]).fetchone()[0])
    if tree.get("error"):
        raise ViewNotPublishable(f"{schema}.{name}: {tree.get('error_message')}")
    unpublished = []

    def rewrite(node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
                source = (node["schema_name"], node["table_name"])
                if source in published:
                    node.update(catalog_name="", schema_name="main")
                    node["qualified_name"] = {"path": ["main", source[1]]}
                else:
                    unpublished.append(".".join(source))
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(tree)
    if unpublished:
        raise ViewNotPublishable(
            f"{schema}.{name} reads {sorted(set(unpublished))}, which are not published"
        )
    body = con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]).fetchone()[0]
    con.execute(f'CREATE SCHEMA IF NOT EXISTS pub."{schema}"')
    # Unqualified names in a view bind where the view is created: create it from inside pub.
    con.execute("USE pub")
    try:
        con.execute(f'CREATE VIEW "{schema}"."{name}" AS {body}')
    finally:
        con.execute("USE memory")
    _copy_comments(con, (schema, name), (schema, name))


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows one (no extra space), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def list_versions(published_db: Path) -> list[PublishedVersion]:
    """Kept versions, newest first, read from each file's own `_publication` row."""
    current = _publication_row(published_db)[0] if published_db.exists() else None
    found = []
    for path in versions_dir(published_db).glob(f"{VERSION_PREFIX}*.duckdb"):
        version, run_id, published_at = _publication_row(path)
        found.append(PublishedVersion(version, path, run_id, published_at, version == current))
    return sorted(found, key=lambda v: v.version, reverse=True)


def _publication_row(path: Path) -> tuple[str, str, datetime]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT version, run_id, published_at FROM _publication").fetchone()


def prune_versions(published_db: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` kept versions (never the current one)."""
    removed = []
    for old in list_versions(published_db)[keep:]:
        if not old.is_current:
            old.path.unlink(missing_ok=True)
            removed.append(old.path)
    # Left by a publish killed half-way (runs are serialized by the warehouse lock, so no
    # other publish can be writing these now).
    for stale in [
        *versions_dir(published_db).glob(f".{VERSION_PREFIX}*.tmp"),
        *published_db.parent.glob(f".{published_db.name}.*.tmp"),
        *published_db.parent.glob(f".{published_db.name}.*.tmp.wal"),
    ]:
        stale.unlink(missing_ok=True)
    # Parquet exports follow the kept versions.
    kept_versions = {v.version for v in list_versions(published_db)}
    root = exports_dir(published_db)
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and not folder.is_symlink() and folder.name not in kept_versions:
                shutil.rmtree(folder, ignore_errors=True)
    return removed


def rollback(published_db: Path, to_version: str | None = None) -> PublishedVersion:
    """Swap a kept version back in (default: the one before the current), atomically."""
    versions = list_versions(published_db)
    if to_version is None:
        current = next((i for i, v in enumerate(versions) if v.is_current), None)
        older = versions[current + 1 :] if current is not None else versions
        if not older:
            raise RollbackError("no earlier published version is kept: nothing to roll back to")
        target = older[0]
    else:
        target = next((v for v in versions if v.version == to_version), None)
        if target is None:
            known = ", ".join(v.version for v in versions) or "none"
            raise RollbackError(f"no kept version {to_version!r}; kept versions: {known}")
    swap = published_db.with_name(f".{published_db.name}.rollback.tmp")
    try:
        _link_or_copy(target.path, swap)
        os.replace(swap, published_db)
    finally:
        swap.unlink(missing_ok=True)
    _point_current_exports(published_db, target.version)
    return PublishedVersion(target.version, target.path, target.run_id, target.published_at, True)
