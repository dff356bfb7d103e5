"""Reads and writes of the index on behalf of the replay engine.

Why one transaction per chunk with the checkpoint inside it: a replay stopped at any
moment (Ctrl-C, a crash, a lost connection) leaves either the whole chunk and its
checkpoint, or neither; the next run resumes after the checkpoint, so nothing is
counted twice or skipped. The checkpoint is moved with a compare-and-set, so two
replays writing the same index cannot interleave: the second one's chunk fails.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from kpledger.audit import schema as s
from kpledger.audit.fold import (
    CREATION_EVENTS,
    DERIVED_FIELDS,
    EVENT_COLUMNS,
    TRANSITION_COLUMNS,
    ChunkRows,
    FoldState,
    IndexReader,
    Row,
    recompute_certificate,
)
from kpledger.chain.deployment import Deployment
from kpledger.chain.identity import ChainFacts, ChainMismatch, short
from kpledger.errors import ConfigurationError, KPLedgerError

IN_BATCH = 500
_CERT_UPDATE_FIELDS = (*DERIVED_FIELDS, "updated_block")
_PARTICIPANT_UPDATE_FIELDS = ("status", "validity_days", "updated_block")
_REVOKE_FIELDS = (
    "revoked_block",
    "revoked_tx_index",
    "revoked_log_index",
    "revoked_at",
    "revoked_by",
    "revoked_tx",
)


class ConcurrentReplay(KPLedgerError):
    """Another replay moved the checkpoint of this index while this one was writing."""


@dataclass(frozen=True)
class Checkpoint:
    """The last block whose events are all in the index, and its hash."""

    block: int
    hash: str


def _identity(deployment: Deployment) -> dict[str, str]:
    return {
        "schema_version": s.SCHEMA_VERSION,
        "chain_id": str(deployment.chain_id),
        "registry": deployment.registry.lower(),
        "ledger": deployment.ledger.lower(),
        "deployment_block": str(deployment.block),
    }


CERTIFICATE_COLUMNS = tuple(c.name for c in s.certificates.columns)
PARTICIPANT_COLUMNS = tuple(c.name for c in s.participants.columns)
HISTORY_COLUMNS = tuple(c.name for c in s.participant_status_history.columns if c.name != "id")
GRANT_COLUMNS = tuple(c.name for c in s.role_grants.columns if c.name != "id")
BATCH_COLUMNS = tuple(c.name for c in s.batches.columns)
ISSUE_COLUMNS = tuple(c.name for c in s.replay_issues.columns if c.name != "id")
BLOCK_COLUMNS = ("number", "hash", "timestamp")


class PackedChunk(NamedTuple):
    """A chunk's rows as plain tuples in the column orders above (updates: the fields
    set, then the keys). Why: a writer process receives them through a pipe, and a tuple
    of ints and strings crosses it at half the cost of a dict in both directions (no keys
    to serialise, no dict to rebuild); the driver takes them as they are."""

    blocks: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    new_certificates: list[tuple[Any, ...]]
    changed_certificates: list[tuple[Any, ...]]
    transitions: list[tuple[Any, ...]]
    new_participants: list[tuple[Any, ...]]
    changed_participants: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    revocations: list[tuple[Any, ...]]
    new_grants: list[tuple[Any, ...]]
    batches: list[tuple[Any, ...]]
    issues: list[tuple[Any, ...]]


def _tuples(columns: Sequence[str], rows: Iterable[Row]) -> list[tuple[Any, ...]]:
    """Each row's values of ``columns`` (two or more: ``itemgetter`` of one column would
    return the value, not a tuple)."""
    values = operator.itemgetter(*columns)
    return [values(r) for r in rows]


def _keyed(columns: Sequence[str], rows: Mapping[Any, Row]) -> list[tuple[Any, ...]]:
    """Each row's values of ``columns`` followed by its key (an UPDATE's parameters)."""
    return [(*values, key) for key, values in zip(rows, _tuples(columns, rows.values()), strict=True)]


def pack(rows: ChunkRows) -> PackedChunk:
    """The rows of :class:`ChunkRows` as a :class:`PackedChunk`."""
    return PackedChunk(
        blocks=_tuples(BLOCK_COLUMNS, rows.blocks.values()),
        events=rows.events,
        new_certificates=_tuples(CERTIFICATE_COLUMNS, rows.new_certificates.values()),
        changed_certificates=_keyed(_CERT_UPDATE_FIELDS, rows.changed_certificates),
        transitions=rows.transitions,
        new_participants=_tuples(PARTICIPANT_COLUMNS, rows.new_participants.values()),
        changed_participants=_keyed(_PARTICIPANT_UPDATE_FIELDS, rows.changed_participants),
        history=_tuples(HISTORY_COLUMNS, rows.history),
        revocations=[
            (*values, r["b_role"], r["b_account"])
            for r, values in zip(rows.revocations, _tuples(_REVOKE_FIELDS, rows.revocations), strict=True)
        ],
        new_grants=_tuples(GRANT_COLUMNS, rows.new_grants),
        batches=_tuples(BATCH_COLUMNS, rows.batches),
        issues=_tuples(ISSUE_COLUMNS, rows.issues),
    )


def write_chunk(conn: Connection, chunk: PackedChunk, previous: Checkpoint, checkpoint: Checkpoint) -> None:
    """Write one packed chunk and move the checkpoint, in ``conn``'s transaction."""
    moved = conn.execute(
        update(s.meta)
        .where(s.meta.c.key == "checkpoint_block", s.meta.c.value == str(previous.block))
        .values(value=str(checkpoint.block))
    )
    if moved.rowcount != 1:
        raise ConcurrentReplay(
            f"the index checkpoint is no longer block {previous.block}: another replay is writing"
            " this index; stop one of them"
        )
    conn.execute(update(s.meta).where(s.meta.c.key == "checkpoint_hash").values(value=checkpoint.hash))
    _insert_tuples(conn, s.blocks, BLOCK_COLUMNS, chunk.blocks)
    _insert_tuples(conn, s.events, EVENT_COLUMNS, chunk.events)
    _insert_tuples(conn, s.certificates, CERTIFICATE_COLUMNS, chunk.new_certificates)
    _update(conn, s.certificates, _CERT_UPDATE_FIELDS, ["document_hash"], chunk.changed_certificates)
    _insert_tuples(conn, s.certificate_transitions, TRANSITION_COLUMNS, chunk.transitions)
    _insert_tuples(conn, s.participants, PARTICIPANT_COLUMNS, chunk.new_participants)
    _update(conn, s.participants, _PARTICIPANT_UPDATE_FIELDS, ["code"], chunk.changed_participants)
    _insert_tuples(conn, s.participant_status_history, HISTORY_COLUMNS, chunk.history)
    # Revocations close holdings already in the index: before this chunk's grants are
    # inserted, or a re-grant in the same chunk would be closed too.
    _update(
        conn, s.role_grants, _REVOKE_FIELDS, ["role", "account", "revoked_block IS NULL"], chunk.revocations
    )
    _insert_tuples(conn, s.role_grants, GRANT_COLUMNS, chunk.new_grants)
    _insert_tuples(conn, s.batches, BATCH_COLUMNS, chunk.batches)
    _insert_tuples(conn, s.replay_issues, ISSUE_COLUMNS, chunk.issues)


