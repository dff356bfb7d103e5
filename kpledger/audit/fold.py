"""Turn decoded events into index rows, applying the contracts' rules as they go.

Why a module without SQL: the same rules serve the forward replay (events -> rows),
the rollback after a reorg (a certificate's summary row recomputed from the
transitions that survive) and the "as of" queries (the summary at an earlier point).
Keeping them pure makes "the index is a function of the events" checkable.

A certificate's summary row is its terms (fixed at creation) plus fields that
:func:`apply_transition` derives from its transitions, mirroring the contract's
``Record``: stored status, the requested / issued / responded / closed blocks, the
amendment links. A transition the contract should never have allowed is still applied
(the chain did apply it) and reported as a replay issue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from eth_hash.auto import keccak  # not eth_utils: the writer process imports this module

from kpledger.types import CertificateStatus, ParticipantStatus, RoleKind

if TYPE_CHECKING:
    from kpledger.audit.decode import Args

Row = dict[str, Any]
ZERO_HASH = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20

REQUESTED = int(CertificateStatus.REQUESTED)
ISSUED = int(CertificateStatus.ISSUED)
RECEIVED = int(CertificateStatus.RECEIVED)
DISPUTED = int(CertificateStatus.DISPUTED)
VOIDED = int(CertificateStatus.VOIDED)
SUPERSEDED = int(CertificateStatus.SUPERSEDED)
ACTIVE = int(ParticipantStatus.ACTIVE)
SUSPENDED = int(ParticipantStatus.SUSPENDED)

CREATION_EVENTS = frozenset({"CertificateRequested", "CertificateIssued"})
CERTIFICATE_EVENTS = frozenset(
    {
        "CertificateRequested",
        "CertificateIssued",
        "CertificateValidated",
        "CertificateReceived",
        "CertificateDisputed",
        "DisputeResolved",
        "CertificateVoided",
        "CertificateSuperseded",
    }
)
PARTICIPANT_EVENTS = frozenset(
    {"ParticipantAdmitted", "ParticipantSuspended", "ParticipantReadmitted", "ValidityPeriodChanged"}
)

# Transition -> (stored statuses it may leave, stored status it leads to).
RULES: dict[str, tuple[frozenset[int], int]] = {
    "CertificateValidated": (frozenset({REQUESTED}), ISSUED),
    "CertificateReceived": (frozenset({ISSUED}), RECEIVED),
    "CertificateDisputed": (frozenset({ISSUED}), DISPUTED),
    "DisputeResolved": (frozenset({DISPUTED}), RECEIVED),
    "CertificateVoided": (frozenset({REQUESTED, ISSUED, DISPUTED}), VOIDED),
    "CertificateSuperseded": (frozenset({ISSUED}), SUPERSEDED),
}

# Fields of a certificate row that transitions derive (reset before a recomputation).
DERIVED_FIELDS: dict[str, Any] = {
    "issuer": None,
    "stored_status": 0,
    "requested_block": None,
    "requested_at": None,
    "issued_block": None,
    "issued_at": None,
    "responded_block": None,
    "responded_at": None,
    "closed_block": None,
    "closed_at": None,
    "closed_by": None,
    "imported_on": None,
    "supersedes": None,
    "superseded_by": None,
}


def role_id(seed: str, code: str) -> str:
    """``keccak256(abi.encode(keccak256(seed), bytes2(code)))``, the registry's scoped role."""
    raw = code.encode("ascii") if len(code) == 2 else bytes.fromhex(code[2:])
    return "0x" + keccak(keccak(seed.encode()) + raw.ljust(32, b"\0")).hex()


SCOPED_SEEDS = {"authority": "AUTHORITY_ROLE", "exporter": "EXPORTER_ROLE", "importer": "IMPORTER_ROLE"}
ROLE_KIND_NAMES = {
    int(RoleKind.AUTHORITY): "authority",
    int(RoleKind.EXPORTER): "exporter",
    int(RoleKind.IMPORTER): "importer",
}
GLOBAL_ROLES = {
    ZERO_HASH: "admin",
    **{
        "0x" + keccak(name.encode()).hex(): name.removesuffix("_ROLE").lower()
        for name in ("GOVERNANCE_ROLE", "AUDITOR_ROLE", "AUTHORITY_ROLE", "EXPORTER_ROLE", "IMPORTER_ROLE")
    },
}


