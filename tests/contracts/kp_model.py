"""A plain-Python model of the Kimberley Process rules the contracts enforce.

Why a model at all: the stateful test (test_state_machine.py) holds three things equal
after every step: what the contracts say, what the auditor's replayed index says, and
what this model says. The model is the independent oracle, so it is written from the
rules (docs/format.md §6 and the NatSpec of contracts/interfaces/), never by reading the
contracts' state back: dicts, sets and ``if`` statements, no kpledger logic beyond the
value types and the Merkle leaf encoding (off-chain maths both sides share by design).

Each operation takes the caller, its arguments and the :class:`Moment` (block number and
time) at which the transaction would run. It first checks every rule in the order the
contracts check them (so the model predicts the *exact* error and its arguments, e.g.
``AccessControlUnauthorizedAccount(account, neededRole)``), raising :class:`Refused`
before it changes anything; only when every check passes does it apply the change.

Reads return the same value types the client returns (:class:`CertificateRecord`,
:class:`Participant`, :class:`Batch`), plus what the auditor's index adds (each
certificate's transitions, each participant's history entries and role holders).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kpledger import contract_errors as ce
from kpledger.errors import ContractError
from kpledger.merkle import CERTIFICATE_LEAF, leaf_hash, process_proof
from kpledger.types import (
    Batch,
    CertificateRecord,
    CertificateStatus,
    ChainTerms,
    Participant,
    ParticipantStatus,
    RoleKind,
    StatusChange,
    day_date,
)

from .helpers import (
    AUDITOR_ROLE,
    DAY,
    DEFAULT_ADMIN_ROLE,
    GOVERNANCE_ROLE,
    ZERO_ADDRESS,
    ZERO_HASH,
    authority_role,
    exporter_role,
    importer_role,
)

S = CertificateStatus
P = ParticipantStatus

MAX_NAME_BYTES = 200
MAX_VALIDITY_DAYS = 366
MAX_REASON_BYTES = 1000
MIN_NUMBER_BYTES, MAX_NUMBER_BYTES = 5, 34
MAX_UINT40 = 2**40 - 1
MAX_PARCELS = 2**16 - 1

OPEN = frozenset({S.REQUESTED, S.ISSUED, S.DISPUTED})
"""Stored statuses a certificate can still leave; only these are shown EXPIRED."""

ROLE_OF_KIND = {
    RoleKind.AUTHORITY: authority_role,
    RoleKind.EXPORTER: exporter_role,
    RoleKind.IMPORTER: importer_role,
}
KIND_NAMES = {RoleKind.AUTHORITY: "authority", RoleKind.EXPORTER: "exporter", RoleKind.IMPORTER: "importer"}
GLOBAL_ROLE_NAMES = {DEFAULT_ADMIN_ROLE: "admin", GOVERNANCE_ROLE: "governance", AUDITOR_ROLE: "auditor"}
ROLE_ADMIN = {
    DEFAULT_ADMIN_ROLE: DEFAULT_ADMIN_ROLE,
    GOVERNANCE_ROLE: DEFAULT_ADMIN_ROLE,
    AUDITOR_ROLE: GOVERNANCE_ROLE,
}


@dataclass(frozen=True)
class Moment:
    """Where a transaction runs: its block number and the block's time."""

    block: int
    time: int


@dataclass(frozen=True)
class Refusal:
    """The contract error a call must fail with, and its exact arguments."""

    error: type[ContractError]
    args: dict[str, Any]

    def __str__(self) -> str:
        rendered = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.error.__name__}({rendered})"


class Refused(Exception):
    """Raised by a model operation the rules forbid; carries the expected refusal.

    A test-side signal, not a kpledger error: it never leaves the test modules."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def refuse(error: type[ContractError], **args: Any) -> NoReturn:
    raise Refused(Refusal(error, args))


@dataclass(frozen=True)
class Step:
    """One transition of a certificate as the auditor's index shows it."""

    event: str
    status: CertificateStatus
    block: int
    actor: str | None
    detail: str | None
    related: bytes | None


