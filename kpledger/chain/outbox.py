"""Crash safety: a write-ahead outbox of signed transactions, kept in SQLite.

Why: a node that crashes forgets its transaction pool, and a node restored from a
periodic state dump (anvil ``--state-interval``, a validator restored from a backup)
also forgets every block after that dump. A client that only remembers "I sent it" then
believes in certificates the chain no longer holds. With an outbox, the
:class:`~kpledger.chain.sender.Transactor` records every transaction it signs (raw
bytes, hash, sender, nonce, chain id, a label such as the document hash it anchors) in
one SQLite transaction per batch **before** the first byte goes to the node, marks it
*settled* once its receipt is at the confirmation depth (with the block's number and
hash), and deletes it only ``retain_seconds`` after that.

Recovery (``Transactor.recover()``, ``Ledger.resubmit_pending()``, and automatically
before the next write once the Transactor saw the node fail or time out, or sees that
the newest block it settled in is gone or has another hash) works per sender:

1. find the lost settled entries: walk the recorded block heights down from the newest
   until the chain still holds a block with the recorded hash; everything above it was
   lost (a restore from an older dump, or a reorganisation);
2. look up receipts for those and for the pending entries: what is mined stays mined;
3. resend the rest, the *same signed bytes*, in nonce order, and await their receipts.
   The same bytes carry the same nonce, so a transaction can be mined at most once
   whatever happens in between: a certificate can never land twice;
4. an entry whose nonce the chain has meanwhile used for *another* transaction is
   marked ``conflict`` and reported (:class:`RecoveryReport`), never dropped: that
   write did not happen and somebody must decide about it (:meth:`Outbox.discard`).

The guarantee: every write the client acknowledged (``send_many`` returned its
receipts) ends on chain exactly once, provided (a) :meth:`Outbox.recover`-style recovery
runs against the restored node (it does on the next write), (b) ``retain_seconds``
exceeds the longest stretch of history a node can lose plus the time it stays down
(anvil: its ``--state-interval`` and the outage; Besu QBFT: blocks are final, nothing
settled is ever lost), and (c) no other program signs with the same key meanwhile (a
nonce it takes is reported as a conflict, not resolved). Writes that raised (the node
failed while they were sent) are in the outbox too and land on recovery: check the
chain after recovery before signing them again (the contracts refuse a document hash
twice in any case). A transaction replayed after a loss executes again: one that had
reverted may now succeed and vice versa; the report lists such changed outcomes.

Storage: one SQLite file (WAL journal; ``durable=True`` also syncs every commit, so a
power cut cannot lose a recorded transaction), safe to share between the Transactors of
one process (one connection behind a lock) and between processes (SQLite locking).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from kpledger.chain.abi import ContractInterface
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import OutboxError

SCHEMA_VERSION = 1
DEFAULT_RETAIN_SECONDS = 3600.0
"""How long a settled transaction is kept: an hour, far beyond anvil's dump interval and
any outage of a development node. Raise it for nodes restored from older backups."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    tx_hash      BLOB PRIMARY KEY,
    chain_id     INTEGER NOT NULL,
    sender       TEXT NOT NULL,
    nonce        INTEGER NOT NULL,
    raw          BLOB NOT NULL,
    label        TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    block_number INTEGER,
    block_hash   BLOB,
    status       INTEGER,
    created_at   REAL NOT NULL,
    settled_at   REAL
);
CREATE INDEX IF NOT EXISTS outbox_by_sender ON outbox (chain_id, sender, state, nonce);
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_DYNAMIC = re.compile(r"\bstring\b|\bbytes\b|\]")

_COLUMNS = (
    "tx_hash, chain_id, sender, nonce, raw, label, state, block_number, block_hash, status,"
    " created_at, settled_at"
)


class EntryState(StrEnum):
    PENDING = "pending"
    """Signed and recorded; no receipt at the confirmation depth yet."""
    SETTLED = "settled"
    """Mined at the confirmation depth in ``block_number`` / ``block_hash``."""
    CONFLICT = "conflict"
    """Its nonce was used on chain by another transaction: it never happened."""


@dataclass(frozen=True)
class OutboxEntry:
    """One signed transaction as recorded."""

    tx_hash: bytes
    chain_id: int
    sender: str
    nonce: int
    raw: bytes
    label: str
    state: EntryState
    block_number: int | None
    block_hash: bytes | None
    status: int | None
    created_at: float
    settled_at: float | None

    def __repr__(self) -> str:  # the raw bytes are long and say nothing to a reader
        return (
            f"OutboxEntry(0x{self.tx_hash.hex()}, nonce={self.nonce}, {self.state.value},"
            f" label={self.label!r})"
        )


