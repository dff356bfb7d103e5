"""The exception hierarchy: one root, so callers can catch everything kpledger raises.

Contract reverts decode into :class:`ContractError` subclasses generated from the ABI
(see :mod:`kpledger.chain.revert`), so a revert never surfaces as a bare web3 error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class KPLedgerError(Exception):
    """Root of every error kpledger raises on purpose."""


class BuildError(KPLedgerError):
    """The contracts could not be compiled or the artifacts are missing."""


class ConfigurationError(KPLedgerError):
    """Settings, deployment records or key files are missing or inconsistent."""


class KeyLoadError(KPLedgerError):
    """A signing key could not be loaded (wrong password, bad file). Never holds the key."""


@dataclass(frozen=True)
class Problem:
    """One broken rule of a document: where (a dotted field path), which rule, and a
    sentence for people."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"


class DocumentError(KPLedgerError):
    """A certificate document breaks one or more rules; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(str(p) for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid certificate document: {summary}{more}")


class ChainError(KPLedgerError):
    """Talking to the chain failed."""


class ConnectionFailed(ChainError):
    """The node cannot be reached."""


class TransactionTimeout(ChainError):
    """No receipt arrived in time; the transaction may still be mined."""


class ChainStalled(TransactionTimeout):
    """No new block came while we waited: the network is stalled (e.g. too few
    validators online to seal), not merely slow. Writes already signed stay in the
    outbox and land when blocks resume."""


class NonceError(ChainError):
    """The account's nonce went out of step with the node (another sender?)."""


class TransactionFailed(ChainError):
    """A transaction was mined but reverted without a decodable reason."""


class ChainIdMismatch(ConfigurationError, ChainError):
    """The node serves another chain than the one transactions are signed for: nothing
    is signed or sent (a transaction signed for one chain must not reach another)."""


class OutboxError(ChainError):
    """The outbox of signed transactions cannot be read or written; nothing is sent
    that was not recorded first."""


class RecoveryIncomplete(OutboxError):
    """Transactions in the outbox could not all be put back on chain: a nonce taken by
    another transaction, a refusal by the node, or a gap of nonces the outbox does not
    hold. ``report`` is the :class:`~kpledger.chain.outbox.RecoveryReport`."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class ContractError(ChainError):
    """A contract custom error. Subclasses are named after the Solidity error and carry
    its arguments as ``args_`` (a name -> value mapping)."""

    solidity_name: str = ""

    def __init__(self, args_: dict[str, Any] | None = None, message: str | None = None) -> None:
        self.args_ = args_ or {}
        rendered = ", ".join(f"{k}={_render(v)}" for k, v in self.args_.items())
        super().__init__(message or f"{self.solidity_name}({rendered})")


class MerkleError(KPLedgerError):
    """A Merkle batch cannot be built, loaded or checked: empty input, a value that does not
    fit its leaf type, a malformed dump or proof document."""


class NotFound(KPLedgerError):
    """A certificate, participant or deployment does not exist."""


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        if len(value) == 2 and value.isalpha():
            return value.decode()
        return "0x" + value.hex()
    return repr(value)
