"""Progress on long work: bars for a person at a terminal, the same plain lines for scripts,
and the nightly run's steps counted from Dagster's own events."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

import orchestration.progress as progress
from orchestration.cli import _step_counter, app

DATA = Path(__file__).parent / "data" / "linking"
MATCH_ARGS = [
    "match", str(DATA / "left.csv"), str(DATA / "right.csv"),
    "--map", "name=nom:name,address=adresse:address,postcode=cp:postcode,city=ville:city,phone=tel:phone",
    "--left-id", "id", "--right-id", "code",
]  # fmt: skip


class RecordingBar(progress.Bar):
    def __init__(self) -> None:
        self.completed, self.total, self.descriptions = 0, None, []

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        self.completed += steps

    def update(self, completed=None, total=None, description=None) -> None:
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        if description:
            self.descriptions.append(description)


def test_scripts_get_plain_lines_and_no_bar(tmp_path):
    """CliRunner's stdout is not a terminal, as in a pipe: no escape codes, same lines."""
    result = CliRunner().invoke(app, [*MATCH_ARGS, "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output and "matching" not in result.output
    assert result.output.splitlines()[1] == "linked 5: key 1, probabilistic 4"


def test_a_terminal_gets_a_bar_and_the_same_lines(tmp_path, monkeypatch):
    drawn = io.StringIO()
    monkeypatch.setattr(progress, "is_interactive", lambda: True)
    # the bar is drawn on stderr; capture it through rich's console
    import rich.console

    real_console = rich.console.Console
    monkeypatch.setattr(
        rich.console,
        "Console",
        lambda **kw: real_console(file=drawn, force_terminal=True, width=100),
    )
    result = CliRunner().invoke(app, [*MATCH_ARGS, "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert "linked 5: key 1, probabilistic 4" in result.output  # the lines are unchanged
    bar = drawn.getvalue()
    assert "4/4" in bar and "done" in bar, bar  # all four stages of match_files counted


def test_sample_generation_reports_each_part(tmp_path):
    from orchestration.sample.generator import GENERATION_PARTS, generate_company

    calls = []
    generate_company(tmp_path, accounts=40, seed=3, months=3, progress=lambda *a: calls.append(a))
    total = len(GENERATION_PARTS)
    assert [c[0] for c in calls] == list(range(total + 1)), "done counts 0..total, in order"
    assert {c[1] for c in calls} == {total}
    assert [c[2] for c in calls] == [*GENERATION_PARTS, "written"]


def test_the_nightly_run_counts_its_steps_from_dagster_events():
    @dg.asset
    def first() -> int:
        return 1

    @dg.asset
    def second(first: int) -> int:
        return first + 1

    @dg.asset
    def broken(second: int) -> int:
        raise RuntimeError("fails on purpose")

    @dg.asset
    def after_broken(broken: int) -> int:
        return broken

    job = dg.Definitions(
        assets=[first, second, broken, after_broken],
        jobs=[dg.define_asset_job("j", executor_def=dg.in_process_executor)],
    ).resolve_job_def("j")
    bar, run_id = RecordingBar(), str(uuid.uuid4())
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_event_listener(run_id, _step_counter(bar, len(job.graph.nodes)))
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_id=run_id)
    assert not result.success
    # first and second succeed and broken fails: three steps ended; after_broken never
    # starts, so a failed run's bar stops short of its total
    assert (bar.completed, bar.total) == (3, 4)
    assert bar.descriptions[0] == "starting"
    assert bar.descriptions[1:] == ["first", "second", "broken"]


@pytest.mark.parametrize("interactive", [False, True])
def test_progress_bar_is_a_no_op_without_a_terminal(interactive, monkeypatch):
    monkeypatch.setattr(progress, "is_interactive", lambda: interactive)
    with progress.progress_bar("x", total=3) as bar:
        bar.advance()
        bar.update(completed=3, description="y")
    assert (type(bar) is progress.Bar) is not interactive
