"""Reading a YAML configuration file and describing validation failures, shared by every
configuration (company, scoring, route-to-market, territories), so that each fails the
same way: naming the file, then the key and the problem."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError


def read_yaml(path: Path, label: str, error: type[Exception]):
    """The parsed file; `error` (naming the file) when it is missing or not YAML."""
    if not path.exists():
        raise error(f"{label} {path} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc


def validation_problems(exc: ValidationError, prefix: str = "") -> str:
    """'key.sub: problem; ...' for every error of a pydantic validation."""
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors()
    )
