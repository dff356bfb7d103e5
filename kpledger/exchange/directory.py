"""The exchange directory on chain: who holds which exchange key, since when, and where
its inbox is.

Why a client of its own: the directory is the trust anchor of every envelope (the key a
sender encrypts for, the key id a recipient accepts), so its reads must answer "which key
was in force at block N?" exactly as the contract does, and its writes raise the
contract's typed errors like every other kpledger write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kpledger.chain import artifacts
from kpledger.chain.abi import ContractInterface
from kpledger.chain.sender import Call
from kpledger.errors import ConfigurationError, KPLedgerError
from kpledger.ledger import Ledger
from kpledger.types import Receipt

X25519_HKDF_SHA256 = 0x0020
"""HPKE KEM id (RFC 9180 §7.1) of the exchange keys kpledger generates."""

GAS = {"publishKey": 250_000, "revokeKey": 120_000, "setInboxUrl": 200_000}


@dataclass(frozen=True)
class ExchangeKey:
    """One published exchange key and the blocks it was in force (``valid_to`` 0 while
    it still is)."""

    code: str
    key_id: bytes
    algorithm: int
    public_key: bytes
    valid_from: int
    valid_to: int
    revoked: bool
    published_by: str

    @property
    def in_force(self) -> bool:
        return self.valid_to == 0

    def in_force_at(self, block: int) -> bool:
        """In force at the end of ``block`` (the contract's ``keyAt`` rule)."""
        return self.valid_from <= block and (self.valid_to == 0 or self.valid_to > block)


def key_id(algorithm: int, public_key: bytes) -> bytes:
    """The directory's key id: ``keccak256(abi.encodePacked(uint16 algorithm, publicKey))``."""
    return keccak(algorithm.to_bytes(2, "big") + public_key)


class Directory:
    """Reads and writes of one deployment's ExchangeDirectory, as ``ledger``'s account."""

    def __init__(self, ledger: Ledger) -> None:
        if not ledger.deployment.directory:
            raise ConfigurationError(
                "this deployment has no exchange directory (deployed before issue 15): redeploy"
            )
        self.ledger = ledger
        self.address = ledger.deployment.directory
        self.abi: ContractInterface = artifacts.interface("ExchangeDirectory")

    # ------------------------------------------------------------------ writes

    def publish_key(self, code: str, public_key: bytes, algorithm: int = X25519_HKDF_SHA256) -> Receipt:
        """Authority of ``code``: publish a new exchange key (the current one is rotated out)."""
        return self._send("publishKey", _code(code), algorithm, public_key)

    def revoke_key(self, code: str, key: bytes, reason: str) -> Receipt:
        """Authority of ``code`` or governance: revoke a key (no envelope for it is accepted)."""
        return self._send("revokeKey", _code(code), key, reason)

    def set_inbox_url(self, code: str, url: str) -> Receipt:
        """Authority of ``code``: set (or clear with "") its inbox URL."""
        return self._send("setInboxUrl", _code(code), url)

    # ------------------------------------------------------------------ reads

    def current_key(self, code: str, *, block: int | str = "latest") -> ExchangeKey | None:
        (raw,) = self._call("currentKey", _code(code), block=block)
        return _key(code, raw)

    def key_at(self, code: str, block_number: int) -> ExchangeKey | None:
        """The key in force at the end of ``block_number`` (None if there was none)."""
        (raw,) = self._call("keyAt", _code(code), block_number)
        return _key(code, raw)

    def key_by_id(self, code: str, key: bytes, *, block: int | str = "latest") -> ExchangeKey:
        """The key with this id; raises DirectoryKeyUnknown if ``code`` never published it."""
        (raw,) = self._call("keyById", _code(code), key, block=block)
        found = _key(code, raw)
        assert found is not None
        return found

    def history(self, code: str, *, block: int | str = "latest") -> list[ExchangeKey]:
        (raws,) = self._call("keyHistory", _code(code), block=block)
        return [k for k in (_key(code, raw) for raw in raws) if k is not None]

    def inbox_url(self, code: str, *, block: int | str = "latest") -> str:
        (url,) = self._call("inboxUrl", _code(code), block=block)
        return str(url)

    # ------------------------------------------------------------------ plumbing

    def _send(self, name: str, *args: object) -> Receipt:
        data = self.abi.fn(name).encode(args)
        return self.ledger.transactor.send(Call(self.address, data))

    def _call(self, name: str, *args: object, block: int | str = "latest") -> tuple[Any, ...]:
        fn = self.abi.fn(name)
        tag = hex(block) if isinstance(block, int) else block
        request = {"to": self.address, "data": "0x" + fn.encode(args).hex()}
        # The Ledger's read path: a revert raises its typed contract error.
        raw = self.ledger._raw_read("eth_call", [request, tag])
        return tuple(fn.decode(raw))


def _key(code: str, raw: Any) -> ExchangeKey | None:
    key_id_, algorithm, valid_from, valid_to, revoked, published_by, public_key = raw
    if bytes(key_id_) == b"\0" * 32:
        return None
    return ExchangeKey(
        code=code.upper(),
        key_id=bytes(key_id_),
        algorithm=int(algorithm),
        public_key=bytes(public_key),
        valid_from=int(valid_from),
        valid_to=int(valid_to),
        revoked=bool(revoked),
        published_by=str(to_checksum_address(published_by)),
    )


def _code(code: str) -> bytes:
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise KPLedgerError(f"participant code {code!r}: must be two letters (ISO 3166-1 alpha-2 or EU)")
    return code.upper().encode("ascii")
