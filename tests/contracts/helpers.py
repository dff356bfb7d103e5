"""Local helpers of the contract test-suite: raw calls the client has no method for,
role ids, revert assertions and chain-time control.

Why raw calls at all: the :class:`~kpledger.ledger.Ledger` has no method for
``grantRole``/``revokeRole``/``renounceRole`` of arbitrary roles, and it cannot send a
participant code the contract must refuse (it upper-cases codes). Raw calls still go
through the client's own transactor, so they are simulated first like every write.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kpledger.chain.sender import Call
from kpledger.errors import ContractError
from kpledger.ledger import Ledger
from kpledger.types import CertificateStatus, ChainTerms, Receipt, day_number

DAY = 86_400
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\0" * 32

DEFAULT_ADMIN_ROLE = b"\0" * 32
GOVERNANCE_ROLE = keccak(text="GOVERNANCE_ROLE")
AUDITOR_ROLE = keccak(text="AUDITOR_ROLE")

Contract = Literal["registry", "ledger"]
_serial = itertools.count(1)


def _scoped(seed: str, code: str) -> bytes:
    return keccak(abi_encode(["bytes32", "bytes2"], [keccak(text=seed), code.encode("ascii")]))


def authority_role(code: str) -> bytes:
    return _scoped("AUTHORITY_ROLE", code)


def exporter_role(code: str) -> bytes:
    return _scoped("EXPORTER_ROLE", code)


def importer_role(code: str) -> bytes:
    return _scoped("IMPORTER_ROLE", code)


def fresh_account(label: str | None = None) -> str:
    """An address nobody has used (it never signs; it only receives roles)."""
    label = label or f"account-{next(_serial)}"
    return str(to_checksum_address(keccak(text=label)[-20:]))


def fresh_hash(label: str | None = None) -> bytes:
    return hashlib.sha256((label or f"hash-{next(_serial)}").encode()).digest()


def _target(ledger: Ledger, contract: Contract) -> tuple[str, Any]:
    if contract == "registry":
        return ledger.deployment.registry, ledger.registry_abi
    return ledger.deployment.ledger, ledger.ledger_abi


def send(ledger: Ledger, contract: Contract, name: str, *args: Any) -> Receipt:
    """Send a raw contract call from ``ledger``'s account (simulated first)."""
    to, interface = _target(ledger, contract)
    return ledger.transactor.send(Call(to, interface.fn(name).encode(args)))


def read(ledger: Ledger, contract: Contract, name: str, *args: Any) -> tuple[Any, ...]:
    """A raw view call."""
    to, interface = _target(ledger, contract)
    fn = interface.fn(name)
    return tuple(fn.decode(ledger.transactor.call(to, fn.encode(args))))


def call_error(ledger: Ledger, contract: Contract, name: str, *args: Any) -> ContractError:
    """The decoded custom error of an ``eth_call`` of ``name`` from ``ledger``'s account.

    Used for the errors that carry a string (CertificateInvalidNumber,
    CertificateInvalidQuantity, CertificateNumberAlreadyUsed): on the in-process chain the
    client's write path loses their revert data (see test_client_decodes_string_errors)."""
    to, interface = _target(ledger, contract)
    try:
        ledger.transactor.call(to, interface.fn(name).encode(args))
    except ContractError as error:
        return error
    raise AssertionError(f"{name} did not revert")


def has_role(ledger: Ledger, role: bytes, account: str) -> bool:
    return bool(read(ledger, "registry", "hasRole", role, account)[0])


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str) and expected.startswith("0x") and isinstance(actual, str):
        return actual.lower() == expected.lower()
    return bool(actual == expected)


def check_error(error: BaseException, error_type: type[ContractError], /, **expected: Any) -> None:
    """``error`` is an ``error_type`` with exactly the ``expected`` arguments (addresses
    compared case-insensitively). No arguments given: only the type is checked."""
    name = error_type.__name__
    assert isinstance(error, error_type), f"expected {name}, got {type(error).__name__}: {error}"
    if expected:
        assert set(error.args_) == set(expected), f"{name} has arguments {sorted(error.args_)}"
    for key, value in expected.items():
        assert _same(error.args_[key], value), f"{name}.{key} = {error.args_[key]!r}, expected {value!r}"


@contextmanager
def reverts(error_type: type[ContractError], /, **expected: Any) -> Iterator[None]:
    """The block raises contract error ``error_type`` with the given arguments."""
    with pytest.raises(ContractError) as info:
        yield
    check_error(info.value, error_type, **expected)


@contextmanager
def unchanged(ledger: Ledger, *observers: Callable[[], Any]) -> Iterator[None]:
    """Nothing observable changed: no block was mined and every observer reads the same."""
    block = ledger.block_number()
    before = [observe() for observe in observers]
    yield
    assert ledger.block_number() == block, "a transaction was mined"
    assert [observe() for observe in observers] == before


def future_time(ledger: Ledger, margin: int = 120) -> int:
    """A timestamp ``margin`` seconds after the next block's, to time-travel to.

    Not ``world.now()`` + a little: after a snapshot revert the last block may be minutes
    old, and eth-tester's next block follows the wall clock once it is ahead of the last
    block, so travelling to "last block + 50 s" can mean travelling backwards."""
    pending = ledger.rpc.call("eth_getBlockByNumber", ["pending", False])
    stamp = pending["timestamp"]
    pending_time = int(stamp, 16) if isinstance(stamp, str) else int(stamp)
    latest = ledger.block_time(ledger.block_number())
    return max(pending_time, latest + 1, int(time.time())) + margin


