"""Where the contracts live, and on which chain, recorded so every later run reuses them.

Why a file: ``kpledger up`` deploys once and must find the same contracts after a
restart; the API, CLI and auditor of a consortium all read the same record.

Why the chain's identity is in it: local chains share a chain id and, deployed by the
same key, the same contract addresses; the genesis hash and the deployment block's hash
tell them apart (see :mod:`kpledger.chain.identity`). The format is documented in
``docs/deployment.md``. A record written before these fields existed still loads; it is
checked on its chain id alone until ``kpledger deploy --record-identity`` adds them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kpledger.errors import ConfigurationError

if TYPE_CHECKING:
    from kpledger.chain.identity import ChainFacts

RECORD_FORMAT: Final = "kpledger-deployment-v2"
"""The ``format`` member of a record with a chain identity (version 1 had no ``format``)."""
_REQUIRED: Final = ("chain_id", "registry", "ledger", "block", "deployer")


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    registry: str
    ledger: str
    block: int
    """The block the registry was deployed in (the audit replays from here)."""
    deployer: str
    compiler: str = ""
    genesis_hash: str = ""
    """Hash of the chain's block 0 ("" in a record older than identities)."""
    block_hash: str = ""
    """Hash of block ``block`` on the chain the contracts were deployed to."""
    registry_tx: str = ""
    ledger_tx: str = ""
    """Hashes of the two deploying transactions."""
    directory: str = ""
    """ExchangeDirectory address (issue 15); empty in records made before it existed.
    Last, so positional construction of the older fields is unchanged."""

    @property
    def has_identity(self) -> bool:
        """Whether the record names its chain beyond the chain id."""
        return bool(self.genesis_hash and self.block_hash)

    def with_identity(self, facts: ChainFacts) -> Deployment:
        """This record completed with the identity the node reported (an upgrade of an
        older record; the caller has checked the contracts are on that chain)."""
        if facts.block_hash is None:
            raise ConfigurationError(
                f"the node has no block {self.block}: the deployment is not on this chain"
            )
        return replace(self, genesis_hash=facts.genesis_hash, block_hash=facts.block_hash)

    def to_json(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT, **asdict(self)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, data: Any, *, source: str = "the deployment record") -> Deployment:
        if not isinstance(data, dict):
            raise ConfigurationError(f"{source} is not a JSON object")
        record = dict(data)
        form = record.pop("format", None)
        if form not in (None, RECORD_FORMAT):
            raise ConfigurationError(
                f"{source} has format {form!r}; this kpledger reads {RECORD_FORMAT!r} (or a record without"
                " `format`, version 1): upgrade kpledger"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ConfigurationError(
                f"{source} has unknown fields {', '.join(unknown)}: is it a deployment record?"
            )
        missing = [name for name in _REQUIRED if name not in record]
        if missing:
            raise ConfigurationError(f"{source} lacks {', '.join(missing)}: redeploy or restore the record")
        try:
            return cls(**record)
        except TypeError as exc:
            raise ConfigurationError(f"{source} is unreadable: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(f"no deployment record at {path}: deploy first") from None
        except ValueError as exc:
            raise ConfigurationError(f"deployment record {path} is unreadable: {exc}") from exc
        return cls.from_json(data, source=f"deployment record {path}")
