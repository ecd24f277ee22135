"""Company configuration and run settings.

A company is one YAML file (see examples/sample_company/company.yaml): where its files land,
how each file is laid out, its distributors, its online API and its schedule. Everything is
validated when loaded so a bad config fails before any data moves, with the offending key
named. Paths and secrets come from the environment (read when called, never at import).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestration.yaml_config import read_yaml, validation_problems

REPO_ROOT = Path(__file__).resolve().parent.parent
# DuckDB's memory limit unless RTM_DUCKDB_MEMORY_LIMIT says otherwise. 5GB keeps a 1M-account
# night's linking at 5.0 GB peak (374 s) on a 24 GB machine, where 8GB peaked at 8.2 GB with
# Python and Splink on top; DuckDB spills the rest to warehouse/tmp. (dbt_project/profiles.yml
# repeats it: dbt cannot import it.)
DEFAULT_DUCKDB_MEMORY_LIMIT = "5GB"
DEFAULT_COMPANY_CONFIG = REPO_ROOT / "examples" / "sample_company" / "company.yaml"
CONTRACTS_DIR = REPO_ROOT / "data_contracts"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


class ConfigError(ValueError):
    """A company configuration that cannot be used, with the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileFormat(_Strict):
    # parquet: typed columns are read as text, then checked like a CSV's (delimiter,
    # encoding and decimal do not apply).
    type: Literal["csv", "jsonl", "parquet"] = "csv"
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: Literal[".", ","] = "."
    date_format: str = "%Y-%m-%d"
    # Characters removed from number columns before parsing (currency signs such as "$",
    # thousands separators): "$1,234.50" with strip_characters "$," reads 1234.5.
    strip_characters: str = ""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _decimal_differs_from_delimiter(self) -> FileFormat:
        if self.decimal == self.delimiter:
            raise ValueError("decimal separator and delimiter must differ")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        return self


