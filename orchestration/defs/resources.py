"""Resources shared by every asset: where the warehouse is and which company runs."""

import dagster as dg

from orchestration.config import Settings


class RtmResource(dg.ConfigurableResource):
    """Resolves paths from the environment at run time (RTM_WAREHOUSE, RTM_COMPANY_CONFIG),
    so the same code location serves the sample company, a client, or a test's temp dir."""

    def settings(self) -> Settings:
        return Settings.from_env()
