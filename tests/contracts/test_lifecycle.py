"""CertificateLedger life cycle on the in-process EVM (docs/format.md §6): every transition,
every refused one, derived expiry, the input rules, uniqueness, participants' status,
and the events and record blocks an auditor rebuilds the history from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import pytest

from kpledger.contract_errors import (
    AccessControlUnauthorizedAccount,
    CertificateAmendmentOriginMismatch,
    CertificateExpired,
    CertificateExpiryInPast,
    CertificateHashAlreadyUsed,
    CertificateInvalidNumber,
    CertificateInvalidQuantity,
    CertificateInvalidReason,
    CertificateInvalidTransition,
    CertificateNumberAlreadyUsed,
    CertificateSameOriginAndDestination,
    CertificateUnknown,
    CertificateValidityTooLong,
    CertificateZeroExporter,
    CertificateZeroHash,
    RegistryParticipantNotActive,
    RegistryParticipantUnknown,
)
from kpledger.errors import NotFound
from kpledger.ledger import Ledger
from kpledger.types import CertificateRecord, CertificateStatus, ChainTerms, ParticipantStatus, Receipt

from .helpers import (
    DAY,
    ZERO_ADDRESS,
    ZERO_HASH,
    Fast,
    authority_role,
    bring_to,
    call_error,
    check_error,
    fresh_hash,
    future_time,
    latest_block_at,
    next_block_at,
    reverts,
    unchanged,
)

if TYPE_CHECKING:
    from tests.conftest import World

S = CertificateStatus
SUSPENDED = ParticipantStatus.SUSPENDED


def record_of(world: World, terms: ChainTerms | bytes) -> CertificateRecord:
    document_hash = terms if isinstance(terms, bytes) else terms.document_hash
    record = world.gov.certificate(document_hash)
    assert record is not None
    return record


def observe(world: World, terms: ChainTerms) -> Callable[[], Any]:
    return lambda: world.gov.certificate(terms.document_hash)


def in_status(world: World, status: CertificateStatus, **terms_options: Any) -> ChainTerms:
    terms = world.terms(**terms_options)
    bring_to(status, terms, exporter=world.bw_exporter, origin=world.bw_auth, destination=world.ae_auth)
    return terms


def timeline_of(
    world: World, terms: ChainTerms
) -> list[tuple[str, CertificateStatus, int, str | None, str | None]]:
    return [
        (e.event, e.status, e.block_number, e.actor, e.detail)
        for e in world.auditor.timeline(terms.document_hash)
    ]


def events_in(world: World, receipt: Receipt, name: str) -> list[dict[str, Any]]:
    block = receipt.block_number
    return [args for event, args, _ in world.gov.events(block, block) if event == name]


# ------------------------------------------------------------ the life-cycle paths (docs/format.md §6)


def test_anchor_validate_confirm(world: World) -> None:
    terms = world.terms()
    anchored = world.bw_exporter.anchor(terms)
    record = record_of(world, terms)
    assert record.terms == terms
    assert (record.status, record.stored_status) == (S.REQUESTED, S.REQUESTED)
    assert record.exporter == world.bw_exporter.address
    assert record.requested_block == anchored.block_number
    assert (record.issued_block, record.responded_block, record.closed_block) == (None, None, None)
    assert (record.supersedes, record.superseded_by, record.batch_root) == (None, None, None)

    validated = world.bw_auth.validate(terms.number)  # by number: the client resolves it
    record = record_of(world, terms)
    assert record.status is S.ISSUED
    assert (record.requested_block, record.issued_block) == (anchored.block_number, validated.block_number)
    assert record.closed_block is None

    received = world.ae_auth.confirm_receipt(terms.document_hash)
    record = record_of(world, terms)
    assert record.status is S.RECEIVED
    assert record.closed_block == received.block_number
    assert record.responded_block is None
    assert record.exporter == world.bw_exporter.address

    assert timeline_of(world, terms) == [
        ("CertificateRequested", S.REQUESTED, anchored.block_number, world.bw_exporter.address, None),
        ("CertificateValidated", S.ISSUED, validated.block_number, world.bw_auth.address, None),
        ("CertificateReceived", S.RECEIVED, received.block_number, world.ae_auth.address, None),
    ]
    entries = world.auditor.timeline(terms.document_hash)
    assert [e.tx_hash for e in entries] == [anchored.tx_hash, validated.tx_hash, received.tx_hash]
    assert [e.timestamp for e in entries] == [world.gov.block_time(e.block_number) for e in entries]


def test_issue_directly(world: World) -> None:
    terms = world.terms()
    issued = world.bw_auth.issue(terms, world.bw_exporter.address)
    record = record_of(world, terms)
    assert record.terms == terms
    assert (record.status, record.stored_status) == (S.ISSUED, S.ISSUED)
    assert record.exporter == world.bw_exporter.address
    assert (record.requested_block, record.issued_block, record.closed_block) == (
        None,
        issued.block_number,
        None,
    )
    assert timeline_of(world, terms) == [
        ("CertificateIssued", S.ISSUED, issued.block_number, world.bw_auth.address, None)
    ]
    assert world.gov.certificate(terms.number) == record
    assert world.gov.resolve(terms.number) == terms.document_hash


@pytest.mark.parametrize("note", ["", "recount matched the certificate"], ids=["empty-note", "note"])
def test_dispute_then_resolve(world: World, note: str) -> None:
    terms = in_status(world, S.ISSUED)
    issued_block = record_of(world, terms).issued_block
    disputed = world.ae_auth.record_discrepancy(terms.document_hash, "carats differ by 12.5")
    record = record_of(world, terms)
    assert record.status is S.DISPUTED
    assert (record.responded_block, record.closed_block) == (disputed.block_number, None)

    resolved = world.ae_auth.resolve_dispute(terms.document_hash, note)
    record = record_of(world, terms)
    assert record.status is S.RECEIVED
    assert (record.issued_block, record.responded_block, record.closed_block) == (
        issued_block,
        disputed.block_number,
        resolved.block_number,
    )
    assert timeline_of(world, terms)[-2:] == [
        (
            "CertificateDisputed",
            S.DISPUTED,
            disputed.block_number,
            world.ae_auth.address,
            "carats differ by 12.5",
        ),
        ("DisputeResolved", S.RECEIVED, resolved.block_number, world.ae_auth.address, note or None),
    ]


def test_dispute_then_void(world: World) -> None:
    terms = in_status(world, S.ISSUED)
    disputed = world.ae_auth.record_discrepancy(terms.document_hash, "seal broken")
    voided = world.bw_auth.void(terms.document_hash, "shipment seized")
    record = record_of(world, terms)
    assert record.status is S.VOIDED
    assert (record.responded_block, record.closed_block) == (disputed.block_number, voided.block_number)
    assert timeline_of(world, terms)[-1] == (
        "CertificateVoided",
        S.VOIDED,
        voided.block_number,
        world.bw_auth.address,
        "shipment seized",
    )


@pytest.mark.parametrize("status", [S.REQUESTED, S.ISSUED, S.DISPUTED], ids=lambda s: s.name)
def test_void(world: World, status: CertificateStatus) -> None:
    terms = in_status(world, status)
    before = record_of(world, terms)
    voided = world.bw_auth.void(terms.document_hash, "issued in error")
    record = record_of(world, terms)
    assert (record.status, record.closed_block) == (S.VOIDED, voided.block_number)
    assert (
        replace(record, status=before.status, stored_status=before.stored_status, closed_block=None) == before
    )
    assert timeline_of(world, terms)[-1] == (
        "CertificateVoided",
        S.VOIDED,
        voided.block_number,
        world.bw_auth.address,
        "issued in error",
    )


@pytest.mark.parametrize("first", ["issued", "validated"])
def test_amend(world: World, first: str) -> None:
    old = world.terms()
    if first == "issued":
        Fast(world.bw_auth).issue(old, world.bw_exporter.address)
    else:
        Fast(world.bw_exporter).anchor(old)
        Fast(world.bw_auth).validate(old.document_hash)
    new = world.terms(carats=125_000, destination="BE")
    amended = world.bw_auth.amend(old.document_hash, new, "carats corrected, consignee changed")
    block = amended.block_number

    old_record = record_of(world, old)
    assert (old_record.status, old_record.closed_block) == (S.SUPERSEDED, block)
    assert (old_record.superseded_by, old_record.supersedes) == (new.document_hash, None)
    new_record = record_of(world, new)
    assert new_record.terms == new
    assert (new_record.status, new_record.issued_block, new_record.requested_block) == (S.ISSUED, block, None)
    assert (new_record.supersedes, new_record.superseded_by) == (old.document_hash, None)
    # The exporter is kept, although the authority sent the amendment.
    assert new_record.exporter == old_record.exporter == world.bw_exporter.address

    reason = "carats corrected, consignee changed"
    assert timeline_of(world, old)[-1] == (
        "CertificateSuperseded",
        S.SUPERSEDED,
        block,
        world.bw_auth.address,
        f"replaced by 0x{new.document_hash.hex()}: {reason}",
    )
    assert sorted(timeline_of(world, new)) == sorted(
        [
            ("CertificateIssued", S.ISSUED, block, world.bw_auth.address, None),
            (
                "Supersedes",
                S.ISSUED,
                block,
                world.bw_auth.address,
                f"replaces 0x{old.document_hash.hex()}: {reason}",
            ),
        ]
    )
    (event,) = events_in(world, amended, "CertificateSuperseded")
    assert (bytes(event["documentHash"]), bytes(event["replacement"])) == (
        old.document_hash,
        new.document_hash,
    )
    # The replacement itself can be amended again: a chain of amendments.
    newer = world.terms()
    world.bw_auth.amend(new.document_hash, newer, "second correction")
    assert record_of(world, new).status is S.SUPERSEDED
    assert (record_of(world, newer).supersedes, record_of(world, newer).exporter) == (
        new.document_hash,
        world.bw_exporter.address,
    )


def test_amend_must_keep_the_origin(world: World) -> None:
    old = in_status(world, S.ISSUED)
    new = world.terms(origin="BE")
    with (
        unchanged(world.gov, observe(world, old), observe(world, new)),
        reverts(CertificateAmendmentOriginMismatch, expected=b"BW", actual=b"BE"),
    ):
        world.bw_auth.amend(old.document_hash, new, "move to Belgium")


def test_amend_is_atomic_when_the_replacement_is_refused(world: World) -> None:
    old = in_status(world, S.ISSUED)
    # Same document hash as the certificate it replaces.
    with (
        unchanged(world.gov, observe(world, old)),
        reverts(CertificateHashAlreadyUsed, documentHash=old.document_hash),
    ):
        world.bw_auth.amend(
            old.document_hash, replace(world.terms(), document_hash=old.document_hash), "same hash"
        )
    # Replacement to a suspended participant.
    to_ve = world.terms(destination="VE")
    with (
        unchanged(world.gov, observe(world, old), observe(world, to_ve)),
        reverts(RegistryParticipantNotActive, code=b"VE", status=SUSPENDED),
    ):
        world.bw_auth.amend(old.document_hash, to_ve, "to Venezuela")
    # Same number as the certificate it replaces (numbers are never reused).
    same_number = world.terms(number=old.number)
    error = call_error(
        world.bw_auth, "ledger", "amend", old.document_hash, same_number.as_tuple(), "same number"
    )
    check_error(error, CertificateNumberAlreadyUsed, number=old.number, documentHash=old.document_hash)
    assert record_of(world, old).status is S.ISSUED


# ---------------------------------------------------------------------- every transition from every status

OPEN = (S.REQUESTED, S.ISSUED, S.DISPUTED)
STORED = (S.REQUESTED, S.ISSUED, S.DISPUTED, S.RECEIVED, S.VOIDED, S.SUPERSEDED)

# action: (actor, allowed from, resulting status, record block it sets)
TRANSITIONS: dict[str, tuple[str, tuple[CertificateStatus, ...], CertificateStatus, str]] = {
    "validate": ("bw_auth", (S.REQUESTED,), S.ISSUED, "issued_block"),
    "confirmReceipt": ("ae_auth", (S.ISSUED,), S.RECEIVED, "closed_block"),
    "recordDiscrepancy": ("ae_auth", (S.ISSUED,), S.DISPUTED, "responded_block"),
    "resolveDispute": ("ae_auth", (S.DISPUTED,), S.RECEIVED, "closed_block"),
    "voidCertificate": ("bw_auth", (S.REQUESTED, S.ISSUED, S.DISPUTED), S.VOIDED, "closed_block"),
    "amend": ("bw_auth", (S.ISSUED,), S.SUPERSEDED, "closed_block"),
}


def run_action(world: World, action: str, actor: Ledger, document_hash: bytes) -> Receipt:
    if action == "validate":
        return actor.validate(document_hash)
    if action == "confirmReceipt":
        return actor.confirm_receipt(document_hash)
    if action == "recordDiscrepancy":
        return actor.record_discrepancy(document_hash, "discrepancy")
    if action == "resolveDispute":
        return actor.resolve_dispute(document_hash, "resolved")
    if action == "voidCertificate":
        return actor.void(document_hash, "void")
    assert action == "amend"
    return actor.amend(document_hash, world.terms(), "amend")


@pytest.mark.parametrize("status", STORED, ids=lambda s: f"from-{s.name}")
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_transition_matrix(world: World, action: str, status: CertificateStatus) -> None:
    actor_name, allowed, result, block_field = TRANSITIONS[action]
    actor: Ledger = getattr(world, actor_name)
    terms = in_status(world, status)
    if status in allowed:
        receipt = run_action(world, action, actor, terms.document_hash)
        record = record_of(world, terms)
        assert (record.status, record.stored_status) == (result, result)
        assert getattr(record, block_field) == receipt.block_number
    else:
        with (
            unchanged(world.gov, observe(world, terms)),
            reverts(CertificateInvalidTransition, documentHash=terms.document_hash, status=status),
        ):
            run_action(world, action, actor, terms.document_hash)


@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_transitions_of_an_unknown_certificate(world: World, action: str) -> None:
    actor: Ledger = getattr(world, TRANSITIONS[action][0])
    document_hash = fresh_hash()
    with unchanged(world.gov), reverts(CertificateUnknown, documentHash=document_hash):
        run_action(world, action, actor, document_hash)
    assert world.gov.certificate(document_hash) is None


def test_unknown_certificate_reads(world: World) -> None:
    assert world.gov.certificate(fresh_hash()) is None
    assert world.gov.certificate("BW 1999/404") is None
    with pytest.raises(NotFound):
        world.gov.resolve("BW 1999/404")
    assert world.auditor.timeline(fresh_hash()) == []


# ---------------------------------------------------------------------- derived expiry


@pytest.mark.parametrize("status", STORED, ids=lambda s: s.name)
def test_expired_is_derived_for_open_certificates_only(world: World, status: CertificateStatus) -> None:
    terms = in_status(world, status, days=1)
    latest_block_at(world.gov, world.chain, terms.expires_at)
    assert record_of(world, terms).status is status  # at the expiry second: not yet expired
    latest_block_at(world.gov, world.chain, terms.expires_at + 1)
    record = record_of(world, terms)
    assert record.stored_status is status
    assert record.status is (S.EXPIRED if status in OPEN else status)


def test_validate_refuses_an_expired_request(world: World) -> None:
    terms = in_status(world, S.REQUESTED, days=1)
    next_block_at(world.gov, world.chain, terms.expires_at + 1)
    with (
        unchanged(world.gov, observe(world, terms)),
        reverts(CertificateExpired, documentHash=terms.document_hash, expiresAt=terms.expires_at),
    ):
        world.bw_auth.validate(terms.document_hash)
    # Voiding the stale request is still possible.
    world.bw_auth.void(terms.document_hash, "request expired")
    assert record_of(world, terms).status is S.VOIDED


def test_validate_just_before_expiry(world: World) -> None:
    terms = in_status(world, S.REQUESTED, days=1)
    next_block_at(world.gov, world.chain, terms.expires_at - 1)
    world.bw_auth.validate(terms.document_hash)
    assert record_of(world, terms).stored_status is S.ISSUED


def test_validate_at_the_expiry_second_agrees_with_the_derived_status(world: World) -> None:
    terms = in_status(world, S.REQUESTED, days=1)
    Fast(world.gov).set_validity("BE", 60)  # any transaction: a block at expires_at - 1 ...
    next_block_at(world.gov, world.chain, terms.expires_at)  # ... and the next one at expires_at
    world.bw_auth.validate(terms.document_hash)
    assert record_of(world, terms).status is S.ISSUED


def test_confirm_after_expiry_is_allowed_and_stays_received(world: World) -> None:
    terms = in_status(world, S.ISSUED, days=1)
    latest_block_at(world.gov, world.chain, terms.expires_at + 10)
    assert record_of(world, terms).status is S.EXPIRED
    world.ae_auth.confirm_receipt(terms.document_hash)
    assert record_of(world, terms).status is S.RECEIVED
    latest_block_at(world.gov, world.chain, terms.expires_at + 100 * DAY)
    assert record_of(world, terms).status is S.RECEIVED


# ---------------------------------------------------------------------- expiry and validity at creation

CREATE = ["anchor", "issue"]


def create(world: World, how: str, terms: ChainTerms) -> Receipt:
    if how == "anchor":
        return world.bw_exporter.anchor(terms)
    return world.bw_auth.issue(terms, world.bw_exporter.address)


@pytest.mark.parametrize("how", CREATE)
@pytest.mark.parametrize("offset", [0, -1, -100 * DAY], ids=["now", "1s-ago", "100d-ago"])
def test_expiry_must_be_in_the_future(world: World, how: str, offset: int) -> None:
    now = future_time(world.gov)
    next_block_at(world.gov, world.chain, now)
    terms = replace(world.terms(), expires_at=now + offset)
    with (
        unchanged(world.gov, observe(world, terms)),
        reverts(CertificateExpiryInPast, expiresAt=now + offset, now_=now),
    ):
        create(world, how, terms)


@pytest.mark.parametrize("how", CREATE)
def test_validity_is_the_participants_days_plus_one(world: World, how: str) -> None:
    now = future_time(world.gov)
    next_block_at(world.gov, world.chain, now)
    latest = now + 61 * DAY  # BW: 60 days, plus one day for an end-of-day expiry
    too_long = replace(world.terms(), expires_at=latest + 1)
    with (
        unchanged(world.gov, observe(world, too_long)),
        reverts(CertificateValidityTooLong, expiresAt=latest + 1, latestAllowed=latest),
    ):
        create(world, how, too_long)
    longest = replace(world.terms(), expires_at=latest)
    create(world, how, longest)
    assert record_of(world, longest).expires_at == latest


def test_validity_follows_the_participants_own_period(world: World) -> None:
    Fast(world.gov).set_validity("BW", 10)
    now = future_time(world.gov)
    next_block_at(world.gov, world.chain, now)
    with reverts(CertificateValidityTooLong, expiresAt=now + 11 * DAY + 1, latestAllowed=now + 11 * DAY):
        world.bw_auth.issue(replace(world.terms(), expires_at=now + 11 * DAY + 1), world.bw_exporter.address)
    world.bw_auth.issue(replace(world.terms(), expires_at=now + 11 * DAY), world.bw_exporter.address)
    # Belgium keeps its 60 days.
    world.be_auth.issue(world.terms("BE", "AE", days=61), world.be_auth.address)
    # And a longer period admits longer validity.
    Fast(world.gov).set_validity("BW", 366)
    world.bw_auth.issue(world.terms(days=367), world.bw_exporter.address)


# ---------------------------------------------------------------------- numbers, quantities, hashes


def issue_error(world: World, terms: ChainTerms) -> Any:
    return call_error(world.bw_auth, "ledger", "issue", terms.as_tuple(), world.bw_exporter.address)


BAD_NUMBERS = {
    "other-prefix": "AE 2026/000001",
    "lower-case-prefix": "bw 2026/000001",
    "prefix-only": "BW",
    "4-bytes": "BW12",
    "35-bytes": "BW" + "7" * 33,
    "empty": "",
    "trailing-nul": "BW123\x00",
    "one-letter-prefix": "B 2026",
}


@pytest.mark.parametrize("number", list(BAD_NUMBERS.values()), ids=list(BAD_NUMBERS))
def test_invalid_numbers(world: World, number: str) -> None:
    terms = replace(world.terms(), number=number)
    check_error(issue_error(world, terms), CertificateInvalidNumber, number=number, origin=b"BW")
    error = call_error(world.bw_exporter, "ledger", "anchor", terms.as_tuple())
    check_error(error, CertificateInvalidNumber, number=number, origin=b"BW")


@pytest.mark.parametrize(
    "number", ["BW123", "BW" + "9" * 32, "BW-1/ A", "BW\x00\x00AB"], ids=["5", "34", "chars", "nul"]
)
def test_valid_numbers_read_back_exactly(world: World, number: str) -> None:
    terms = world.terms(number=number)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    assert record_of(world, terms).number == number
    assert world.gov.resolve(number) == terms.document_hash


BAD_QUANTITIES = [
    ("carats", 0),
    ("carats", 2**40),
    ("carats", 2**256 - 1),
    ("value_cents", 2**40),
    ("parcels", 0),
    ("parcels", 65_536),
]
FIELD = {"carats": "carats", "value_cents": "valueCents", "parcels": "parcels"}


@pytest.mark.parametrize(("field", "value"), BAD_QUANTITIES, ids=[f"{f}={v}" for f, v in BAD_QUANTITIES])
def test_invalid_quantities(world: World, field: str, value: int) -> None:
    terms = replace(world.terms(), **cast(dict[str, Any], {field: value}))
    check_error(issue_error(world, terms), CertificateInvalidQuantity, field=FIELD[field], value=value)
    error = call_error(world.bw_exporter, "ledger", "anchor", terms.as_tuple())
    check_error(error, CertificateInvalidQuantity, field=FIELD[field], value=value)


@pytest.mark.parametrize(
    "quantities",
    [
        {"carats": 1, "value_cents": 0, "parcels": 1},
        {"carats": 2**40 - 1, "value_cents": 2**40 - 1, "parcels": 65_535},
    ],
    ids=["smallest", "largest"],
)
def test_quantity_bounds_are_inclusive(world: World, quantities: dict[str, int]) -> None:
    terms = replace(world.terms(), **cast(dict[str, Any], quantities))
    world.bw_auth.issue(terms, world.bw_exporter.address)
    assert record_of(world, terms).terms == terms


def test_client_decodes_string_errors(world: World) -> None:
    with reverts(CertificateInvalidQuantity, field="carats", value=0):
        world.bw_auth.issue(replace(world.terms(), carats=0), world.bw_exporter.address)


@pytest.mark.parametrize("how", CREATE)
def test_zero_hash_and_same_participants_are_refused(world: World, how: str) -> None:
    zero = replace(world.terms(), document_hash=ZERO_HASH)
    with unchanged(world.gov), reverts(CertificateZeroHash):
        create(world, how, zero)
    same = world.terms("BW", "BW")
    with (
        unchanged(world.gov, observe(world, same)),
        reverts(CertificateSameOriginAndDestination, participant=b"BW"),
    ):
        create(world, how, same)


def test_issue_refuses_the_zero_exporter(world: World) -> None:
    terms = world.terms()
    with unchanged(world.gov, observe(world, terms)), reverts(CertificateZeroExporter):
        world.bw_auth.issue(terms, ZERO_ADDRESS)


@pytest.mark.parametrize("holder_status", [S.REQUESTED, S.ISSUED, S.VOIDED], ids=lambda s: s.name)
@pytest.mark.parametrize("how", CREATE)
def test_hash_and_number_are_used_once(world: World, how: str, holder_status: CertificateStatus) -> None:
    holder = in_status(world, holder_status)
    same_hash = replace(world.terms(), document_hash=holder.document_hash)
    with (
        unchanged(world.gov, observe(world, holder)),
        reverts(CertificateHashAlreadyUsed, documentHash=holder.document_hash),
    ):
        create(world, how, same_hash)
    same_number = world.terms(number=holder.number)
    if how == "issue":
        error = issue_error(world, same_number)
    else:
        error = call_error(world.bw_exporter, "ledger", "anchor", same_number.as_tuple())
    check_error(error, CertificateNumberAlreadyUsed, number=holder.number, documentHash=holder.document_hash)


# ---------------------------------------------------------------------- participants' status


@pytest.mark.parametrize("how", CREATE)
@pytest.mark.parametrize(
    ("origin", "destination", "error", "args"),
    [
        ("BW", "ZZ", RegistryParticipantUnknown, {"code": b"ZZ"}),
        ("BW", "VE", RegistryParticipantNotActive, {"code": b"VE", "status": SUSPENDED}),
    ],
    ids=["to-unknown", "to-suspended"],
)
def test_nothing_is_created_to_an_unknown_or_suspended_participant(
    world: World, how: str, origin: str, destination: str, error: Any, args: dict[str, Any]
) -> None:
    terms = world.terms(origin, destination)
    with unchanged(world.gov, observe(world, terms)), reverts(error, **args):
        create(world, how, terms)


def test_nothing_is_created_from_a_suspended_participant(world: World) -> None:
    terms = world.terms("VE", "AE")
    with (
        unchanged(world.gov, observe(world, terms)),
        reverts(RegistryParticipantNotActive, code=b"VE", status=SUSPENDED),
    ):
        world.ve_auth.issue(terms, world.ve_exporter.address)
    with (
        unchanged(world.gov, observe(world, terms)),
        reverts(RegistryParticipantNotActive, code=b"VE", status=SUSPENDED),
    ):
        world.ve_exporter.anchor(terms)


def test_nothing_is_created_from_an_unknown_participant(world: World) -> None:
    # Nobody can hold an unknown participant's authority role.
    terms = world.terms("ZZ", "AE")
    with (
        unchanged(world.gov, observe(world, terms)),
        reverts(
            AccessControlUnauthorizedAccount, account=world.bw_auth.address, neededRole=authority_role("ZZ")
        ),
    ):
        world.bw_auth.issue(terms, world.bw_exporter.address)


@pytest.mark.parametrize("suspended", ["BW", "AE"], ids=["origin-suspended", "destination-suspended"])
def test_validate_needs_both_participants_active(world: World, suspended: str) -> None:
    terms = in_status(world, S.REQUESTED)
    Fast(world.gov).suspend(suspended)
    with (
        unchanged(world.gov, observe(world, terms)),
        reverts(RegistryParticipantNotActive, code=suspended.encode(), status=SUSPENDED),
    ):
        world.bw_auth.validate(terms.document_hash)
    Fast(world.gov).readmit(suspended)
    world.bw_auth.validate(terms.document_hash)
    assert record_of(world, terms).status is S.ISSUED


# ---------------------------------------------------------------------- reasons

REASONED = ["voidCertificate", "recordDiscrepancy", "amend"]
BAD_REASONS = {"empty": "", "1001-bytes": "x" * 1001, "1002-utf8-bytes": "é" * 501}
GOOD_REASONS = {"1-byte": "x", "1000-bytes": "x" * 1000, "1000-utf8-bytes": "é" * 500}


def run_reasoned(world: World, action: str, terms: ChainTerms, reason: str) -> Receipt:
    if action == "voidCertificate":
        return world.bw_auth.void(terms.document_hash, reason)
    if action == "recordDiscrepancy":
        return world.ae_auth.record_discrepancy(terms.document_hash, reason)
    return world.bw_auth.amend(terms.document_hash, world.terms(), reason)


@pytest.mark.parametrize("reason", list(BAD_REASONS.values()), ids=list(BAD_REASONS))
@pytest.mark.parametrize("action", REASONED)
def test_reasons_must_be_1_to_1000_bytes(world: World, action: str, reason: str) -> None:
    terms = in_status(world, S.ISSUED)
    with unchanged(world.gov, observe(world, terms)), reverts(CertificateInvalidReason):
        run_reasoned(world, action, terms, reason)


@pytest.mark.parametrize("reason", list(GOOD_REASONS.values()), ids=list(GOOD_REASONS))
@pytest.mark.parametrize("action", REASONED)
def test_reasons_of_1_to_1000_bytes_are_kept_in_the_event(world: World, action: str, reason: str) -> None:
    terms = in_status(world, S.ISSUED)
    receipt = run_reasoned(world, action, terms, reason)
    name = {"voidCertificate": "CertificateVoided", "recordDiscrepancy": "CertificateDisputed"}.get(
        action, "CertificateSuperseded"
    )
    (event,) = events_in(world, receipt, name)
    assert event["reason"] == reason


@pytest.mark.parametrize("note", ["", "x" * 1000], ids=["empty", "1000-bytes"])
def test_resolve_note_may_be_empty(world: World, note: str) -> None:
    terms = in_status(world, S.DISPUTED)
    receipt = world.ae_auth.resolve_dispute(terms.document_hash, note)
    (event,) = events_in(world, receipt, "DisputeResolved")
    assert event["note"] == note


def test_resolve_note_longer_than_1000_bytes_is_refused(world: World) -> None:
    terms = in_status(world, S.DISPUTED)
    with unchanged(world.gov, observe(world, terms)), reverts(CertificateInvalidReason):
        world.ae_auth.resolve_dispute(terms.document_hash, "x" * 1001)


# ---------------------------------------------------------------------- events for the auditor


def test_creation_events_carry_the_whole_record(world: World) -> None:
    requested = world.terms()
    anchored = world.bw_exporter.anchor(requested)
    (event,) = events_in(world, anchored, "CertificateRequested")
    assert (
        bytes(event["documentHash"]),
        event["number"],
        bytes(event["origin"]),
        bytes(event["destination"]),
        event["carats"],
        event["valueCents"],
        event["parcels"],
        event["expiresAt"],
    ) == requested.as_tuple()
    assert event["exporter"].lower() == world.bw_exporter.address.lower()

    issued_terms = world.terms()
    issued = world.bw_auth.issue(issued_terms, world.bw_exporter.address)
    (event,) = events_in(world, issued, "CertificateIssued")
    assert bytes(event["documentHash"]) == issued_terms.document_hash
    assert event["number"] == issued_terms.number
    assert event["exporter"].lower() == world.bw_exporter.address.lower()
    assert event["issuer"].lower() == world.bw_auth.address.lower()
    assert (event["carats"], event["valueCents"], event["parcels"], event["expiresAt"]) == (
        issued_terms.carats,
        issued_terms.value_cents,
        issued_terms.parcels,
        issued_terms.expires_at,
    )
    assert bytes(event["batchRoot"]) == ZERO_HASH