class IndexStore:
    """The replay engine's view of one index database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ identity

    def bind(self, deployment: Deployment, chain: ChainFacts) -> Checkpoint:
        """Tie an empty index to ``deployment`` on ``chain``, or check a used one belongs
        to both. An index older than chain identities adopts ``chain``'s on first use.
        Returns the checkpoint (the block before the deployment for a new index)."""
        if chain.block_hash is None:
            raise ChainMismatch(
                f"the node has no block {deployment.block}, where the deployment was made:"
                " it is another chain"
            )
        wanted = _identity(deployment)
        chain_identity = {"genesis_hash": chain.genesis_hash, "deployment_block_hash": chain.block_hash}
        with self.engine.begin() as conn:
            found = {str(k): str(v) for k, v in conn.execute(select(s.meta.c.key, s.meta.c.value))}
            if not found:
                initial = {**wanted, "checkpoint_block": str(deployment.block - 1), "checkpoint_hash": ""}
                conn.execute(insert(s.meta), [{"key": k, "value": v} for k, v in initial.items()])
                found = initial
            for key, value in wanted.items():
                if found.get(key) != value:
                    raise ConfigurationError(
                        f"this index holds {key}={found.get(key)!r} but the deployment has {value!r}:"
                        " use another database for another deployment"
                    )
            adopted = {k: v for k, v in chain_identity.items() if k not in found}
            if adopted:
                conn.execute(insert(s.meta), [{"key": k, "value": v} for k, v in adopted.items()])
                found.update(adopted)
            # The deployment block's hash commits to its ancestry and decides; a genesis
            # reported anew for the same history (anvil restarted on a dump without block 0)
            # is the same chain (kpledger.chain.identity.mismatch).
            same_history = found["deployment_block_hash"] == chain.block_hash and bool(chain.block_hash)
            for key, value in chain_identity.items():
                if found[key] != value and not same_history:
                    raise ChainMismatch(
                        f"this index was built from another chain: its {key.replace('_', ' ')} is"
                        f" {short(found[key])}, the node's is {short(value)} (same contract addresses,"
                        " different chain: not a reorganisation) — use another database (--db) for this chain"
                    )
        return Checkpoint(int(found["checkpoint_block"]), found["checkpoint_hash"])

    def checkpoint(self) -> Checkpoint:
        with self.engine.connect() as conn:
            return _checkpoint(conn)

    # ------------------------------------------------------------------ fold support

    def load_state(self) -> FoldState:
        """Participants and open role grants: what the folder keeps in memory."""
        state = FoldState()
        with self.engine.connect() as conn:
            for row in conn.execute(select(s.participants)).mappings():
                state.participants[row["code"]] = dict(row)
            open_grants = select(s.role_grants.c.role, s.role_grants.c.account).where(
                s.role_grants.c.revoked_block.is_(None)
            )
            for role, account in conn.execute(open_grants):
                state.open_grants[(role, account)] = None
            state.no_certificates = (
                conn.execute(select(s.certificates.c.document_hash).limit(1)).first() is None
            )
        return state

    def reader(self) -> IndexReader:
        return IndexReader(certificates=self.certificates, batch=self.batch)

    def certificates(self, hashes: Iterable[str]) -> dict[str, Row]:
        wanted = list(hashes)
        found: dict[str, Row] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), IN_BATCH):
                query = select(s.certificates).where(
                    s.certificates.c.document_hash.in_(wanted[start : start + IN_BATCH])
                )
                for row in conn.execute(query).mappings():
                    found[row["document_hash"]] = dict(row)
        return found

    def batch(self, root: str) -> tuple[int, int] | None:
        with self.engine.connect() as conn:
            return _batch(conn, root)

    # ------------------------------------------------------------------ writes

    def write(self, rows: ChunkRows, previous: Checkpoint, checkpoint: Checkpoint) -> None:
        """Write one chunk and move the checkpoint, atomically."""
        with self.engine.begin() as conn:
            write_chunk(conn, pack(rows), previous, checkpoint)

    # ------------------------------------------------------------------ reorgs

    def stored_blocks(self, below: int, limit: int) -> list[tuple[int, str]]:
        """Recorded ``(number, hash)`` pairs at or below ``below``, newest first."""
        with self.engine.connect() as conn:
            query = (
                select(s.blocks.c.number, s.blocks.c.hash)
                .where(s.blocks.c.number <= below)
                .order_by(s.blocks.c.number.desc())
                .limit(limit)
            )
            return [(int(n), str(h)) for n, h in conn.execute(query)]

    def rollback(self, fork: Checkpoint) -> int:
        """Forget everything above ``fork.block`` (its hash is the chain's); returns the
        number of events removed. Summary rows of certificates and participants touched
        above the fork are recomputed from what remains."""
        above = fork.block
        with self.engine.begin() as conn:
            removed = int(
                conn.execute(
                    select(func.count()).select_from(s.events).where(s.events.c.block_number > above)
                ).scalar_one()
            )
            transitions = s.certificate_transitions
            touched_certs = [
                str(h)
                for h in conn.execute(
                    select(transitions.c.document_hash).where(transitions.c.block_number > above).distinct()
                ).scalars()
            ]
            history = s.participant_status_history
            touched_codes = [
                str(c)
                for c in conn.execute(
                    select(history.c.code).where(history.c.block_number > above).distinct()
                ).scalars()
            ]
            for table, column in s.PER_BLOCK_TABLES:
                conn.execute(delete(table).where(table.c[column] > above))
            grants = s.role_grants
            conn.execute(delete(grants).where(grants.c.granted_block > above))
            conn.execute(
                update(grants)
                .where(grants.c.revoked_block > above)
                .values(
                    revoked_block=None,
                    revoked_tx_index=None,
                    revoked_log_index=None,
                    revoked_at=None,
                    revoked_by=None,
                    revoked_tx=None,
                )
            )
            _recompute_certificates(conn, touched_certs)
            _recompute_participants(conn, touched_codes)
            conn.execute(
                update(s.meta).where(s.meta.c.key == "checkpoint_block").values(value=str(fork.block))
            )
            conn.execute(update(s.meta).where(s.meta.c.key == "checkpoint_hash").values(value=fork.hash))
        return removed


def _checkpoint(conn: Connection) -> Checkpoint:
    query = select(s.meta.c.key, s.meta.c.value).where(
        s.meta.c.key.in_(["checkpoint_block", "checkpoint_hash"])
    )
    found = {str(k): str(v) for k, v in conn.execute(query)}
    if "checkpoint_block" not in found:
        raise ConfigurationError("this index was never bound to a deployment: run a replay first")
    return Checkpoint(int(found["checkpoint_block"]), found.get("checkpoint_hash", ""))


def _batch(conn: Connection, root: str) -> tuple[int, int] | None:
    found = conn.execute(
        select(s.batches.c.anchored_block, s.batches.c.anchored_at).where(s.batches.c.root == root)
    ).first()
    return None if found is None else (int(found[0]), int(found[1]))


def _marks(conn: Connection, count: int) -> list[str] | None:
    """DBAPI placeholders for positional parameters, or None for other styles."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        return ["?"] * count
    if style in ("format", "pyformat"):
        return ["%s"] * count
    return None


def _insert_tuples(
    conn: Connection, table: Any, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Bulk insert of tuples in ``columns`` order. With SQLite and PostgreSQL drivers the
    tuples go to the DBAPI's ``executemany`` as they are (SQLAlchemy's per-row parameter
    processing would cost more than the insert itself: the values are already plain
    ints and strings); other drivers get SQLAlchemy's ``insert``."""
    if not rows:
        return
    marks = _marks(conn, len(columns))
    if marks is None:
        conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})"
    conn.exec_driver_sql(sql, list(rows))


