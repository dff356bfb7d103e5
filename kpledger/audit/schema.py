"""The auditor's index: SQLAlchemy Core tables, one engine factory.

Why Core and not the ORM: replay writes tens of thousands of rows a second with
``executemany``; ORM unit-of-work bookkeeping would cost more than the writes. Why
hex text for hashes and addresses: an auditor opens the index with any SQL client and
pastes a document hash from a certificate; ``0x`` + lower-case hex is what block
explorers, the API and the CLI print, so it matches without conversions.

Every row derives from the contracts' events (``events``) and the blocks that carry
them (``blocks``); the derived tables are a pure function of those two, so a row is
never written that a later replay of the same blocks would write differently.
Conventions: carats in hundredths, values in US cents, times in Unix seconds (UTC),
addresses lower-case, participant codes as two letters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateIndex, DropIndex

SCHEMA_VERSION = "3"  # 2: events without block_hash, indexed by position; 3: import dates
DEFAULT_DB_URL = "sqlite:///kpledger-audit.db"

metadata = MetaData()

HASH = String(66)
ADDRESS = String(42)
CODE = String(6)  # two letters; hex form (0x + 4 digits) for a malformed code

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
"""Deployment identity and the checkpoint (``checkpoint_block``, ``checkpoint_hash``)."""

blocks = Table(
    "blocks",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", HASH, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)
"""Blocks that carried an event, and every chunk's last block (for reorg detection)."""

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_index", Integer, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("tx_hash", HASH, nullable=False),
    Column("contract", String(16), nullable=False),
    Column("name", String(48), nullable=False),
    Column("subject", HASH),
    Column("related", HASH),
    Column("args", Text, nullable=False),
    Index("uq_events_position", "block_number", "tx_index", "log_index", unique=True),
)
"""Every decoded log of both contracts. ``subject`` is what the event is about (document
hash, participant code, batch root or role id); ``related`` the other certificate of an
amendment or the batch of a revealed certificate. The block's hash is in ``blocks``
(every block with an event is recorded there). The unique position index (block,
transaction, log) makes counting a log twice impossible (the chunk that would store a
log twice fails, even in a bulk replay: it grows at its end, so it is kept up to date);
it also serves rollbacks and block ranges. A certificate's events are looked up
through ``certificate_transitions`` (indexed by document hash), a participant's through
``participant_status_history``: an index on ``subject`` here would cost the replay more
than it saves."""

