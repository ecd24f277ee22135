"""Operations around the runs: freshness from the contracts, the distributor landing
sensor, the run-failure summary and its webhook (a local server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from orchestration.contracts import load_contracts
from orchestration.defs.operations.failures import WEBHOOK_ENV, run_failure_summary
from orchestration.defs.operations.freshness import contract_freshness_policy
from orchestration.defs.operations.landing import distributor_landing_sensor


def _definitions() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs() if callable(defs) else defs


def test_every_source_has_a_freshness_policy_from_its_contract():
    graph = _definitions().resolve_asset_graph()
    for name, contract in load_contracts().items():
        policy = graph.get(dg.AssetKey(["raw", name])).freshness_policy
        assert policy is not None, name
        assert policy.fail_window.to_timedelta() == timedelta(
            days=max(contract.delivery_every_days, 1) + contract.latency_days
        ), name
    # a monthly distributor feed is late after its month plus its agreed latency, the CRM
    # extract (daily) after two days
    sell_out = contract_freshness_policy(load_contracts()["distributor_sell_out"])
    crm = contract_freshness_policy(load_contracts()["crm_accounts"])
    assert sell_out.fail_window.to_timedelta() > timedelta(days=31)
    assert crm.fail_window.to_timedelta() <= timedelta(days=2)
    # only the sources carry one: the rest follow from the nightly schedule
    assert graph.get(dg.AssetKey(["marts", "dim_accounts"])).freshness_policy is None


@pytest.fixture
def warehouse(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RTM_WAREHOUSE", str(tmp_path))
    monkeypatch.delenv("RTM_LANDING_DIR", raising=False)
    monkeypatch.delenv("RTM_COMPANY_CONFIG", raising=False)
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    return tmp_path


def _tick(cursor: str | None):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        return distributor_landing_sensor.evaluate_tick(context)


def test_a_dropped_distributor_file_triggers_exactly_one_run(warehouse):
    landing = warehouse / "landing" / "distributors"
    d01 = landing / "d01_boissons_du_rhone"
    d02 = landing / "d02_chr_ouest"
    for folder in (d01, d02):
        folder.mkdir(parents=True)
    (d01 / "VENTES_2026_09.csv").write_text("a;b\n1;2\n")

    first = _tick(None)  # the files already there were loaded by the nightly run
    assert first.run_requests == []
    assert json.loads(first.cursor) == {
        "distributors/d01_boissons_du_rhone/VENTES_2026_09.csv": pytest.approx(
            (d01 / "VENTES_2026_09.csv").stat().st_mtime_ns
        )
    }

    (d02 / "sellout_2026_10.csv").write_text("x,y\n1,2\n")
    (d02 / "notes.txt").write_text("not a sell-out file")  # not the distributor's pattern
    dropped = _tick(first.cursor)
    assert len(dropped.run_requests) == 1
    request = dropped.run_requests[0]
    assert request.tags["rtm/distributors"] == "D02"
    assert request.tags["rtm/files"] == "sellout_2026_10.csv"
    assert request.run_key

    again = _tick(dropped.cursor)  # nothing new: no second run
    assert again.run_requests == []

    # a re-delivered file (same name, new content) is new again
    path = d01 / "VENTES_2026_09.csv"
    path.write_text("a;b\n1;3\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    redelivered = _tick(again.cursor)
    assert [r.tags["rtm/distributors"] for r in redelivered.run_requests] == ["D01"]
    assert redelivered.run_requests[0].run_key != request.run_key


def test_the_landing_sensor_requests_the_nightly_job():
    definitions = _definitions()
    sensor = definitions.resolve_sensor_def("distributor_landing_sensor")
    assert sensor.job_name == "nightly_refresh"
    assert definitions.resolve_sensor_def("run_failure_summary") is not None


class _Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Recorder.received
    server.shutdown()
    server.server_close()


def _failed_run(instance):
    @dg.asset(check_specs=[dg.AssetCheckSpec("rows_reconcile", asset="sell_out")])
    def sell_out():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            check_name="rows_reconcile", passed=False, description="12 rows unaccounted for"
        )

    @dg.asset(deps=[sell_out])
    def scorecard():
        raise ValueError("distributor file D02 sellout_2026_10.csv is unreadable")

    result = dg.materialize([sell_out, scorecard], instance=instance, raise_on_error=False)
    assert not result.success
    return result


def _evaluate_failure_sensor(instance, result):
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_summary",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    run_failure_summary(context)


def test_a_failed_run_writes_a_summary_and_posts_it(warehouse, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    with dg.instance_for_test() as instance:
        result = _failed_run(instance)
        _evaluate_failure_sensor(instance, result)
    summary = (warehouse / "run_failures" / f"{result.run_id}.md").read_text()
    assert "# Run failed" in summary
    assert "`scorecard`" in summary
    assert "D02 sellout_2026_10.csv is unreadable" in summary
    assert "`sell_out` / `rows_reconcile`: 12 rows unaccounted for" in summary
    assert len(received) == 1
    content_type, payload = received[0]
    assert content_type == "application/json"
    assert payload["run_id"] == result.run_id
    assert payload["text"] == summary


def test_no_webhook_configured_means_no_network(warehouse, webhook):
    _, received = webhook
    with dg.instance_for_test() as instance:
        result = _failed_run(instance)
        _evaluate_failure_sensor(instance, result)
    assert (warehouse / "run_failures" / f"{result.run_id}.md").exists()
    assert received == []


def test_every_asset_has_a_description_an_owner_and_a_kind():
    graph = _definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.owners, key
        assert node.kinds, key
        assert node.group_name != "default", key


def test_an_in_process_run_gets_the_same_summary(warehouse, webhook, monkeypatch):
    """`rtm run` has no sensor daemon: it writes the summary from its result."""
    from orchestration.defs.operations.failures import report_failure, summarize_result

    url, received = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    with dg.instance_for_test() as instance:
        result = _failed_run(instance)
    path = report_failure(summarize_result(result), warehouse, __import__("logging").getLogger())
    text = path.read_text()
    assert "D02 sellout_2026_10.csv is unreadable" in text
    assert "`sell_out` / `rows_reconcile`" in text
    assert [p["run_id"] for _, p in received] == [result.run_id]


def test_cli_exit_codes_scripts_can_trust(warehouse, monkeypatch, tmp_path):
    """0 done, 1 the work failed (a failed run, with its summary written), 2 bad input or
    configuration, for every command that loads the company."""
    from typer.testing import CliRunner

    import orchestration.cli as cli

    # a failed nightly run: exit 1, the failure summary named and written
    with dg.instance_for_test() as instance:
        failed = _failed_run(instance)
    (warehouse / "landing" / "crm").mkdir(parents=True)
    (warehouse / "landing" / "crm" / "accounts.csv").write_text("id\n")  # no generation
    monkeypatch.setattr(cli, "run_nightly", lambda settings, **_: failed)
    result = CliRunner().invoke(cli.app, ["run"])
    assert result.exit_code == 1, result.output
    assert "run failed" in result.output
    assert (warehouse / "run_failures" / f"{failed.run_id}.md").exists()

    # a company configuration that does not validate: exit 2 naming the key, nothing run
    bad = tmp_path / "company.yaml"
    bad.write_text("company: {name: X}\ndistributors: [{id: nope}]\n")
    monkeypatch.setenv("RTM_COMPANY_CONFIG", str(bad))
    for command in (["run"], ["status"], ["report"], ["ingest", "crm_accounts"]):
        result = CliRunner().invoke(cli.app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "configuration error" in result.output, command
