"""`rtm match LEFT.csv RIGHT.csv --map ...`: link any two tables of business records with
the account-linking engine. Each RIGHT record gets at most one LEFT record (LEFT is the
reference, like the CRM)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.linking.engine import RECORD_COLUMNS, MatchSettings, match, run

FIELDS = [c for c in RECORD_COLUMNS if c not in {"record_id", "tie_break"}]


class MappingError(ValueError):
    pass


def parse_map(spec: str) -> dict[str, tuple[str, str]]:
    """'name=NOM,city=VILLE:city' -> {field: (left column, right column)}; 'a:b' when the
    two files name the column differently."""
    mapping = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        if "=" not in item:
            raise MappingError(f"--map item {item!r} is not field=column")
        field, cols = (x.strip() for x in item.split("=", 1))
        if field not in FIELDS:
            raise MappingError(f"--map field {field!r} is not one of {FIELDS}")
        left, _, right = cols.partition(":")
        mapping[field] = (left, right or left)
    if "name" not in mapping:
        raise MappingError("--map needs at least name=...")
    return mapping


@dataclass
class MatchCounts:
    left: int
    right: int
    key: int
    probabilistic: int
    review: int
    unmatched: int


def _load(con, path: Path, table: str, mapping: dict, side: int, id_col: str | None) -> None:
    run(con, f"CREATE OR REPLACE TEMP TABLE {table}_raw AS SELECT *, row_number() OVER () AS _row "
             f"FROM read_csv(?, all_varchar = true, header = true)", [str(path)])  # fmt: skip
    columns = {r[0] for r in run(con, f"DESCRIBE {table}_raw")}
    for field, cols in mapping.items():
        if cols[side] not in columns:
            raise MappingError(
                f"{path}: no column {cols[side]!r} (for {field}); has {sorted(columns)}"
            )
    if id_col and id_col not in columns:
        raise MappingError(f"{path}: no id column {id_col!r}")
    ident = f'"{id_col}"' if id_col else "CAST(_row AS VARCHAR)"
    select = [f"{ident} AS record_id"] + [
        f'"{cols[side]}" AS {field}' for field, cols in mapping.items()
    ]
    run(con, f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {', '.join(select)}, "
             f"* EXCLUDE (_row) FROM {table}_raw")  # fmt: skip


# The parts of match_files, as reported to its progress callback.
MATCH_STAGES = ("reading the left file", "reading the right file", "matching", "writing pairs")


def match_files(
    left: Path,
    right: Path,
    mapping: dict[str, tuple[str, str]],
    out: Path,
    left_id: str | None = None,
    right_id: str | None = None,
    settings: MatchSettings | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> MatchCounts:
    """`progress(stages done, what now)` is called as each of MATCH_STAGES starts and at the
    end (rtm match draws its bar from it)."""
    settings = settings or MatchSettings()
    report = progress or (lambda _done, _what: None)
    con = duckdb.connect()
    try:
        report(0, MATCH_STAGES[0])
        _load(con, left, "mf_left", mapping, 0, left_id)
        report(1, MATCH_STAGES[1])
        _load(con, right, "mf_right", mapping, 1, right_id)
        report(2, MATCH_STAGES[2])
        # only the mapped fields take part (unmapped standard columns are null)
        keep = ["record_id", *mapping]
        run(con, f"CREATE OR REPLACE TEMP TABLE mf_l AS SELECT {', '.join(keep)} FROM mf_left")
        run(con, f"CREATE OR REPLACE TEMP TABLE mf_r AS SELECT {', '.join(keep)} FROM mf_right")
        match(con, "mf_l", "mf_r", settings)
        report(3, MATCH_STAGES[3])
        run(
            con,
            f"""COPY (
            SELECT m.left_id, m.record_id AS right_id,
                CASE WHEN m.method LIKE 'key_%' THEN 'key' ELSE m.method END AS match_method,
                m.method AS match_rule, round(m.match_probability, 6) AS match_probability,
                m.evidence, l.name AS left_name, r.name AS right_name
            FROM match_result m
            JOIN mf_l l ON l.record_id = m.left_id
            JOIN mf_r r ON r.record_id = m.record_id
            ORDER BY try_cast(m.record_id AS BIGINT), m.record_id
        ) TO '{out}' (HEADER, DELIMITER ',')""",
        )
        row = run(
            con,
            f"""SELECT
            (SELECT count(*) FROM mf_l), count(*),
            count(*) FILTER (WHERE method LIKE 'key_%'),
            count(*) FILTER (WHERE method = 'probabilistic'),
            count(*) FILTER (WHERE left_id IS NULL
                AND candidate_probability >= {settings.review_threshold}),
            count(*) FILTER (WHERE left_id IS NULL)
            FROM match_result""",
        )[0]
        report(len(MATCH_STAGES), "done")
        return MatchCounts(*row)
    finally:
        con.close()