class Event(NamedTuple):
    """A decoded log with its place in the chain."""

    block_number: int
    tx_index: int
    log_index: int
    tx_hash: str
    block_hash: str
    timestamp: int
    contract: str
    name: str
    args: Args


def subject_of(name: str, args: Args) -> tuple[str | None, str | None]:
    """What an event is about, and the other thing it links to."""
    if name in CERTIFICATE_EVENTS:
        related: Any = args.get("replacement")
        root = args.get("batchRoot")
        if root is not None and root != ZERO_HASH:
            related = root
        return str(args["documentHash"]), None if related is None else str(related)
    if "code" in args:
        return str(args["code"]), None
    if "root" in args:
        return str(args["root"]), None
    if "role" in args:
        return str(args["role"]), None
    return None, None


EVENT_COLUMNS = (
    "block_number",
    "tx_index",
    "log_index",
    "tx_hash",
    "contract",
    "name",
    "subject",
    "related",
    "args",
)
"""The ``events`` columns of an :func:`event_row`, in its order."""


def event_row(event: Event) -> tuple[Any, ...]:
    """An ``events`` row as a tuple in :data:`EVENT_COLUMNS` order: the writer hands it
    to the driver as it is (a dict per event cost more than its insert)."""
    block, tx_index, log_index, tx_hash, _, _, contract, name, args = event
    subject, related = subject_of(name, args)
    text = orjson.dumps(args).decode()  # compact JSON; orjson is 5x faster than json
    return (block, tx_index, log_index, tx_hash, contract, name, subject, related, text)


def _address(value: Any) -> str | None:
    text = str(value)
    return None if text == ZERO_ADDRESS else text


def new_certificate(event: Event) -> Row:
    """The row a creation event (requested or issued) starts a certificate with."""
    args = event.args
    root = str(args.get("batchRoot", ZERO_HASH))
    return {
        "document_hash": args["documentHash"],
        "number": args["number"],
        "origin": args["origin"],
        "destination": args["destination"],
        "carats": args["carats"],
        "value_cents": args["valueCents"],
        "parcels": args["parcels"],
        "expires_at": args["expiresAt"],
        "exporter": _address(args["exporter"]),
        "batch_root": None if root == ZERO_HASH else root,
        "created_block": event.block_number,
        "updated_block": event.block_number,
        **DERIVED_FIELDS,
    }


TRANSITION_COLUMNS = (
    "document_hash",
    "event",
    "status",
    "block_number",
    "tx_index",
    "log_index",
    "timestamp",
    "tx_hash",
    "actor",
    "detail",
    "related",
    "imported_on",
)
"""The ``certificate_transitions`` columns of a transition row, in its order."""


def actor_of(args: Args) -> str | None:
    """Who made a certificate transition (None for the zero address)."""
    actor = args.get("by") or args.get("issuer") or args.get("exporter")
    return None if actor is None else _address(actor)


def imported_on_of(args: Args) -> int | None:
    """The import date (day number since 1970-01-01) a receipt or resolution carries."""
    day = args.get("importedOn")
    return None if day is None else int(day)


def detail_of(args: Args) -> str | None:
    detail = args.get("reason", args.get("note"))
    return None if detail is None else str(detail)


BatchLookup = Callable[[str], tuple[int, int] | None]


def apply_transition(cert: Row, transition: Mapping[str, Any], batch: BatchLookup) -> str | None:
    """Apply one transition row (a mapping with the ``certificate_transitions`` columns)
    to a certificate row; returns a problem, if the contract's rules forbid it (the
    transition is applied anyway: the chain did)."""
    return apply_step(
        cert,
        transition["event"],
        transition["block_number"],
        transition["timestamp"],
        transition["actor"],
        transition["related"],
        batch,
        transition.get("imported_on"),
    )


