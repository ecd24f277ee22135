"""Resources shared by every asset: where the warehouse is and which company runs."""

from contextlib import ExitStack

import dagster as dg
from pydantic import PrivateAttr

from orchestration.config import Settings
from orchestration.runlock import warehouse_lock


class RtmResource(dg.ConfigurableResource):
    """Resolves paths from the environment at run time (RTM_WAREHOUSE, RTM_COMPANY_CONFIG),
    so the same code location serves the sample company, a client, or a test's temp dir.

    It also holds the warehouse's run lock while a run executes (orchestration/runlock.py):
    a second run on the same warehouse fails at its first step instead of interleaving."""

    _lock: ExitStack | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        return Settings.from_env()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run_id = context.run_id or "outside a run"
        self._lock = ExitStack()
        self._lock.enter_context(
            warehouse_lock(self.settings().warehouse_dir, holder=f"dagster run {run_id}")
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
