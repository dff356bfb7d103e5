"""CLI settings: command-line flags > environment (``KPLEDGER_*``) > a config file in
the data directory > defaults.

Why pydantic-settings: the API, scripts and the CLI of a consortium node share the same
variables, and each value is validated once with one error message. The config file is
``<data dir>/config.toml`` (or ``config.json``); it is found through the data directory
given by ``--data-dir`` or ``KPLEDGER_DATA_DIR`` (default ``./.kpledger``), so it cannot
move the data directory itself. Secrets never come from it: a private key comes from a
keystore file (``key``) or ``KPLEDGER_PRIVATE_KEY``, its password from
``KPLEDGER_KEY_PASSWORD`` or a prompt.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from kpledger.errors import ConfigurationError

ENV_PREFIX: Final = "KPLEDGER_"
DEFAULT_DATA_DIR: Final = Path(".kpledger")
CONFIG_FILES: Final = ("config.toml", "config.json")
DEPLOYMENT_FILE: Final = "deployment.json"
RUN_FILE: Final = "run.json"
"""Written by ``kpledger up`` while it runs: where its node and API listen."""
DEMO_DIR: Final = "demo"

Source = Literal["flag", "env", "config file", "default"]


class CLISettings(BaseSettings):
    """Every setting of the CLI. Field ``x`` is flag ``--x``, variable ``KPLEDGER_X`` and
    key ``x`` of the config file."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="where the chain state, deployment and config live")
    rpc: str | None = Field(
        None, description="JSON-RPC URL of the chain (default: the node `kpledger up` runs)"
    )
    deployment: Path | None = Field(
        None, description="deployment record (default <data dir>/deployment.json)"
    )
    key: Path | None = Field(None, description="encrypted keystore file to sign with")
    dev_account: str | None = Field(None, description="DEV-ONLY account (index or demo role) on a local node")
    host: str = Field("127.0.0.1", description="address the API and page listen on")
    port: int = Field(8000, ge=1, le=65535, description="port of the API and page")
    public_url: str | None = Field(
        None,
        description="base URL of the verification page that printed QR codes link to"
        " (default: the API `kpledger up` runs, else http://<host>:<port>)",
    )
    node_port: int = Field(8545, ge=1, le=65535, description="port of the local anvil node")
    chain_id: int = Field(31337, ge=1, description="chain id of the local anvil node")
    node_accounts: int = Field(40, ge=10, le=1000, description="funded DEV-ONLY accounts of the local node")
    audit_db: str | None = Field(None, description="audit index URL (default sqlite:///<data dir>/audit.db)")
    demo_certificates: int = Field(300, ge=10, le=100_000, description="certificates the demo seeds")
    receipt_timeout: float = Field(120.0, gt=0, description="seconds to wait for a transaction receipt")
    debug: bool = Field(False, description="show tracebacks")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of the verification page")
        return value.rstrip("/")

    @field_validator("rpc")
    @classmethod
    def _rpc_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// JSON-RPC URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        flags = init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
        data_dir = Path(flags.get("data_dir") or os.environ.get(ENV_PREFIX + "DATA_DIR") or DEFAULT_DATA_DIR)
        return init_settings, env_settings, DataDirConfigSource(settings_cls, data_dir)

    # ------------------------------------------------------------------ derived paths

    @property
    def deployment_path(self) -> Path:
        return self.deployment if self.deployment is not None else self.data_dir / DEPLOYMENT_FILE

    @property
    def run_path(self) -> Path:
        return self.data_dir / RUN_FILE

    @property
    def audit_url(self) -> str:
        return self.audit_db or f"sqlite:///{self.data_dir / 'audit.db'}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"


SETTING_NAMES: Final = tuple(CLISettings.model_fields)
_FILE_KEYS: Final = frozenset(SETTING_NAMES) - {"data_dir"}


def config_file(data_dir: Path) -> Path | None:
    """The config file of ``data_dir`` (TOML preferred), or None."""
    for name in CONFIG_FILES:
        path = data_dir / name
        if path.is_file():
            return path
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a config file, refusing unknown keys (a typo must not be ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"config file {path} is unreadable: {exc}; fix or delete it") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file {path} must hold a table of settings")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        hint = "the data directory is chosen by --data-dir or KPLEDGER_DATA_DIR, not the file"
        if unknown != ["data_dir"]:
            hint = f"known keys: {', '.join(sorted(_FILE_KEYS))}"
        raise ConfigurationError(f"config file {path}: unknown key {', '.join(map(repr, unknown))} ({hint})")
    return data


class DataDirConfigSource(InitSettingsSource):
    """The config file of the data directory, below flags and environment."""

    def __init__(self, settings_cls: type[BaseSettings], data_dir: Path) -> None:
        path = config_file(data_dir)
        self.path = path
        super().__init__(settings_cls, read_config_file(path) if path is not None else {})


def load_settings(flags: dict[str, Any] | None = None) -> CLISettings:
    """Settings from ``flags`` (None values mean "not given"), the environment and the
    config file. Raises ConfigurationError naming the bad setting."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    try:
        return CLISettings(**given)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigurationError(
            f"setting {name!r}: {first['msg']} (flag --{name.replace('_', '-')},"
            f" variable {ENV_PREFIX}{name.upper()} or the config file)"
        ) from None


def sources(settings: CLISettings, flags: dict[str, Any] | None = None) -> dict[str, Source]:
    """Where each setting's value came from."""
    given = {k for k, v in (flags or {}).items() if v is not None}
    path = config_file(settings.data_dir)
    in_file = set(read_config_file(path)) if path is not None else set()
    out: dict[str, Source] = {}
    for name in SETTING_NAMES:
        if name in given:
            out[name] = "flag"
        elif ENV_PREFIX + name.upper() in os.environ or ENV_PREFIX.lower() + name in os.environ:
            out[name] = "env"
        elif name in in_file:
            out[name] = "config file"
        else:
            out[name] = "default"
    return out
