"""One run at a time per warehouse.

DuckDB allows a single writer per file, and two nights interleaving their ingestion and
dbt steps would leave the working database in a state neither meant. A run therefore
holds an exclusive lock file in the warehouse folder for its whole life: a second run
started meanwhile fails at once with a clear message naming the holder (or waits, when
RTM_RUN_LOCK_WAIT_SECONDS is set), before it has touched anything. The lock is an OS
advisory lock (flock): it disappears with the process, so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = ".rtm-run.lock"


class RunInProgress(RuntimeError):
    """Another run holds this warehouse."""


@contextmanager
def warehouse_lock(warehouse_dir: Path, holder: str = "", wait_seconds: float | None = None):
    """Hold the warehouse's run lock for the duration of the block."""
    if wait_seconds is None:
        wait_seconds = float(os.environ.get("RTM_RUN_LOCK_WAIT_SECONDS", "0"))
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    path = warehouse_dir / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    owner = handle.read().strip() or "unknown"
                    raise RunInProgress(
                        f"another run holds the warehouse {warehouse_dir} ({owner}); "
                        "this run did not start. Wait for it to finish, or set "
                        "RTM_RUN_LOCK_WAIT_SECONDS to queue behind it."
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()}, {holder or 'run'}, since {started}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock
