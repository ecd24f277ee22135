"""The matcher: deterministic keys first, then Splink (Fellegi-Sunter) on DuckDB.

`match(con, left, right)` links every record of `right` (distributor customers, listings,
any table) to at most one record of `left` (the reference: CRM accounts). Both tables hold
the standard record columns: record_id, name, address, postcode, city, phone, siret,
website, latitude, longitude (missing columns may be null). Everything runs as SQL in the
given DuckDB connection; the result is a table `match_result` with one row per right
record: left_id (or null), method (key_siret / key_phone / key_website / probabilistic /
null), match_probability, runner-up probability, and the evidence (fields that agreed).

`match` trains and predicts over every record and keeps nothing; the nightly crosswalk uses
`incremental.match_incremental`, which saves the model and the pairs and predicts only the
pairs of new or changed records on the following nights.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import duckdb

from orchestration.linking.normalize import install_macros, normalized_sql

RECORD_COLUMNS = [
    "record_id", "name", "address", "postcode", "city", "phone", "siret", "website",
    "latitude", "longitude", "tie_break",
]  # fmt: skip
# tie_break (left side, optional): when two left records are the same outlet (duplicates
# in the reference, both near-certain matches), the smaller tie_break wins. For the CRM:
# active first, then the oldest record (a duplicate is created after its original).
KEY_ORDER = ["siret", "phone", "website"]


@dataclass(frozen=True)
class MatchSettings:
    link_threshold: float = 0.90  # a probabilistic link is made at or above this
    review_threshold: float = 0.50  # grey band [review, link): the review queue
    min_margin: float = 2.0  # match weight the best candidate must beat the runner-up by
    max_u_pairs: float = 2e6  # random pairs for u estimation
    seed: int = 42
    # what a legal establishment id (siret column) looks like once reduced to its digits
    legal_id_pattern: str = "[0-9]{14}"
    # incremental nights (orchestration/linking/incremental.py): above this share of new,
    # changed or removed records on either side, retrain and predict everything (the
    # saved model was trained on data that has drifted too far)
    max_changed_share: float = 0.3

    def __post_init__(self):
        if not 0.0 <= self.max_changed_share <= 1.0:
            raise ValueError(f"max_changed_share must be in [0, 1], got {self.max_changed_share}")
        if not 0.0 <= self.review_threshold <= self.link_threshold <= 1.0:
            raise ValueError(
                "thresholds must satisfy 0 <= review_threshold <= link_threshold <= 1, got "
                f"{self.review_threshold} and {self.link_threshold}"
            )


def run(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list:
    """Execute and drain: DuckDB 2.0 refuses new work on a connection with an unfinished
    result (Splink shares the connection)."""
    return con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()


def tables_in_schema(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    """Names of the tables of `schema` in the connection's own database (not of a schema
    of the same name in an attached one)."""
    return {
        r[0]
        for r in run(
            con,
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? "
            "AND database_name = current_database()",
            [schema],
        )
    }


def standard_columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SELECT of the standard record columns from a table that has some of them."""
    present = {r[0] for r in run(con, f"DESCRIBE {table}")}
    cols = []
    for c in RECORD_COLUMNS:
        if c in present:
            cast = "DOUBLE" if c in {"latitude", "longitude"} else "VARCHAR"
            cols.append(f"CAST({c} AS {cast}) AS {c}")
        else:
            cols.append(
                f"CAST(NULL AS {'DOUBLE' if c in {'latitude', 'longitude'} else 'VARCHAR'}) AS {c}"
            )
    return f"SELECT {', '.join(cols)} FROM {table}"


