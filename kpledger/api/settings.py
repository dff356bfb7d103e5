"""Settings of the verification service, from the environment (``KPLEDGER_*``).

Why the same prefix and names as the CLI (:mod:`kpledger.cli.config`): a consortium node
runs the CLI, the API and the auditor side by side, and ``KPLEDGER_RPC``,
``KPLEDGER_DATA_DIR`` and ``KPLEDGER_DEPLOYMENT`` must mean the same thing to all of
them. The service holds no keys, so nothing here is secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX: Final = "KPLEDGER_"
DEFAULT_MAX_UPLOAD_BYTES: Final = 8 * 1024 * 1024
"""8 MiB: a scanned certificate (PDF) fits; a JSON certificate is capped at 1 MiB by the
document rules anyway."""


class ApiSettings(BaseSettings):
    """Every setting of the API. Field ``x`` is variable ``KPLEDGER_X``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    rpc: str = Field("http://127.0.0.1:8545", description="JSON-RPC URL of the chain (http:// or https://)")
    data_dir: Path = Field(Path(".kpledger"), description="where `kpledger up` keeps the deployment record")
    deployment: Path | None = Field(
        None, description="deployment record (default <data dir>/deployment.json)"
    )
    rpc_timeout: float = Field(10.0, gt=0, le=300, description="seconds to wait for one JSON-RPC answer")
    max_upload_bytes: int = Field(
        DEFAULT_MAX_UPLOAD_BYTES, ge=1024, le=1024**3, description="largest request body accepted (413 above)"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS (JSON list); empty: CORS off"
    )
    read_cache_entries: int = Field(
        20_000,
        ge=0,
        description="contract reads kept per process, keyed by block (0: off; only for chains with"
        " final blocks, as Besu QBFT has)",
    )

    verify_cache_entries: int = Field(
        20_000,
        ge=0,
        description="verifications by hash kept per process until an event or the expiry time changes"
        " them (0: off; see kpledger.verify_cache)",
    )
    head_poll_interval: float = Field(
        0.1,
        ge=0,
        le=60,
        description="seconds between polls of the chain's head and new events (on a thread of each"
        " process); a cached verification describes the chain as it was at most this long plus 0.05 s"
        " ago. 0: poll per request",
    )
    warm_cache: bool = Field(
        True,
        description="after connecting, verify the most recently anchored certificates in the background"
        " (up to verify_cache_entries) so that their first verification is answered from memory",
    )

    @field_validator("rpc")
    @classmethod
    def _rpc_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// JSON-RPC URL")
        return value

    @property
    def deployment_path(self) -> Path:
        return self.deployment if self.deployment is not None else self.data_dir / "deployment.json"
