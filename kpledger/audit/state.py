"""Rebuilt state, now or "as of" any block or date, read from the index alone.

Why from transitions and not from a snapshot table: an auditor asks "what did the
ledger say about this certificate at block N / on date D?"; folding the rows at or
before that point (with the same rules as the replay) answers it for every point
without storing a version per block.

A point is ``block=N`` (the state at the end of block N, as the contract's
``statusAt`` means it), or ``at=`` a date (the end of that day, UTC), a datetime
(naive means UTC) or Unix seconds; neither means the index's checkpoint. The derived
``EXPIRED`` status is judged at the point's time: for ``block=N`` the time of block N
when the index recorded it (blocks with events and chunk ends), else from the chain
when the index was opened with one, else of the latest recorded block before it
(``point.exact`` is then False).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, or_, select

from kpledger.audit import schema as s
from kpledger.audit.fold import CREATION_EVENTS, recompute_certificate
from kpledger.audit.source import open_source
from kpledger.audit.store import Checkpoint, IndexStore
from kpledger.errors import NotFound
from kpledger.types import SECONDS_PER_DAY, CertificateRecord, CertificateStatus, ParticipantStatus, day_date

PointIn = date | datetime | int | None

_OPEN = frozenset({CertificateStatus.REQUESTED, CertificateStatus.ISSUED, CertificateStatus.DISPUTED})
_STATUS_EVENTS = frozenset({"ParticipantAdmitted", "ParticipantSuspended", "ParticipantReadmitted"})


def to_unix(value: date | datetime | int) -> int:
    """Unix seconds of a point in time; a date means the last second of that day (UTC)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    if isinstance(value, date):
        return int(datetime.combine(value, time(23, 59, 59), tzinfo=UTC).timestamp())
    return int(value)


def derived_status(stored: int, expires_at: int, now: int) -> CertificateStatus:
    """The contract's ``_derivedStatus``: an open certificate past its expiry is EXPIRED."""
    status = CertificateStatus(stored)
    return CertificateStatus.EXPIRED if status in _OPEN and now > expires_at else status


@dataclass(frozen=True)
class Point:
    """Where in history a question is asked: a block, or a time."""

    block: int | None
    time: int
    exact: bool = True
    """False when ``time`` is only the latest recorded block's before ``block``."""

    def upto(self, block_col: Any, time_col: Any) -> ColumnElement[bool]:
        """At or before the point."""
        clause: ColumnElement[bool] = (
            block_col <= self.block if self.block is not None else time_col <= self.time
        )
        return clause

    def before(self, block_col: Any, time_col: Any) -> ColumnElement[bool]:
        """Strictly after the point (for 'revoked after')."""
        clause: ColumnElement[bool] = (
            block_col > self.block if self.block is not None else time_col > self.time
        )
        return clause


@dataclass(frozen=True)
class Transition:
    event: str
    status: CertificateStatus
    block_number: int
    timestamp: int
    tx_hash: str
    actor: str | None
    detail: str | None
    related: str | None


