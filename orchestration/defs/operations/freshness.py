"""What the Dagster UI shows about each asset, filled in where a domain left it out.

- Freshness policies on the ingestion assets, from each data contract's delivery SLA: a
  source delivered every N days with up to L days of latency is late when its asset has
  not been refreshed for N + L days (warned after N). The contracts stay the one place
  where delivery expectations are written down; changing one changes the policy.
- An owner on every asset (the data engineering team, unless the domain named one).
- The ingestion log tables (`raw/file_deliveries`, `raw/quarantine`), which every
  ingestion asset writes and dbt reads as sources, declared with a description, group and
  kind instead of appearing as bare keys in the "default" group.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

from orchestration.contracts import Contract, load_contracts

DEFAULT_OWNER = "team:data-engineering"
INGESTION_LOG = {
    "file_deliveries": "Every landing file the ingestion saw and what it did with it (loaded, "
    "duplicate, superseded, failed), with row counts. Written by every ingestion asset.",
    "quarantine": "Rows that broke their source's data contract, with the rule and the raw "
    "values, kept for review. Written by every ingestion asset.",
}


def contract_freshness_policy(contract: Contract) -> dg.FreshnessPolicy:
    every = max(contract.delivery_every_days, 1)
    fail = timedelta(days=every + max(contract.latency_days, 0))
    warn = timedelta(days=every) if contract.latency_days > 0 else None
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


def ingestion_log_specs() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            key=dg.AssetKey(["raw", name]),
            description=description,
            group_name="sources_internal",
            kinds={"duckdb"},
            owners=[DEFAULT_OWNER],
        )
        for name, description in INGESTION_LOG.items()
    ]


def with_ui_metadata(defs: dg.Definitions) -> dg.Definitions:
    """The same definitions with contract-derived freshness policies on `raw/<source>`,
    owners where missing and the ingestion log tables described."""
    contracts = load_contracts()

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if not spec.owners:
            spec = spec.replace_attributes(owners=[DEFAULT_OWNER])
        if spec.key.path[0] != "raw":
            return spec
        name = spec.key.path[-1]
        if name in contracts:
            return dg.apply_freshness_policy(spec, contract_freshness_policy(contracts[name]))
        return spec

    with warnings.catch_warnings():  # "preview" API, the one Dagster 1.13 offers for this
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(func=apply)