@dataclass(frozen=True)
class Signed:
    """What the Transactor records for each transaction before sending it."""

    tx_hash: bytes
    nonce: int
    raw: bytes
    label: str = ""


@dataclass(frozen=True)
class Settlement:
    """A receipt at the confirmation depth."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    status: int


@dataclass
class RecoveryReport:
    """What a recovery found and did for one sender."""

    chain_id: int
    sender: str
    checked: int = 0
    lost_above_block: int | None = None
    """The newest recorded block the chain still holds, when recorded blocks above it
    were lost (None: nothing settled was lost)."""
    lost: list[OutboxEntry] = field(default_factory=list)
    """Settled entries whose block the chain no longer holds."""
    found_mined: list[OutboxEntry] = field(default_factory=list)
    resent: list[OutboxEntry] = field(default_factory=list)
    conflicts: list[OutboxEntry] = field(default_factory=list)
    refused: list[tuple[OutboxEntry, str]] = field(default_factory=list)
    gap: tuple[int, int] | None = None
    """(next nonce the chain expects, lowest nonce resent) when transactions this outbox
    does not hold are missing in between: the resent ones wait behind the gap."""
    outcome_changed: list[OutboxEntry] = field(default_factory=list)
    """Replayed entries whose receipt status differs from the one recorded before."""

    @property
    def ok(self) -> bool:
        """Everything recorded is on chain (or on its way) and nothing needs a person."""
        return not self.conflicts and not self.refused and self.gap is None

    def labels(self) -> list[str]:
        return [entry.label for entry in self.resent]

    def summary(self) -> str:
        parts = [f"{self.checked} checked", f"{len(self.resent)} resent", f"{len(self.found_mined)} mined"]
        if self.lost:
            parts.append(f"{len(self.lost)} lost above block {self.lost_above_block}")
        if self.conflicts:
            shown = ", ".join(
                f"nonce {e.nonce} ({e.label or '0x' + e.tx_hash.hex()})" for e in self.conflicts[:5]
            )
            parts.append(f"{len(self.conflicts)} nonce(s) taken by other transactions: {shown}")
        if self.refused:
            entry, why = self.refused[0]
            parts.append(f"{len(self.refused)} refused by the node (first: nonce {entry.nonce}: {why})")
        if self.gap is not None:
            parts.append(f"nonce gap: the chain expects {self.gap[0]}, the outbox resumes at {self.gap[1]}")
        return f"outbox recovery for {self.sender} on chain {self.chain_id}: " + "; ".join(parts)


class Outbox:
    """The SQLite file of signed transactions (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        retain_seconds: float = DEFAULT_RETAIN_SECONDS,
        durable: bool = True,
        busy_timeout: float = 30.0,
    ) -> None:
        if retain_seconds < 0:
            raise ValueError("retain_seconds must not be negative")
        self.path = Path(path)
        self.retain_seconds = retain_seconds
        self._sync = "FULL" if durable else "NORMAL"
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=busy_timeout, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={self._sync}")
            with self._transaction() as db:
                for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    db.execute(statement)
                row = db.execute("SELECT value FROM outbox_meta WHERE key = 'schema'").fetchone()
                if row is None:
                    db.execute("INSERT INTO outbox_meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise OutboxError(
                        f"outbox {self.path} has schema {row[0]}, this kpledger reads schema {SCHEMA_VERSION}"
                    )
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ writes

    def record(self, chain_id: int, sender: str, signed: Sequence[Signed]) -> None:
        """Record freshly signed transactions as pending, all in one SQLite transaction
        (durable before this returns)."""
        if not signed:
            return
        now = time.time()
        rows = [
            (s.tx_hash, chain_id, sender, s.nonce, s.raw, s.label, EntryState.PENDING.value, now)
            for s in signed
        ]
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO outbox (tx_hash, chain_id, sender, nonce, raw, label, state,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def forget(self, tx_hashes: Iterable[bytes]) -> None:
        """Delete transactions the node refused outright (they were never in its pool)."""
        self._executemany("DELETE FROM outbox WHERE tx_hash = ?", [(h,) for h in tx_hashes])

    def settle(self, settlements: Sequence[Settlement]) -> None:
        """Mark transactions mined at the confirmation depth, in one SQLite transaction."""
        now = time.time()
        rows = [
            (EntryState.SETTLED.value, s.block_number, s.block_hash, s.status, now, s.tx_hash)
            for s in settlements
        ]
        # Not synced: a settlement lost to a power cut only makes recovery look the
        # receipt up again. The next recorded (synced) batch makes it durable anyway.
        with self._transaction(sync=False) as db:
            db.executemany(
                "UPDATE outbox SET state = ?, block_number = ?, block_hash = ?, status = ?, settled_at = ?"
                " WHERE tx_hash = ?",
                rows,
            )

    def unsettle(self, tx_hashes: Iterable[bytes]) -> None:
        """Back to pending: the block they were settled in is gone."""
        self._executemany(
            "UPDATE outbox SET state = ?, block_number = NULL, block_hash = NULL, settled_at = NULL"
            " WHERE tx_hash = ?",
            [(EntryState.PENDING.value, h) for h in tx_hashes],
        )

    def mark_conflict(self, tx_hashes: Iterable[bytes]) -> None:
        self._executemany(
            "UPDATE outbox SET state = ? WHERE tx_hash = ?",
            [(EntryState.CONFLICT.value, h) for h in tx_hashes],
        )

    def discard(self, tx_hashes: Iterable[bytes]) -> int:
        """Delete entries for good (an operator's decision about a conflict or a
        refusal). Returns how many were deleted."""
        hashes = [(h,) for h in tx_hashes]
        with self._transaction() as db:
            before = db.total_changes
            db.executemany("DELETE FROM outbox WHERE tx_hash = ?", hashes)
            return db.total_changes - before

    def prune(self, chain_id: int, sender: str, *, now: float | None = None) -> int:
        """Delete settled entries older than ``retain_seconds``. Returns the count."""
        cutoff = (time.time() if now is None else now) - self.retain_seconds
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE chain_id = ? AND sender = ? AND state = ? AND settled_at < ?",
                (chain_id, sender, EntryState.SETTLED.value, cutoff),
            )
            return cursor.rowcount

    # ------------------------------------------------------------------ reads

    def entries(
        self,
        chain_id: int | None = None,
        sender: str | None = None,
        states: Sequence[EntryState] = (EntryState.PENDING, EntryState.SETTLED, EntryState.CONFLICT),
    ) -> list[OutboxEntry]:
        """Entries in nonce order, optionally of one chain, sender and states."""
        clauses = [f"state IN ({', '.join('?' for _ in states)})"]
        params: list[Any] = [s.value for s in states]
        if chain_id is not None:
            clauses.append("chain_id = ?")
            params.append(chain_id)
        if sender is not None:
            clauses.append("sender = ?")
            params.append(sender)
        query = (
            f"SELECT {_COLUMNS} FROM outbox WHERE {' AND '.join(clauses)} ORDER BY chain_id, sender, nonce"
        )
        return [_entry(row) for row in self._fetch(query, params)]

    def pending(self, chain_id: int, sender: str) -> list[OutboxEntry]:
        return self.entries(chain_id, sender, (EntryState.PENDING,))

    def conflicts(self) -> list[OutboxEntry]:
        """Every entry whose nonce another transaction took (across chains and senders)."""
        return self.entries(states=(EntryState.CONFLICT,))

    def counts(self) -> dict[str, int]:
        rows = self._fetch("SELECT state, COUNT(*) FROM outbox GROUP BY state", [])
        found = {state: count for state, count in rows}
        return {state.value: int(found.get(state.value, 0)) for state in EntryState}

    def newest_block(self, chain_id: int, sender: str) -> tuple[int, bytes] | None:
        """The highest block a settled entry of this sender was mined in, and its hash."""
        rows = self._fetch(
            "SELECT block_number, block_hash FROM outbox WHERE chain_id = ? AND sender = ? AND state = ?"
            " ORDER BY block_number DESC LIMIT 1",
            [chain_id, sender, EntryState.SETTLED.value],
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def settled_blocks(self, chain_id: int, sender: str) -> list[tuple[int, bytes]]:
        """Distinct (block number, block hash) of this sender's settled entries, newest first."""
        rows = self._fetch(
            "SELECT DISTINCT block_number, block_hash FROM outbox WHERE chain_id = ? AND sender = ?"
            " AND state = ? ORDER BY block_number DESC",
            [chain_id, sender, EntryState.SETTLED.value],
        )
        return [(int(number), bytes(block_hash)) for number, block_hash in rows]

    def settled_above(self, chain_id: int, sender: str, block_number: int) -> list[OutboxEntry]:
        rows = self._fetch(
            f"SELECT {_COLUMNS} FROM outbox WHERE chain_id = ? AND sender = ? AND state = ?"
            " AND block_number > ? ORDER BY nonce",
            [chain_id, sender, EntryState.SETTLED.value, block_number],
        )
        return [_entry(row) for row in rows]

    # ------------------------------------------------------------------ internals

    def _transaction(self, *, sync: bool = True) -> _Transaction:
        return _Transaction(self, sync)

    def _executemany(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(statement, rows)

    def _fetch(self, query: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(query, list(params)).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path}: {exc}") from exc


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` under the outbox's lock; SQLite errors become
    :class:`OutboxError` (a write that is not recorded must not be sent)."""

    def __init__(self, outbox: Outbox, sync: bool) -> None:
        self._outbox = outbox
        self._sync = outbox._sync if sync else "NORMAL"

    def __enter__(self) -> sqlite3.Connection:
        self._outbox._lock.acquire()
        try:
            self._outbox._db.execute(f"PRAGMA synchronous={self._sync}")
            self._outbox._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._outbox._lock.release()
            raise OutboxError(f"outbox {self._outbox.path}: {exc}") from exc
        return self._outbox._db

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        db = self._outbox._db
        try:
            if exc_type is None:
                db.execute("COMMIT")
            else:
                db.execute("ROLLBACK")
        except sqlite3.Error as error:
            if exc_type is None:
                raise OutboxError(f"outbox {self._outbox.path}: {error}") from error
        finally:
            self._outbox._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise OutboxError(f"outbox {self._outbox.path}: {exc}") from exc


def _entry(row: Sequence[Any]) -> OutboxEntry:
    (
        tx_hash,
        chain_id,
        sender,
        nonce,
        raw,
        label,
        state,
        block_number,
        block_hash,
        status,
        created,
        settled,
    ) = row
    return OutboxEntry(
        tx_hash=bytes(tx_hash),
        chain_id=int(chain_id),
        sender=str(sender),
        nonce=int(nonce),
        raw=bytes(raw),
        label=str(label),
        state=EntryState(state),
        block_number=None if block_number is None else int(block_number),
        block_hash=None if block_hash is None else bytes(block_hash),
        status=None if status is None else int(status),
        created_at=float(created),
        settled_at=None if settled is None else float(settled),
    )


# ---------------------------------------------------------------------- chain checks


def surviving_block(rpc: Rpc, recorded: Sequence[tuple[int, bytes]], step: int = 16) -> int | None:
    """The newest of ``recorded`` (number, hash), newest first, that the chain still holds
    with the same hash; None if it holds none of them. Blocks are asked for ``step`` at a
    time in one batch: a loss is a suffix of the chain, so the walk stops early."""
    for start in range(0, len(recorded), step):
        chunk = recorded[start : start + step]
        answers = rpc.batch([("eth_getBlockByNumber", [hex(number), False]) for number, _ in chunk])
        for (number, block_hash), answer in zip(chunk, answers, strict=True):
            if isinstance(answer, RpcError):
                raise answer
            if answer is not None and block_hash_of(answer) == block_hash:
                return number
    return None


def block_hash_of(block: Any) -> bytes:
    value = block["hash"]
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


# ---------------------------------------------------------------------- labels


class CallLabeler:
    """Names a contract call for the outbox: the function and, when its first argument
    is a document hash (or a certificate's terms, which start with one), that hash, so
    an operator reading a conflict knows which certificate it concerns. Reads the
    calldata's fixed positions only (no ABI decoding on the hot path)."""

    def __init__(self, *interfaces: ContractInterface) -> None:
        self._by_selector: dict[bytes, tuple[str, str | None]] = {}
        for interface in interfaces:
            for function in interface.functions.values():
                first = function.input_types[0] if function.input_types else None
                if first == "bytes32":
                    how: str | None = "static"
                elif first is not None and first.startswith("(bytes32,") and not first.endswith("]"):
                    how = "dynamic-tuple" if _DYNAMIC.search(first) else "static"
                else:
                    how = None
                self._by_selector[function.selector] = (function.name, how)

    def __call__(self, to: str | None, data: bytes) -> str:
        if to is None:
            return "create"
        known = self._by_selector.get(bytes(data[:4]))
        if known is None:
            return "0x" + bytes(data[:4]).hex()
        name, how = known
        word: bytes | None = None
        if how == "static" and len(data) >= 36:
            word = data[4:36]
        elif how == "dynamic-tuple" and len(data) >= 36:
            start = 4 + int.from_bytes(data[4:36], "big")  # a dynamic tuple sits at an offset
            word = data[start : start + 32] if len(data) >= start + 32 else None
        return f"{name} 0x{bytes(word).hex()}" if word is not None else name
