"""The contracts' rules, checked on the rebuilt history alone.

Why again, when the contracts enforce them: the index is the auditor's evidence. A
rule that held on chain holds in a faithful index; a broken one means either the
contracts let something through or the index is wrong, and both must be reported.
Positions are (block, transaction index, log index), so "was X active when Y
happened" is answered at the exact point, even within one block.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from kpledger.audit import schema as s
from kpledger.types import ParticipantStatus

Position = tuple[int, int, int]
TRADE_RULE = "trade-while-inactive"


@dataclass(frozen=True)
class Finding:
    """A broken rule found in the rebuilt history."""

    rule: str
    subject: str
    message: str
    block: int | None = None


@dataclass
class _History:
    """Participant status and role holdings by chain position, for rule checks."""

    status: dict[str, list[tuple[Position, int]]]
    grants: dict[tuple[str, str, str], list[tuple[Position, Position | None]]]
    block_ends: Callable[[int], Position]

    def status_at(self, code: str, position: Position) -> int:
        current = 0
        for at, status in self.status.get(code, []):
            if at > position:
                break
            current = status
        return current

    def holds(self, code: str, kind: str, account: str | None, position: Position) -> bool:
        if account is None:
            return False
        for granted, revoked in self.grants.get((code, kind, account), []):
            if granted < position and (revoked is None or revoked > position):
                return True
        return False


def _history(engine: Engine) -> _History:
    h, g = s.participant_status_history, s.role_grants
    status: dict[str, list[tuple[Position, int]]] = defaultdict(list)
    grants: dict[tuple[str, str, str], list[tuple[Position, Position | None]]] = defaultdict(list)
    with engine.connect() as conn:
        query = select(h.c.code, h.c.block_number, h.c.tx_index, h.c.log_index, h.c.status).order_by(
            h.c.block_number, h.c.tx_index, h.c.log_index
        )
        for code, b, t, i, st in conn.execute(query):
            status[code].append(((b, t, i), st))
        for r in conn.execute(select(g).where(g.c.code.is_not(None))).mappings():
            revoked = r["revoked_block"]
            grants[(r["code"], r["kind"], r["account"])].append(
                (
                    (r["granted_block"], r["granted_tx_index"], r["granted_log_index"]),
                    None if revoked is None else (revoked, r["revoked_tx_index"], r["revoked_log_index"]),
                )
            )
    big = 1 << 62
    return _History(dict(status), dict(grants), lambda block: (block, big, big))


# Who must have acted for each transition: (participant side, role kind).
_ACTORS = {
    "CertificateRequested": ("origin", "exporter"),
    "CertificateIssued": ("origin", "authority"),
    "CertificateValidated": ("origin", "authority"),
    "CertificateVoided": ("origin", "authority"),
    "CertificateSuperseded": ("origin", "authority"),
    "CertificateReceived": ("destination", "authority"),
    "CertificateDisputed": ("destination", "authority"),
    "DisputeResolved": ("destination", "authority"),
}
# Transitions that need both participants active (the registry's requireIssuer/Exporter).
_TRADE = frozenset({"CertificateRequested", "CertificateIssued", "CertificateValidated"})


def suspended_trade(engine: Engine, checked: dict[str, int] | None = None) -> list[Finding]:
    """Certificates requested, issued or validated while their origin or destination was
    not active. Batched certificates are judged where the contract judges them: origin at
    the batch's anchoring, destination at the end of that block."""
    history = _history(engine)
    counts = checked if checked is not None else {}
    out: list[Finding] = []
    t, c, b = s.certificate_transitions, s.certificates, s.batches
    query = (
        select(
            t.c.document_hash, t.c.event, t.c.block_number, t.c.tx_index, t.c.log_index, t.c.related,
            c.c.origin, c.c.destination, c.c.number,
            b.c.anchored_block, b.c.tx_hash,
        )
        .join(c, c.c.document_hash == t.c.document_hash)
        .outerjoin(b, b.c.root == t.c.related)
        .where(t.c.event.in_(sorted(_TRADE)))
    )  # fmt: skip
    with engine.connect() as conn:
        anchor_positions = _batch_positions(conn)
        for row in conn.execute(query).mappings():
            counts["trade_transitions"] = counts.get("trade_transitions", 0) + 1
            position: Position = (row["block_number"], row["tx_index"], row["log_index"])
            origin_at, destination_at = position, position
            if row["event"] == "CertificateIssued" and row["anchored_block"] is not None:
                origin_at = anchor_positions.get(row["related"], position)
                destination_at = history.block_ends(row["anchored_block"])
            for side, code, at in (
                ("origin", row["origin"], origin_at),
                ("destination", row["destination"], destination_at),
            ):
                status = history.status_at(code, at)
                if status != ParticipantStatus.ACTIVE:
                    out.append(
                        Finding(
                            TRADE_RULE,
                            row["document_hash"],
                            f"{row['number']}: {row['event']} while {side} {code} was "
                            f"{ParticipantStatus(status).name.lower()}",
                            row["block_number"],
                        )
                    )
    return out


def _batch_positions(conn: Any) -> dict[str, Position]:
    e = s.events
    query = select(e.c.subject, e.c.block_number, e.c.tx_index, e.c.log_index).where(
        e.c.name == "BatchAnchored"
    )
    return {str(r): (b, t, i) for r, b, t, i in conn.execute(query)}