def _update(
    conn: Connection,
    table: Any,
    fields: Sequence[str],
    where: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Bulk update of ``fields`` of the rows whose ``where`` columns equal the rest of
    each tuple (the values of ``fields``, then of the key columns); ``where`` may also
    hold plain conditions such as ``revoked_block IS NULL``."""
    if not rows:
        return
    keys = [w for w in where if " " not in w]
    plain = [w for w in where if " " in w]
    marks = _marks(conn, len(fields) + len(keys))
    if marks is None:
        clauses = [table.c[k] == bindparam(f"b_{k}") for k in keys]
        clauses += [table.c[w.split()[0]].is_(None) for w in plain]
        names = [*fields, *(f"b_{k}" for k in keys)]
        conn.execute(update(table).where(*clauses), [dict(zip(names, r, strict=True)) for r in rows])
        return
    sets = ", ".join(f"{f} = {m}" for f, m in zip(fields, marks, strict=False))
    conditions = [f"{k} = {m}" for k, m in zip(keys, marks[len(fields) :], strict=True)] + plain
    sql = f"UPDATE {table.name} SET {sets} WHERE {' AND '.join(conditions)}"
    conn.exec_driver_sql(sql, list(rows))


def _recompute_certificates(conn: Connection, hashes: Sequence[str]) -> None:
    table, transitions = s.certificates, s.certificate_transitions
    for start in range(0, len(hashes), IN_BATCH):
        chunk = list(hashes[start : start + IN_BATCH])
        rows = {
            r["document_hash"]: dict(r)
            for r in conn.execute(select(table).where(table.c.document_hash.in_(chunk))).mappings()
        }
        timeline: dict[str, list[Row]] = {h: [] for h in chunk}
        query = (
            select(transitions)
            .where(transitions.c.document_hash.in_(chunk))
            .order_by(
                transitions.c.block_number, transitions.c.tx_index, transitions.c.log_index, transitions.c.id
            )
        )
        for row in conn.execute(query).mappings():
            timeline[row["document_hash"]].append(dict(row))
        for document_hash in chunk:
            steps = timeline[document_hash]
            cert = rows.get(document_hash)
            if cert is None:
                continue
            if not steps or steps[0]["event"] not in CREATION_EVENTS:
                conn.execute(delete(table).where(table.c.document_hash == document_hash))
                continue
            fresh = recompute_certificate(cert, steps, lambda root: _batch(conn, root))
            conn.execute(
                update(table)
                .where(table.c.document_hash == document_hash)
                .values({f: fresh[f] for f in _CERT_UPDATE_FIELDS})
            )


def _recompute_participants(conn: Connection, codes: Sequence[str]) -> None:
    table, history = s.participants, s.participant_status_history
    for code in codes:
        last = conn.execute(
            select(history.c.status, history.c.validity_days, history.c.block_number)
            .where(history.c.code == code)
            .order_by(history.c.block_number.desc(), history.c.tx_index.desc(), history.c.log_index.desc())
            .limit(1)
        ).first()
        if last is None:
            conn.execute(delete(table).where(table.c.code == code))
        else:
            conn.execute(
                update(table)
                .where(table.c.code == code)
                .values(status=last[0], validity_days=last[1], updated_block=last[2])
            )