@dataclass(frozen=True)
class HistoryEntry:
    """One participant event as the auditor's index shows it."""

    event: str
    status: ParticipantStatus
    validity_days: int
    block: int
    time: int
    actor: str
    detail: str | None


@dataclass
class ModelParticipant:
    code: str
    name: str
    status: ParticipantStatus
    validity_days: int
    admitted_block: int
    admitted_at: int
    changes: list[StatusChange] = field(default_factory=list)
    entries: list[HistoryEntry] = field(default_factory=list)


@dataclass
class ModelCertificate:
    terms: ChainTerms
    stored: CertificateStatus
    exporter: str | None
    issuer: str | None
    requested_block: int | None = None
    issued_block: int | None = None
    responded_block: int | None = None
    closed_block: int | None = None
    supersedes: bytes | None = None
    superseded_by: bytes | None = None
    batch_root: bytes | None = None
    issued_day: int = 0
    imported_day: int = 0
    steps: list[Step] = field(default_factory=list)


@dataclass
class ModelBatch:
    root: bytes
    origin: str
    issuer: str
    anchored: Moment
    validity_days: int


def _raw(code: str) -> bytes:
    return code.encode("latin-1")


def _valid_code(code: str) -> bool:
    raw = _raw(code)
    return len(raw) == 2 and all(0x41 <= b <= 0x5A for b in raw)


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def _account(account: str) -> str:
    return account.lower()


