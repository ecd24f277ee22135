"""Streaming CSV output: lines rendered in DuckDB, written as raw buffers, bad rows injected.

A chunk of rows (an arrow table) becomes one arrow array of finished lines in a single
DuckDB statement (dates, decimal separator, quoting per layout). The array's data buffer
is already the concatenation of the lines, so it is written (or transcoded) as is, without
building Python strings. The few rows chosen to carry an injected defect are rewritten in
Python and spliced in; their physical line numbers are recorded for the ground truth.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Layout:
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    date_format: str = "%Y-%m-%d"
    eol: str = "\n"

    @classmethod
    def from_format(cls, fmt: dict | object, eol: str = "\n") -> Layout:
        get = fmt.get if isinstance(fmt, dict) else lambda k, d=None: getattr(fmt, k, d)
        return cls(
            delimiter=get("delimiter", ",") or ",",
            encoding=get("encoding", "utf-8") or "utf-8",
            decimal=get("decimal", ".") or ".",
            date_format=get("date_format", "%Y-%m-%d") or "%Y-%m-%d",
            eol=eol,
        )


def sql_lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(expr: str, delim: str) -> str:
    return (
        f"CASE WHEN {expr} IS NULL THEN '' WHEN contains({expr}, {sql_lit(delim)}) "
        f"OR contains({expr}, '\"') THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' "
        f"ELSE {expr} END"
    )


def column_sql(name: str, kind: str, layout: Layout) -> str:
    c = '"' + name.replace('"', '""') + '"'
    if kind.startswith("sql:"):
        return kind[4:]
    if kind == "text":
        return _quoted(c, layout.delimiter)
    if kind == "raw":
        return f"coalesce({c}, '')"
    if kind.startswith("dec"):
        digits = int(kind[3:])
        expr = f"printf('%.{digits}f', {c})"
        if layout.decimal != ".":
            expr = f"replace({expr}, '.', {sql_lit(layout.decimal)})"
        return f"coalesce({expr}, '')"
    if kind == "int":
        return f"coalesce(CAST({c} AS VARCHAR), '')"
    if kind == "date":
        return f"coalesce(strftime({c}, {sql_lit(layout.date_format)}), '')"
    if kind == "ts":
        return f"coalesce(strftime({c}, '%Y-%m-%d %H:%M:%S'), '')"
    if kind == "bool":
        return f"CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' ELSE '' END"
    raise ValueError(f"unknown column kind {kind!r}")


def render_lines(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    columns: list[tuple[str, str]],
    layout: Layout,
    with_eol: bool = True,
) -> pa.ChunkedArray:
    """One finished CSV line per row of `table`, in row order."""
    sep = f" || {sql_lit(layout.delimiter)} || "
    body = sep.join(column_sql(name, kind, layout) for name, kind in columns)
    if with_eol:
        body += f" || {sql_lit(layout.eol)}"
    con.register("_render_src", table)
    try:
        # A plain projection keeps input order (preserve_insertion_order, DuckDB's default).
        result = con.sql(f"SELECT {body} AS line FROM _render_src").to_arrow_table()
    finally:
        con.unregister("_render_src")
    return result.column("line")


def header_line(header: list[str], layout: Layout) -> str:
    return format_fields(header, layout.delimiter) + layout.eol


def format_fields(fields: list[str], delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(
        buf, delimiter=delimiter, quotechar='"', lineterminator="", quoting=csv.QUOTE_MINIMAL
    ).writerow(fields)
    return buf.getvalue()


def parse_fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, quotechar='"'))


# ---------------------------------------------------------------------------------------
BULK_PENDING = 20


@dataclass
class Injection:
    """One defect to plant in a file: `mutate` gets the parsed fields of a candidate row and
    returns the new fields (or None when that row does not suit, e.g. an empty value). With
    `insert`, the mutated copy is inserted a few rows further down instead (duplicate keys).
    `raw` mutations return the finished line text instead of fields (malformed rows)."""

    kind: str
    column: str  # contract column
    file_column: str
    mutate: Callable[[list[str]], list[str] | str | None]
    insert: bool = False
    raw: bool = False


@dataclass
class InjectedError:
    source: str
    file: str
    line: int
    column: str
    kind: str
    file_column: str
    value: str


@dataclass
class CsvSink:
    """One output file, written in appended chunks."""

    path: Path
    rel: str
    header: list[str]
    layout: Layout
    source: str
    distributor_id: str | None = None
    period: str = ""
    lines: int = 0  # physical lines written so far (header included)
    pending: list[Injection] = field(default_factory=list)
    errors: list[InjectedError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("wb")
        if self.layout.encoding.lower().replace("_", "-") == "utf-8-sig":
            self._fh.write(b"\xef\xbb\xbf")
        self._write_text(header_line(self.header, self.layout))
        self.lines = 1

    @property
    def rows(self) -> int:
        return self.lines - 1

    def _codec(self) -> str | None:
        enc = self.layout.encoding.lower().replace("_", "-")
        return None if enc in ("utf-8", "utf8", "utf-8-sig") else self.layout.encoding

    def _write_text(self, text: str) -> None:
        codec = self._codec()
        self._fh.write(text.encode(codec or "utf-8"))

    def _write_bytes(self, data) -> None:
        codec = self._codec()
        if codec is None:
            self._fh.write(data)
        else:
            self._fh.write(bytes(data).decode("utf-8").encode(codec))

    def write(
        self, lines: pa.ChunkedArray | pa.Array, rng: np.random.Generator | None = None
    ) -> int:
        """Append finished lines; plant the pending injections among them."""
        chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
        total = sum(len(c) for c in chunks)
        edits: dict[int, tuple[str, str, Injection]] = {}
        if self.pending and total and rng is not None:
            edits = self._plan_edits(chunks, total, rng)
        base = 0
        for chunk in chunks:
            n = len(chunk)
            if n == 0:
                continue
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
                chunk.offset : chunk.offset + n + 1
            ]
            data = memoryview(chunk.buffers()[2])
            local = sorted(k - base for k in edits if base <= k < base + n)
            start = 0
            for i in local:
                action, text, inj = edits[base + i]
                if action == "replace":
                    self._write_bytes(data[offsets[start] : offsets[i]])
                    self.lines += i - start
                    self._record(inj, self.lines + 1, text)
                    self._write_text(text)
                    self.lines += 1
                    start = i + 1
                else:  # insert after row i
                    self._write_bytes(data[offsets[start] : offsets[i + 1]])
                    self.lines += i + 1 - start
                    self._record(inj, self.lines + 1, text)
                    self._write_text(text)
                    self.lines += 1
                    start = i + 1
            self._write_bytes(data[offsets[start] : offsets[n]])
            self.lines += n - start
            base += n
        return total

    def _record(self, inj: Injection, line_no: int, text: str) -> None:
        value = ""
        if not inj.raw and inj.file_column in self.header:
            fields = parse_fields(text, self.layout.delimiter)
            idx = self.header.index(inj.file_column)
            value = fields[idx] if idx < len(fields) else ""
        self.errors.append(
            InjectedError(
                self.source, self.rel, line_no, inj.column, inj.kind, inj.file_column, value
            )
        )

    def _plan_edits(self, chunks, total: int, rng: np.random.Generator) -> dict:
        def line_at(k: int) -> str:
            base = 0
            for chunk in chunks:
                if k < base + len(chunk):
                    return chunk[k - base].as_py()
                base += len(chunk)
            raise IndexError(k)

        edits: dict[int, tuple[str, str, Injection]] = {}
        used: set[int] = set()
        still_pending = []
        eol = self.layout.eol
        # Many pending defects (a sloppy sender's ~2% of rows): one draw of candidate rows for
        # all of them instead of a permutation of the whole chunk per defect.
        bulk = len(self.pending) > BULK_PENDING and not any(i.insert for i in self.pending)
        if bulk:
            size = min(total, 4 * len(self.pending) + 50)
            pool = rng.choice(total, size=size, replace=False)
            per = -(-size // len(self.pending))
        for n_inj, inj in enumerate(self.pending):
            done = False
            candidates = np.roll(pool, -n_inj)[:per] if bulk else rng.permutation(total)[:200]
            for k in candidates:
                k = int(k)
                if inj.insert:
                    target = min(k + int(rng.integers(1, 6)), total - 1)
                    if {k, target} & used or target in edits:
                        continue
                else:
                    if k in used:
                        continue
                fields = parse_fields(line_at(k), self.layout.delimiter)
                if len(fields) != len(self.header):
                    continue
                new = inj.mutate(list(fields))
                if new is None:
                    continue
                text = (new if inj.raw else format_fields(new, self.layout.delimiter)) + eol
                if inj.insert:
                    edits[target] = ("insert", text, inj)
                    used.update({k, target})
                else:
                    edits[k] = ("replace", text, inj)
                    used.add(k)
                done = True
                break
            if not done:
                still_pending.append(inj)
        self.pending = still_pending
        return edits

    def close(self, delivered_at: datetime | None = None) -> None:
        self._fh.close()
        if delivered_at is not None:
            set_mtime(self.path, delivered_at)


def set_mtime(path: Path, delivered_at: datetime) -> None:
    ts = delivered_at.replace(tzinfo=UTC).timestamp()
    os.utime(path, (ts, ts))
