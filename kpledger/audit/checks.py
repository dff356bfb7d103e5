"""Cross-checks: the rebuilt state against the contracts, the deployed code against the
repository's sources (:mod:`~kpledger.audit.codecheck`), and the contracts' rules
against the rebuilt history (:mod:`~kpledger.audit.invariants`).

Why all three: the index is only worth trusting if (a) it says what the contracts say
for every certificate, participant, role and batch, (b) the code that enforced the
rules is the code the auditor can read, and (c) the history obeys the rules the code
claims to enforce. Every check returns its findings; nothing is fixed up or skipped
silently, and each finding names the value on both sides.

Contract reads are made at the index's checkpoint block, so a chain that moved on since
the replay does not produce false differences.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from kpledger.audit import schema as s
from kpledger.audit.codecheck import BytecodeCheck, check_bytecode
from kpledger.audit.decode import code_text
from kpledger.audit.invariants import TRADE_RULE, Finding, check_invariants, suspended_trade
from kpledger.audit.source import ChainSource, open_source
from kpledger.audit.state import AuditIndex, derived_status
from kpledger.chain import artifacts
from kpledger.chain.abi import AbiFunction, ContractInterface
from kpledger.chain.deployment import Deployment
from kpledger.chain.rpc import RpcError
from kpledger.ledger import record_from_view
from kpledger.types import ParticipantStatus

_STATUS_EVENTS = ("ParticipantAdmitted", "ParticipantSuspended", "ParticipantReadmitted")
_ROLE_CHECKS = {"authority": "isAuthority", "exporter": "isExporter", "importer": "isImporter"}


@dataclass(frozen=True)
class Difference:
    """A value the index and a contract disagree on (``None``: absent on that side)."""

    kind: str
    key: str
    field: str
    index: Any
    contract: Any


@dataclass
class CheckReport:
    """Everything :func:`cross_check` found; ``ok`` when nothing was."""

    checkpoint: int
    differences: list[Difference]
    bytecode: list[BytecodeCheck]
    invariants: list[Finding]
    checked: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.differences and not self.invariants and all(b.ok for b in self.bytecode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoint": self.checkpoint,
            "checked": self.checked,
            "differences": [asdict(d) for d in self.differences],
            "bytecode": [{**asdict(b), "ok": b.ok} for b in self.bytecode],
            "invariants": [asdict(f) for f in self.invariants],
        }


# ---------------------------------------------------------------------- contract state


class _Reader:
    """Batched ``eth_call`` of the two contracts at one block."""

    def __init__(self, source: ChainSource, deployment: Deployment, block: int) -> None:
        self.source = source
        self.block = block
        self.registry = (deployment.registry, artifacts.interface("ParticipantRegistry"))
        self.ledger = (deployment.ledger, artifacts.interface("CertificateLedger"))

    def many(
        self, target: tuple[str, ContractInterface], name: str, args: Sequence[Sequence[Any]]
    ) -> list[Any]:
        address, interface = target
        fn: AbiFunction = interface.fn(name)
        results = self.source.calls([(address, fn.encode(a)) for a in args], self.block)
        out: list[Any] = []
        for result in results:
            if isinstance(result, RpcError):
                raise result
            out.append(fn.decode(result))
        return out

    def one(self, target: tuple[str, ContractInterface], name: str, *args: Any) -> Any:
        return self.many(target, name, [args])[0]


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _code(raw: bytes) -> str:
    return code_text(bytes(raw))


def compare_with_contracts(
    source: ChainSource, deployment: Deployment, index: AuditIndex, *, checked: dict[str, int] | None = None
) -> list[Difference]:
    """Every certificate, participant (with its status history), role holding and batch
    of the index against the contracts at the index's checkpoint block."""
    block = index.checkpoint().block
    reader = _Reader(source, deployment, block)
    out: list[Difference] = []
    counts = checked if checked is not None else {}
    (registry,) = reader.one(reader.ledger, "registry")
    if str(registry).lower() != deployment.registry.lower():
        out.append(
            Difference(
                "deployment", "ledger", "registry()", deployment.registry.lower(), str(registry).lower()
            )
        )
    out += _compare_participants(reader, index, counts)
    out += _compare_roles(reader, index, counts)
    out += _compare_batches(reader, index, counts)
    out += _compare_certificates(reader, index, counts, index.block_time(block))
    return out