@dataclass
class KPModel:
    """The whole ledger: participants, role holders, certificates and batches."""

    participants: dict[str, ModelParticipant] = field(default_factory=dict)
    scoped: set[tuple[str, RoleKind, str]] = field(default_factory=set)
    """(code, kind, lower-case account) of every participant-scoped role held."""
    global_roles: set[tuple[bytes, str]] = field(default_factory=set)
    """(role id, lower-case account) of the registry-wide roles held."""
    certificates: dict[bytes, ModelCertificate] = field(default_factory=dict)
    numbers: dict[str, bytes] = field(default_factory=dict)
    batches: dict[bytes, ModelBatch] = field(default_factory=dict)

    # ------------------------------------------------------------------ questions

    def status(self, code: str) -> ParticipantStatus:
        found = self.participants.get(code)
        return P.UNKNOWN if found is None else found.status

    def status_at(self, code: str, block: int) -> ParticipantStatus:
        """Status in force at the end of ``block``: the last change at or before it."""
        found = self.participants.get(code)
        status = P.UNKNOWN
        for change in found.changes if found is not None else []:
            if change.block_number <= block:
                status = change.status
        return status

    def holds(self, code: str, kind: RoleKind, account: str) -> bool:
        return (code, kind, _account(account)) in self.scoped

    def holders(self, code: str, kind: RoleKind) -> list[str]:
        return sorted(a for c, k, a in self.scoped if c == code and k == kind)

    def holds_global(self, role: bytes, account: str) -> bool:
        return (role, _account(account)) in self.global_roles

    # ------------------------------------------------------------------ shared checks

    def _need_global(self, caller: str, role: bytes) -> None:
        if not self.holds_global(role, caller):
            refuse(ce.AccessControlUnauthorizedAccount, account=caller, neededRole=role)

    def _need_scoped(self, caller: str, code: str, kind: RoleKind) -> None:
        if not self.holds(code, kind, caller):
            refuse(ce.AccessControlUnauthorizedAccount, account=caller, neededRole=ROLE_OF_KIND[kind](code))

    def _known(self, code: str) -> ModelParticipant:
        found = self.participants.get(code)
        if found is None:
            refuse(ce.RegistryParticipantUnknown, code=_raw(code))
        return found

    def _need_active(self, code: str) -> None:
        status = self.status(code)
        if status is P.UNKNOWN:
            refuse(ce.RegistryParticipantUnknown, code=_raw(code))
        if status is not P.ACTIVE:
            refuse(ce.RegistryParticipantNotActive, code=_raw(code), status=int(status))

    def _need_trade(self, caller: str, origin: str, destination: str, kind: RoleKind) -> int:
        """The caller holds ``kind`` of the origin, both parties are known and active;
        returns the origin's validity period."""
        self._need_scoped(caller, origin, kind)
        self._need_active(origin)
        self._need_active(destination)
        return self.participants[origin].validity_days

    @staticmethod
    def _check_validity(code: str, days: int) -> None:
        if not 1 <= days <= MAX_VALIDITY_DAYS:
            refuse(ce.RegistryInvalidValidityPeriod, code=_raw(code), validityDays=days)

    @staticmethod
    def _check_distinct(terms: ChainTerms) -> None:
        if terms.origin == terms.destination:
            refuse(ce.CertificateSameOriginAndDestination, participant=_raw(terms.origin))

    @staticmethod
    def _check_expiry(expires_at: int, start: int, validity_days: int) -> None:
        """Valid for at most the validity period from ``start``, plus one day, so that
        an expiry date can be stored as the end of its day."""
        if expires_at <= start:
            refuse(ce.CertificateExpiryInPast, expiresAt=expires_at, now_=start)
        latest = start + (validity_days + 1) * DAY
        if expires_at > latest:
            refuse(ce.CertificateValidityTooLong, expiresAt=expires_at, latestAllowed=latest)

    @staticmethod
    def _check_reason(reason: str, *, may_be_empty: bool) -> None:
        size = len(reason.encode())
        if (size == 0 and not may_be_empty) or size > MAX_REASON_BYTES:
            refuse(ce.CertificateInvalidReason)

    def _check_new(self, terms: ChainTerms) -> None:
        """A certificate's own fields, then the two rules of uniqueness."""
        if terms.document_hash == ZERO_HASH:
            refuse(ce.CertificateZeroHash)
        number = terms.number.encode()
        if (
            not MIN_NUMBER_BYTES <= len(number) <= MAX_NUMBER_BYTES
            or number[:2] != _raw(terms.origin)
            or number[-1] == 0
        ):
            refuse(ce.CertificateInvalidNumber, number=terms.number, origin=_raw(terms.origin))
        if not 1 <= terms.carats <= MAX_UINT40:
            refuse(ce.CertificateInvalidQuantity, field="carats", value=terms.carats)
        if terms.value_cents > MAX_UINT40:
            refuse(ce.CertificateInvalidQuantity, field="valueCents", value=terms.value_cents)
        if not 1 <= terms.parcels <= MAX_PARCELS:
            refuse(ce.CertificateInvalidQuantity, field="parcels", value=terms.parcels)
        if terms.document_hash in self.certificates:
            refuse(ce.CertificateHashAlreadyUsed, documentHash=terms.document_hash)
        holder = self.numbers.get(terms.number)
        if holder is not None:
            refuse(ce.CertificateNumberAlreadyUsed, number=terms.number, documentHash=holder)

    def _existing(self, document_hash: bytes) -> ModelCertificate:
        found = self.certificates.get(document_hash)
        if found is None:
            refuse(ce.CertificateUnknown, documentHash=document_hash)
        return found

    @staticmethod
    def _expect(cert: ModelCertificate, *allowed: CertificateStatus) -> None:
        if cert.stored not in allowed:
            refuse(
                ce.CertificateInvalidTransition,
                documentHash=cert.terms.document_hash,
                status=int(cert.stored),
            )

    def _store(self, cert: ModelCertificate) -> None:
        self.certificates[cert.terms.document_hash] = cert
        self.numbers[cert.terms.number] = cert.terms.document_hash

    # ------------------------------------------------------------------ governance

    def admit(self, caller: str, code: str, name: str, validity_days: int, at: Moment) -> None:
        self._need_global(caller, GOVERNANCE_ROLE)
        if not _valid_code(code):
            refuse(ce.RegistryInvalidParticipantCode, code=_raw(code))
        if code in self.participants:
            refuse(ce.RegistryParticipantAlreadyAdmitted, code=_raw(code))
        if not 1 <= len(name.encode()) <= MAX_NAME_BYTES:
            refuse(ce.RegistryInvalidParticipantName, code=_raw(code))
        self._check_validity(code, validity_days)
        self.participants[code] = ModelParticipant(
            code,
            name,
            P.ACTIVE,
            validity_days,
            at.block,
            at.time,
            [StatusChange(P.ACTIVE, at.block, at.time)],
            [HistoryEntry("ParticipantAdmitted", P.ACTIVE, validity_days, at.block, at.time, caller, name)],
        )

    def suspend(self, caller: str, code: str, reason: str, at: Moment) -> None:
        self._need_global(caller, GOVERNANCE_ROLE)
        found = self._known(code)
        if found.status is not P.ACTIVE:
            refuse(ce.RegistryParticipantNotActive, code=_raw(code), status=int(found.status))
        self._change_status(found, P.SUSPENDED, "ParticipantSuspended", caller, reason, at)

    def readmit(self, caller: str, code: str, reason: str, at: Moment) -> None:
        self._need_global(caller, GOVERNANCE_ROLE)
        found = self._known(code)
        if found.status is not P.SUSPENDED:
            refuse(ce.RegistryParticipantNotSuspended, code=_raw(code), status=int(found.status))
        self._change_status(found, P.ACTIVE, "ParticipantReadmitted", caller, reason, at)

    def _change_status(
        self,
        found: ModelParticipant,
        status: ParticipantStatus,
        event: str,
        caller: str,
        reason: str,
        at: Moment,
    ) -> None:
        found.status = status
        found.changes.append(StatusChange(status, at.block, at.time))
        found.entries.append(
            HistoryEntry(event, status, found.validity_days, at.block, at.time, caller, reason)
        )

    def set_validity(self, caller: str, code: str, days: int, at: Moment) -> None:
        self._need_global(caller, GOVERNANCE_ROLE)
        found = self._known(code)
        self._check_validity(code, days)
        found.validity_days = days
        found.entries.append(
            HistoryEntry("ValidityPeriodChanged", found.status, days, at.block, at.time, caller, None)
        )

    def appoint(self, caller: str, code: str, account: str, at: Moment) -> None:
        self._need_global(caller, GOVERNANCE_ROLE)
        self._grant(code, RoleKind.AUTHORITY, account)

    def revoke_authority(self, caller: str, code: str, account: str, at: Moment) -> None:
        self._need_global(caller, GOVERNANCE_ROLE)
        self._withdraw(code, RoleKind.AUTHORITY, account)

    # ------------------------------------------------------------------ authorities: licences

    def license(self, caller: str, kind: RoleKind, code: str, account: str, at: Moment) -> None:
        self._need_scoped(caller, code, RoleKind.AUTHORITY)
        self._grant(code, kind, account)

    def delist(self, caller: str, kind: RoleKind, code: str, account: str, at: Moment) -> None:
        self._need_scoped(caller, code, RoleKind.AUTHORITY)
        self._withdraw(code, kind, account)

    def _grant(self, code: str, kind: RoleKind, account: str) -> None:
        self._known(code)
        if account == ZERO_ADDRESS:
            refuse(ce.RegistryZeroAccount)
        if self.holds(code, kind, account):
            refuse(ce.RegistryRoleAlreadyHeld, code=_raw(code), account=account, kind=int(kind))
        self.scoped.add((code, kind, _account(account)))

    def _withdraw(self, code: str, kind: RoleKind, account: str) -> None:
        self._known(code)
        if not self.holds(code, kind, account):
            refuse(ce.RegistryRoleNotHeld, code=_raw(code), account=account, kind=int(kind))
        self.scoped.discard((code, kind, _account(account)))

    # ------------------------------------------------------------------ registry-wide roles

    @staticmethod
    def _unscoped(role: bytes) -> None:
        """Scoped roles (any role id but the three registry-wide ones) change only
        through the registry's own functions, which emit the domain events."""
        if role not in GLOBAL_ROLE_NAMES:
            refuse(ce.RegistryScopedRoleManagedByRegistry, role=role)

    def grant_role(self, caller: str, role: bytes, account: str, at: Moment) -> None:
        """AccessControl ``grantRole``: granting a held role succeeds and changes nothing."""
        self._unscoped(role)
        self._need_global(caller, ROLE_ADMIN[role])
        self.global_roles.add((role, _account(account)))

    def revoke_role(self, caller: str, role: bytes, account: str, at: Moment) -> None:
        self._unscoped(role)
        self._need_global(caller, ROLE_ADMIN[role])
        self.global_roles.discard((role, _account(account)))

    def renounce_role(self, caller: str, role: bytes, confirmation: str, at: Moment) -> None:
        self._unscoped(role)
        if not _same(caller, confirmation):
            refuse(ce.AccessControlBadConfirmation)
        self.global_roles.discard((role, _account(caller)))

    # ------------------------------------------------------------------ certificates

    def anchor(self, caller: str, terms: ChainTerms, at: Moment) -> None:
        """A licensed exporter of the origin asks for a certificate (REQUESTED)."""
        self._check_distinct(terms)
        validity = self._need_trade(caller, terms.origin, terms.destination, RoleKind.EXPORTER)
        self._check_expiry(terms.expires_at, at.time, validity)
        self._check_new(terms)
        cert = ModelCertificate(terms, S.REQUESTED, exporter=caller, issuer=None, requested_block=at.block)
        cert.steps.append(Step("CertificateRequested", S.REQUESTED, at.block, caller, None, None))
        self._store(cert)

    def issue(self, caller: str, terms: ChainTerms, exporter: str, at: Moment) -> None:
        """The origin's authority issues a certificate directly (ISSUED)."""
        if exporter == ZERO_ADDRESS:
            refuse(ce.CertificateZeroExporter)
        self._check_issue(caller, terms, at)
        self._issue(caller, terms, exporter, at)

    def _check_issue(self, caller: str, terms: ChainTerms, at: Moment) -> None:
        self._check_distinct(terms)
        validity = self._need_trade(caller, terms.origin, terms.destination, RoleKind.AUTHORITY)
        self._check_expiry(terms.expires_at, at.time, validity)
        self._check_new(terms)

    def _issue(self, caller: str, terms: ChainTerms, exporter: str | None, at: Moment) -> ModelCertificate:
        cert = ModelCertificate(
            terms,
            S.ISSUED,
            exporter=exporter,
            issuer=caller,
            issued_block=at.block,
            issued_day=at.time // DAY,
        )
        cert.steps.append(Step("CertificateIssued", S.ISSUED, at.block, caller, None, None))
        self._store(cert)
        return cert

    def validate(self, caller: str, document_hash: bytes, at: Moment) -> None:
        """The origin's authority validates a request (REQUESTED -> ISSUED) before expiry;
        the expiry second itself still counts."""
        cert = self._existing(document_hash)
        self._need_trade(caller, cert.terms.origin, cert.terms.destination, RoleKind.AUTHORITY)
        self._expect(cert, S.REQUESTED)
        if at.time > cert.terms.expires_at:
            refuse(ce.CertificateExpired, documentHash=document_hash, expiresAt=cert.terms.expires_at)
        cert.stored, cert.issuer, cert.issued_block = S.ISSUED, caller, at.block
        cert.issued_day = at.time // DAY
        cert.steps.append(Step("CertificateValidated", S.ISSUED, at.block, caller, None, None))

    def void(self, caller: str, document_hash: bytes, reason: str, at: Moment) -> None:
        """The origin's authority (even of a suspended participant) voids an open one."""
        cert = self._existing(document_hash)
        self._need_scoped(caller, cert.terms.origin, RoleKind.AUTHORITY)
        self._expect(cert, S.REQUESTED, S.ISSUED, S.DISPUTED)
        self._check_reason(reason, may_be_empty=False)
        cert.stored, cert.closed_block = S.VOIDED, at.block
        cert.steps.append(Step("CertificateVoided", S.VOIDED, at.block, caller, reason, None))

    def amend(
        self, caller: str, document_hash: bytes, replacement: ChainTerms, reason: str, at: Moment
    ) -> None:
        """The origin's authority replaces an issued certificate: it is SUPERSEDED, the
        replacement (same origin, same exporter) ISSUED under the rules of a direct issue."""
        cert = self._existing(document_hash)
        origin = cert.terms.origin
        self._need_scoped(caller, origin, RoleKind.AUTHORITY)
        if replacement.origin != origin:
            refuse(
                ce.CertificateAmendmentOriginMismatch, expected=_raw(origin), actual=_raw(replacement.origin)
            )
        self._expect(cert, S.ISSUED)
        self._check_reason(reason, may_be_empty=False)
        self._check_issue(caller, replacement, at)
        new_hash = replacement.document_hash
        cert.stored, cert.closed_block, cert.superseded_by = S.SUPERSEDED, at.block, new_hash
        new = self._issue(caller, replacement, cert.exporter, at)
        new.supersedes = document_hash
        cert.steps.append(Step("CertificateSuperseded", S.SUPERSEDED, at.block, caller, reason, new_hash))
        new.steps.append(Step("Supersedes", S.ISSUED, at.block, caller, reason, document_hash))

    @staticmethod
    def _check_import(cert: ModelCertificate, imported_on: int, at: Moment) -> None:
        """The import date: not after today, not before the day of issue, not after the
        expiry day (days since 1970, UTC), checked in that order."""
        document_hash, today, last = cert.terms.document_hash, at.time // DAY, cert.terms.expires_at // DAY
        if imported_on > today:
            refuse(
                ce.CertificateImportDateInFuture,
                documentHash=document_hash,
                importedOn=imported_on,
                today=today,
            )
        if imported_on < cert.issued_day:
            refuse(
                ce.CertificateImportDateBeforeIssue,
                documentHash=document_hash,
                importedOn=imported_on,
                issuedOn=cert.issued_day,
            )
        if imported_on > last:
            refuse(
                ce.CertificateImportDateAfterExpiry,
                documentHash=document_hash,
                importedOn=imported_on,
                expiryDay=last,
            )

    def confirm(self, caller: str, document_hash: bytes, imported_on: int, at: Moment) -> None:
        """The destination's authority confirms receipt (ISSUED -> RECEIVED) of a shipment
        imported on a day between issue and expiry, not in the future."""
        cert = self._existing(document_hash)
        self._need_scoped(caller, cert.terms.destination, RoleKind.AUTHORITY)
        self._expect(cert, S.ISSUED)
        self._check_import(cert, imported_on, at)
        cert.stored, cert.closed_block, cert.imported_day = S.RECEIVED, at.block, imported_on
        cert.steps.append(Step("CertificateReceived", S.RECEIVED, at.block, caller, None, None))

    def dispute(self, caller: str, document_hash: bytes, reason: str, at: Moment) -> None:
        """The destination's authority records a discrepancy (ISSUED -> DISPUTED)."""
        cert = self._existing(document_hash)
        self._need_scoped(caller, cert.terms.destination, RoleKind.AUTHORITY)
        self._expect(cert, S.ISSUED)
        self._check_reason(reason, may_be_empty=False)
        cert.stored, cert.responded_block = S.DISPUTED, at.block
        cert.steps.append(Step("CertificateDisputed", S.DISPUTED, at.block, caller, reason, None))

    def resolve(self, caller: str, document_hash: bytes, imported_on: int, note: str, at: Moment) -> None:
        """The destination's authority accepts a disputed shipment (DISPUTED -> RECEIVED),
        with an import date checked as for :meth:`confirm`."""
        cert = self._existing(document_hash)
        self._need_scoped(caller, cert.terms.destination, RoleKind.AUTHORITY)
        self._expect(cert, S.DISPUTED)
        self._check_import(cert, imported_on, at)
        self._check_reason(note, may_be_empty=True)
        cert.stored, cert.closed_block, cert.imported_day = S.RECEIVED, at.block, imported_on
        cert.steps.append(Step("DisputeResolved", S.RECEIVED, at.block, caller, note, None))

    # ------------------------------------------------------------------ batches

    def anchor_batch(self, caller: str, origin: str, root: bytes, count: int, at: Moment) -> None:
        """An active origin's authority anchors a Merkle root; the origin's validity
        period then is the one its certificates are held to."""
        self._need_scoped(caller, origin, RoleKind.AUTHORITY)
        self._need_active(origin)
        if root == ZERO_HASH or root in self.batches:
            refuse(ce.BatchInvalidRoot, root=root)
        if count == 0:
            refuse(ce.BatchEmpty)
        self.batches[root] = ModelBatch(root, origin, caller, at, self.participants[origin].validity_days)

    def reveal(self, terms: ChainTerms, root: bytes, proof: tuple[bytes, ...], at: Moment) -> None:
        """Anyone materialises a batched certificate (ISSUED as of the batch's block) with
        a proof; its destination must have been active when the batch was anchored."""
        batch = self.batches.get(root)
        if batch is None:
            refuse(ce.BatchUnknown, root=root)
        if terms.origin != batch.origin:
            refuse(ce.BatchOriginMismatch, root=root, expected=_raw(batch.origin), actual=_raw(terms.origin))
        leaf = bytes.fromhex(leaf_hash(CERTIFICATE_LEAF, terms.as_tuple())[2:])
        if bytes.fromhex(process_proof(leaf, list(proof))[2:]) != root:
            refuse(ce.BatchInvalidProof, root=root, leaf=leaf)
        self._check_distinct(terms)
        if self.status_at(terms.destination, batch.anchored.block) is not P.ACTIVE:
            refuse(ce.BatchDestinationNotActive, root=root, destination=_raw(terms.destination))
        self._check_expiry(terms.expires_at, batch.anchored.time, batch.validity_days)
        self._check_new(terms)
        cert = ModelCertificate(
            terms,
            S.ISSUED,
            exporter=None,
            issuer=batch.issuer,
            issued_block=batch.anchored.block,
            batch_root=root,
            issued_day=batch.anchored.time // DAY,
        )
        cert.steps.append(Step("CertificateIssued", S.ISSUED, at.block, batch.issuer, None, root))
        self._store(cert)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All or nothing, like one transaction (a multicall of reveal + transition)."""
        saved = copy.deepcopy(self.__dict__)
        try:
            yield
        except Refused:
            self.__dict__.update(saved)
            raise

    # ------------------------------------------------------------------ reads

    def record(self, document_hash: bytes, now: int) -> CertificateRecord | None:
        """What ``certificate(hash)`` must return when read at time ``now``."""
        cert = self.certificates.get(document_hash)
        if cert is None:
            return None
        t = cert.terms
        expired = cert.stored in OPEN and now > t.expires_at
        return CertificateRecord(
            document_hash=t.document_hash,
            number=t.number,
            origin=t.origin,
            destination=t.destination,
            status=S.EXPIRED if expired else cert.stored,
            stored_status=cert.stored,
            carats=t.carats,
            value_cents=t.value_cents,
            parcels=t.parcels,
            expires_at=t.expires_at,
            exporter=cert.exporter,
            requested_block=cert.requested_block,
            issued_block=cert.issued_block,
            responded_block=cert.responded_block,
            closed_block=cert.closed_block,
            supersedes=cert.supersedes,
            superseded_by=cert.superseded_by,
            batch_root=cert.batch_root,
            issued_on=day_date(cert.issued_day) if cert.issued_day else None,
            imported_on=day_date(cert.imported_day) if cert.imported_day else None,
        )

    def participant(self, code: str) -> Participant | None:
        found = self.participants.get(code)
        if found is None:
            return None
        return Participant(
            code=code,
            name=found.name,
            status=found.status,
            validity_days=found.validity_days,
            admitted_block=found.admitted_block,
            history=tuple(found.changes),
        )

    def batch(self, root: bytes) -> Batch | None:
        found = self.batches.get(root)
        if found is None:
            return None
        return Batch(
            root, found.origin, found.issuer, found.anchored.block, found.anchored.time, found.validity_days
        )

    def role_holdings(self) -> set[tuple[str | None, str, str]]:
        """Every role held, as the index lists them: (code or None, kind name, account)."""
        scoped = {(code, KIND_NAMES[kind], account) for code, kind, account in self.scoped}
        return scoped | {(None, GLOBAL_ROLE_NAMES[role], account) for role, account in self.global_roles}

    def open_certificates(self) -> list[bytes]:
        return sorted(h for h, c in self.certificates.items() if c.stored in OPEN)
