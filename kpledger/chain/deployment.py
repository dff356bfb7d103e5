"""Where the contracts live on a chain, recorded so every later run reuses them.

Why a file: ``kpledger up`` deploys once and must find the same contracts after a
restart; the API, CLI and auditor of a consortium all read the same record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kpledger.errors import ConfigurationError


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    registry: str
    ledger: str
    block: int
    deployer: str
    compiler: str = ""
    directory: str = ""
    """ExchangeDirectory address (issue 15); empty in records made before it existed."""

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            raise ConfigurationError(f"no deployment record at {path}: deploy first") from None
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"deployment record {path} is unreadable: {exc}") from exc
