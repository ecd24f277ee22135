"""The crosswalk built by the nightly job on the small generated company (the shared
end-to-end run), scored against the generator's ground truth."""

from __future__ import annotations

import duckdb

from orchestration.linking.evaluate import score_crosswalk


def test_nightly_run_links_distributor_codes_accurately(pipeline_run):
    assert pipeline_run.result.success
    with duckdb.connect(str(pipeline_run.settings.working_db), read_only=True) as con:
        scores = {
            s.source: s for s in score_crosswalk(con, pipeline_run.warehouse / "ground_truth")
        }
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'linking'"
            ).fetchall()
        }
    assert {"account_crosswalk", "link_review_queue", "unmatched_records", "prospects"} <= tables
    distributor = scores["distributor"]
    # a wrong link moves one account's sales onto another: precision first
    assert distributor.precision >= 0.98, distributor.line()
    assert distributor.f1 >= 0.95, distributor.line()


def test_dbt_distributor_links_follow_the_crosswalk(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.working_db), read_only=True) as con:
        disagree, total = con.execute(
            """SELECT count(*) FILTER (WHERE c.account_id IS DISTINCT FROM l.account_id), count(*)
            FROM intermediate.int_accounts__distributor_links l
            JOIN linking.account_crosswalk c
                ON c.source = 'distributor:' || l.distributor_id
                AND c.source_code = l.distributor_account_code"""
        ).fetchone()
        methods = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT match_method FROM intermediate.int_accounts__distributor_links"
            ).fetchall()
        }
    assert total > 0 and disagree == 0
    assert "probabilistic" in methods


def test_dbt_online_and_external_links_follow_the_crosswalk(pipeline_run):
    """One linking truth: the dbt link models take every listing and external record's
    account from the crosswalk."""
    with duckdb.connect(str(pipeline_run.settings.working_db), read_only=True) as con:
        for model, key, source in [
            ("int_accounts__online_links", "listing_id", "'online:' || l.platform"),
            ("int_accounts__external_links", "external_id", "'external'"),
        ]:
            disagree, total, probabilistic = con.execute(
                f"""SELECT count(*) FILTER (WHERE c.account_id IS DISTINCT FROM l.account_id),
                    count(*), count(*) FILTER (WHERE l.match_method = 'probabilistic')
                FROM intermediate.{model} l
                JOIN linking.account_crosswalk c
                    ON c.source = {source} AND c.source_code = l.{key}"""
            ).fetchone()
            rows = con.execute(f"SELECT count(*) FROM intermediate.{model}").fetchone()[0]
            assert total == rows > 0, model
            assert disagree == 0, model
            assert probabilistic > 0, model


def test_dim_accounts_flags_the_crm_duplicates_the_engine_found(pipeline_run):
    with duckdb.connect(str(pipeline_run.settings.working_db), read_only=True) as con:
        missing = con.execute(
            """SELECT count(*) FROM linking.crm_duplicate_candidates p
            JOIN marts.dim_accounts d ON d.account_id IN (p.account_id, p.duplicate_account_id)
            WHERE NOT d.has_crm_duplicate"""
        ).fetchone()[0]
        sources = dict(
            con.execute(
                "SELECT coordinates_source, count(*) FROM marts.dim_accounts GROUP BY 1"
            ).fetchall()
        )
    assert missing == 0
    assert set(sources) <= {"crm", "online", None} and sources.get("crm", 0) > 0