def _prepare(con, left: str, right: str, legal_id_pattern: str = "[0-9]{14}") -> None:
    install_macros(con, legal_id_pattern)
    run(con, f"CREATE OR REPLACE TEMP TABLE _m_left_std AS {standard_columns(con, left)}")
    run(con, f"CREATE OR REPLACE TEMP TABLE _m_right_std AS {standard_columns(con, right)}")
    run(con,
        "CREATE OR REPLACE TEMP TABLE m_left AS SELECT n.*, s.tie_break FROM "
        f"({normalized_sql('_m_left_std')}) n JOIN _m_left_std s USING (record_id)")  # fmt: skip
    run(con, f"CREATE OR REPLACE TEMP TABLE m_right AS {normalized_sql('_m_right_std')}")


def key_rows(table: str) -> str:
    """(key_type, key_value, record_id) of a table's records, one row per key they have."""
    parts = []
    for key in KEY_ORDER:
        scope = "|| '|' || coalesce(department, '')" if key == "website" else ""
        parts.append(
            f"SELECT '{key}' AS key_type, {key} {scope} AS key_value, record_id "
            f"FROM {table} WHERE {key} IS NOT NULL"
        )
    return " UNION ALL ".join(parts)


def _deterministic(con, right: str = "m_right", suffix: str = "") -> None:
    """Keys that identify one left record (siret, phone, website within a department).
    A key shared by several left records is ambiguous and not used.
    m_left_keys{suffix}, m_key_links{suffix} for the records of `right`; with a suffix,
    m_left_keys only for the key values those records have (the same entries)."""
    restrict = (
        f" SEMI JOIN (SELECT DISTINCT key_type, key_value FROM ({key_rows(right)})) w "
        "ON w.key_type = k.key_type AND w.key_value = k.key_value"
        if suffix else ""
    )  # fmt: skip
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE m_left_keys{suffix} AS SELECT key_type, key_value, "
        f"min(record_id) AS left_id FROM ({key_rows('m_left')}) k{restrict} "
        "GROUP BY ALL HAVING count(DISTINCT record_id) = 1",
    )
    hits = []
    for rank, key in enumerate(KEY_ORDER):
        scope = "|| '|' || coalesce(r.department, '')" if key == "website" else ""
        hits.append(
            f"SELECT r.record_id, k.left_id, '{key}' AS key_type, {rank} AS rank "
            f"FROM {right} r JOIN m_left_keys{suffix} k ON k.key_type = '{key}' "
            f"AND k.key_value = r.{key} {scope}"
        )
    # first key in KEY_ORDER wins; keys that disagree are flagged
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE m_key_links{suffix} AS SELECT record_id, "
        "arg_min(left_id, rank) AS left_id, arg_min(key_type, rank) AS key_type, "
        "count(DISTINCT left_id) > 1 AS keys_disagree, "
        "string_agg(DISTINCT key_type, ',' ORDER BY key_type) AS keys_agreeing "
        "FROM (" + " UNION ALL ".join(hits) + ") GROUP BY record_id",
    )


# Prior m probabilities (share of true matches at each level), from what distributor
# masters do to names and addresses; re-estimated from key-confirmed pairs when there are
# enough of them (MIN_LABELS). Prior u probabilities (share of random pairs at each level)
# as measured on the sample company; re-estimated by random sampling on every run (the
# priors only matter for levels a small input never reaches).
MIN_LABELS = 200