def check_invariants(engine: Engine, checked: dict[str, int] | None = None) -> list[Finding]:
    """The contracts' rules, checked on the rebuilt history (see the module docstring)."""
    counts = checked if checked is not None else {}
    out: list[Finding] = []
    c, t = s.certificates, s.certificate_transitions
    with engine.connect() as conn:
        for number, n in conn.execute(
            select(c.c.number, func.count()).group_by(c.c.number).having(func.count() > 1)
        ):
            out.append(Finding("number-unique", str(number), f"certificate number used {n} times"))
        certs = {r["document_hash"]: dict(r) for r in conn.execute(select(c)).mappings()}
        counts["certificates"] = len(certs)
        for cert in certs.values():
            key = cert["document_hash"]
            if not cert["number"].startswith(cert["origin"]):
                out.append(
                    Finding("number-prefix", key, f"{cert['number']} does not start with {cert['origin']}")
                )
            if cert["origin"] == cert["destination"]:
                out.append(
                    Finding("distinct-parties", key, f"origin and destination are both {cert['origin']}")
                )
            if cert["superseded_by"] is not None:
                other = certs.get(cert["superseded_by"])
                if other is None or other["supersedes"] != key:
                    out.append(Finding("amendment-link", key, "its replacement does not point back to it"))
                elif other["origin"] != cert["origin"]:
                    out.append(Finding("amendment-origin", key, "its replacement has another origin"))
        for issue in conn.execute(select(s.replay_issues)).mappings():
            out.append(
                Finding(
                    "transition-rule",
                    issue["tx_hash"],
                    f"{issue['event']}: {issue['message']}",
                    issue["block_number"],
                )
            )
        history = _history(engine)
        query = select(t).order_by(t.c.block_number, t.c.tx_index, t.c.log_index)
        for row in conn.execute(query).mappings():
            rule = _ACTORS.get(row["event"])
            subject = certs.get(row["document_hash"])
            if (
                rule is None
                or subject is None
                or (row["event"] == "CertificateIssued" and row["related"] is not None)
            ):
                continue  # a revealed batch certificate: anyone may reveal; the batch is checked below
            counts["actor_checks"] = counts.get("actor_checks", 0) + 1
            side, kind = rule
            position = (row["block_number"], row["tx_index"], row["log_index"])
            if not history.holds(subject[side], kind, row["actor"], position):
                out.append(
                    Finding(
                        "actor-role",
                        row["document_hash"],
                        f"{row['event']} by {row['actor']}, not a {kind} of {subject[side]} then",
                        row["block_number"],
                    )
                )
        anchors = _batch_positions(conn)
        for batch in conn.execute(select(s.batches)).mappings():
            counts["batches"] = counts.get("batches", 0) + 1
            position = anchors.get(batch["root"], (batch["anchored_block"], 0, 0))
            if not history.holds(batch["origin"], "authority", batch["issuer"], position):
                out.append(
                    Finding(
                        "actor-role",
                        batch["root"],
                        f"batch anchored by {batch['issuer']}, not an authority of {batch['origin']}",
                    )
                )
            revealed = conn.execute(
                select(func.count()).select_from(c).where(c.c.batch_root == batch["root"])
            ).scalar_one()
            if revealed > batch["count"]:
                out.append(
                    Finding(
                        "batch-count",
                        batch["root"],
                        f"{revealed} certificates revealed from a batch of {batch['count']}",
                    )
                )
        out += _expiry_rules(conn, certs, counts)
    out += suspended_trade(engine, counts)
    return out


def _expiry_rules(conn: Any, certs: Mapping[str, Mapping[str, Any]], counts: dict[str, int]) -> list[Finding]:
    """Expiry after the start and within the origin's validity period (+1 day, as the
    contract allows) where the contract checks it: at the request or direct issue, and
    for a batched certificate from the batch's time with the validity in force when the
    batch was anchored. A requested certificate is validated only until it expires."""
    h, t = s.participant_status_history, s.certificate_transitions
    validity: dict[str, list[tuple[Position, int]]] = defaultdict(list)
    order = (h.c.block_number, h.c.tx_index, h.c.log_index)
    for code, b, ti, li, days in conn.execute(select(h.c.code, *order, h.c.validity_days).order_by(*order)):
        validity[code].append(((b, ti, li), days))
    created: dict[str, Position] = {}
    query = select(t.c.document_hash, t.c.block_number, t.c.tx_index, t.c.log_index).where(
        t.c.event.in_(["CertificateRequested", "CertificateIssued"])
    )
    for document_hash, b, ti, li in conn.execute(query):
        created[document_hash] = (b, ti, li)
    batches = select(s.batches.c.root, s.batches.c.anchored_block)
    anchored = {root: block for root, block in conn.execute(batches)}
    out: list[Finding] = []
    for cert in certs.values():
        start = cert["requested_at"] if cert["requested_at"] is not None else cert["issued_at"]
        position = created.get(cert["document_hash"])
        if cert.get("batch_root") in anchored:
            # The period in force at the end of the anchoring block (what the contract stored).
            position = (anchored[cert["batch_root"]], 1 << 62, 0)
        if start is None or position is None:
            continue
        counts["expiry_checks"] = counts.get("expiry_checks", 0) + 1
        days = 0
        for at, value in validity.get(cert["origin"], []):
            if at > position:
                break
            days = value
        latest = start + (days + 1) * 86_400
        if not start < cert["expires_at"] <= latest:
            out.append(
                Finding(
                    "expiry-window",
                    cert["document_hash"],
                    f"expires {cert['expires_at']}, outside ({start}, {latest}]",
                )
            )
        validated = cert["requested_at"] is not None and cert["issued_at"] is not None
        if validated and cert["issued_at"] > cert["expires_at"]:
            out.append(
                Finding("validated-after-expiry", cert["document_hash"], "validated after it had expired")
            )
    return out
