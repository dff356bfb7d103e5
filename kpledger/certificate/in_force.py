"""A certificate checked against the rules in force on the ledger, not only its text.

Why beside the document rules: a file can be a perfect KP certificate and still be
refused when it is anchored — it expired yesterday, its exporting participant was
suspended last week, or that participant's validity period is shorter than the
default the offline check assumes. :func:`gather` reads those facts from the ledger at
one block (I/O); :func:`problems_in_force` judges them as a pure function, with the
same rules the contract applies (``CertificateLedger._checkExpiry``: the expiry after
the block time and at most the validity period plus one day after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Final

from kpledger.certificate.model import Certificate, check_validity
from kpledger.errors import Problem
from kpledger.types import Participant, ParticipantStatus

if TYPE_CHECKING:
    from kpledger.ledger import Ledger

DAY: Final = 86_400

CHECKED_ONLINE: Final = (
    "the expiry against the ledger's date",
    "the exporting participant's status and validity period",
    "the importing participant's status",
)
"""What :func:`problems_in_force` adds to the offline document rules (for reports)."""


@dataclass(frozen=True)
class LedgerFacts:
    """What the ledger says at one block about a certificate's participants."""

    block: int
    block_time: int
    exporting: Participant | None
    importing: Participant | None

    @property
    def today(self) -> date:
        return datetime.fromtimestamp(self.block_time, tz=UTC).date()


def gather(ledger: Ledger, certificate: Certificate) -> LedgerFacts:
    """Read the facts :func:`problems_in_force` needs, all at the latest block."""
    block = ledger.block_number()
    return LedgerFacts(
        block=block,
        block_time=ledger.block_time(block),
        exporting=ledger.participant(certificate.exporting_participant, with_history=False, block=block),
        importing=ledger.participant(certificate.importing_participant, with_history=False, block=block),
    )


def problems_in_force(certificate: Certificate, facts: LedgerFacts) -> list[Problem]:
    """Why the ledger would refuse to anchor ``certificate`` now (empty: it would not)."""
    problems: list[Problem] = []
    expires = certificate.expires_on.isoformat()
    today = facts.today.isoformat()
    if certificate.expires_at <= facts.block_time:
        problems.append(
            Problem(
                "expires_on",
                "expires_on.in_force",
                f"expired: {expires} has passed (the ledger's date is {today})",
            )
        )
    problems += _participant("exporting_participant", certificate.exporting_participant, facts.exporting)
    problems += _participant("importing_participant", certificate.importing_participant, facts.importing)
    exporting = facts.exporting
    if exporting is not None:
        problems += check_validity(certificate, exporting.validity_days)
        latest = facts.block_time + (exporting.validity_days + 1) * DAY
        if certificate.expires_at > latest:
            problems.append(
                Problem(
                    "expires_on",
                    "expires_on.validity_in_force",
                    f"{expires} is more than {exporting.validity_days} days (the validity period of"
                    f" {exporting.code}) after the ledger's date {today}",
                )
            )
    return problems


def _participant(field: str, code: str, participant: Participant | None) -> list[Problem]:
    if participant is None:
        return [Problem(field, f"{field}.admitted", f"{code} is not a participant of the ledger")]
    if participant.status is not ParticipantStatus.ACTIVE:
        return [
            Problem(
                field,
                f"{field}.active",
                f"{code} is {participant.status.name}: nothing is issued from or to it",
            )
        ]
    return []