participants = Table(
    "participants",
    metadata,
    Column("code", CODE, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("status", Integer, nullable=False),
    Column("validity_days", Integer, nullable=False),
    Column("admitted_block", BigInteger, nullable=False),
    Column("admitted_at", BigInteger, nullable=False),
    Column("admission_order", Integer, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
)

participant_status_history = Table(
    "participant_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", CODE, nullable=False),
    Column("event", String(48), nullable=False),
    Column("status", Integer, nullable=False),
    Column("validity_days", Integer, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_index", Integer, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("tx_hash", HASH, nullable=False),
    Column("actor", ADDRESS),
    Column("detail", Text),
    Index("ix_psh_code_block", "code", "block_number"),
)
"""Admission, suspension, readmission and validity changes; each row holds the status
and validity period in force after it, so "as of" is the last row at or before a point."""

role_grants = Table(
    "role_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", CODE),
    Column("kind", String(80), nullable=False),
    Column("role", HASH, nullable=False),
    Column("account", ADDRESS, nullable=False),
    Column("granted_block", BigInteger, nullable=False),
    Column("granted_tx_index", Integer, nullable=False),
    Column("granted_log_index", Integer, nullable=False),
    Column("granted_at", BigInteger, nullable=False),
    Column("granted_by", ADDRESS),
    Column("granted_tx", HASH, nullable=False),
    Column("revoked_block", BigInteger),
    Column("revoked_tx_index", Integer),
    Column("revoked_log_index", Integer),
    Column("revoked_at", BigInteger),
    Column("revoked_by", ADDRESS),
    Column("revoked_tx", HASH),
    Index("ix_roles_code_kind", "code", "kind", "account"),
    Index("ix_roles_account", "account"),
    Index("ix_roles_revoked", "revoked_block"),
)
"""One row per holding of a role: granted at one point, revoked at another (or still
held). Participant-scoped roles have ``code`` and kind authority/exporter/importer;
registry-wide roles (governance, auditor, admin) have no code."""

batches = Table(
    "batches",
    metadata,
    Column("root", HASH, primary_key=True),
    Column("origin", CODE, nullable=False),
    Column("issuer", ADDRESS, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("anchored_block", BigInteger, nullable=False),
    Column("anchored_at", BigInteger, nullable=False),
    Column("tx_hash", HASH, nullable=False),
    Index("ix_batches_block", "anchored_block"),
)

certificates = Table(
    "certificates",
    metadata,
    Column("document_hash", HASH, primary_key=True),
    Column("number", String(256), nullable=False),
    Column("origin", CODE, nullable=False),
    Column("destination", CODE, nullable=False),
    Column("carats", BigInteger, nullable=False),
    Column("value_cents", BigInteger, nullable=False),
    Column("parcels", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("exporter", ADDRESS),
    Column("issuer", ADDRESS),
    Column("stored_status", Integer, nullable=False),
    Column("requested_block", BigInteger),
    Column("requested_at", BigInteger),
    Column("issued_block", BigInteger),
    Column("issued_at", BigInteger),
    Column("responded_block", BigInteger),
    Column("responded_at", BigInteger),
    Column("closed_block", BigInteger),
    Column("closed_at", BigInteger),
    Column("closed_by", ADDRESS),
    Column("imported_on", Integer),
    Column("supersedes", HASH),
    Column("superseded_by", HASH),
    Column("batch_root", HASH),
    Column("created_block", BigInteger, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_certificates_number", "number"),
    Index("ix_certificates_pair", "origin", "destination"),
)
"""Each certificate's terms and current stored status, mirroring the contract's view
(``issued_block`` of a batched certificate is its batch's block, as on chain) plus the
times of each step for the reports."""

certificate_transitions = Table(
    "certificate_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("document_hash", HASH, nullable=False),
    Column("event", String(48), nullable=False),
    Column("status", Integer, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_index", Integer, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("tx_hash", HASH, nullable=False),
    Column("actor", ADDRESS),
    Column("detail", Text),
    Column("related", HASH),
    Column("imported_on", Integer),
    Index("ix_transitions_hash", "document_hash"),
    Index("ix_transitions_block", "block_number"),
)
"""A certificate's timeline. ``status`` is the stored status after the transition; a
replacement's ``Supersedes`` row links it to the certificate it amends."""

replay_issues = Table(
    "replay_issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", HASH, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("event", String(48), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_issues_block", "block_number"),
)
"""Events the replay could not apply as the contracts' rules say they must (a transition
of an unknown certificate, a revocation of a role never granted). Expected empty; kept
so that a surprise is reported, never silently skipped."""

PER_BLOCK_TABLES = (
    (events, "block_number"),
    (certificate_transitions, "block_number"),
    (participant_status_history, "block_number"),
    (batches, "anchored_block"),
    (replay_issues, "block_number"),
    (blocks, "number"),
)
"""Tables whose rows belong to one block: a rollback deletes those above the fork."""


def secondary_indexes() -> list[Index]:
    """Every index but the primary keys."""
    return [index for table in metadata.sorted_tables for index in table.indexes]


BULK_DEFERRED = ("ix_transitions_hash",)
"""Indexes a bulk load builds at its end instead of keeping them up to date: those whose
keys land anywhere in them (document hashes), where each insert walks to a random page.
Measured on 300,000 events: kept up to date, this one cost the writer 2.5 s of CPU;
built at the end, 0.6 s. The others grow at their ends (block numbers, per-country
certificate numbers, a few origin/destination pairs): kept up to date they cost about
what building them costs, but on the writer's own core while the decoding runs, not at
the end, when the whole replay waits for them."""


def drop_indexes(engine: Engine) -> None:
    """Drop the indexes of :data:`BULK_DEFERRED` (a bulk load begins)."""
    with engine.begin() as conn:
        for index in secondary_indexes():
            if index.name in BULK_DEFERRED:
                conn.execute(DropIndex(index, if_exists=True))


def create_indexes(engine: Engine) -> None:
    """Create the indexes that are missing (after a bulk load, or one interrupted).
    ``IF NOT EXISTS``: a reader opening the index meanwhile may be creating them too."""
    with engine.begin() as conn:
        for index in secondary_indexes():
            conn.execute(CreateIndex(index, if_not_exists=True))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # 16 KiB pages (for a new file only; an existing one keeps its size): a replay
    # appends hundreds of megabytes, and each page costs a write-ahead-log frame, a
    # checksum and a copy at checkpoint; a quarter as many pages took a third off the
    # replay writer's commits and its index builds.
    # WAL lets readers (reports, the API) run during a replay; NORMAL sync is durable
    # across process crashes, which is what a checkpointed replay needs.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def connect(db_url: str) -> Engine:
    """An engine for ``db_url`` (a file path is taken as SQLite), without creating
    anything: for a process that writes into an index another one set up.

    SQLite uses one connection per checkout (``NullPool``) so several processes may
    open the same file; PostgreSQL keeps SQLAlchemy's pool."""
    url = db_url if "://" in db_url else f"sqlite:///{db_url}"
    if not url.startswith("sqlite"):
        return create_engine(url)
    # A replay's writer and a report's reader may share the file: wait for locks.
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 60})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def engine_for(db_url: str | Engine = DEFAULT_DB_URL) -> Engine:
    """An engine for ``db_url`` (see :func:`connect`), with the tables and indexes
    created."""
    engine = db_url if isinstance(db_url, Engine) else connect(db_url)
    metadata.create_all(engine)
    create_indexes(engine)  # an interrupted bulk load leaves them missing
    return engine
