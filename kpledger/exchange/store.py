"""A national node's durable exchange store: outbox, inbox, relay queue, refusal log.

Why a database and not files: "no message is lost" means an envelope is written before
anything is acknowledged (sender: before the first push; recipient: before the receipt
leaves), and the id is the primary key everywhere, so a retry after a crash can never
make a second row. SQLite (WAL) by default; any SQLAlchemy URL (``postgresql+psycopg://``)
for a national system that already runs PostgreSQL.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

outbox = Table(
    "exchange_outbox",
    metadata,
    Column("id", String(34), primary_key=True),
    Column("recipient", String(2), nullable=False, index=True),
    Column("number", Text, nullable=False),
    Column("document_hash", String(66), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False, index=True),  # pending | delivered | refused | acknowledged
    Column("reason", String(32)),
    Column("detail", Text),
    Column("receipt", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", Integer, nullable=False, default=0),
    Column("created_at", Integer, nullable=False),
    Column("updated_at", Integer, nullable=False),
)
inbox = Table(
    "exchange_inbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(34), nullable=False, unique=True),
    Column("sender", String(2), nullable=False, index=True),
    Column("number", Text, nullable=False),
    Column("document_hash", String(66), nullable=False, unique=True),
    Column("digest", String(66), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("document", Text, nullable=False),
    Column("proof", Text),
    Column("receipt", Text, nullable=False),
    Column("state", String(16), nullable=False, default="received"),  # received | confirmed | disputed
    Column("received_at", Integer, nullable=False),
)
refusals = Table(
    "exchange_refusals",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(34)),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", Integer, nullable=False),
)
relay = Table(
    "exchange_relay",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(34), nullable=False, unique=True),
    Column("recipient", String(2), nullable=False, index=True),
    Column("body", LargeBinary, nullable=False),
    Column("receipt", Text),
    Column("stored_at", Integer, nullable=False),
)
tokens = Table(
    "exchange_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("label", Text, nullable=False),
    Column("created_at", Integer, nullable=False),
)


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    recipient: str
    number: str
    document_hash: str
    body: bytes
    state: str
    reason: str | None
    detail: str | None
    receipt: dict[str, Any] | None
    attempts: int
    next_attempt: int


@dataclass(frozen=True)
class InboxEntry:
    seq: int
    id: str
    sender: str
    number: str
    document_hash: str
    digest: str
    document: dict[str, Any]
    proof: dict[str, Any] | None
    receipt: dict[str, Any]
    state: str
    received_at: int

    def summary(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "sender": self.sender,
            "number": self.number,
            "document_hash": self.document_hash,
            "state": self.state,
            "received_at": self.received_at,
            "batch_member": self.proof is not None,
        }


def _sqlite_url(target: str | Path) -> str:
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


class ExchangeStore:
    def __init__(self, target: str | Path) -> None:
        url = _sqlite_url(target)
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):

            @event.listens_for(self.engine, "connect")
            def _pragmas(connection: Any, _record: Any) -> None:
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=10000")
                cursor.close()

        metadata.create_all(self.engine)

    # ------------------------------------------------------------------ outbox

    def enqueue(self, envelope_id: str, recipient: str, number: str, document_hash: str, body: bytes) -> bool:
        """Record an envelope to send; False if that id is already there (idempotent)."""
        now = int(time.time())
        try:
            with self.engine.begin() as db:
                db.execute(
                    insert(outbox).values(
                        id=envelope_id,
                        recipient=recipient,
                        number=number,
                        document_hash=document_hash,
                        body=body,
                        state="pending",
                        attempts=0,
                        next_attempt=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def due(self, now: float, limit: int = 200) -> list[OutboxEntry]:
        with self.engine.connect() as db:
            rows = db.execute(
                select(outbox)
                .where(outbox.c.state == "pending", outbox.c.next_attempt <= int(now * 1000))
                .order_by(outbox.c.created_at, outbox.c.id)
                .limit(limit)
            ).mappings()
            return [_outbox_entry(r) for r in rows]

    def retry_later(self, envelope_id: str, attempts: int, next_attempt_ms: int, detail: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                update(outbox)
                .where(outbox.c.id == envelope_id, outbox.c.state == "pending")
                .values(
                    attempts=attempts,
                    next_attempt=next_attempt_ms,
                    detail=detail,
                    updated_at=int(time.time()),
                )
            )

    def settle(
        self, envelope_id: str, state: str, receipt: dict[str, Any], reason: str | None, detail: str
    ) -> None:
        with self.engine.begin() as db:
            db.execute(
                update(outbox)
                .where(outbox.c.id == envelope_id)
                .values(
                    state=state,
                    receipt=json.dumps(receipt),
                    reason=reason,
                    detail=detail,
                    attempts=outbox.c.attempts + 1,
                    updated_at=int(time.time()),
                )
            )

    def outbox_entry(self, envelope_id: str) -> OutboxEntry | None:
        with self.engine.connect() as db:
            row = db.execute(select(outbox).where(outbox.c.id == envelope_id)).mappings().first()
            return None if row is None else _outbox_entry(row)

    def outbox_entries(self, state: str | None = None) -> list[OutboxEntry]:
        query = select(outbox).order_by(outbox.c.created_at, outbox.c.id)
        if state is not None:
            query = query.where(outbox.c.state == state)
        with self.engine.connect() as db:
            return [_outbox_entry(r) for r in db.execute(query).mappings()]

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as db:
            rows = db.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
            return {str(state): int(count) for state, count in rows}

    # ------------------------------------------------------------------ inbox

    def inbox_by_id(self, envelope_id: str) -> InboxEntry | None:
        with self.engine.connect() as db:
            row = db.execute(select(inbox).where(inbox.c.id == envelope_id)).mappings().first()
            return None if row is None else _inbox_entry(row)

    def inbox_by_hash(self, document_hash: str) -> InboxEntry | None:
        with self.engine.connect() as db:
            row = db.execute(select(inbox).where(inbox.c.document_hash == document_hash)).mappings().first()
            return None if row is None else _inbox_entry(row)

    def deliver(self, values: dict[str, Any]) -> InboxEntry:
        """Store an accepted envelope (its receipt included) in one transaction; if the
        same id won a race, the stored entry is returned instead."""
        try:
            with self.engine.begin() as db:
                db.execute(insert(inbox).values(**values))
        except IntegrityError:
            pass
        entry = self.inbox_by_id(values["id"]) or self.inbox_by_hash(values["document_hash"])
        assert entry is not None
        return entry

    def inbox_entries(
        self, *, after: int = 0, state: str | None = None, limit: int = 1000
    ) -> list[InboxEntry]:
        query = select(inbox).where(inbox.c.seq > after).order_by(inbox.c.seq).limit(limit)
        if state is not None:
            query = query.where(inbox.c.state == state)
        with self.engine.connect() as db:
            return [_inbox_entry(r) for r in db.execute(query).mappings()]

    def set_inbox_state(self, envelope_id: str, state: str) -> None:
        with self.engine.begin() as db:
            db.execute(update(inbox).where(inbox.c.id == envelope_id).values(state=state))

    def inbox_count(self) -> int:
        with self.engine.connect() as db:
            return int(db.execute(select(func.count()).select_from(inbox)).scalar_one())

    # ------------------------------------------------------------------ refusals

    def log_refusal(self, envelope_id: str | None, reason: str, detail: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                insert(refusals).values(id=envelope_id, reason=reason, detail=detail, at=int(time.time()))
            )

    def refusal_counts(self) -> dict[str, int]:
        with self.engine.connect() as db:
            rows = db.execute(select(refusals.c.reason, func.count()).group_by(refusals.c.reason)).all()
            return {str(reason): int(count) for reason, count in rows}

    # ------------------------------------------------------------------ relay

    def hold(self, envelope_id: str, recipient: str, body: bytes) -> None:
        try:
            with self.engine.begin() as db:
                db.execute(
                    insert(relay).values(
                        id=envelope_id, recipient=recipient, body=body, stored_at=int(time.time())
                    )
                )
        except IntegrityError:
            pass

    def held_for(self, recipient: str, after: int = 0, limit: int = 500) -> list[tuple[int, str, bytes]]:
        with self.engine.connect() as db:
            rows = db.execute(
                select(relay.c.seq, relay.c.id, relay.c.body)
                .where(relay.c.recipient == recipient, relay.c.seq > after, relay.c.receipt.is_(None))
                .order_by(relay.c.seq)
                .limit(limit)
            ).all()
            return [(int(seq), str(i), bytes(body)) for seq, i, body in rows]

    def relay_receipt(self, envelope_id: str, receipt: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Store (when given) and return the recipient's receipt for a held envelope."""
        with self.engine.begin() as db:
            if receipt is not None:
                db.execute(update(relay).where(relay.c.id == envelope_id).values(receipt=json.dumps(receipt)))
            row = db.execute(select(relay.c.receipt).where(relay.c.id == envelope_id)).first()
        return None if row is None or row[0] is None else json.loads(row[0])

    # ------------------------------------------------------------------ API tokens

    def add_token(self, digest: str, label: str) -> None:
        with self.engine.begin() as db:
            db.execute(insert(tokens).values(digest=digest, label=label, created_at=int(time.time())))

    def has_token(self, digest: str) -> bool:
        with self.engine.connect() as db:
            return db.execute(select(tokens.c.digest).where(tokens.c.digest == digest)).first() is not None

    def close(self) -> None:
        self.engine.dispose()


def _outbox_entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        recipient=row["recipient"],
        number=row["number"],
        document_hash=row["document_hash"],
        body=bytes(row["body"]),
        state=row["state"],
        reason=row["reason"],
        detail=row["detail"],
        receipt=None if row["receipt"] is None else json.loads(row["receipt"]),
        attempts=int(row["attempts"]),
        next_attempt=int(row["next_attempt"]),
    )


def _inbox_entry(row: Any) -> InboxEntry:
    return InboxEntry(
        seq=int(row["seq"]),
        id=row["id"],
        sender=row["sender"],
        number=row["number"],
        document_hash=row["document_hash"],
        digest=row["digest"],
        document=json.loads(row["document"]),
        proof=None if row["proof"] is None else json.loads(row["proof"]),
        receipt=json.loads(row["receipt"]),
        state=row["state"],
        received_at=int(row["received_at"]),
    )