def _compare_participants(reader: _Reader, index: AuditIndex, counts: dict[str, int]) -> list[Difference]:
    out: list[Difference] = []
    (codes,) = reader.one(reader.registry, "participantCodes")
    chain_codes = [_code(c) for c in codes]
    ours = index.participants()
    if chain_codes != [p.code for p in ours]:
        out.append(Difference("participant", "*", "participantCodes", [p.code for p in ours], chain_codes))
    codes_all = list(dict.fromkeys([*chain_codes, *(p.code for p in ours)]))
    raw = [c.encode("ascii") if len(c) == 2 else bytes.fromhex(c[2:]) for c in codes_all]
    views = reader.many(reader.registry, "participant", [[c] for c in raw])
    histories = reader.many(reader.registry, "statusHistory", [[c] for c in raw])
    mine = {p.code: p for p in ours}
    for code, (view,), (history,) in zip(codes_all, views, histories, strict=True):
        counts["participants"] = counts.get("participants", 0) + 1
        state = mine.get(code)
        _, status, validity, admitted_block, name = view
        theirs = {
            "status": int(status),
            "validity_days": int(validity),
            "admitted_block": int(admitted_block),
            "name": name,
        }
        if state is None:
            out.append(Difference("participant", code, "exists", None, theirs))
            continue
        if int(status) == ParticipantStatus.UNKNOWN:
            out.append(Difference("participant", code, "exists", "admitted", None))
            continue
        mine_values = {
            "status": int(state.status),
            "validity_days": state.validity_days,
            "admitted_block": state.admitted_block,
            "name": state.name,
        }
        out += [
            Difference("participant", code, k, mine_values[k], theirs[k])
            for k in theirs
            if mine_values[k] != theirs[k]
        ]
        our_history = [
            (int(h.status), h.block_number, h.timestamp) for h in state.history if h.event in _STATUS_EVENTS
        ]
        chain_history = [(int(st), int(b), int(t)) for st, b, t in history]
        if our_history != chain_history:
            out.append(Difference("participant", code, "statusHistory", our_history, chain_history))
    return out


def _compare_roles(reader: _Reader, index: AuditIndex, counts: dict[str, int]) -> list[Difference]:
    """Each (role, account) ever granted: held now per index == per contract."""
    with index.engine.connect() as conn:
        g = s.role_grants
        pairs = conn.execute(select(g.c.code, g.c.kind, g.c.role, g.c.account).distinct()).all()
    current: set[tuple[str, str | None, str]] = {(h.kind, h.code, h.account) for h in index.roles()}
    scoped = [(c, k, a) for c, k, _, a in pairs if c is not None and k in _ROLE_CHECKS]
    others = [(r, k, a) for c, k, r, a in pairs if c is None or k not in _ROLE_CHECKS]
    out: list[Difference] = []
    by_fn: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for code, kind, account in scoped:
        by_fn[_ROLE_CHECKS[kind]].append((code, kind, account))
    for fn, items in by_fn.items():
        raw = [[c.encode("ascii") if len(c) == 2 else bytes.fromhex(c[2:]), a] for c, _, a in items]
        for (code, kind, account), (held,) in zip(items, reader.many(reader.registry, fn, raw), strict=True):
            counts["roles"] = counts.get("roles", 0) + 1
            mine = (kind, code, account) in current
            if bool(held) != mine:
                out.append(Difference("role", f"{code}/{kind}/{account}", "held", mine, bool(held)))
    if others:
        raw_other = [[bytes.fromhex(r[2:]), a] for r, _, a in others]
        held_other = reader.many(reader.registry, "hasRole", raw_other)
        for (_role, kind, account), (held,) in zip(others, held_other, strict=True):
            counts["roles"] = counts.get("roles", 0) + 1
            mine = (kind, None, account) in current
            if bool(held) != mine:
                out.append(Difference("role", f"{kind}/{account}", "held", mine, bool(held)))
    return out