def _comparisons() -> list[dict]:
    def level(sql, label, m=None, u=None, null=False, tf=None, fixed=False):
        d = {"sql_condition": sql, "label_for_charts": label}
        if fixed:
            d["fix_m_probability"] = d["fix_u_probability"] = True
        if u is not None:
            d["u_probability"] = u
        if null:
            d["is_null_level"] = True
        if m is not None:
            d["m_probability"] = m
        if tf:
            d["tf_adjustment_column"] = tf
            d["tf_adjustment_weight"] = 1.0
        return d

    jw = "jaro_winkler_similarity"
    return [
        {
            "output_column_name": "name",
            "comparison_levels": [
                level("name_norm_l IS NULL OR name_norm_r IS NULL", "null", null=True),
                level("name_norm_l = name_norm_r", "exact name", 0.45, 0.0015, tf="name_norm"),
                level(
                    "name_core_l = name_core_r OR name_sorted_l = name_sorted_r "
                    "OR name_local_l = name_local_r",
                    "same core or same words",
                    0.2,
                    0.0017,
                ),  # fmt: skip
                level(f"{jw}(name_core_l, name_core_r) >= 0.92", "core jw >= 0.92", 0.12, 0.001),
                level(
                    f"{jw}(name_norm_l, name_norm_r) >= 0.85 OR "
                    f"{jw}(name_core_l, name_core_r) >= 0.8",
                    "jw >= 0.8",
                    0.1,
                    0.013,
                ),  # fmt: skip
                level(
                    "list_has_any(string_split(name_core_l, ' '), string_split(name_core_r, ' '))",
                    "a core word in common",
                    0.06,
                    0.0045,
                ),  # fmt: skip
                level("ELSE", "different", 0.07, 0.978),
            ],
        },
        {
            "output_column_name": "address",
            "comparison_levels": [
                level("street_l IS NULL OR street_r IS NULL", "null", null=True),
                level("address_norm_l = address_norm_r", "exact address", 0.45, 0.00015),
                level(
                    f"coalesce(street_number_l = street_number_r, true) AND "
                    f"{jw}(street_l, street_r) >= 0.9",
                    "same number, street jw >= 0.9",
                    0.3,
                    0.0005,
                ),  # fmt: skip
                level("street_number_l <> street_number_r", "different house number", 0.04, 0.81),
                level(f"{jw}(street_l, street_r) >= 0.8", "street jw >= 0.8", 0.1, 0.007),
                level("ELSE", "different", 0.11, 0.18235),
            ],
        },
        {
            "output_column_name": "postcode",
            "comparison_levels": [
                level("postcode_l IS NULL OR postcode_r IS NULL", "null", null=True),
                level("postcode_l = postcode_r", "exact", 0.95, 0.0011),
                level("department_l = department_r", "same department", 0.03, 0.019),
                level("ELSE", "different", 0.02, 0.9799),
            ],
        },
        {
            "output_column_name": "city",
            "comparison_levels": [
                level("city_norm_l IS NULL OR city_norm_r IS NULL", "null", null=True),
                level("city_norm_l = city_norm_r", "exact", 0.85, 0.0025),
                level(f"{jw}(city_norm_l, city_norm_r) >= 0.88", "jw >= 0.88", 0.1, 0.0009),
                level("ELSE", "different", 0.05, 0.9966),
            ],
        },
        {
            # Great-circle distance between the two records' coordinates (online listings
            # and CRM accounts carry them; geocoding puts a listing within a few hundred
            # metres of its outlet). Fixed, moderate Bayes factors (about x31 within 300 m,
            # x7.5 within 1 km, 1/16 beyond 5 km), not trained: location is already counted
            # by postcode and city, and trained on random pairs the distance alone was seen
            # to link different outlets of one street ("La Table de Mathieu" / "La Table de
            # Rahmond"). Enough to confirm a listing that has only a name and a city.
            "output_column_name": "coordinates",
            "comparison_levels": [
                level(
                    "latitude_l IS NULL OR latitude_r IS NULL "
                    "OR longitude_l IS NULL OR longitude_r IS NULL",
                    "null",
                    null=True,
                ),
                level(f"{DISTANCE_KM} < 0.3", "within 300 m", 0.5, 0.016, fixed=True),
                level(f"{DISTANCE_KM} < 1", "within 1 km", 0.3, 0.04, fixed=True),
                level(f"{DISTANCE_KM} < 5", "within 5 km", 0.15, 0.15, fixed=True),
                level("ELSE", "further", 0.05, 0.794, fixed=True),
            ],
        },
        {
            "output_column_name": "phone",
            "comparison_levels": [
                level("phone_l IS NULL OR phone_r IS NULL", "null", null=True),
                level("phone_l = phone_r", "exact", 0.9, 0.00005),
                level("ELSE", "different", 0.1, 0.99995),
            ],
        },
    ]


