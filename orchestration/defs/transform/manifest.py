"""What the orchestrator needs to know about dbt models, read from the manifest rather
than repeated in Python: which models are marts, where they live, what checks guard them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import dagster as dg

from orchestration.defs.transform.dbt_assets import model_layer, rtm_dbt_project, translator


@dataclass(frozen=True)
class MartModel:
    name: str
    schema: str
    key: dg.AssetKey
    expectations: tuple[dict, ...]
    # meta.requires_sources: sources without which the mart is empty on purpose
    requires_sources: tuple[str, ...] = ()
    # views (the BI views of models/marts/bi) are recreated in the published file over the
    # published tables rather than copied as data
    is_view: bool = False


@lru_cache(maxsize=1)
def _manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def mart_models() -> list[MartModel]:
    project = rtm_dbt_project()
    manifest = _manifest(Path(project.manifest_path))
    dbt_translator = translator()
    marts = []
    for unique_id, node in sorted(manifest["nodes"].items()):
        if node.get("resource_type") != "model" or model_layer(node) != "marts":
            continue
        meta = node.get("meta") or node.get("config", {}).get("meta") or {}
        marts.append(
            MartModel(
                name=node.get("alias") or node["name"],
                schema=node["schema"],
                key=dbt_translator.get_asset_spec(manifest, unique_id, project).key,
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