def _compare_batches(reader: _Reader, index: AuditIndex, counts: dict[str, int]) -> list[Difference]:
    with index.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(s.batches)).mappings()]
    out: list[Difference] = []
    views = reader.many(reader.ledger, "batch", [[bytes.fromhex(r["root"][2:])] for r in rows])
    for row, (view,) in zip(rows, views, strict=True):
        counts["batches"] = counts.get("batches", 0) + 1
        origin, issuer, anchored_block, anchored_at, _validity_days = view
        theirs = {
            "origin": _code(origin),
            "issuer": str(issuer).lower(),
            "anchored_block": int(anchored_block),
            "anchored_at": int(anchored_at),
        }
        out += [Difference("batch", row["root"], k, row[k], v) for k, v in theirs.items() if row[k] != v]
    return out


_CERT_FIELDS = (
    "number",
    "origin",
    "destination",
    "status",
    "stored_status",
    "carats",
    "value_cents",
    "parcels",
    "expires_at",
    "exporter",
    "requested_block",
    "issued_block",
    "responded_block",
    "closed_block",
    "supersedes",
    "superseded_by",
    "batch_root",
)


def _contract_certificate(view: Sequence[Any]) -> dict[str, Any]:
    """The contract's view in the index's own spelling (lower-case hex, None for unset)."""
    record = record_from_view(view)
    if record is None:
        return {"stored_status": 0}

    def hex_or_none(value: bytes | None) -> str | None:
        return None if value is None else "0x" + value.hex()

    return {
        "number": record.number,
        "origin": record.origin,
        "destination": record.destination,
        "status": int(record.status),
        "stored_status": int(record.stored_status),
        "carats": record.carats,
        "value_cents": record.value_cents,
        "parcels": record.parcels,
        "expires_at": record.expires_at,
        "exporter": record.exporter.lower() if record.exporter else None,
        "requested_block": record.requested_block,
        "issued_block": record.issued_block,
        "responded_block": record.responded_block,
        "closed_block": record.closed_block,
        "supersedes": hex_or_none(record.supersedes),
        "superseded_by": hex_or_none(record.superseded_by),
        "batch_root": hex_or_none(record.batch_root),
    }


def _compare_certificates(
    reader: _Reader, index: AuditIndex, counts: dict[str, int], block_time: int, page: int = 2_000
) -> list[Difference]:
    out: list[Difference] = []
    table = s.certificates
    with index.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table).order_by(table.c.created_block)).mappings()]
    for start in range(0, len(rows), page):
        chunk = rows[start : start + page]
        views = reader.many(
            reader.ledger, "certificate", [[bytes.fromhex(r["document_hash"][2:])] for r in chunk]
        )
        for row, (view,) in zip(chunk, views, strict=True):
            counts["certificates"] = counts.get("certificates", 0) + 1
            key = row["document_hash"]
            if int(view[5]) == 0:
                out.append(Difference("certificate", key, "exists", "indexed", None))
                continue
            theirs = _contract_certificate(view)
            mine = {f: row.get(f) for f in _CERT_FIELDS}
            mine["status"] = int(derived_status(row["stored_status"], row["expires_at"], block_time))
            out += [
                Difference("certificate", key, f, mine[f], theirs[f])
                for f in _CERT_FIELDS
                if mine[f] != theirs[f]
            ]
    return out


# ---------------------------------------------------------------------- all of it


def cross_check(
    target: Any,
    deployment: Deployment | str | Path,
    db_url: str | Engine,
    *,
    bytecode_check: bool = True,
    from_sources: bool = True,
    compiled: Mapping[str, Any] | None = None,
) -> CheckReport:
    """Index vs contracts, deployed code vs sources, and the rules on the history."""
    from kpledger.audit.replay import _deployment

    record = _deployment(deployment)
    source = open_source(target)
    with AuditIndex(db_url) as index:
        checkpoint = index.checkpoint().block
        checked: dict[str, int] = {}
        differences = compare_with_contracts(source, record, index, checked=checked)
        code_checks = (
            check_bytecode(source, record, block=checkpoint, compiled=compiled, from_sources=from_sources)
            if bytecode_check
            else []
        )
        invariants = check_invariants(index.engine, checked)
    return CheckReport(checkpoint, differences, code_checks, invariants, checked)


__all__ = [
    "TRADE_RULE",
    "BytecodeCheck",
    "CheckReport",
    "Difference",
    "Finding",
    "check_bytecode",
    "check_invariants",
    "compare_with_contracts",
    "cross_check",
    "suspended_trade",
]
