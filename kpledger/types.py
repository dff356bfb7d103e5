"""Plain Python views of what the contracts store and emit.

Why dataclasses and not the raw tuples web3 returns: callers, the API and the auditor
all speak of ``record.status`` and ``participant.code``; positional tuples would tie
each of them to the Solidity struct order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum
from typing import Final, TypedDict

SECONDS_PER_DAY = 86_400
_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """A UTC date as the contracts count days: whole days since 1970-01-01."""
    return (day - _EPOCH).days


def day_date(number: int) -> date:
    """The date of a day number (see :func:`day_number`)."""
    return _EPOCH + timedelta(days=number)


class CertificateStatus(IntEnum):
    """Mirrors ``ICertificateLedger.CertificateStatus`` (``EXPIRED`` is derived)."""

    NONE = 0
    REQUESTED = 1
    ISSUED = 2
    RECEIVED = 3
    DISPUTED = 4
    VOIDED = 5
    SUPERSEDED = 6
    EXPIRED = 7


STATUS_AFTER_EVENT: Final[Mapping[str, CertificateStatus]] = {
    "CertificateRequested": CertificateStatus.REQUESTED,
    "CertificateIssued": CertificateStatus.ISSUED,
    "CertificateValidated": CertificateStatus.ISSUED,
    "CertificateReceived": CertificateStatus.RECEIVED,
    "CertificateDisputed": CertificateStatus.DISPUTED,
    "DisputeResolved": CertificateStatus.RECEIVED,
    "CertificateVoided": CertificateStatus.VOIDED,
    "CertificateSuperseded": CertificateStatus.SUPERSEDED,
}
"""The stored status each certificate event leaves behind: one table for the ledger's
timelines and the event listing (``cert list``), which fold the same events."""


class ParticipantStatus(IntEnum):
    """Mirrors ``IParticipantRegistry.ParticipantStatus``."""

    UNKNOWN = 0
    ACTIVE = 1
    SUSPENDED = 2


class RoleKind(IntEnum):
    """Mirrors ``IParticipantRegistry.RoleKind``."""

    AUTHORITY = 0
    EXPORTER = 1
    IMPORTER = 2


def hundredths_text(hundredths: int) -> str:
    """An amount the ledger holds in hundredths (carats) or cents (US dollars) as an exact
    decimal string: 152035 -> ``"1520.35"`` (docs/format.md §3; never through a float)."""
    sign = "-" if hundredths < 0 else ""
    whole, part = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{part:02d}"


class ExactAmounts(TypedDict):
    """The exact amount fields of API and CLI answers, beside the display numbers."""

    carats_hundredths: int
    value_cents: int
    carats_text: str
    value_usd_text: str


def exact_amounts(carats: int, value_cents: int) -> ExactAmounts:
    """:class:`ExactAmounts` of amounts held in hundredths and cents."""
    return {
        "carats_hundredths": carats,
        "value_cents": value_cents,
        "carats_text": hundredths_text(carats),
        "value_usd_text": hundredths_text(value_cents),
    }


@dataclass(frozen=True)
class ChainTerms:
    """What the ledger stores of a certificate: the on-chain tuple, also the Merkle leaf.

    ``carats`` are hundredths of a carat, ``value_cents`` US cents, ``expires_at`` the
    Unix time at the end of the expiry day (UTC)."""

    document_hash: bytes
    number: str
    origin: str
    destination: str
    carats: int
    value_cents: int
    parcels: int
    expires_at: int

    def as_tuple(self) -> tuple[bytes, str, bytes, bytes, int, int, int, int]:
        """The ``CertificateInput`` struct as ABI values."""
        return (
            self.document_hash,
            self.number,
            self.origin.encode("ascii"),
            self.destination.encode("ascii"),
            self.carats,
            self.value_cents,
            self.parcels,
            self.expires_at,
        )


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate as the ledger holds it. Blocks are ``None`` for transitions that
    have not happened."""

    document_hash: bytes
    number: str
    origin: str
    destination: str
    status: CertificateStatus
    stored_status: CertificateStatus
    carats: int
    value_cents: int
    parcels: int
    expires_at: int
    exporter: str | None
    requested_block: int | None
    issued_block: int | None
    responded_block: int | None
    closed_block: int | None
    supersedes: bytes | None
    superseded_by: bytes | None
    batch_root: bytes | None
    issued_on: date | None = None
    """UTC day of issue (a batch member: the day its batch was anchored)."""
    imported_on: date | None = None
    """Import date the importing authority entered on receipt."""

    @property
    def terms(self) -> ChainTerms:
        return ChainTerms(
            self.document_hash,
            self.number,
            self.origin,
            self.destination,
            self.carats,
            self.value_cents,
            self.parcels,
            self.expires_at,
        )


@dataclass(frozen=True)
class StatusChange:
    status: ParticipantStatus
    block_number: int
    timestamp: int


@dataclass(frozen=True)
class Participant:
    code: str
    name: str
    status: ParticipantStatus
    validity_days: int
    admitted_block: int
    history: tuple[StatusChange, ...] = field(default=())


@dataclass(frozen=True)
class Batch:
    root: bytes
    origin: str
    issuer: str
    anchored_block: int
    anchored_at: int
    validity_days: int = 0


@dataclass(frozen=True)
class Receipt:
    """The part of a transaction receipt callers need."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    status: int
    contract_address: str | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One transition of a certificate, from its event log."""

    event: str
    status: CertificateStatus
    block_number: int
    timestamp: int
    tx_hash: bytes
    actor: str | None
    detail: str | None = None
