"""Load landing files into DuckDB, validated against their data contract.

Every row that arrives ends in exactly one place: its source's raw table (typed, with the
file and line it came from) or `raw.quarantine` (the raw values, the file, the line and
every rule it broke). Each file is recorded in `raw.file_deliveries` with its content hash,
so a file delivered twice is loaded once and counts always reconcile:
rows_read = rows_loaded + rows_quarantined.

The work is set-based: one SQL statement reads each file as text, derives the typed values
and the list of broken rules for all rows at once into a single staging table, and two
INSERTs route the rows. Python only walks files, never rows.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.config import DistributorLayout, FileFormat, SourceConfig
from orchestration.contracts import Column, Contract

METADATA_COLUMNS = {
    "_source_file": "VARCHAR",
    "_source_line": "BIGINT",
    "_file_hash": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}
# Encodings DuckDB's CSV reader takes as they are; anything else is transcoded first.
_NATIVE_ENCODINGS = {"utf-8", "utf8"}
_TRUE = ("true", "t", "1", "yes", "y", "oui", "o", "vrai")
_FALSE = ("false", "f", "0", "no", "n", "non", "faux")


class IngestionError(RuntimeError):
    """A file that cannot be read at all; names the file and the problem."""


@dataclass(frozen=True)
class FileLayout:
    """How one family of files maps onto a contract (from the company config)."""

    source: str
    glob: str
    format: FileFormat
    mode: str = "append"
    distributor_id: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    value_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    multipliers: dict[str, float] = field(default_factory=dict)
    json_fields: dict[str, str] = field(default_factory=dict)
    # Regex with a group `period` read from the file name: a later file with the same
    # period is a restatement and replaces the earlier file's rows (append sources only).
    period_pattern: str | None = None

    @property
    def label(self) -> str:
        return self.distributor_id or self.source

    def delivery_key(self, rel: str) -> str:
        """What a later delivery replaces: the same period when the layout names it in its
        file names, else the same file."""
        if self.period_pattern:
            match = re.search(self.period_pattern, Path(rel).name)
            if match:
                return f"{self.label}:{match.group('period')}"
        return rel

    @classmethod
    def for_source(cls, name: str, source: SourceConfig) -> FileLayout:
        return cls(
            source=name,
            glob=source.path,
            format=source.format,
            mode=source.mode,
            columns=dict(source.columns),
            constants=dict(source.constants),
            value_maps={k: dict(v) for k, v in source.value_maps.items()},
            multipliers=dict(source.multipliers),
            json_fields=dict(source.fields or {}),
            period_pattern=source.period_from_file_name,
        )

    @classmethod
    def for_distributor(cls, layout: DistributorLayout) -> FileLayout:
        return cls(
            source="distributor_sell_out",
            glob=layout.path,
            format=layout.format,
            distributor_id=layout.id,
            columns=dict(layout.columns),
            constants=dict(layout.constants),
            value_maps={k: dict(v) for k, v in layout.value_maps.items()},
            multipliers=dict(layout.multipliers),
            period_pattern=layout.period_from_file_name,
        )


@dataclass
class FileResult:
    file: str
    source: str
    distributor_id: str | None
    status: str  # loaded | duplicate | unchanged
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicate_of: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    delivery_key: str | None = None


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


PSEUDONYMIZATION_KEY_ENV = "RTM_PSEUDONYMIZATION_KEY"


def pseudonymization_key() -> str:
    key = os.environ.get(PSEUDONYMIZATION_KEY_ENV, "")
    if len(key) < 16:
        raise IngestionError(
            f"{PSEUDONYMIZATION_KEY_ENV} must hold a secret of at least 16 characters: the "
            "contracts tag personal columns `pseudonymize`, and they are hashed with it"
        )
    return key


def _keyed_hash(expr: str) -> str:
    """sha256 of key + value: equal values still match, nobody without the key can test a
    guess. The key is a session variable, never part of the SQL text."""
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL ELSE 'pseud:' || "
        f"sha256(getvariable('rtm_pseudonymization_key') || chr(31) || {expr}) END"
    )


def _lit(value: object) -> str:
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def ensure_raw_schema(con: duckdb.DuckDBPyConnection, contracts: Iterable[Contract]) -> None:
    """Create the raw tables, the quarantine and the delivery ledger if missing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for contract in contracts:
        columns = [f"{_q(c.name)} {c.physical_type}" for c in contract.columns]
        columns += [f"{name} {kind}" for name, kind in METADATA_COLUMNS.items()]
        con.execute(f"CREATE TABLE IF NOT EXISTS {contract.physical_table} ({', '.join(columns)})")
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS raw.quarantine (
            source VARCHAR, distributor_id VARCHAR, file VARCHAR, line BIGINT,
            reason VARCHAR, record VARCHAR, file_hash VARCHAR, quarantined_at TIMESTAMP
        )"""
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS raw.file_deliveries (
            file VARCHAR, source VARCHAR, distributor_id VARCHAR, file_hash VARCHAR,
            size_bytes BIGINT, delivered_at TIMESTAMP, status VARCHAR, duplicate_of VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, loaded_at TIMESTAMP
        )"""
    )
    # Added after the first release: a warehouse created before gets the column here.
    con.execute("ALTER TABLE raw.file_deliveries ADD COLUMN IF NOT EXISTS delivery_key VARCHAR")


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _transcode_to_utf8(path: Path, encoding: str, target: Path) -> Path:
    """Stream a file into UTF-8 (DuckDB reads UTF-8 only); fail naming the bad byte.

    Every byte is valid in cp1252/latin-1, so a distributor who switches to UTF-8 would be
    read as mojibake ("CafÃ©") without a word. A file that is entirely valid UTF-8 and has
    non-ASCII characters is therefore refused as a likely change of encoding."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    utf8_probe = codecs.getincrementaldecoder("utf-8")(errors="strict")
    could_be_utf8 = not codecs.lookup(encoding).name.startswith("utf")  # single-byte layouts
    has_non_ascii = False
    offset = 0
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 22):
            try:
                dst.write(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                raise IngestionError(
                    f"{path.name}: byte {offset + exc.start} is not valid {encoding} "
                    f"({exc.reason}); check the encoding configured for this layout"
                ) from exc
            if could_be_utf8:
                has_non_ascii = has_non_ascii or not chunk.isascii()
                try:
                    utf8_probe.decode(chunk)
                except UnicodeDecodeError:
                    could_be_utf8 = False
            offset += len(chunk)
        dst.write(decoder.decode(b"", final=True))
    if could_be_utf8 and has_non_ascii:
        raise IngestionError(
            f"{path.name}: the file is UTF-8 encoded, but its layout says {encoding}: its "
            "accented characters would be garbled. Nothing was loaded; set format.encoding "
            "to utf-8 for this layout if the sender changed encoding for good"
        )
    return target


def _typed_expr(
    column: Column, value: str, fmt: FileFormat, multiplier: float | None = None
) -> str:
    """SQL turning a cleaned text value into the contract type, NULL when it does not parse.
    Numbers lose the format's strip_characters first and are scaled by the layout's
    multiplier for the column (if any)."""
    kind = column.logical_type
    if kind in ("number", "integer") and fmt.strip_characters:
        value = f"trim(translate({value}, {_lit(fmt.strip_characters)}, ''))"
    if kind == "number":
        text = f"replace({value}, ',', '.')" if fmt.decimal == "," else value
        scale = f" * {float(multiplier)!r}" if multiplier is not None else ""
        return f"(TRY_CAST({text} AS DOUBLE){scale})"
    if kind == "integer":
        return f"TRY_CAST({value} AS BIGINT)"
    if kind == "date":
        return f"CAST(TRY_STRPTIME({value}, {_lit(fmt.date_format)}) AS DATE)"
    if kind == "timestamp":
        return f"CAST(TRY_CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if kind == "boolean":
        return (
            f"CASE WHEN lower({value}) IN {_TRUE} THEN TRUE "
            f"WHEN lower({value}) IN {_FALSE} THEN FALSE END"
        )
    return value


def _rule_checks(column: Column, value: str, typed: str, fmt: FileFormat) -> list[str]:
    """One SQL CASE per contract rule, each yielding the reason text when broken."""
    name = column.name
    shown = f"'\"' || {value} || '\"'"
    checks = []
    if column.required:
        checks.append(f"CASE WHEN {value} IS NULL THEN '{name}: required value missing' END")
    if column.logical_type != "string":
        expected = (
            f"a date in format {fmt.date_format}"
            if column.logical_type == "date"
            else f"a valid {column.logical_type}"
        )
        checks.append(
            f"CASE WHEN {value} IS NOT NULL AND {typed} IS NULL "
            f"THEN '{name}: ' || {shown} || {_lit(' is not ' + expected)} END"
        )
    if column.pattern:
        checks.append(
            f"CASE WHEN {typed} IS NOT NULL AND NOT regexp_full_match({value}, {_lit(column.pattern)}) "
            f"THEN '{name}: ' || {shown} || {_lit(' does not match ' + column.pattern)} END"
        )
    if column.valid_values:
        allowed = ", ".join(_lit(v) for v in column.valid_values)
        checks.append(
            f"CASE WHEN {typed} IS NOT NULL AND CAST({typed} AS VARCHAR) NOT IN ({allowed}) "
            f"THEN '{name}: ' || {shown} || {_lit(' is not one of ' + ', '.join(column.valid_values))} END"
        )
    bounds = []
    if column.minimum is not None:
        bounds.append(f"{typed} < {column.minimum}")
    if column.maximum is not None:
        bounds.append(f"{typed} > {column.maximum}")
    if bounds:
        checks.append(
            f"CASE WHEN {' OR '.join(bounds)} THEN '{name}: ' || {shown} || "
            f"{_lit(f' is outside [{column.minimum}, {column.maximum}]')} END"
        )
    return checks


class ContractLoader:
    """Loads the files of one contract, file by file, each in its own transaction."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        contract: Contract,
        landing_dir: Path,
        tmp_dir: Path,
        log: Callable[[str], None] = lambda _msg: None,
        rehash_unchanged: bool = False,
    ) -> None:
        self.con = con
        self.rehash_unchanged = rehash_unchanged
        self.contract = contract
        self.landing_dir = landing_dir
        self.tmp_dir = tmp_dir
        self.log = log
        tmp_dir.mkdir(parents=True, exist_ok=True)
        # Line numbers are row positions as read (see _stage): they hold only while DuckDB
        # keeps rows in the order it reads them.
        con.execute("SET preserve_insertion_order = true")

    def load(self, layouts: list[FileLayout]) -> list[FileResult]:
        files = [
            (layout, self._inside_landing(path))
            for layout in layouts
            # in delivery order, so that a restatement is applied after what it restates
            for path in sorted(
                self.landing_dir.glob(layout.glob), key=lambda p: (p.stat().st_mtime, p.name)
            )
            if path.is_file()
        ]
        results = []
        for done, (layout, path) in enumerate(files, start=1):
            result = self.load_file(layout, path)
            results.append(result)
            self.log(
                f"[{done}/{len(files)}] {result.file}: {result.status}, "
                f"{result.rows_loaded} loaded, {result.rows_quarantined} quarantined"
            )
        return results

    def _inside_landing(self, path: Path) -> Path:
        """A landing folder is written by outsiders: a name or symlink that leads out of it
        (../, an absolute link) is refused rather than read."""
        root = self.landing_dir.resolve()
        if not path.resolve().is_relative_to(root):
            raise IngestionError(
                f"{path.relative_to(self.landing_dir)}: resolves to {path.resolve()}, outside "
                f"the landing folder {root}; refusing to read it"
            )
        return path

    def load_file(self, layout: FileLayout, path: Path) -> FileResult:
        rel = path.relative_to(self.landing_dir).as_posix()
        result = FileResult(rel, self.contract.key, layout.distributor_id, "unchanged")
        result.delivery_key = layout.delivery_key(rel)
        stat = path.stat()
        delivered_at = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
        # The landing folder keeps the whole history: hashing every file each night read
        # 16 GB at 1M accounts to find one new file. A file whose name, size and
        # modification time (to the microsecond) are those the ledger recorded is the file
        # it recorded, as rsync and make assume; rehash_unchanged checks the bytes anyway.
        if (
            not self.rehash_unchanged
            and self.con.execute(
                "SELECT count(*) FROM raw.file_deliveries "
                "WHERE file = ? AND size_bytes = ? AND delivered_at = ?",
                [rel, stat.st_size, delivered_at],
            ).fetchone()[0]
        ):
            return result
        digest = file_sha256(path)
        seen = self.con.execute(
            "SELECT file FROM raw.file_deliveries WHERE file_hash = ? "
            "AND status IN ('loaded', 'superseded') ORDER BY loaded_at LIMIT 1",
            [digest],
        ).fetchone()
        same_path = self.con.execute(
            "SELECT count(*) FROM raw.file_deliveries WHERE file = ? AND file_hash = ?",
            [rel, digest],
        ).fetchone()[0]
        if same_path:
            return result
        if seen:
            result.status, result.duplicate_of = "duplicate", seen[0]
            self._record_delivery(result, digest, stat.st_size, delivered_at)
            return result

        readable = self._readable_copy(layout, path)
        try:
            self._stage(layout, readable, rel)
            if layout.mode == "snapshot" and not self._staged_lines():
                # A header-only extract is a failed export, not "every account was deleted".
                raise IngestionError(
                    f"{rel}: this snapshot has no data rows; the previous snapshot is kept. "
                    "Re-deliver a complete extract"
                )
            result.status = "loaded"
            self.con.execute("BEGIN TRANSACTION")
            try:
                replaced = self._replace_previous(layout, rel, result.delivery_key)
                if any(r != rel for r in replaced):
                    self.log(f"{rel}: restates {', '.join(r for r in replaced if r != rel)}")
                self._route_rows(layout, rel, digest, result)
                self._record_delivery(result, digest, stat.st_size, delivered_at)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        finally:
            if readable != path:
                readable.unlink(missing_ok=True)
            for table in ("_checked", "_rejects", "_rejects_scan", "_rejected_lines"):
                self.con.execute(f"DROP TABLE IF EXISTS {table}")
        return result

    def _readable_copy(self, layout: FileLayout, path: Path) -> Path:
        encoding = codecs.lookup(layout.format.encoding).name
        if layout.format.type in ("jsonl", "parquet") or encoding in _NATIVE_ENCODINGS:
            return path
        target = self.tmp_dir / f"{os.getpid()}_{path.name}.utf8"
        try:
            return _transcode_to_utf8(path, layout.format.encoding, target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def _staged_lines(self) -> int:
        """Data lines read from the file, good or malformed."""
        return self.con.execute(
            "SELECT (SELECT count(*) FROM _checked) + (SELECT count(*) FROM _rejected_lines)"
        ).fetchone()[0]

    def _header(self, layout: FileLayout, path: Path, rel: str) -> list[str]:
        if layout.format.type == "parquet":
            try:
                header = [
                    r[0]
                    for r in self.con.execute(
                        "DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]
                    ).fetchall()
                ]
            except duckdb.Error as exc:
                raise IngestionError(f"{rel}: cannot be read as Parquet: {exc}") from exc
        else:
            with path.open(encoding="utf-8", newline="") as handle:
                try:
                    header = next(csv.reader(handle, delimiter=layout.format.delimiter))
                except StopIteration as exc:
                    raise IngestionError(f"{rel}: file is empty (no header line)") from exc
                except (csv.Error, UnicodeDecodeError) as exc:
                    raise IngestionError(f"{rel}: header line cannot be parsed: {exc}") from exc
        header = [h.strip() for h in header]
        expected = list(layout.columns.values()) or [
            c for c in self.contract.column_names if c not in layout.constants
        ]
        missing = [c for c in expected if c not in header]
        if missing:
            raise IngestionError(
                f"{rel}: columns {missing} expected by the {layout.label} layout are not in the "
                f"header {header} (delimiter {layout.format.delimiter!r}); "
                "fix the file or the layout in the company config"
            )
        return header

    def _stage(self, layout: FileLayout, path: Path, rel: str) -> None:
        """Read the file and check every row in one statement, into
        _checked(_line, _row, <contract columns typed>, _reasons), plus _rejected_lines
        (CSV lines DuckDB could not parse; empty for other formats).

        Only one table is materialized per file: the delivered row is kept as a struct
        (`_row`, the file's own column names) and turned into the quarantine's JSON record
        only for the rows that end up there."""
        con = self.con
        fmt = layout.format
        personal = [c.name for c in self.contract.columns if c.pseudonymize]
        if fmt.type == "jsonl" and personal:
            raise IngestionError(
                f"{rel}: columns {personal} are tagged pseudonymize, which JSON sources "
                "do not support yet; remove the tag or deliver this source as CSV"
            )
        if fmt.type == "jsonl":
            source = f"SELECT json AS _row FROM read_ndjson_objects({_lit(str(path))})"
            unreadable = "not valid newline-delimited JSON"
            first_line = 1

            def source_value(column: str) -> str | None:
                path_expr = layout.json_fields.get(column)
                return f"json_extract_string(r._row, {_lit(path_expr)})" if path_expr else None
        else:
            header = self._header(layout, path, rel)
            if fmt.type == "parquet":
                # Typed columns are read as text, then go through the same rules as a
                # CSV's; a row's line number is its position in the file (1 = first row).
                as_text = ", ".join(f"CAST({_q(h)} AS VARCHAR) AS {_q(h)}" for h in header)
                source = (
                    f"SELECT t AS _row FROM (SELECT {as_text} "
                    f"FROM read_parquet({_lit(str(path))})) AS t"
                )
                unreadable = "cannot be read as Parquet"
                first_line = 1
            else:
                columns = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"
                source = f"""SELECT t AS _row
                    FROM read_csv({_lit(str(path))}, header = true, auto_detect = false,
                        columns = {columns}, delim = {_lit(fmt.delimiter)},
                        quote = '"', escape = '"', strict_mode = true,
                        store_rejects = true, rejects_table = '_rejects',
                        rejects_scan = '_rejects_scan') AS t"""
                unreadable = "cannot be read as CSV"
                first_line = 2  # the header is line 1
            mapping = layout.columns or {c: c for c in self.contract.column_names}

            def source_value(column: str) -> str | None:
                return f"r._row.{_q(mapping[column])}" if column in mapping else None

        staged = []
        for column in self.contract.columns:
            if column.name == "distributor_id" and layout.distributor_id:
                expr = _lit(layout.distributor_id)
            elif column.name in layout.constants:
                expr = _lit(layout.constants[column.name])
            else:
                raw = source_value(column.name)
                expr = f"NULLIF(trim({raw}), '')" if raw else "NULL"
                mapped = layout.value_maps.get(column.name)
                if mapped:
                    cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in mapped.items())
                    expr = f"(CASE {expr} {cases} ELSE {expr} END)"
                if column.pseudonymize:
                    expr = _keyed_hash(expr)
            staged.append(f"{expr} AS {_q(column.name)}")
        typed, checks = [], []
        for column in self.contract.columns:
            value = f"s.{_q(column.name)}"
            cast = _typed_expr(column, value, fmt, layout.multipliers.get(column.name))
            typed.append(f"{cast} AS {_q(column.name)}")
            checks += _rule_checks(column, value, cast, fmt)
        if personal:
            con.execute("SET VARIABLE rtm_pseudonymization_key = ?", [pseudonymization_key()])
        checked = f"""
            SELECT s._line, s._row, {", ".join(typed)},
                   list_filter([{", ".join(checks)}], lambda x: x IS NOT NULL) AS _reasons
            FROM (
                SELECT r._line, r._row, {", ".join(staged)}
                FROM (
                    SELECT row_number() OVER () + {first_line - 1} AS _line, _row
                    FROM ({source})
                ) AS r
            ) AS s"""
        if not self.contract.key_columns:
            # Without key rules no later statement adds reasons: the quarantine's record
            # is built now, for the rows already broken, and the row itself is not kept.
            checked = f"""
                SELECT * EXCLUDE (_row),
                       CASE WHEN len(_reasons) > 0 THEN {self._record(layout)} END AS _record
                FROM ({checked})"""
        # row_number() OVER () numbers the rows in file order (preserve_insertion_order),
        # before any operator that may reorder them; for a CSV this is the line number as
        # long as DuckDB rejected no line (see below). It keeps the read on one thread:
        # numbering by rowid after the fact would not, but a join in the plan (a long
        # valid_values IN list becomes one) makes rowid order differ from file order.
        try:
            con.execute(f"CREATE TEMP TABLE _checked AS {checked}")
        except duckdb.Error as exc:
            raise IngestionError(f"{rel}: {unreadable}: {exc}") from exc
        if fmt.type in ("jsonl", "parquet"):
            con.execute(
                "CREATE TEMP TABLE _rejected_lines (line BIGINT, error_message VARCHAR, csv_line VARCHAR)"
            )
            return
        # DuckDB may report several errors for one broken line (a truncated last line is
        # short of each missing column): one quarantine row per physical line.
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _rejected_lines AS
            SELECT line, string_agg(DISTINCT error_message, '; ' ORDER BY error_message)
                       AS error_message,
                   any_value(csv_line) AS csv_line
            FROM _rejects GROUP BY line"""
        )
        rejected = con.execute("SELECT count(*) FROM _rejected_lines").fetchone()[0]
        if rejected:
            # DuckDB numbers rejected lines (header = line 1) but not accepted rows: accepted
            # row k sits on the k-th line number that is not a rejected one.
            total = con.execute("SELECT count(*) FROM _checked").fetchone()[0] + rejected
            con.execute(
                f"""UPDATE _checked SET _line = l.line
                FROM (
                    SELECT line, row_number() OVER (ORDER BY line) + 1 AS provisional
                    FROM range(2, {total + 2}) AS t(line)
                    WHERE line NOT IN (SELECT line FROM _rejected_lines)
                ) AS l
                WHERE _checked._line = l.provisional"""
            )

    def _replace_previous(self, layout: FileLayout, rel: str, key: str) -> list[str]:
        """A snapshot replaces the source's earlier rows; a corrected re-delivery (same
        name, or same period when the layout reads periods from file names) replaces the
        earlier file's rows. The ledger keeps what was there before, marked superseded."""
        table = self.contract.physical_table
        if layout.mode == "snapshot":
            replaced = [
                r[0]
                for r in self.con.execute(
                    "SELECT file FROM raw.file_deliveries WHERE source = ? AND status = 'loaded'",
                    [self.contract.key],
                ).fetchall()
            ]
            self.con.execute(f"DELETE FROM {table}")
        else:
            replaced = [
                r[0]
                for r in self.con.execute(
                    "SELECT file FROM raw.file_deliveries WHERE source = ? AND status = 'loaded' "
                    "AND (file = ? OR delivery_key = ?)",
                    [self.contract.key, rel, key],
                ).fetchall()
            ]
            if not replaced:
                # the usual case: nothing to delete, so no scan of the whole raw table
                return replaced
            self.con.execute(
                f"DELETE FROM {table} WHERE _source_file IN (SELECT unnest(?::VARCHAR[]))",
                [replaced],
            )
            self.con.execute(
                "DELETE FROM raw.quarantine WHERE file IN (SELECT unnest(?::VARCHAR[]))",
                [replaced],
            )
        self.con.execute(
            "UPDATE raw.file_deliveries SET status = 'superseded' "
            "WHERE source = ? AND status = 'loaded' AND file IN (SELECT unnest(?::VARCHAR[]))",
            [self.contract.key, replaced],
        )
        return replaced

    def _record(self, layout: FileLayout) -> str:
        """SQL of the quarantine's record for a staged row: the values exactly as
        delivered, under the file's own names, but never personal data in clear."""
        if layout.format.type == "jsonl":
            return "_row"
        mapping = layout.columns or {c: c for c in self.contract.column_names}
        delivered = {
            c.name: f"NULLIF(trim(_row.{_q(mapping[c.name])}), '')"
            for c in self.contract.columns
            if c.pseudonymize and c.name in mapping
        }
        patch = ", ".join(
            f"{_lit(mapping[c])}: {_keyed_hash(value)}" for c, value in delivered.items()
        )
        return (
            f"json_merge_patch(to_json(_row), to_json({{{patch}}}))" if patch else "to_json(_row)"
        )

    def _route_rows(self, layout: FileLayout, rel: str, digest: str, result: FileResult) -> None:
        con, contract = self.con, self.contract
        keys = contract.key_columns
        if keys:
            key_list = ", ".join(_q(k) for k in keys)
            key_label = ", ".join(keys)
            # Only rows that pass every other rule compete for a key, so a broken first
            # occurrence does not drag a good second one into quarantine with it.
            con.execute(
                f"""UPDATE _checked SET _reasons = list_append(_reasons, dup.reason)
                FROM (
                    SELECT _line, 'duplicate key ({key_label}): first seen on line '
                        || first_line AS reason
                    FROM (
                        SELECT _line, min(_line) OVER w AS first_line,
                               row_number() OVER (w ORDER BY _line) AS occurrence
                        FROM _checked WHERE len(_reasons) = 0
                        WINDOW w AS (PARTITION BY {key_list})
                    ) WHERE occurrence > 1
                ) AS dup
                WHERE _checked._line = dup._line"""
            )
            if layout.mode == "append":
                join = " AND ".join(f"t.{_q(k)} = c.{_q(k)}" for k in keys)
                con.execute(
                    f"""UPDATE _checked SET _reasons = list_append(_reasons,
                        'duplicate key ({key_label}): already loaded from ' || prior.origin)
                    FROM (
                        SELECT c._line, any_value(t._source_file || ' line ' || t._source_line) AS origin
                        FROM _checked c JOIN {contract.physical_table} t ON {join}
                        WHERE len(c._reasons) = 0 GROUP BY c._line
                    ) AS prior
                    WHERE _checked._line = prior._line"""
                )
        names = ", ".join(_q(c) for c in contract.column_names)
        # Sorted: _checked's physical order is not guaranteed to be the file's, since DuckDB
        # may turn a long valid_values IN list into a join.
        con.execute(
            f"""INSERT INTO {contract.physical_table} ({names}, {", ".join(METADATA_COLUMNS)})
            SELECT {names}, ?, _line, ?, current_timestamp::TIMESTAMP
            FROM _checked WHERE len(_reasons) = 0 ORDER BY _line""",
            [rel, digest],
        )
        record = self._record(layout) if keys else "_record"
        con.execute(
            f"""INSERT INTO raw.quarantine
            SELECT ?, ?, ?, _line, array_to_string(_reasons, '; '), {record}, ?,
                   current_timestamp::TIMESTAMP
            FROM _checked WHERE len(_reasons) > 0
            UNION ALL
            SELECT ?, ?, ?, line, 'malformed row: ' || error_message,
                   to_json({{'raw_line': trim(csv_line, chr(10) || chr(13))}}), ?, current_timestamp::TIMESTAMP
            FROM _rejected_lines""",
            [contract.key, layout.distributor_id, rel, digest] * 2,
        )
        # Counted from this file's own staging tables, not from the growing quarantine.
        counts = con.execute(
            "SELECT count(*) FILTER (len(_reasons) = 0), count(*) FILTER (len(_reasons) > 0) "
            "FROM _checked"
        ).fetchone()
        rejected = con.execute("SELECT count(*) FROM _rejected_lines").fetchone()[0]
        result.rows_loaded = counts[0]
        result.rows_quarantined = counts[1] + rejected
        result.rows_read = result.rows_loaded + result.rows_quarantined
        if result.rows_quarantined:
            reasons = con.execute(
                """SELECT split_part(reason, ':', 1) AS rule, count(*) FROM (
                    SELECT array_to_string(_reasons, '; ') AS reason
                    FROM _checked WHERE len(_reasons) > 0
                    UNION ALL
                    SELECT 'malformed row: ' || error_message FROM _rejected_lines
                ) GROUP BY ALL"""
            ).fetchall()
            result.quarantine_reasons = dict(reasons)

    def _record_delivery(
        self, result: FileResult, digest: str, size: int, delivered_at: datetime
    ) -> None:
        self.con.execute(
            "INSERT INTO raw.file_deliveries (file, source, distributor_id, file_hash, "
            "size_bytes, delivered_at, status, duplicate_of, rows_read, rows_loaded, "
            "rows_quarantined, delivery_key, loaded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp::TIMESTAMP)",
            [
                result.file,
                result.source,
                result.distributor_id,
                digest,
                size,
                delivered_at,
                result.status,
                result.duplicate_of,
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                result.delivery_key,
            ],
        )


def layouts_for(source: str, config) -> list[FileLayout]:
    """The file layouts the company config declares for one contract."""
    if source == "distributor_sell_out":
        return [FileLayout.for_distributor(d) for d in config.distributors]
    if source in config.sources:
        return [FileLayout.for_source(source, config.sources[source])]
    return []


def clear_tmp(tmp_dir: Path) -> None:
    shutil.rmtree(tmp_dir, ignore_errors=True)