def next_block_at(ledger: Ledger, chain: Any, timestamp: int) -> None:
    """The next transaction (and its simulation) runs in a block with this timestamp.

    eth-tester's ``time_travel(t)`` mines a block at ``t - 1`` and leaves the pending
    block at ``t``."""
    chain.time_travel(timestamp)
    assert ledger.block_time(ledger.block_number()) == timestamp - 1


def latest_block_at(ledger: Ledger, chain: Any, timestamp: int) -> None:
    """Reads (``latest``) are evaluated at this timestamp."""
    chain.time_travel(timestamp + 1)
    assert ledger.block_time(ledger.block_number()) == timestamp


def make_terms(
    origin: str = "BW",
    destination: str = "AE",
    *,
    expires_at: int,
    number: str | None = None,
    carats: int = 125_050,
    value_cents: int = 98_765_400,
    parcels: int = 3,
) -> ChainTerms:
    """Terms without a chain round trip (for big batches): unique number and hash."""
    serial = next(_serial)
    number = number or f"{origin} B/{serial:08d}"
    digest = hashlib.sha256(f"batch-doc-{serial}-{number}".encode()).digest()
    return ChainTerms(digest, number, origin, destination, carats, value_cents, parcels, expires_at)


class Fast:
    """Setup writes sent with an explicit gas limit, so they are not estimated first.

    eth-tester estimates gas by binary search (a dozen executions, ~70 ms a write); a
    test's setup does not need it. A setup write that reverts still raises its decoded
    contract error (the transactor replays it). The call under test always goes through
    the :class:`Ledger` method itself."""

    GAS = 2_000_000

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def send(self, contract: Contract, name: str, *args: Any) -> Receipt:
        to, interface = _target(self.ledger, contract)
        return self.ledger.transactor.send(Call(to, interface.fn(name).encode(args), self.GAS))

    # registry
    def suspend(self, code: str, reason: str = "suspended") -> Receipt:
        return self.send("registry", "suspendParticipant", code.encode(), reason)

    def readmit(self, code: str, reason: str = "readmitted") -> Receipt:
        return self.send("registry", "readmitParticipant", code.encode(), reason)

    def set_validity(self, code: str, days: int) -> Receipt:
        return self.send("registry", "setValidityPeriod", code.encode(), days)

    def appoint(self, code: str, account: str) -> Receipt:
        return self.send("registry", "appointAuthority", code.encode(), account)

    def license_importer(self, code: str, account: str) -> Receipt:
        return self.send("registry", "licenseImporter", code.encode(), account)

    # ledger
    def anchor(self, terms: ChainTerms) -> Receipt:
        return self.send("ledger", "anchor", terms.as_tuple())

    def issue(self, terms: ChainTerms, exporter: str) -> Receipt:
        return self.send("ledger", "issue", terms.as_tuple(), exporter)

    def validate(self, document_hash: bytes) -> Receipt:
        return self.send("ledger", "validate", document_hash)

    def confirm(self, document_hash: bytes, imported_on: int | None = None) -> Receipt:
        """Imported on day ``imported_on`` (days since 1970), by default the chain's today."""
        return self.send("ledger", "confirmReceipt", document_hash, self._day(imported_on))

    def dispute(self, document_hash: bytes, reason: str = "parcel count differs") -> Receipt:
        return self.send("ledger", "recordDiscrepancy", document_hash, reason)

    def resolve(self, document_hash: bytes, note: str = "", imported_on: int | None = None) -> Receipt:
        return self.send("ledger", "resolveDispute", document_hash, self._day(imported_on), note)

    def _day(self, imported_on: int | None) -> int:
        return imported_on if imported_on is not None else day_number(self.ledger.chain_today())

    def void(self, document_hash: bytes, reason: str = "voided") -> Receipt:
        return self.send("ledger", "voidCertificate", document_hash, reason)

    def amend(self, document_hash: bytes, replacement: ChainTerms, reason: str = "amended") -> Receipt:
        return self.send("ledger", "amend", document_hash, replacement.as_tuple(), reason)

    def anchor_batch(self, origin: str, root: bytes, count: int) -> Receipt:
        return self.send("ledger", "anchorBatch", origin.encode(), root, count)

    def reveal(self, terms: ChainTerms, root: bytes, proof: tuple[bytes, ...]) -> Receipt:
        return self.send("ledger", "revealBatchCertificate", terms.as_tuple(), root, list(proof))


def bring_to(
    status: CertificateStatus,
    terms: ChainTerms,
    *,
    exporter: Ledger,
    origin: Ledger,
    destination: Ledger,
) -> ChainTerms | None:
    """Put a new certificate with ``terms`` into stored ``status`` through the normal
    transitions. Returns the replacement's terms for SUPERSEDED, else None."""
    if status is CertificateStatus.REQUESTED:
        Fast(exporter).anchor(terms)
        return None
    Fast(origin).issue(terms, exporter.address)
    document_hash = terms.document_hash
    if status is CertificateStatus.DISPUTED:
        Fast(destination).dispute(document_hash)
    elif status is CertificateStatus.RECEIVED:
        Fast(destination).confirm(document_hash)
    elif status is CertificateStatus.VOIDED:
        Fast(origin).void(document_hash)
    elif status is CertificateStatus.SUPERSEDED:
        replacement = make_terms(terms.origin, terms.destination, expires_at=terms.expires_at)
        Fast(origin).amend(document_hash, replacement)
        return replacement
    else:
        assert status is CertificateStatus.ISSUED, status
    return None