def apply_step(
    cert: Row,
    name: str,
    block: int,
    stamp: int,
    actor: str | None,
    related: str | None,
    batch: BatchLookup,
    imported_on: int | None = None,
) -> str | None:
    """:func:`apply_transition` with the transition's fields as arguments (the replay's
    path, which builds its transition rows as tuples)."""
    cert["updated_block"] = block
    if name == "CertificateRequested":
        cert["stored_status"] = REQUESTED
        cert["requested_block"], cert["requested_at"] = block, stamp
        return None
    if name == "CertificateIssued":
        cert["stored_status"] = ISSUED
        cert["issuer"] = actor
        cert["issued_block"], cert["issued_at"] = block, stamp
        if related is not None:
            anchored = batch(related)
            if anchored is None:
                return f"revealed from batch {related}, which was never anchored"
            cert["issued_block"], cert["issued_at"] = anchored
        return None
    if name == "Supersedes":
        cert["supersedes"] = related
        return None
    allowed, target = RULES[name]
    before = cert["stored_status"]
    cert["stored_status"] = target
    if name == "CertificateValidated":
        cert["issuer"] = actor
        cert["issued_block"], cert["issued_at"] = block, stamp
    elif name == "CertificateDisputed":
        cert["responded_block"], cert["responded_at"] = block, stamp
    else:
        cert["closed_block"], cert["closed_at"], cert["closed_by"] = block, stamp, actor
        if imported_on is not None:
            cert["imported_on"] = imported_on
        if name == "CertificateSuperseded":
            cert["superseded_by"] = related
    if before not in allowed:
        return f"{name} from status {CertificateStatus(before).name}, which the contract forbids"
    return None


def recompute_certificate(cert: Row, transitions: Iterable[Mapping[str, Any]], batch: BatchLookup) -> Row:
    """``cert`` with its derived fields rebuilt from ``transitions`` (in chain order)."""
    fresh = {**cert, **DERIVED_FIELDS}
    fresh["updated_block"] = fresh["created_block"]
    for transition in transitions:
        apply_transition(fresh, transition, batch)
    return fresh


def apply_participant_change(participant: Row, change: Mapping[str, Any]) -> None:
    participant["status"] = change["status"]
    participant["validity_days"] = change["validity_days"]
    participant["updated_block"] = change["block_number"]


@dataclass
class ChunkRows:
    """Everything one chunk writes, in one transaction."""

    blocks: dict[int, Row] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)  # in EVENT_COLUMNS order
    new_certificates: dict[str, Row] = field(default_factory=dict)
    changed_certificates: dict[str, Row] = field(default_factory=dict)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)  # in TRANSITION_COLUMNS order
    new_participants: dict[str, Row] = field(default_factory=dict)
    changed_participants: dict[str, Row] = field(default_factory=dict)
    history: list[Row] = field(default_factory=list)
    new_grants: list[Row] = field(default_factory=list)
    revocations: list[Row] = field(default_factory=list)
    batches: list[Row] = field(default_factory=list)
    issues: list[Row] = field(default_factory=list)


class IndexReader(NamedTuple):
    """What the folder needs from the index for a chunk."""

    certificates: Callable[[Iterable[str]], dict[str, Row]]
    batch: Callable[[str], tuple[int, int] | None]


@dataclass
class FoldState:
    """What the folder keeps in memory between chunks: small, loaded once per run."""

    participants: dict[str, Row] = field(default_factory=dict)
    open_grants: dict[tuple[str, str], Row | None] = field(default_factory=dict)
    batches: dict[str, tuple[int, int]] = field(default_factory=dict)
    no_certificates: bool = False
    """The index held no certificate when this state was read: any certificate in it
    since was created by the folder that started from this state."""

    def scoped_roles(self) -> dict[str, tuple[str, str]]:
        return {
            role_id(seed, code): (code, kind)
            for code in self.participants
            for kind, seed in SCOPED_SEEDS.items()
        }


RECENT_CHUNKS = 4