@dataclass(frozen=True)
class CertificateState:
    """A certificate as the ledger held it at a point; blocks are None for steps that
    had not happened. ``status`` is derived at the point's time."""

    document_hash: str
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
    issuer: str | None
    requested_block: int | None
    issued_block: int | None
    responded_block: int | None
    closed_block: int | None
    requested_at: int | None
    issued_at: int | None
    responded_at: int | None
    closed_at: int | None
    supersedes: str | None
    superseded_by: str | None
    batch_root: str | None
    imported_on: int | None
    """Import date the importing authority entered (days since 1970-01-01), if received."""
    timeline: tuple[Transition, ...]
    point: Point

    def record(self) -> CertificateRecord:
        """The contract's view of it (:class:`kpledger.types.CertificateRecord`)."""

        def raw(value: str | None) -> bytes | None:
            return None if value is None else bytes.fromhex(value[2:])

        from eth_utils.address import to_checksum_address

        return CertificateRecord(
            document_hash=bytes.fromhex(self.document_hash[2:]),
            number=self.number,
            origin=self.origin,
            destination=self.destination,
            status=self.status,
            stored_status=self.stored_status,
            carats=self.carats,
            value_cents=self.value_cents,
            parcels=self.parcels,
            expires_at=self.expires_at,
            exporter=None if self.exporter is None else to_checksum_address(self.exporter),
            requested_block=self.requested_block,
            issued_block=self.issued_block,
            responded_block=self.responded_block,
            closed_block=self.closed_block,
            supersedes=raw(self.supersedes),
            superseded_by=raw(self.superseded_by),
            batch_root=raw(self.batch_root),
            issued_on=None if self.issued_at is None else day_date(self.issued_at // SECONDS_PER_DAY),
            imported_on=None if self.imported_on is None else day_date(self.imported_on),
        )


@dataclass(frozen=True)
class StatusEntry:
    event: str
    status: ParticipantStatus
    validity_days: int
    block_number: int
    timestamp: int
    actor: str | None
    detail: str | None


@dataclass(frozen=True)
class RoleHolding:
    code: str | None
    kind: str
    account: str
    granted_block: int
    granted_at: int
    revoked_block: int | None
    revoked_at: int | None


@dataclass(frozen=True)
class ParticipantState:
    """A participant at a point: status and validity in force, its history so far, and
    the accounts holding its roles then."""

    code: str
    name: str
    status: ParticipantStatus
    validity_days: int
    admitted_block: int
    admitted_at: int
    history: tuple[StatusEntry, ...]
    authorities: tuple[str, ...]
    exporters: tuple[str, ...]
    importers: tuple[str, ...]
    point: Point


class AuditIndex:
    """Read-only questions to an index built by :func:`kpledger.audit.replay`."""

    def __init__(self, db_url: str | Engine, *, chain: Any = None) -> None:
        """``chain`` (optional: a URL, Ledger, in-process chain...) is asked only for the
        time of a block the index did not record, to judge EXPIRED exactly there."""
        self.engine = s.engine_for(db_url)
        self._store = IndexStore(self.engine)
        self._source = None if chain is None else open_source(chain)
        self._times: dict[int, int] = {}

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> AuditIndex:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ points

    def checkpoint(self) -> Checkpoint:
        return self._store.checkpoint()

    def block_time(self, block: int) -> int:
        """Time of ``block``: recorded in the index, else from the chain if one was
        given, else the time of the latest recorded block before it (a lower bound)."""
        return self._block_time(block)[0]

    def _block_time(self, block: int) -> tuple[int, bool]:
        if block in self._times:
            return self._times[block], True
        blocks = s.blocks
        with self.engine.connect() as conn:
            query = select(blocks.c.number, blocks.c.timestamp).where(blocks.c.number <= block)
            found = conn.execute(query.order_by(blocks.c.number.desc()).limit(1)).first()
        if found is not None and int(found[0]) == block:
            return int(found[1]), True
        if self._source is not None:
            header = self._source.header(block)
            if header is not None:
                self._times[block] = header.timestamp
                return header.timestamp, True
        return (int(found[1]) if found is not None else 0), False

    def point(self, *, block: int | None = None, at: PointIn = None) -> Point:
        if block is not None and at is not None:
            raise ValueError("ask as of a block or as of a time, not both")
        if at is not None:
            return Point(None, to_unix(at), True)
        if block is None:
            block = self.checkpoint().block
        stamp, exact = self._block_time(block)
        return Point(block, stamp, exact)

    # ------------------------------------------------------------------ certificates

    def resolve(self, ref: str | bytes) -> str:
        """Document hash (``0x`` hex) of a certificate named by hash or number."""
        if isinstance(ref, bytes):
            return "0x" + ref.hex()
        if ref.startswith("0x") and len(ref) == 66:
            return ref.lower()
        with self.engine.connect() as conn:
            found = conn.execute(
                select(s.certificates.c.document_hash).where(s.certificates.c.number == ref)
            ).scalar()
        if found is None:
            raise NotFound(f"no certificate numbered {ref!r} in the index")
        return str(found)

    def certificate(
        self, ref: str | bytes, *, block: int | None = None, at: PointIn = None
    ) -> CertificateState | None:
        """The certificate at a point, or None if the ledger did not hold it then."""
        point = self.point(block=block, at=at)
        document_hash = self.resolve(ref)
        t = s.certificate_transitions
        with self.engine.connect() as conn:
            row = conn.execute(
                select(s.certificates).where(s.certificates.c.document_hash == document_hash)
            ).first()
            if row is None:
                return None
            steps = [
                dict(r)
                for r in conn.execute(
                    select(t)
                    .where(t.c.document_hash == document_hash, point.upto(t.c.block_number, t.c.timestamp))
                    .order_by(t.c.block_number, t.c.tx_index, t.c.log_index, t.c.id)
                ).mappings()
            ]
            if not steps or steps[0]["event"] not in CREATION_EVENTS:
                return None
            batches = s.batches

            def batch(root: str) -> tuple[int, int] | None:
                found = conn.execute(
                    select(batches.c.anchored_block, batches.c.anchored_at).where(batches.c.root == root)
                ).first()
                return None if found is None else (int(found[0]), int(found[1]))

            cert = recompute_certificate(dict(row._mapping), steps, batch)
        return _certificate_state(cert, steps, point)

    def timeline(self, ref: str | bytes) -> list[Transition]:
        state = self.certificate(ref)
        return [] if state is None else list(state.timeline)

    def certificate_hashes(self) -> list[str]:
        with self.engine.connect() as conn:
            query = select(s.certificates.c.document_hash).order_by(s.certificates.c.created_block)
            return [str(h) for h in conn.execute(query).scalars()]

    # ------------------------------------------------------------------ participants

    def status_at(self, code: str, block: int) -> ParticipantStatus:
        """Status in force at the end of ``block`` (the contract's ``statusAt``)."""
        state = self.participant(code, block=block)
        return ParticipantStatus.UNKNOWN if state is None else state.status

    def participant(
        self, code: str, *, block: int | None = None, at: PointIn = None
    ) -> ParticipantState | None:
        """The participant at a point, or None if it was not admitted by then."""
        point = self.point(block=block, at=at)
        code = code.upper()
        h = s.participant_status_history
        with self.engine.connect() as conn:
            row = conn.execute(select(s.participants).where(s.participants.c.code == code)).first()
            if row is None:
                return None
            history = [
                StatusEntry(
                    r["event"],
                    ParticipantStatus(r["status"]),
                    int(r["validity_days"]),
                    int(r["block_number"]),
                    int(r["timestamp"]),
                    r["actor"],
                    r["detail"],
                )
                for r in conn.execute(
                    select(h)
                    .where(h.c.code == code, point.upto(h.c.block_number, h.c.timestamp))
                    .order_by(h.c.block_number, h.c.tx_index, h.c.log_index)
                ).mappings()
            ]
            if not history:
                return None
            holders = self._holders(conn, code, point)
        last = history[-1]
        return ParticipantState(
            code=code,
            name=str(row._mapping["name"]),
            status=last.status,
            validity_days=last.validity_days,
            admitted_block=int(row._mapping["admitted_block"]),
            admitted_at=int(row._mapping["admitted_at"]),
            history=tuple(history),
            authorities=tuple(a for k, a in holders if k == "authority"),
            exporters=tuple(a for k, a in holders if k == "exporter"),
            importers=tuple(a for k, a in holders if k == "importer"),
            point=point,
        )

    def participants(self, *, block: int | None = None, at: PointIn = None) -> list[ParticipantState]:
        """Every participant admitted by the point, in order of admission."""
        with self.engine.connect() as conn:
            codes = conn.execute(
                select(s.participants.c.code).order_by(s.participants.c.admission_order)
            ).scalars()
            ordered = [str(c) for c in codes]
        found = (self.participant(c, block=block, at=at) for c in ordered)
        return [p for p in found if p is not None]

    def roles(
        self, code: str | None = None, *, block: int | None = None, at: PointIn = None, history: bool = False
    ) -> list[RoleHolding]:
        """Role holdings in force at the point (or, with ``history``, every holding that
        began by then), for one participant or all."""
        point = self.point(block=block, at=at)
        g = s.role_grants
        query = select(g).where(point.upto(g.c.granted_block, g.c.granted_at))
        if not history:
            query = query.where(
                or_(g.c.revoked_block.is_(None), point.before(g.c.revoked_block, g.c.revoked_at))
            )
        if code is not None:
            query = query.where(g.c.code == code.upper())
        query = query.order_by(g.c.granted_block, g.c.granted_tx_index, g.c.granted_log_index)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
        holdings: list[RoleHolding] = []
        for r in rows:
            revoked = _revoked(r["revoked_block"], point, r["revoked_at"])
            holdings.append(
                RoleHolding(
                    r["code"],
                    r["kind"],
                    r["account"],
                    int(r["granted_block"]),
                    int(r["granted_at"]),
                    revoked,
                    None if revoked is None else int(r["revoked_at"]),
                )
            )
        return holdings

    def _holders(self, conn: Any, code: str, point: Point) -> list[tuple[str, str]]:
        g = s.role_grants
        query = (
            select(g.c.kind, g.c.account)
            .where(
                g.c.code == code,
                point.upto(g.c.granted_block, g.c.granted_at),
                or_(g.c.revoked_block.is_(None), point.before(g.c.revoked_block, g.c.revoked_at)),
            )
            .order_by(g.c.granted_block, g.c.granted_tx_index, g.c.granted_log_index)
        )
        return [(str(k), str(a)) for k, a in conn.execute(query)]

    # ------------------------------------------------------------------ counts

    def counts(self) -> dict[str, int]:
        """Rows per table (for progress reports and tests)."""
        with self.engine.connect() as conn:
            return {
                table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in s.metadata.sorted_tables
            }

    def issues(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(select(s.replay_issues).order_by(s.replay_issues.c.id)).mappings()
            ]


def _revoked(block: int | None, point: Point, revoked_at: int | None) -> int | None:
    """A revocation after the point had not happened at the point."""
    if block is None:
        return None
    if point.block is not None:
        return int(block) if block <= point.block else None
    return int(block) if revoked_at is not None and revoked_at <= point.time else None


def _certificate_state(cert: dict[str, Any], steps: list[dict[str, Any]], point: Point) -> CertificateState:
    timeline = tuple(
        Transition(
            r["event"],
            CertificateStatus(r["status"]),
            int(r["block_number"]),
            int(r["timestamp"]),
            r["tx_hash"],
            r["actor"],
            r["detail"],
            r["related"],
        )
        for r in steps
    )
    stored = CertificateStatus(cert["stored_status"])
    return CertificateState(
        document_hash=cert["document_hash"],
        number=cert["number"],
        origin=cert["origin"],
        destination=cert["destination"],
        status=derived_status(stored, int(cert["expires_at"]), point.time),
        stored_status=stored,
        carats=int(cert["carats"]),
        value_cents=int(cert["value_cents"]),
        parcels=int(cert["parcels"]),
        expires_at=int(cert["expires_at"]),
        exporter=cert["exporter"],
        issuer=cert["issuer"],
        requested_block=cert["requested_block"],
        issued_block=cert["issued_block"],
        responded_block=cert["responded_block"],
        closed_block=cert["closed_block"],
        requested_at=cert["requested_at"],
        issued_at=cert["issued_at"],
        responded_at=cert["responded_at"],
        closed_at=cert["closed_at"],
        supersedes=cert["supersedes"],
        superseded_by=cert["superseded_by"],
        batch_root=cert["batch_root"],
        imported_on=cert["imported_on"],
        timeline=timeline,
        point=point,
    )


__all__ = [
    "AuditIndex",
    "CertificateState",
    "ParticipantState",
    "Point",
    "RoleHolding",
    "StatusEntry",
    "Transition",
    "derived_status",
    "to_unix",
]
