"""What the orchestrator needs to know about dbt models, read from the manifest rather
than repeated in Python: which models are marts, where they live, what checks guard them.

Plain JSON reading, without Dagster or dagster-dbt: the quality and publish stages run it
outside Dagster too (the CLI's stages, the benchmark's stage processes), where importing
them cost about 2 s per process. The Dagster asset keys of the marts come from the dbt
translator (orchestration.defs.transform.dbt_assets.mart_asset_key)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from orchestration.config import DBT_PROJECT_DIR

# where `make manifest` (dbt parse) writes it, as dagster-dbt's DbtProject finds it
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


def dbt_executable() -> str:
    """The dbt next to this interpreter: make and CI run without an activated venv."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else (shutil.which("dbt") or "dbt")


def model_layer(props: Mapping[str, Any]) -> str | None:
    """staging / intermediate / marts: the first folder under models/."""
    fqn = props.get("fqn") or []
    return (
        fqn[1]
        if props.get("resource_type") in {"model", "seed", "snapshot"} and len(fqn) > 2
        else None
    )


@dataclass(frozen=True)
class MartModel:
    name: str
    schema: str
    unique_id: str
    expectations: tuple[dict, ...]
    # meta.requires_sources: sources without which the mart is empty on purpose
    requires_sources: tuple[str, ...] = ()
    # views (the BI views of models/marts/bi) are recreated in the published file over the
    # published tables rather than copied as data
    is_view: bool = False


@lru_cache(maxsize=1)
def _manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def load_manifest() -> dict:
    """dbt's manifest (read once per process)."""
    return _manifest(MANIFEST_PATH)


def mart_models() -> list[MartModel]:
    manifest = load_manifest()
    marts = []
    for unique_id, node in sorted(manifest["nodes"].items()):
        if node.get("resource_type") != "model" or model_layer(node) != "marts":
            continue
        meta = node.get("meta") or node.get("config", {}).get("meta") or {}
        marts.append(
            MartModel(
                name=node.get("alias") or node["name"],
                schema=node["schema"],
                unique_id=unique_id,
                expectations=tuple(meta.get("quality") or ()),
                requires_sources=tuple(meta.get("requires_sources") or ()),
                is_view=node.get("config", {}).get("materialized") == "view",
            )
        )
    return marts


def published_relations(marts: list[MartModel]) -> dict[str, list[tuple[str, str]]]:
    """(schema, name) of the marts publish copies as tables and of those it recreates as views."""
    return {
        "tables": [(m.schema, m.name) for m in marts if not m.is_view],
        "views": [(m.schema, m.name) for m in marts if m.is_view],
    }
