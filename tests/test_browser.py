"""What people see: the account review report and the Dagster UI, opened in a real browser.

Headless Chromium from Debian's packages (`/usr/bin/chromium`, driven through Debian's
`/usr/bin/chromedriver`, the same release) opens the report rendered by the nightly run on
the 800-account test company and the Dagster UI served by `dagster dev` on that company's
warehouse. Each page must render its main elements (Plotly charts drawn with their data,
asset graph nodes for the code location's groups and assets), log no console error, and
leave a screenshot: in the test's temp dir, and also in `RTM_SCREENSHOTS_DIR` when set
(`make screenshots` sets it to `docs/img`, the README's images).

`.ci/run` installs Chromium, so in CI (`CI` set) a missing browser fails the test. On a
developer machine without `/usr/bin/chromium` it is skipped, saying how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from orchestration.report import report_index_path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("RTM_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("RTM_CHROMEDRIVER", "/usr/bin/chromedriver"))
# Without the background-networking flags Chromium keeps calling home (component updates,
# sync, field trials); on a closed network those connections are refused and slow it down.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)
# The asset group whose graph is checked node by node and shown in the README: small enough
# to read in one screenshot, and its assets carry checks and kinds.
GRAPH_GROUP = "scoring"
UI_START_TIMEOUT = 150
UI_WINDOW = (2400, 2000)

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run installs them; CI must run the browser test)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Both paths are given, so Selenium Manager has nothing to look up or download.
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    target = os.environ.get("RTM_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for png in folder.glob("*.png"):
            shutil.copy2(png, Path(target) / png.name)


def _console_errors(driver) -> list[str]:
    """Console messages of level error since the last call (the log is drained on read)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait(driver, script: str, timeout: float = 60, *args):
    """Poll a JavaScript expression until it returns something truthy; on timeout fail
    with the page's URL and leave a screenshot of what was drawn (`timeout.png` in the
    browser profile's folder) to see why."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(
            lambda d: d.execute_script(script, *args)
        )
    except TimeoutException:
        shot = Path(driver.capabilities["chrome"]["userDataDir"]) / "timeout.png"
        driver.save_screenshot(str(shot))
        pytest.fail(f"{driver.current_url}: not rendered in {timeout} s (screenshot {shot})")


# --- the account review report ---------------------------------------------------------------

# For each chart container: the traces Plotly drew and the marks in its SVG.
CHARTS_JS = """
return Array.from(document.querySelectorAll('[data-chart]')).map(el => {
  const gd = el.querySelector('.js-plotly-plot');
  return {
    chart: el.dataset.chart,
    traces: gd && gd._fullData ? gd._fullData.map(t => ({
      type: t.type, name: t.name,
      points: (t.type === 'heatmap' ? (t.z || []).flat().filter(v => v !== null).length
               : (t.x || []).length)})) : [],
    svg: el.querySelectorAll('svg.main-svg').length,
    marks: el.querySelectorAll('.scatterlayer .point, .barlayer .point, .heatmaplayer image').length,
    lines: el.querySelectorAll('.scatterlayer .js-line').length,
  };
});
"""


def test_the_report_renders_its_charts_with_data(pipeline_run, browser, screenshots):
    index = report_index_path(
        pipeline_run.settings.published_db, pipeline_run.warehouse / "reports"
    )
    assert index is not None and index.exists()
    browser.get(index.as_uri())
    # Plotly draws after load: wait until every chart container holds a drawn plot.
    _wait(
        browser,
        "const c = document.querySelectorAll('[data-chart]');"
        "return c.length > 0 && Array.from(c).every(e => e.querySelector('svg.main-svg'));",
    )
    charts = {c["chart"]: c for c in browser.execute_script(CHARTS_JS)}
    assert set(charts) == {"segment-matrix", "pareto", "coverage", "map", "distributors"}

    with duckdb.connect(str(pipeline_run.settings.published_db), read_only=True) as con:
        located = dict(
            con.execute(
                "SELECT p.priority_class, count(*) FROM dim_accounts d "
                "JOIN account_priorities p USING (account_id) "
                "WHERE d.latitude IS NOT NULL AND d.longitude IS NOT NULL GROUP BY ALL"
            ).fetchall()
        )
        segments = con.execute("SELECT count(*) FROM segment_summary").fetchone()[0]
        territories = con.execute(
            "SELECT count(*) FROM coverage_summary WHERE summary_level = 'territory'"
        ).fetchone()[0]
        distributors = con.execute(
            "SELECT count(DISTINCT distributor_id) FROM distributor_scorecard"
        ).fetchone()[0]

    # the map: one trace per priority class, one drawn marker per located account
    map_ = charts["map"]
    assert {t["name"]: t["points"] for t in map_["traces"]} == {
        f"class {c}": n for c, n in located.items()
    }
    assert map_["marks"] == sum(located.values()) > 500
    # the segment matrix: one bubble per segment
    assert sum(t["points"] for t in charts["segment-matrix"]["traces"]) == segments > 0
    assert charts["segment-matrix"]["marks"] == segments
    # coverage: three stacked bar series over every territory
    assert [t["points"] for t in charts["coverage"]["traces"]] == [territories] * 3
    assert charts["coverage"]["marks"] > 0
    # the Pareto curve is a drawn line; the distributor heat map has a cell per month received
    assert charts["pareto"]["lines"] >= 1 and charts["pareto"]["traces"][0]["points"] > 10
    [heatmap] = charts["distributors"]["traces"]
    assert heatmap["type"] == "heatmap" and heatmap["points"] >= distributors * 12
    assert charts["distributors"]["marks"] == 1

    # the headline figures and the priority table are in the page, not only in the source
    assert browser.execute_script("return document.querySelectorAll('[data-kpi]').length") >= 4
    assert _console_errors(browser) == []
    assert browser.save_screenshot(str(screenshots / "report.png"))


# --- the Dagster UI ----------------------------------------------------------------------------


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


LOCATION_STATUS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


@pytest.fixture(scope="module")
def dagster_ui(pipeline_run, tmp_path_factory):
    """`dagster dev` on a free loopback port, on the test company's warehouse, with a
    DAGSTER_HOME of its own (the project's dagster.yaml: telemetry and pop-ups off)."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy2(REPO / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RTM_WAREHOUSE": str(pipeline_run.warehouse),
        # dagster-dbt looks for `dbt` on PATH (as the Makefile arranges)
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DAGSTER_DISABLE_TELEMETRY": "true",
    }
    log = (home / "dagster_dev.log").open("w")
    # Its own session, so the whole process tree (webserver, daemon, code server) is
    # stopped through the group id, whatever signals the caller ignored.
    process = subprocess.Popen(
        [str(venv_bin / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
         "-p", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + UI_START_TIMEOUT
        while True:
            assert process.poll() is None, f"dagster dev exited: {_tail(home)}"
            assert time.monotonic() < deadline, f"UI not up in {UI_START_TIMEOUT} s: {_tail(home)}"
            try:
                entries = _graphql(url, LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
            except (OSError, KeyError, TypeError, ValueError):
                time.sleep(1)
                continue
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [
                    e["locationOrLoadError"].get("message")
                    for e in entries
                    if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"
                ]
                assert not errors, f"code location failed to load: {errors}"
                break
            time.sleep(1)
        yield url
    finally:
        _stop(process)
        log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(home: Path, lines: int = 30) -> str:
    text = (home / "dagster_dev.log").read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _stop(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _groups_and_assets() -> dict[str, set[str]]:
    """Asset names per group, from the definitions themselves (not from the UI)."""
    from orchestration.definitions import defs

    definitions = defs() if callable(defs) else defs
    graph = definitions.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            groups.setdefault(node.group_name, set()).add(key.path[-1])
    return groups


# Names shown on the nodes of the graph (each node carries its name as a tooltip), once
# at least `arguments[0]` nodes are drawn (the graph is laid out after the data arrives).
NODE_NAMES_JS = """
const names = Array.from(document.querySelectorAll('foreignObject [data-tooltip]'))
  .map(e => e.getAttribute('data-tooltip'));
return names.length >= arguments[0] ? names : null;
"""


def test_the_dagster_ui_shows_the_asset_graph(dagster_ui, browser, screenshots):
    groups = _groups_and_assets()
    assert GRAPH_GROUP in groups
    # The asset graph draws only the nodes inside the viewport: a window large enough for
    # the whole group graph at the UI's default zoom.
    browser.set_window_size(*UI_WINDOW)

    # Global lineage: one node per asset group, in the flow sources -> ... -> published.
    browser.get(f"{dagster_ui}/asset-groups")
    shown = set(_wait(browser, NODE_NAMES_JS, 90, len(groups)))
    assert set(groups) <= shown, set(groups) - shown
    assert _console_errors(browser) == []
    assert browser.save_screenshot(str(screenshots / "dagster-lineage.png"))

    # One group's graph: a node per asset of the group, with its name.
    browser.get(f"{dagster_ui}/locations/account_rtm/asset-groups/{GRAPH_GROUP}/lineage")
    expected = groups[GRAPH_GROUP]
    nodes = _wait(browser, NODE_NAMES_JS, 90, len(expected))
    assert set(nodes) == expected
    assert len(expected) >= 5
    # the nodes show their kinds (DuckDB, dbt) as the definitions declare them
    assert browser.execute_script(
        "return document.querySelector('foreignObject').closest('svg').textContent"
    ).count("DuckDB") >= len(expected)
    assert _console_errors(browser) == []
    assert browser.save_screenshot(str(screenshots / "dagster-asset-graph.png"))