# Haversine distance in km between the left and right records (SQL, for the comparisons).
DISTANCE_KM = (
    "(12742 * asin(sqrt(pow(sin(radians(latitude_r - latitude_l) / 2), 2) "
    "+ cos(radians(latitude_l)) * cos(radians(latitude_r)) "
    "* pow(sin(radians(longitude_r - longitude_l) / 2), 2))))"
)

# Evidence: the comparison levels (gamma values count up from 0 = the ELSE level) at which
# a field is said to agree.
AGREEMENT = {
    "name": "gamma_name >= 3",
    "address": "gamma_address >= 3",
    "postcode": "gamma_postcode = 2",
    "city": "gamma_city >= 1",
    "phone": "gamma_phone = 1",
    "coordinates": "gamma_coordinates >= 2",
}


PAIR_COLUMNS = (
    "left_id VARCHAR, right_id VARCHAR, match_weight DOUBLE, match_probability DOUBLE, "
    "evidence VARCHAR"
)
# The one comparison with a term-frequency adjustment (the exact-name level): its lookup is
# computed on the full night and saved with the model, so that a subset predicted on a later
# night is weighed with the same frequencies as the pairs kept from the cache.
TF_COLUMN = "name_norm"
BLOCKING_RULES = [
    # equi-joins only (a whole postcode against itself grows with the square of the
    # outlets in it: 1M accounts would not fit)
    ("postcode", "street_number"),
    ("postcode", "substr(name_core, 1, 3)"),
    ("postcode", "substr(street, 1, 12)"),
    ("name_core", "department"),
    ("name_local", "city_norm"),
    ("street_number", "street", "department"),
    ("phone",),
]


def _open_tables(con, view: bool = False) -> tuple[int, int]:
    """The Splink inputs: every left record and every right record (key-linked ones too:
    their evidence; the key wins later)."""
    # view: the right side is the large one, and a night that predicts only the changed
    # records reads it a few times (a training reads it many times: a table)
    drop_temp(con, "m_right_open")
    run(con, f"CREATE TEMP {'VIEW' if view else 'TABLE'} m_right_open AS "
             "SELECT *, record_id AS unique_id FROM m_right")  # fmt: skip
    run(
        con,
        "CREATE OR REPLACE TEMP TABLE m_left_all AS SELECT * EXCLUDE (tie_break), record_id AS unique_id FROM m_left",
    )
    return (
        run(con, "SELECT count(*) FROM m_left_all")[0][0],
        run(con, "SELECT count(*) FROM m_right_open")[0][0],
    )


def _empty_pairs(con, table: str = "m_pairs") -> None:
    drop_temp(con, table)
    run(con, f"CREATE TEMP TABLE {table} ({PAIR_COLUMNS})")


def _train(con, settings: MatchSettings, n_left: int):
    """A Splink link_only linker over m_left_all and m_right_open, trained on them."""
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    db_api = DuckDBAPI(con)
    left_sdf = db_api.register("m_left_all", dataset_display_name="left")
    right_sdf = db_api.register("m_right_open", dataset_display_name="right")
    creator = SettingsCreator(
        link_type="link_only",
        comparisons=_comparisons(),
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in BLOCKING_RULES],
        # each right record matches at most one of the n_left references
        probability_two_random_records_match=min(0.5, 0.8 / max(n_left, 1)),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
    )
    linker = Linker([left_sdf, right_sdf], creator, log_level=None)
    linker.training.estimate_u_using_random_sampling(
        max_pairs=settings.max_u_pairs, seed=settings.seed
    )
    # m from pairs the deterministic keys confirmed (siret, phone): labels the data gives
    # for free. EM alone was seen to converge on "same postcode and city" as the match
    # cluster, ignoring names.
    n_labels = run(con, "SELECT count(*) FROM m_key_links WHERE NOT keys_disagree")[0][0]
    if n_labels >= MIN_LABELS:
        run(con,
            "CREATE OR REPLACE TEMP TABLE m_labels AS SELECT 'left' AS source_dataset_l, "
            "left_id AS unique_id_l, 'right' AS source_dataset_r, record_id AS unique_id_r "
            "FROM m_key_links WHERE NOT keys_disagree")  # fmt: skip
        linker.training.estimate_m_from_pairwise_labels("m_labels")
    if os.environ.get("RTM_LINKING_DEBUG_MODEL"):
        linker.misc.save_model_to_json(os.environ["RTM_LINKING_DEBUG_MODEL"], overwrite=True)
    return linker