class OnlineApi(_Strict):
    base_url: str
    base_url_env: str | None = None
    api_key_env: str
    endpoint: str = "/v1/listings"
    page_size: int = Field(500, gt=0, le=10_000)
    max_requests_per_second: float = Field(20, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_seconds: float = Field(0.5, ge=0)
    timeout_seconds: float = Field(10, gt=0)

    def resolved_base_url(self) -> str:
        if self.base_url_env and os.environ.get(self.base_url_env):
            return os.environ[self.base_url_env]
        return self.base_url


def _check_period_pattern(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    if "period" not in compiled.groupindex:
        raise ValueError("needs a named group (?P<period>...) for the period")
    return value


class ColumnOverride(_Strict):
    """A company's own value rules for one contract column (contract_overrides): a field
    set here replaces the contract's rule; set to null it removes the rule."""

    required: bool | None = None
    unique: bool | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    valid_values: list[str] | None = None

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class SourceConfig(_Strict):
    path: str
    # snapshot: each file is the full current extract and replaces the previous one;
    # append: each file adds rows (a re-delivered file with new content replaces its own rows).
    mode: Literal["snapshot", "append"] = "append"
    format: FileFormat = FileFormat()
    api: OnlineApi | None = None
    fields: dict[str, str] | None = None
    # Regex with a named group `period` matched on file names: a later file of the same
    # period restates (replaces) the earlier one. Without it, only a file re-delivered
    # under the same name replaces its earlier version.
    period_from_file_name: str | None = None
    # Same meaning as for a distributor layout: contract column -> file column (default:
    # the file's columns carry the contract's names), constant values, code translations,
    # and multipliers applied to numbers (e.g. {bottle_size_l: 0.001} for millilitres).
    columns: dict[str, str] = {}
    constants: dict[str, str] = {}
    value_maps: dict[str, dict[str, str]] = {}
    multipliers: dict[str, float] = {}

    @field_validator("period_from_file_name")
    @classmethod
    def _period_group(cls, value: str | None) -> str | None:
        return _check_period_pattern(value)


class Delivery(_Strict):
    frequency: Literal["daily", "weekly", "monthly"] = "monthly"
    due_days_after_month_end: int = Field(10, ge=0)


class DistributorLayout(_Strict):
    id: str = Field(pattern=r"^D[0-9]{2}$")
    name: str
    path: str
    format: FileFormat = FileFormat()
    delivery: Delivery = Delivery()
    product_code_type: Literal["ean", "sku"]
    columns: dict[str, str]
    constants: dict[str, str] = {}
    value_maps: dict[str, dict[str, str]] = {}
    multipliers: dict[str, float] = {}
    # See SourceConfig.period_from_file_name: how a restated month is recognised.
    period_from_file_name: str | None = None

    @field_validator("period_from_file_name")
    @classmethod
    def _period_group(cls, value: str | None) -> str | None:
        return _check_period_pattern(value)


class Linking(_Strict):
    # What a legal establishment id (contract column siret) looks like once reduced to its
    # digits; a matching id links a record to an account deterministically.
    legal_id_pattern: str = "[0-9]{14}"

    @field_validator("legal_id_pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class CompanyInfo(_Strict):
    name: str
    country: str = "FR"
    currency: str = "EUR"
    as_of_month: str | None = Field(None, pattern=r"^[0-9]{4}-[0-9]{2}$")
    # Our brands, as the product master's `brand` column names them. Empty: every product
    # is ours (a manufacturer's own master). Set when the sell-out feed reports the whole
    # market (panel or wholesaler data): lines of other brands are then market purchases,
    # never brand revenue. RTM_BRAND (`rtm run --brand`) replaces it for one run.
    own_brands: list[str] = []
    # Where the account's category potential comes from: `model` (external estimate,
    # survey, else modelled from peers) or `market_purchases` (what the account really
    # bought in our brands' categories from every supplier over r12, from the sell-out
    # feed; accounts without such purchases fall back to the model).
    potential_source: Literal["model", "market_purchases"] = "model"


class Schedule(_Strict):
    cron: str = "0 2 * * *"
    timezone: str = "Europe/Paris"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except ZoneInfoNotFoundError as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value


class Publishing(_Strict):
    # Published versions kept under warehouse/published_versions/ for `rtm rollback`.
    keep_versions: int = Field(7, ge=1, le=365)


class Ingestion(_Strict):
    # Hash every landing file each night, even those whose name, size and modification
    # time the ledger already holds (slower: reads the whole history; for landing folders
    # whose writers preserve modification times while changing content).
    rehash_unchanged_files: bool = False


class CompanyConfig(_Strict):
    company: CompanyInfo
    schedule: Schedule = Schedule()
    publishing: Publishing = Publishing()
    ingestion: Ingestion = Ingestion()
    linking: Linking = Linking()
    sources: dict[str, SourceConfig]
    distributors: list[DistributorLayout] = []
    # Scoring configuration (segments, priorities, plans), relative to this file; optional.
    scoring: str | None = None
    # Route-to-market effectiveness config (costs, coverage bands, A&P, distributor
    # challenge), relative to this file; optional.
    rtm: str | None = None
    # Sales territories config (zones, workload, tolerance band, scenarios, locks), relative
    # to this file; optional.
    territories: str | None = None
    # The company's own value rules for contract columns (its ids, postcodes, categories
    # differ from the defaults): {source: {column: {pattern, minimum, maximum,
    # valid_values, required}}}. Types and column names are never overridden.
    contract_overrides: dict[str, dict[str, ColumnOverride]] = {}
    # Folder holding the landing files, relative to this file; RTM_LANDING_DIR wins.
    # Default: <warehouse>/landing.
    landing_dir: str | None = None

    def source_present(self, name: str) -> bool:
        """Whether the company delivers this source at all (a layout is configured)."""
        if name == "distributor_sell_out":
            return bool(self.distributors)
        return name in self.sources

    def brands(self) -> list[str]:
        """Our brands for this run: RTM_BRAND (one name) when set, else own_brands."""
        chosen = os.environ.get("RTM_BRAND", "").strip()
        return [chosen] if chosen else list(self.company.own_brands)

    @model_validator(mode="after")
    def _unique_distributors(self) -> CompanyConfig:
        ids = [d.id for d in self.distributors]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"distributor ids must be unique, repeated: {duplicated}")
        return self


def load_company_config(path: Path | str | None = None) -> CompanyConfig:
    """Read and validate a company config; raise ConfigError naming the key at fault."""
    path = Path(path or os.environ.get("RTM_COMPANY_CONFIG") or DEFAULT_COMPANY_CONFIG)
    raw = read_yaml(path, "company config", ConfigError)
    try:
        config = CompanyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_problems(exc)}") from exc
    _check_against_contracts(path, config, company_contracts(config))
    if config.scoring:
        load_company_scoring(path, config)
    if config.rtm:
        load_company_rtm(path, config)
    if config.territories:
        load_company_territories(path, config)
    return config


def load_company_scoring(path: Path | str, config: CompanyConfig):
    """The company's validated scoring config and overrides, or (None, []) without one."""
    from orchestration.scoring.config import (
        ScoringConfigError,
        load_overrides,
        load_scoring_config,
    )

    if not config.scoring:
        return None, []
    base = Path(path).resolve().parent
    try:
        scoring = load_scoring_config(base / config.scoring)
        overrides = (
            load_overrides(base / scoring.overrides_file, scoring) if scoring.overrides_file else []
        )
    except ScoringConfigError as exc:
        raise ConfigError(f"scoring: {exc}") from exc
    return scoring, overrides


def load_company_rtm(path: Path | str, config: CompanyConfig):
    """The company's validated route-to-market config, or None without one. Its classes
    are checked against the scoring config's, its spend types against the contract's."""
    from orchestration.contracts import load_contracts
    from orchestration.rtm.config import RtmConfigError, load_rtm_config

    if not config.rtm:
        return None
    scoring, _ = load_company_scoring(path, config)
    class_names = [c.name for c in scoring.classes] if scoring else None
    spend_type = next(
        (c for c in load_contracts()["ap_spend"].columns if c.name == "spend_type"), None
    )
    try:
        return load_rtm_config(
            Path(path).resolve().parent / config.rtm,
            class_names=class_names,
            spend_types=spend_type.valid_values if spend_type else None,
        )
    except RtmConfigError as exc:
        raise ConfigError(f"rtm: {exc}") from exc


def load_company_territories(path: Path | str, config: CompanyConfig):
    """The company's validated territories config, or None without one."""
    from orchestration.territories.config import (
        TerritoriesConfigError,
        load_territories_config,
    )

    if not config.territories:
        return None
    try:
        return load_territories_config(Path(path).resolve().parent / config.territories)
    except TerritoriesConfigError as exc:
        raise ConfigError(f"territories: {exc}") from exc


def company_contracts(config: CompanyConfig) -> dict:
    """The data contracts with the company's contract_overrides applied; ConfigError naming
    the key when an override names an unknown source or column."""
    from orchestration.contracts import apply_overrides, load_contracts

    contracts = dict(load_contracts())
    problems = []
    for source, columns in config.contract_overrides.items():
        if source not in contracts:
            problems.append(f"contract_overrides.{source}: no data contract named {source!r}")
            continue
        for column in columns:
            if column not in contracts[source].column_names:
                problems.append(
                    f"contract_overrides.{source}.{column}: not a column of the contract"
                )
    if problems:
        raise ConfigError("; ".join(problems))
    for source, columns in config.contract_overrides.items():
        contracts[source] = apply_overrides(
            contracts[source],
            {name: o.model_dump(include=o.model_fields_set) for name, o in columns.items()},
        )
    return contracts


def _check_against_contracts(path: Path, config: CompanyConfig, contracts: dict) -> None:
    """Every configured name must exist in the contracts, so typos fail here, not at 2 a.m."""
    problems = []
    for name, source in config.sources.items():
        if name not in contracts:
            problems.append(f"sources.{name}: no data contract named {name!r} in data_contracts/")
            continue
        columns = contracts[name].column_names
        for field in source.fields or {}:
            if field not in columns:
                problems.append(f"sources.{name}.fields.{field}: not a column of the contract")
        for key in ("columns", "constants", "value_maps", "multipliers"):
            for column in getattr(source, key):
                if column not in columns:
                    problems.append(f"sources.{name}.{key}.{column}: not a column of the contract")
        if source.columns:
            for column in contracts[name].required_columns:
                if column not in source.columns | source.constants:
                    problems.append(
                        f"sources.{name}.columns: required column {column!r} is not mapped"
                    )
    sell_out = contracts.get("distributor_sell_out")
    for i, dist in enumerate(config.distributors):
        if sell_out is None:
            problems.append("distributors: no distributor_sell_out contract in data_contracts/")
            break
        key = f"distributors[{i}] ({dist.id})"
        for column in [*dist.columns, *dist.constants, *dist.value_maps, *dist.multipliers]:
            if column not in sell_out.column_names:
                problems.append(f"{key}: {column!r} is not a column of distributor_sell_out")
        for column in sell_out.required_columns:
            if column != "distributor_id" and column not in dist.columns | dist.constants:
                problems.append(f"{key}.columns: required column {column!r} is not mapped")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes; from the environment with sane defaults."""

    warehouse_dir: Path
    company_config_path: Path

    @classmethod
    def from_env(cls) -> Settings:
        warehouse = Path(os.environ.get("RTM_WAREHOUSE", REPO_ROOT / "warehouse")).resolve()
        company = Path(os.environ.get("RTM_COMPANY_CONFIG", DEFAULT_COMPANY_CONFIG)).resolve()
        return cls(warehouse_dir=warehouse, company_config_path=company)

    @property
    def landing_dir(self) -> Path:
        if os.environ.get("RTM_LANDING_DIR"):
            return Path(os.environ["RTM_LANDING_DIR"])
        if self.company.landing_dir:
            return (self.company_config_path.resolve().parent / self.company.landing_dir).resolve()
        return self.warehouse_dir / "landing"

    def match_settings(self):
        """Account linking settings for this company (linking: in company.yaml)."""
        from orchestration.linking.engine import MatchSettings

        return MatchSettings(legal_id_pattern=self.company.linking.legal_id_pattern)

    @cached_property
    def contracts(self) -> dict:
        """The data contracts with this company's contract_overrides applied."""
        return company_contracts(self.company)

    @property
    def working_db(self) -> Path:
        return self.warehouse_dir / "rtm.duckdb"

    @property
    def published_db(self) -> Path:
        return self.warehouse_dir / "published.duckdb"

    @property
    def tmp_dir(self) -> Path:
        return self.warehouse_dir / "tmp"

    @cached_property
    def company(self) -> CompanyConfig:
        return load_company_config(self.company_config_path)

    @cached_property
    def scoring(self):
        """(ScoringConfig | None, overrides) for the company, validated."""
        return load_company_scoring(self.company_config_path, self.company)

    @cached_property
    def rtm(self):
        """RtmConfig | None for the company, validated."""
        return load_company_rtm(self.company_config_path, self.company)

    @cached_property
    def territories(self):
        """TerritoriesConfig | None for the company, validated."""
        return load_company_territories(self.company_config_path, self.company)

    @property
    def territory_locks_path(self) -> Path | None:
        config = self.territories
        if config is None or not config.locks_file:
            return None
        return self.company_config_path.resolve().parent / config.locks_file

    def duckdb_config(self) -> dict[str, str]:
        """Memory and spill limits so a large night degrades to disk instead of dying."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return {
            "memory_limit": os.environ.get("RTM_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
            "temp_directory": str(self.tmp_dir),
            "preserve_insertion_order": "true",
        }