class CreatedFilter:
    """The document hashes a folder created, as a Bloom filter: "no" is certain, "yes"
    may be wrong (then the index is asked, and says no).

    Why: a first replay looks up every certificate a chunk names, to find those the
    index already has; most of them are created in that very chunk, so the index says
    no a hundred thousand times (half a second of the decoding process's CPU for
    300,000 events). When the index started empty, a certificate can only be there if
    this folder created it, and the filter rules out the others. Why not a set: 4 MiB,
    whatever the history's size; with millions of certificates more answers are wrong,
    and each costs one lookup. Two probes from the string's own hash (SipHash, uniform
    whatever the hash text)."""

    BITS = 25
    _MASK = (1 << BITS) - 1

    def __init__(self) -> None:
        self._bits = bytearray(1 << (self.BITS - 3))

    def add(self, item: str) -> None:
        code = hash(item)
        for bit in (code & self._MASK, (code >> self.BITS) & self._MASK):
            self._bits[bit >> 3] |= 1 << (bit & 7)

    def __contains__(self, item: str) -> bool:
        code = hash(item)
        bits = self._bits
        first, second = code & self._MASK, (code >> self.BITS) & self._MASK
        return bool(bits[first >> 3] >> (first & 7) & 1 and bits[second >> 3] >> (second & 7) & 1)


