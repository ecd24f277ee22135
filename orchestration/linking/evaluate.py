"""Precision, recall and F1 of the crosswalk against the sample company's ground truth
(warehouse/ground_truth/*.csv: the true CRM account of every distributor code, online
listing and external record; empty when the outlet is not in the CRM).

precision = correct links / links made; recall = correct links / records that have a true
account; a link to the wrong account counts against precision (and is not a recall hit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

TRUTH = {
    "distributor": (
        "distributor_customers.csv",
        "'distributor:' || distributor_id",
        "distributor_account_code",
    ),
    "online": ("online_listings.csv", None, "source_record_id"),
    "external": ("external_records.csv", "'external'", "external_id"),
}


@dataclass(frozen=True)
class LinkScore:
    source: str
    records: int
    truth_links: int
    links: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.truth_links if self.truth_links else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self) -> str:
        return (f"{self.source:<12} records {self.records:>7,}  links {self.links:>7,}  "
                f"precision {self.precision:.4f}  recall {self.recall:.4f}  F1 {self.f1:.4f}")  # fmt: skip


def score_crosswalk(
    con: duckdb.DuckDBPyConnection,
    ground_truth_dir: Path,
    crosswalk: str = "linking.account_crosswalk",
) -> list[LinkScore]:
    scores = []
    for name, (file, source_sql, code_col) in TRUTH.items():
        path = Path(ground_truth_dir) / file
        if not path.exists():
            continue
        # online truth has no platform column: match on the code alone
        source_match = (
            f"c.source = {source_sql.replace(code_col, 'g.' + code_col)}"
            if source_sql
            else "c.source LIKE 'online:%'"
        )
        source_match = source_match.replace("distributor_id", "g.distributor_id")
        row = con.execute(f"""
            WITH g AS (SELECT *, nullif(account_id, '') AS truth
                       FROM read_csv('{path}', all_varchar = true))
            SELECT count(*), count(g.truth), count(c.account_id),
                count(*) FILTER (WHERE c.account_id = g.truth)
            FROM g LEFT JOIN {crosswalk} c
                ON {source_match} AND c.source_code = g.{code_col}
        """).fetchone()
        scores.append(LinkScore(name, *row))
    return scores