def _saved_linker(con, model: dict, left_table: str, right_table: str, tf_table: str):
    """A linker over two tables with a saved model (no training) and the saved
    term-frequency lookup (not recomputed from these tables)."""
    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.WARNING)
    db_api = DuckDBAPI(con)
    left_sdf = db_api.register(left_table, dataset_display_name="left")
    right_sdf = db_api.register(right_table, dataset_display_name="right")
    linker = Linker([left_sdf, right_sdf], model, log_level=None)
    linker.table_management.register_term_frequency_lookup(db_api.register(tf_table), TF_COLUMN)
    return linker


def _predict_into(con, linker, target: str) -> int:
    """Predict with the linker, append the pairs (left_id, right_id, weight, probability,
    evidence) to `target`, drop Splink's own tables; returns the number of pairs."""
    predictions = linker.inference.predict(threshold_match_probability=0.01, warning_mode="never")
    table = predictions.physical_name
    cols = {r[0] for r in run(con, f"DESCRIBE {table}")}
    agreed = []
    for name, good in AGREEMENT.items():
        if f"gamma_{name}" in cols:
            agreed.append(f"CASE WHEN {good} THEN '{name}' END")
    evidence = f"concat_ws(',', {', '.join(agreed)})" if agreed else "NULL"
    # which side is left: source_dataset_l holds the display name
    run(
        con,
        f"""INSERT INTO {target}
        SELECT
            CASE WHEN source_dataset_l = 'left' THEN unique_id_l ELSE unique_id_r END AS left_id,
            CASE WHEN source_dataset_l = 'left' THEN unique_id_r ELSE unique_id_l END AS right_id,
            match_weight, match_probability, nullif({evidence}, '') AS evidence
        FROM {table}""",
    )
    n = run(con, f"SELECT count(*) FROM {table}")[0][0]
    linker.table_management.delete_tables_created_by_splink_from_db()
    return n


def _probabilistic(con, settings: MatchSettings) -> tuple[dict, int] | None:
    """Train on every record and predict every pair into m_pairs; returns the trained
    model (Splink settings dict) and the pairs predicted, None when a side is empty. The
    term-frequency lookup the prediction used is left in m_tf."""
    n_left, n_open = _open_tables(con)
    _empty_pairs(con)
    if n_left == 0 or n_open == 0:
        return None
    linker = _train(con, settings, n_left)
    tf = linker.table_management.compute_tf_table(TF_COLUMN)
    run(con, f"CREATE OR REPLACE TEMP TABLE m_tf AS SELECT * FROM {tf.physical_name}")
    model = linker.misc.save_model_to_json()
    return model, _predict_into(con, linker, "m_pairs")


def drop_temp(con, name: str) -> None:
    """Drop the temporary table or view `name`, whichever it is."""
    for kind, catalog in (("TABLE", "duckdb_tables"), ("VIEW", "duckdb_views")):
        if run(con, f"SELECT 1 FROM {catalog}() WHERE temporary AND {kind.lower()}_name = ?",
               [name]):  # fmt: skip
            run(con, f"DROP {kind} temp.main.{name}")