class Folder:
    """Applies chunks of events to the index, one :class:`ChunkRows` per chunk."""

    def __init__(self, state: FoldState, reader: IndexReader) -> None:
        self.state = state
        self.reader = reader
        self._scoped = state.scoped_roles()
        self._handlers: dict[str, Callable[[Event, ChunkRows], None]] = {
            "CertificateRequested": self._created,
            "CertificateIssued": self._created,
            "CertificateSuperseded": self._superseded,
            "ParticipantAdmitted": self._admitted,
            "ParticipantSuspended": self._participant_change,
            "ParticipantReadmitted": self._participant_change,
            "ValidityPeriodChanged": self._participant_change,
            "ParticipantRoleGranted": self._scoped_granted,
            "ParticipantRoleRevoked": self._scoped_revoked,
            "RoleGranted": self._role_granted,
            "RoleRevoked": self._role_revoked,
            "BatchAnchored": self._batch_anchored,
        }
        for name in RULES:
            self._handlers.setdefault(name, self._transition)
        self._certs: dict[str, Row] = {}
        self._existing: set[str] = set()
        # Rows of the last chunks, newest first; more than the chunks a writer can hold.
        self._recent: deque[dict[str, Row]] = deque(maxlen=RECENT_CHUNKS)
        self._created_here = CreatedFilter() if state.no_certificates else None

    def fold(self, chunk_events: list[Event]) -> ChunkRows:
        """The rows of one chunk. They are fresh objects: the folder never changes them
        after it returns them, so another thread may write them meanwhile."""
        rows = ChunkRows()
        # Grants of the previous chunk are written now: revoke them in the index.
        for key, grant in self.state.open_grants.items():
            if grant is not None:
                self.state.open_grants[key] = None
        wanted = {str(e.args["documentHash"]) for e in chunk_events if e.name in CERTIFICATE_EVENTS}
        wanted |= {str(e.args["replacement"]) for e in chunk_events if e.name == "CertificateSuperseded"}
        self._certs = self._lookup(wanted)
        self._existing = set(self._certs)
        add_row, handler_of = rows.events.append, self._handlers.get
        for event in chunk_events:
            add_row(event_row(event))
            handler = handler_of(event.name)
            if handler is not None:
                handler(event, rows)
        touched: dict[str, Row] = {}
        for document_hash, cert in self._certs.items():
            if cert.pop("_touched", False):
                touched[document_hash] = cert
                target = (
                    rows.changed_certificates if document_hash in self._existing else rows.new_certificates
                )
                target[document_hash] = cert
        self._recent.appendleft(touched)
        self._certs = {}
        rows.new_participants = {c: dict(p) for c, p in rows.new_participants.items()}
        rows.changed_participants = {c: dict(p) for c, p in rows.changed_participants.items()}
        return rows

    def _lookup(self, hashes: set[str]) -> dict[str, Row]:
        """Certificates as the previous chunks left them: from the rows of the last
        chunks (which may still be on their way to the index), else from the index.
        Copies, so that this chunk's changes never reach rows being written."""
        found: dict[str, Row] = {}
        for generation in self._recent:
            for document_hash in hashes - found.keys():
                row = generation.get(document_hash)
                if row is not None:
                    found[document_hash] = dict(row)
        missing = hashes - found.keys()
        if self._created_here is not None:
            missing = {h for h in missing if h in self._created_here}
        if missing:
            found.update(self.reader.certificates(missing))
        return found

    # ------------------------------------------------------------------ certificates

    def _issue(self, rows: ChunkRows, event: Event, message: str) -> None:
        rows.issues.append(
            {
                "block_number": event.block_number,
                "tx_hash": event.tx_hash,
                "log_index": event.log_index,
                "event": event.name,
                "message": message,
            }
        )

    def _batch(self, root: str) -> tuple[int, int] | None:
        found = self.state.batches.get(root)
        if found is None:
            found = self.reader.batch(root)
            if found is not None:
                self.state.batches[root] = found
        return found

    def _apply(self, rows: ChunkRows, event: Event, cert: Row, name: str, related: str | None) -> None:
        args = event.args
        actor = actor_of(args)
        block, stamp = event.block_number, event.timestamp
        imported_on = imported_on_of(args)
        problem = apply_step(cert, name, block, stamp, actor, related, self._batch, imported_on)
        cert["_touched"] = True
        document_hash = cert["document_hash"]
        rows.transitions.append(
            (
                document_hash,
                name,
                cert["stored_status"],
                block,
                event.tx_index,
                event.log_index,
                stamp,
                event.tx_hash,
                actor,
                detail_of(args),
                related,
                imported_on,
            )
        )
        if problem is not None:
            self._issue(rows, event, f"certificate {document_hash}: {problem}")

    def _created(self, event: Event, rows: ChunkRows) -> None:
        document_hash = str(event.args["documentHash"])
        if document_hash in self._certs:
            self._issue(rows, event, f"document hash {document_hash} was used before")
            return
        cert = new_certificate(event)
        self._certs[document_hash] = cert
        if self._created_here is not None:
            self._created_here.add(document_hash)
        self._apply(rows, event, cert, event.name, cert["batch_root"])

    def _known(self, event: Event, rows: ChunkRows, document_hash: str) -> Row | None:
        cert = self._certs.get(document_hash)
        if cert is None:
            self._issue(rows, event, f"{event.name} of unknown certificate {document_hash}")
        return cert

    def _transition(self, event: Event, rows: ChunkRows) -> None:
        document_hash = str(event.args["documentHash"])
        cert = self._known(event, rows, document_hash)
        if cert is not None:
            self._apply(rows, event, cert, event.name, None)

    def _superseded(self, event: Event, rows: ChunkRows) -> None:
        old, new = str(event.args["documentHash"]), str(event.args["replacement"])
        cert = self._known(event, rows, old)
        if cert is not None:
            self._apply(rows, event, cert, event.name, new)
        replacement = self._known(event, rows, new)
        if replacement is not None:
            self._apply(rows, event, replacement, "Supersedes", old)

    def _batch_anchored(self, event: Event, rows: ChunkRows) -> None:
        args = event.args
        root = str(args["root"])
        self.state.batches[root] = (event.block_number, event.timestamp)
        rows.batches.append(
            {
                "root": root,
                "origin": args["origin"],
                "issuer": args["issuer"],
                "count": args["count"],
                "anchored_block": event.block_number,
                "anchored_at": event.timestamp,
                "tx_hash": event.tx_hash,
            }
        )

    # ------------------------------------------------------------------ participants

    def _history_row(self, event: Event, code: str, status: int, validity: int, detail: Any) -> Row:
        return {
            "code": code,
            "event": event.name,
            "status": status,
            "validity_days": validity,
            "block_number": event.block_number,
            "tx_index": event.tx_index,
            "log_index": event.log_index,
            "timestamp": event.timestamp,
            "tx_hash": event.tx_hash,
            "actor": event.args.get("by"),
            "detail": None if detail is None else str(detail),
        }

    def _admitted(self, event: Event, rows: ChunkRows) -> None:
        code = str(event.args["code"])
        if code in self.state.participants:
            self._issue(rows, event, f"participant {code} admitted twice")
            return
        validity = int(event.args["validityDays"])
        participant = {
            "code": code,
            "name": event.args["name"],
            "status": ACTIVE,
            "validity_days": validity,
            "admitted_block": event.block_number,
            "admitted_at": event.timestamp,
            "admission_order": len(self.state.participants),
            "updated_block": event.block_number,
        }
        self.state.participants[code] = participant
        rows.new_participants[code] = participant
        rows.history.append(self._history_row(event, code, ACTIVE, validity, event.args["name"]))
        for kind, seed in SCOPED_SEEDS.items():
            self._scoped[role_id(seed, code)] = (code, kind)

    def _participant_change(self, event: Event, rows: ChunkRows) -> None:
        code = str(event.args["code"])
        participant = self.state.participants.get(code)
        if participant is None:
            self._issue(rows, event, f"{event.name} of unknown participant {code}")
            return
        status, validity = participant["status"], participant["validity_days"]
        if event.name == "ParticipantSuspended":
            if status != ACTIVE:
                self._issue(rows, event, f"participant {code} suspended while not active")
            status = SUSPENDED
        elif event.name == "ParticipantReadmitted":
            if status != SUSPENDED:
                self._issue(rows, event, f"participant {code} readmitted while not suspended")
            status = ACTIVE
        else:
            validity = int(event.args["validityDays"])
        detail = event.args.get("reason")
        change = self._history_row(event, code, status, validity, detail)
        apply_participant_change(participant, change)
        rows.history.append(change)
        if code not in rows.new_participants:
            rows.changed_participants[code] = participant

    # ------------------------------------------------------------------ roles

    def _grant(
        self, event: Event, rows: ChunkRows, code: str | None, kind: str, role: str, account: str
    ) -> None:
        key = (role, account)
        if key in self.state.open_grants:
            self._issue(rows, event, f"{kind} role granted to {account}, who holds it")
        row = {
            "code": code,
            "kind": kind,
            "role": role,
            "account": account,
            "granted_block": event.block_number,
            "granted_tx_index": event.tx_index,
            "granted_log_index": event.log_index,
            "granted_at": event.timestamp,
            "granted_by": event.args.get("by", event.args.get("sender")),
            "granted_tx": event.tx_hash,
            "revoked_block": None,
            "revoked_tx_index": None,
            "revoked_log_index": None,
            "revoked_at": None,
            "revoked_by": None,
            "revoked_tx": None,
        }
        rows.new_grants.append(row)
        self.state.open_grants[key] = row

    def _revoke(self, event: Event, rows: ChunkRows, kind: str, role: str, account: str) -> None:
        key = (role, account)
        if key not in self.state.open_grants:
            self._issue(rows, event, f"{kind} role revoked from {account}, who does not hold it")
            return
        row = self.state.open_grants.pop(key)
        revoked = {
            "revoked_block": event.block_number,
            "revoked_tx_index": event.tx_index,
            "revoked_log_index": event.log_index,
            "revoked_at": event.timestamp,
            "revoked_by": event.args.get("by", event.args.get("sender")),
            "revoked_tx": event.tx_hash,
        }
        if row is not None:  # granted in this run: still in memory, not yet written
            row.update(revoked)
        else:
            rows.revocations.append({"b_role": role, "b_account": account, **revoked})

    def _scoped_granted(self, event: Event, rows: ChunkRows) -> None:
        code, kind = str(event.args["code"]), ROLE_KIND_NAMES.get(int(event.args["kind"]), "unknown")
        role = role_id(SCOPED_SEEDS.get(kind, kind), code)
        self._grant(event, rows, code, kind, role, str(event.args["account"]))

    def _scoped_revoked(self, event: Event, rows: ChunkRows) -> None:
        code, kind = str(event.args["code"]), ROLE_KIND_NAMES.get(int(event.args["kind"]), "unknown")
        role = role_id(SCOPED_SEEDS.get(kind, kind), code)
        self._revoke(event, rows, kind, role, str(event.args["account"]))

    def _role_granted(self, event: Event, rows: ChunkRows) -> None:
        role = str(event.args["role"])
        if role in self._scoped:  # the registry's own event carries it, with its kind
            return
        self._grant(
            event, rows, None, GLOBAL_ROLES.get(role, f"role:{role}"), role, str(event.args["account"])
        )

    def _role_revoked(self, event: Event, rows: ChunkRows) -> None:
        role = str(event.args["role"])
        if role in self._scoped:
            return
        self._revoke(event, rows, GLOBAL_ROLES.get(role, f"role:{role}"), role, str(event.args["account"]))
