"""Progress bars for the long `rtm` commands, for a person watching a terminal.

A bar is drawn only when stdout is a terminal. A script that pipes or redirects `rtm`'s
output gets exactly the lines it got before and no escape codes; the exit codes do not
depend on it either. The bar is drawn on stderr, and lines the command prints meanwhile
appear above it (rich redirects stdout while the bar is live).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


def is_interactive() -> bool:
    """True when a person is watching: stdout is a terminal (not a pipe or a file)."""
    return sys.stdout.isatty()


class Bar:
    """What a command reports progress through; a no-op without a terminal."""

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        """Count `steps` more done (and, optionally, say what is being done now)."""

    def update(
        self, completed: int | None = None, total: int | None = None, description: str | None = None
    ) -> None:
        """Set the count done, the total or the description directly."""


class _RichBar(Bar):
    def __init__(self, progress, task) -> None:
        self._progress, self._task = progress, task

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        kwargs = {"description": description} if description else {}
        self._progress.update(self._task, advance=steps, **kwargs)

    def update(
        self, completed: int | None = None, total: int | None = None, description: str | None = None
    ) -> None:
        given = {"completed": completed, "total": total, "description": description}
        self._progress.update(self._task, **{k: v for k, v in given.items() if v is not None})


@contextmanager
def progress_bar(description: str, total: int | None, force: bool | None = None) -> Iterator[Bar]:
    """A bar of `total` steps (None: unknown, a spinner) while the block runs.

    `force` overrides the terminal test (tests use it to draw into a captured console)."""
    if not (is_interactive() if force is None else force):
        yield Bar()
        return
    # rich ships with typer: no extra dependency.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        yield _RichBar(progress, progress.add_task(description, total=total))
