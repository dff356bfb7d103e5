"""The ledger's certificates as a list, filtered by origin, destination, status and date.

Why from events: the contract has no enumeration (a mapping cannot be listed), but
every change emits an event carrying what is needed — the anchoring or issuing event
names the participants, the number and the quantities, each later one the new status.
:func:`gather` reads the events and their block times (I/O, a few batched requests);
:func:`fold` and :func:`select` are pure. A batched certificate appears once it is
revealed (its ``CertificateIssued``); before that the chain holds only the batch root.
The date of a certificate is the time of its first event (anchored or issued).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from kpledger.types import STATUS_AFTER_EVENT, CertificateStatus

if TYPE_CHECKING:
    from kpledger.ledger import Ledger



@dataclass(frozen=True)
class ChainEvent:
    """One decoded event with where and when it happened."""

    name: str
    args: dict[str, Any]
    block: int
    timestamp: int


@dataclass(frozen=True)
class Listed:
    """A certificate as the events tell it."""

    document_hash: bytes
    number: str
    origin: str
    destination: str
    status: CertificateStatus
    carats: int
    """Hundredths of a carat, as stored."""
    value_cents: int
    parcels: int
    expires_at: int
    first_block: int
    first_time: int
    last_block: int

    @property
    def day(self) -> date:
        return datetime.fromtimestamp(self.first_time, tz=UTC).date()

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_hash": "0x" + self.document_hash.hex(),
            "number": self.number,
            "origin": self.origin,
            "destination": self.destination,
            "status": self.status.name,
            "carats": self.carats / 100,
            "value_usd": self.value_cents / 100,
            "parcels": self.parcels,
            "expires_at": self.expires_at,
            "date": self.day.isoformat(),
            "first_block": self.first_block,
            "last_block": self.last_block,
        }


@dataclass(frozen=True)
class Filter:
    origin: str | None = None
    destination: str | None = None
    status: CertificateStatus | None = None
    since: date | None = None
    until: date | None = None


def fold(events: Iterable[ChainEvent]) -> list[Listed]:
    """Every certificate the events (in chain order) create, at its latest status."""
    found: dict[bytes, Listed] = {}
    for event in events:
        status = STATUS_AFTER_EVENT.get(event.name)
        if status is None:
            continue
        digest = bytes(event.args["documentHash"])
        known = found.get(digest)
        if known is None:
            if event.name not in ("CertificateRequested", "CertificateIssued"):
                continue  # a transition of a certificate created before the range read
            args = event.args
            found[digest] = Listed(
                document_hash=digest,
                number=str(args["number"]),
                origin=_code(args["origin"]),
                destination=_code(args["destination"]),
                status=status,
                carats=int(args["carats"]),
                value_cents=int(args["valueCents"]),
                parcels=int(args["parcels"]),
                expires_at=int(args["expiresAt"]),
                first_block=event.block,
                first_time=event.timestamp,
                last_block=event.block,
            )
        else:
            found[digest] = replace(known, status=status, last_block=event.block)
    return list(found.values())


def select(certificates: Sequence[Listed], wanted: Filter, *, now: int) -> list[Listed]:
    """The certificates ``wanted`` asks for; ``EXPIRED`` is derived (past its expiry at
    ``now`` and neither received nor closed), as the ledger derives it."""
    out = []
    for cert in certificates:
        shown = _with_expiry(cert, now)
        if wanted.origin and shown.origin != wanted.origin.upper():
            continue
        if wanted.destination and shown.destination != wanted.destination.upper():
            continue
        if wanted.status is not None and shown.status is not wanted.status:
            continue
        if wanted.since and shown.day < wanted.since:
            continue
        if wanted.until and shown.day > wanted.until:
            continue
        out.append(shown)
    return out


def gather(ledger: Ledger) -> tuple[list[ChainEvent], int]:
    """The deployment's events with their block times, and the latest block's time."""
    head = ledger.block_number()
    decoded = ledger.events(ledger.deployment.block, head)
    blocks = sorted({_int(raw["blockNumber"]) for _, _, raw in decoded} | {head})
    answers = ledger.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in blocks])
    times = {}
    for number, block in zip(blocks, answers, strict=True):
        if isinstance(block, Exception) or block is None:
            raise ledger_error(number)
        times[number] = _int(block["timestamp"])
    events = [ChainEvent(name, args, _int(raw["blockNumber"]), times[_int(raw["blockNumber"])])
              for name, args, raw in decoded]  # fmt: skip
    return events, times[head]


def ledger_error(block: int) -> Exception:
    from kpledger.errors import ChainError

    return ChainError(f"the node could not give block {block} while listing: try again")


def _with_expiry(cert: Listed, now: int) -> Listed:
    open_ = cert.status in (CertificateStatus.REQUESTED, CertificateStatus.ISSUED, CertificateStatus.DISPUTED)
    if open_ and cert.expires_at < now:
        return replace(cert, status=CertificateStatus.EXPIRED)
    return cert


def _code(value: Any) -> str:
    return bytes(value).decode("ascii") if isinstance(value, (bytes, bytearray)) else str(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 16)