def _match_result(con, settings: MatchSettings, pairs: str = "m_pairs", right: str = "m_right",
                  key_links: str = "m_key_links", out: str = "match_result") -> None:  # fmt: skip
    """match_result (one row per record of `right`) from `pairs`, `key_links`, m_left and
    `right`: a record's row reads only its own pairs and key links."""
    link = settings.link_threshold
    drop_temp(con, out)
    run(
        con,
        f"""CREATE TEMP TABLE {out} AS
        WITH ranked AS (
            SELECT right_id, left_id, match_weight, match_probability, evidence,
                row_number() OVER (PARTITION BY right_id ORDER BY match_weight DESC, left_id) AS rk
            FROM {pairs}
        ),
        best AS (
            SELECT b.right_id, b.left_id, b.match_weight, b.match_probability, b.evidence,
                s.left_id AS runner_up_id, s.match_weight AS runner_up_weight,
                s.match_probability AS runner_up_probability,
                -- best and runner-up both near-certain and the same outlet in the reference
                -- (same postcode and address): duplicates there, not two candidates
                s.match_probability >= {link}
                    AND b.match_weight - s.match_weight < {settings.min_margin}
                    AND lb.postcode = ls.postcode
                    AND (lb.address_norm = ls.address_norm
                        OR (lb.street_number = ls.street_number
                            AND jaro_winkler_similarity(lb.street, ls.street) >= 0.9)
                        OR (lb.street IS NULL AND ls.street IS NULL
                            AND lb.name_core = ls.name_core))
                    AS runner_up_is_duplicate,
                lb.tie_break AS best_tie, ls.tie_break AS runner_up_tie
            FROM ranked b
            LEFT JOIN ranked s ON s.right_id = b.right_id AND s.rk = 2
            JOIN m_left lb ON lb.record_id = b.left_id
            LEFT JOIN m_left ls ON ls.record_id = s.left_id
            WHERE b.rk = 1
        ),
        decided AS (
            SELECT *,
                match_probability >= {link} AND (
                    coalesce(match_weight - runner_up_weight >= {settings.min_margin}, true)
                    OR coalesce(runner_up_is_duplicate, false)) AS is_link,
                CASE WHEN coalesce(runner_up_is_duplicate, false)
                    AND coalesce(runner_up_tie < best_tie, false) THEN runner_up_id
                    ELSE left_id END AS chosen_id
            FROM best
        )
        SELECT
            r.record_id,
            CASE
                WHEN k.left_id IS NOT NULL THEN k.left_id
                WHEN b.is_link THEN b.chosen_id
            END AS left_id,
            CASE
                WHEN k.left_id IS NOT NULL THEN 'key_' || k.key_type
                WHEN b.is_link THEN 'probabilistic'
            END AS method,
            CASE WHEN k.left_id IS NOT NULL THEN 1.0 ELSE b.match_probability END
                AS match_probability,
            nullif(array_to_string(list_sort(list_distinct(string_split(concat_ws(',',
                CASE WHEN k.left_id IS NOT NULL THEN k.keys_agreeing END,
                CASE WHEN k.left_id IS NULL OR k.left_id = b.left_id THEN b.evidence END
            ), ','))), ','), '') AS evidence,
            coalesce(k.keys_disagree, false) AS keys_disagree,
            b.left_id AS candidate_id,
            b.match_probability AS candidate_probability,
            b.runner_up_id,
            b.runner_up_probability,
            coalesce(b.runner_up_is_duplicate, false) AS reference_duplicate
        FROM {right} r
        LEFT JOIN {key_links} k ON k.record_id = r.record_id
        LEFT JOIN decided b ON b.right_id = r.record_id""",
    )


def match(
    con: duckdb.DuckDBPyConnection,
    left: str,
    right: str,
    settings: MatchSettings | None = None,
) -> str:
    """Link `right` records to `left` records, training a model on them and keeping no
    state; returns the name of the result table."""
    settings = settings or MatchSettings()
    _prepare(con, left, right, settings.legal_id_pattern)
    _deterministic(con)
    _probabilistic(con, settings)
    _match_result(con, settings)
    return "match_result"
