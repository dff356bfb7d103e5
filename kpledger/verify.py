"""Verify a certificate someone was handed: is it anchored, is it still good, and
who vouched for it.

Why separate fragments: an importer, a customs officer and a bank ask different
questions. *Integrity* says whether these exact bytes were anchored (and under which
number); *status* where the certificate stands in its life cycle; *identity* whether
the exporting participant was, and still is, entitled to issue and which authority
account validated it. Each fragment is VALID, INVALID or ERROR with a stable code, and
the verdict is VALID only when all three are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from kpledger.certificate import (
    Certificate,
    document_hash,
    hash_document_bytes,
    hash_hex,
    parse_certificate,
)
from kpledger.errors import ChainError, DocumentError, KPLedgerError
from kpledger.ledger import BatchProof, Ledger, OriginFacts
from kpledger.types import (
    CertificateRecord,
    CertificateStatus,
    ParticipantStatus,
    TimelineEntry,
    exact_amounts,
)


class Result(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    ERROR = "ERROR"


class Code(StrEnum):
    """Stable codes; clients switch on these, people read the messages."""

    VALID = "VALID"
    ANCHORED = "ANCHORED"
    BATCH_PROOF = "BATCH_PROOF"
    NOT_ANCHORED = "NOT_ANCHORED"
    TAMPERED = "TAMPERED"
    TERMS_MISMATCH = "TERMS_MISMATCH"
    ISSUED = "ISSUED"
    RECEIVED = "RECEIVED"
    REQUESTED = "REQUESTED"
    DISPUTED = "DISPUTED"
    VOIDED = "VOIDED"
    SUPERSEDED = "SUPERSEDED"
    EXPIRED = "EXPIRED"
    ORIGIN_ACTIVE = "ORIGIN_ACTIVE"
    ORIGIN_SUSPENDED = "ORIGIN_SUSPENDED"
    UNKNOWN_PARTICIPANT = "UNKNOWN_PARTICIPANT"
    NOT_CHECKED = "NOT_CHECKED"
    CHAIN_UNAVAILABLE = "CHAIN_UNAVAILABLE"


@dataclass(frozen=True)
class Fragment:
    name: str
    result: Result
    code: Code
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The answer to "can I trust this certificate?"."""

    document_hash: str
    verdict: Result
    code: Code
    message: str
    fragments: tuple[Fragment, ...]
    certificate: dict[str, Any] | None
    timeline: tuple[dict[str, Any], ...]
    checked_at_block: int | None

    @property
    def valid(self) -> bool:
        return self.verdict is Result.VALID

    def fragment(self, name: str) -> Fragment:
        return next(f for f in self.fragments if f.name == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------- entry points


def verify(
    ledger: Ledger,
    subject: bytes | str | Path | Mapping[str, Any] | Certificate,
    *,
    batch_proof: BatchProof | None = None,
    with_timeline: bool = True,
) -> Verification:
    """Verify a document (file bytes, a path, a parsed JSON object or a Certificate)
    or a bare document hash (``0x`` + 64 hex digits)."""
    if isinstance(subject, Certificate):
        return verify_document(
            ledger, subject.to_document(), batch_proof=batch_proof, with_timeline=with_timeline
        )
    if isinstance(subject, Path):
        return verify_document(
            ledger, subject.read_bytes(), batch_proof=batch_proof, with_timeline=with_timeline
        )
    if isinstance(subject, str):
        from kpledger.certificate import parse_hash

        return verify_hash(ledger, parse_hash(subject), batch_proof=batch_proof, with_timeline=with_timeline)
    return verify_document(ledger, subject, batch_proof=batch_proof, with_timeline=with_timeline)


def verify_document(
    ledger: Ledger,
    document: bytes | Mapping[str, Any],
    *,
    batch_proof: BatchProof | None = None,
    with_timeline: bool = True,
    block: int | None = None,
) -> Verification:
    """Verify a document: hash it as the ledger does, then compare its stated terms
    with what the ledger holds (so a hash anchored with false terms is caught). Reads
    are made at ``block`` (default: the head when called)."""
    if isinstance(document, Mapping):
        digest = document_hash(dict(document))
        certificate = _certificate_or_none(document)
    else:
        digest, kind = hash_document_bytes(document)
        certificate = _certificate_or_none(document) if kind == "json" else None
    return _verify(ledger, digest, certificate, batch_proof, with_timeline, block)


def verify_hash(
    ledger: Ledger,
    digest: bytes,
    *,
    batch_proof: BatchProof | None = None,
    with_timeline: bool = True,
    block: int | None = None,
) -> Verification:
    """Verify by document hash alone (what the web page sends: the file stays with
    its holder). Every read is made at ``block`` (default: the head when called), so
    the answer is the chain's state at ``checked_at_block``."""
    return _verify(ledger, digest, None, batch_proof, with_timeline, block)


def verify_many(ledger: Ledger, digests: Sequence[bytes], *, block: int | None = None) -> list[Verification]:
    """Verify many document hashes at one block with a handful of JSON-RPC batches in
    all (records, one log query for every timeline, identity reads), instead of three
    or four round trips each. Each answer equals :func:`verify_hash`'s at that block."""
    if not digests:
        return []
    try:
        head = ledger.block_number() if block is None else block
        records = ledger.certificates(digests, block=head)
        known = list({r.document_hash: r for r in records if r is not None}.values())
        timelines = ledger.timelines(known, block=head)
        questions = {
            q: None for q in (_identity_question(r, timelines[r.document_hash], head) for r in known)
        }
        facts = dict(zip(questions, ledger.origin_facts(list(questions), block=head), strict=True))
        out = []
        for digest, record in zip(digests, records, strict=True):
            if record is None:
                out.append(_unknown(digest, head))
                continue
            question = _identity_question(record, timelines[record.document_hash], head)
            identity = _identity_from(record.origin, question[2], facts[question])
            out.append(
                _anchored(ledger, digest, record, None, timelines[record.document_hash], identity, head)
            )
        return out
    except ChainError as exc:
        return [_unavailable(digest, exc) for digest in digests]


# ---------------------------------------------------------------------- the checks


def _verify(
    ledger: Ledger,
    digest: bytes,
    certificate: Certificate | None,
    batch_proof: BatchProof | None,
    with_timeline: bool,
    block: int | None,
) -> Verification:
    try:
        return _verify_on_chain(ledger, digest, certificate, batch_proof, with_timeline, block)
    except ChainError as exc:
        return _unavailable(digest, exc)


def _unavailable(digest: bytes, exc: ChainError) -> Verification:
    message = f"the ledger could not be read: {exc}"
    fragments = tuple(
        Fragment(name, Result.ERROR, Code.CHAIN_UNAVAILABLE, message)
        for name in ("integrity", "status", "identity")
    )
    return Verification(
        hash_hex(digest), Result.ERROR, Code.CHAIN_UNAVAILABLE, message, fragments, None, (), None
    )


def _verify_on_chain(
    ledger: Ledger,
    digest: bytes,
    certificate: Certificate | None,
    batch_proof: BatchProof | None,
    with_timeline: bool,
    block: int | None,
) -> Verification:
    head = ledger.block_number() if block is None else block
    record = ledger.certificate(digest, block=head)
    if record is None and batch_proof is not None and batch_proof.terms.document_hash == digest:
        return _verify_batched(ledger, digest, certificate, batch_proof, head)
    if record is None:
        if certificate is None:
            return _unknown(digest, head)
        integrity = _not_anchored(ledger, digest, certificate, head)
        skipped = "not checked: the document is not on the ledger"
        fragments = (
            integrity,
            Fragment("status", Result.INVALID, Code.NOT_CHECKED, skipped),
            _identity_of_document(ledger, certificate, head),
        )
        return _conclude(digest, fragments, None, (), head)
    timeline = ledger.timeline(digest, record=record, block=head) if with_timeline else []
    question = _identity_question(record, timeline, head)
    (facts,) = ledger.origin_facts([question], block=head)
    identity = _identity_from(record.origin, question[2], facts)
    return _anchored(ledger, digest, record, certificate, timeline, identity, head)


def _unknown(digest: bytes, head: int) -> Verification:
    """A bare hash the ledger does not hold (no document to say more about)."""
    skipped = "not checked: the document is not on the ledger"
    fragments = (
        Fragment(
            "integrity",
            Result.INVALID,
            Code.NOT_ANCHORED,
            "no certificate with this document hash is anchored",
        ),
        Fragment("status", Result.INVALID, Code.NOT_CHECKED, skipped),
        Fragment("identity", Result.INVALID, Code.NOT_CHECKED, skipped),
    )
    return _conclude(digest, fragments, None, (), head)


def _anchored(
    ledger: Ledger,
    digest: bytes,
    record: CertificateRecord,
    certificate: Certificate | None,
    timeline: list[TimelineEntry],
    identity: Fragment,
    head: int,
) -> Verification:
    fragments = (_integrity(record, certificate), _status(ledger, record, head), identity)
    return _conclude(digest, fragments, _record_dict(record), tuple(_entry_dict(e) for e in timeline), head)


def _verify_batched(
    ledger: Ledger, digest: bytes, certificate: Certificate | None, proof: BatchProof, head: int
) -> Verification:
    """A batched certificate not yet revealed: its proof stands in for the record."""
    if not ledger.verify_batch_certificate(proof):
        integrity = Fragment(
            "integrity",
            Result.INVALID,
            Code.NOT_ANCHORED,
            "the batch proof does not match an anchored batch root",
        )
        fragments = (
            integrity,
            Fragment("status", Result.INVALID, Code.NOT_CHECKED, "not checked: the proof failed"),
            _identity_of_document(ledger, certificate, head),
        )
        return _conclude(digest, fragments, None, (), head)
    batch = ledger.batch(proof.root, block=head)
    assert batch is not None
    terms = proof.terms
    integrity = _terms_check(
        Fragment(
            "integrity",
            Result.VALID,
            Code.BATCH_PROOF,
            f"anchored as certificate {terms.number} in batch 0x{proof.root.hex()[:12]}…"
            " (proof checked on chain)",
            {"number": terms.number, "batch_root": "0x" + proof.root.hex()},
        ),
        terms.number,
        (terms.origin, terms.destination, terms.carats, terms.value_cents, terms.parcels, terms.expires_at),
        certificate,
    )
    now = ledger.block_time(head)
    if now > terms.expires_at:
        status = Fragment("status", Result.INVALID, Code.EXPIRED, f"expired at {_iso(terms.expires_at)}")
    else:
        status = Fragment("status", Result.VALID, Code.ISSUED, "issued in a batch; no receipt recorded yet")
    (facts,) = ledger.origin_facts([(terms.origin, batch.anchored_block, batch.issuer)], block=head)
    identity = _identity_from(terms.origin, batch.issuer, facts)
    entry = {
        "event": "BatchAnchored",
        "status": "ISSUED",
        "block_number": batch.anchored_block,
        "timestamp": batch.anchored_at,
        "tx_hash": None,
        "actor": batch.issuer,
        "detail": "0x" + proof.root.hex(),
    }
    summary = {
        "number": terms.number,
        "origin": terms.origin,
        "destination": terms.destination,
        "status": "ISSUED",
        "carats": terms.carats / 100,
        "value_usd": terms.value_cents / 100,
        **exact_amounts(terms.carats, terms.value_cents),
        "parcels": terms.parcels,
        "expires_at": terms.expires_at,
        "batch_root": "0x" + proof.root.hex(),
    }
    return _conclude(digest, (integrity, status, identity), summary, (entry,), head)


def _not_anchored(ledger: Ledger, digest: bytes, certificate: Certificate | None, head: int) -> Fragment:
    if certificate is not None:
        holder = ledger.certificate(certificate.number, block=head)
        if holder is not None:
            return Fragment(
                "integrity",
                Result.INVALID,
                Code.TAMPERED,
                f"certificate {certificate.number} is on the ledger with another document hash: this document"
                " differs from the one anchored",
                {"number": certificate.number, "anchored_hash": "0x" + holder.document_hash.hex()},
            )
    return Fragment(
        "integrity", Result.INVALID, Code.NOT_ANCHORED, "no certificate with this document hash is anchored"
    )


def _integrity(record: CertificateRecord, certificate: Certificate | None) -> Fragment:
    anchored = Fragment(
        "integrity",
        Result.VALID,
        Code.ANCHORED,
        f"anchored as certificate {record.number}",
        {"number": record.number},
    )
    stated = (
        record.origin,
        record.destination,
        record.carats,
        record.value_cents,
        record.parcels,
        record.expires_at,
    )
    return _terms_check(anchored, record.number, stated, certificate)


def _terms_check(
    anchored: Fragment, number: str, stated: tuple[Any, ...], certificate: Certificate | None
) -> Fragment:
    """The document's own terms must equal the anchored ones: a hash anchored with other
    carats or another destination would otherwise pass."""
    if certificate is None:
        return anchored
    terms = certificate.chain_terms()
    own = (terms.origin, terms.destination, terms.carats, terms.value_cents, terms.parcels, terms.expires_at)
    names = ("origin", "destination", "carats", "value_cents", "parcels", "expires_at")
    differing = [n for n, a, b in zip(names, own, stated, strict=True) if a != b]
    if terms.number != number:
        differing.insert(0, "number")
    if not differing:
        return anchored
    return Fragment(
        "integrity",
        Result.INVALID,
        Code.TERMS_MISMATCH,
        f"the document's {', '.join(differing)} differ from the terms anchored on the ledger",
        {"number": number, "fields": differing},
    )


def _status(ledger: Ledger, record: CertificateRecord, head: int) -> Fragment:
    status = record.status
    details: dict[str, Any] = {"status": status.name}
    if status is CertificateStatus.ISSUED:
        return Fragment(
            "status", Result.VALID, Code.ISSUED, f"issued; valid until {_iso(record.expires_at)}", details
        )
    if status is CertificateStatus.RECEIVED:
        return Fragment(
            "status",
            Result.VALID,
            Code.RECEIVED,
            f"receipt confirmed by the importing authority ({record.destination})",
            details,
        )
    if status is CertificateStatus.SUPERSEDED and record.superseded_by is not None:
        replacement = ledger.certificate(record.superseded_by, block=head)
        number = replacement.number if replacement else "0x" + record.superseded_by.hex()
        details["superseded_by"] = number
        return Fragment("status", Result.INVALID, Code.SUPERSEDED, f"superseded by {number}", details)
    messages = {
        CertificateStatus.REQUESTED: (
            Code.REQUESTED,
            "anchored by the exporter but not yet validated by the authority",
        ),
        CertificateStatus.DISPUTED: (Code.DISPUTED, "the importing authority recorded a discrepancy"),
        CertificateStatus.VOIDED: (Code.VOIDED, "voided by the exporting authority"),
        CertificateStatus.EXPIRED: (
            Code.EXPIRED,
            f"expired at {_iso(record.expires_at)} without confirmed receipt",
        ),
    }
    code, message = messages[status]
    return Fragment("status", Result.INVALID, code, message, details)


def _identity_question(
    record: CertificateRecord, timeline: list[TimelineEntry], head: int
) -> tuple[str, int, str | None]:
    """(origin, the block its status matters at, the validating authority account)."""
    issuer = next(
        (
            e.actor
            for e in timeline
            if e.event in ("CertificateIssued", "CertificateValidated", "BatchAnchored")
        ),
        None,
    )
    return record.origin, record.issued_block or record.requested_block or head, issuer


def _identity_from(origin: str, issuer: str | None, facts: OriginFacts) -> Fragment:
    participant = facts.participant
    if participant is None:
        return Fragment(
            "identity", Result.INVALID, Code.UNKNOWN_PARTICIPANT, f"{origin} is not a KP participant"
        )
    then = facts.status_then
    details: dict[str, Any] = {
        "origin": origin,
        "origin_name": participant.name,
        "status_then": then.name,
        "status_now": participant.status.name,
        "validating_authority": issuer,
        "authority_still_appointed": facts.authority_still_appointed,
    }
    if then is not ParticipantStatus.ACTIVE:
        return Fragment(
            "identity",
            Result.INVALID,
            Code.ORIGIN_SUSPENDED,
            f"{participant.name} ({origin}) was {then.name.lower()} when the certificate was issued",
            details,
        )
    if participant.status is not ParticipantStatus.ACTIVE:
        return Fragment(
            "identity",
            Result.INVALID,
            Code.ORIGIN_SUSPENDED,
            f"{participant.name} ({origin}) is suspended now; it was active when the certificate was issued",
            details,
        )
    who = f" by authority account {issuer}" if issuer else ""
    return Fragment(
        "identity",
        Result.VALID,
        Code.ORIGIN_ACTIVE,
        f"issued by {participant.name} ({origin}), an active participant{who}",
        details,
    )


def _identity_of_document(ledger: Ledger, certificate: Certificate | None, head: int) -> Fragment:
    if certificate is None:
        return Fragment(
            "identity", Result.INVALID, Code.NOT_CHECKED, "not checked: the document is not on the ledger"
        )
    origin = certificate.exporting_participant
    if ledger.participant(origin, with_history=False, block=head) is None:
        return Fragment(
            "identity", Result.INVALID, Code.UNKNOWN_PARTICIPANT, f"{origin} is not a KP participant"
        )
    return Fragment(
        "identity", Result.INVALID, Code.NOT_CHECKED, "not checked: the document is not on the ledger"
    )


def _conclude(
    digest: bytes,
    fragments: tuple[Fragment, ...],
    certificate: dict[str, Any] | None,
    timeline: tuple[dict[str, Any], ...],
    head: int,
) -> Verification:
    if any(f.result is Result.ERROR for f in fragments):
        verdict = Result.ERROR
    elif all(f.result is Result.VALID for f in fragments):
        verdict = Result.VALID
    else:
        verdict = Result.INVALID
    failing = next(
        (f for f in fragments if f.result is not Result.VALID and f.code is not Code.NOT_CHECKED), None
    )
    code = failing.code if failing else Code.VALID
    message = failing.message if failing else "valid: anchored, in force, issued by an active participant"
    return Verification(hash_hex(digest), verdict, code, message, fragments, certificate, timeline, head)


def _certificate_or_none(document: bytes | Mapping[str, Any]) -> Certificate | None:
    """The document as a certificate if it is a valid one; terms checks need it, but a
    document that breaks a format rule can still be looked up by hash."""
    try:
        return parse_certificate(document if isinstance(document, bytes) else dict(document))
    except (DocumentError, KPLedgerError):
        return None


def _record_dict(record: CertificateRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "document_hash": "0x" + record.document_hash.hex(),
        "origin": record.origin,
        "destination": record.destination,
        "status": record.status.name,
        "carats": record.carats / 100,
        "value_usd": record.value_cents / 100,
        **exact_amounts(record.carats, record.value_cents),
        "parcels": record.parcels,
        "expires_at": record.expires_at,
        "exporter": record.exporter,
        "supersedes": "0x" + record.supersedes.hex() if record.supersedes else None,
        "superseded_by": "0x" + record.superseded_by.hex() if record.superseded_by else None,
        "batch_root": "0x" + record.batch_root.hex() if record.batch_root else None,
        "issued_on": record.issued_on.isoformat() if record.issued_on else None,
        "imported_on": record.imported_on.isoformat() if record.imported_on else None,
    }


def _entry_dict(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "event": entry.event,
        "status": entry.status.name,
        "block_number": entry.block_number,
        "timestamp": entry.timestamp,
        "tx_hash": "0x" + entry.tx_hash.hex() if entry.tx_hash else None,
        "actor": entry.actor,
        "detail": entry.detail,
    }


def _iso(timestamp: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
