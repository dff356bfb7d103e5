"""ParticipantRegistry on the in-process EVM: admission, suspension and readmission,
status history, authorities and licences, the scoped-role guard, validity periods and
authority key rotation."""

from __future__ import annotations

import contextlib
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from kpledger.contract_errors import (
    AccessControlUnauthorizedAccount,
    RegistryInvalidParticipantCode,
    RegistryInvalidParticipantName,
    RegistryInvalidValidityPeriod,
    RegistryParticipantAlreadyAdmitted,
    RegistryParticipantNotActive,
    RegistryParticipantNotSuspended,
    RegistryParticipantUnknown,
    RegistryRoleAlreadyHeld,
    RegistryRoleNotHeld,
    RegistryScopedRoleManagedByRegistry,
    RegistryZeroAccount,
)
from kpledger.ledger import Ledger
from kpledger.types import (
    CertificateStatus,
    Participant,
    ParticipantStatus,
    Receipt,
    RoleKind,
    StatusChange,
)

from .helpers import (
    AUDITOR_ROLE,
    GOVERNANCE_ROLE,
    ZERO_ADDRESS,
    authority_role,
    call_error,
    check_error,
    exporter_role,
    fresh_account,
    has_role,
    importer_role,
    read,
    reverts,
    send,
    unchanged,
)

if TYPE_CHECKING:
    from tests.conftest import World

ACTIVE = ParticipantStatus.ACTIVE
SUSPENDED = ParticipantStatus.SUSPENDED
UNKNOWN = ParticipantStatus.UNKNOWN


def events_in(ledger: Ledger, block: int, name: str) -> list[dict[str, Any]]:
    return [args for event, args, _ in ledger.events(block, block) if event == name]


def participant_of(world: World, code: str) -> Participant | None:
    return world.gov.participant(code)


# ---------------------------------------------------------------------- admission


def test_admit_participant_records_it_active_with_its_history_and_event(world: World) -> None:
    receipt = world.gov.admit_participant("ZA", "South Africa", 90)
    block = receipt.block_number
    when = world.gov.block_time(block)
    assert world.gov.participant("ZA") == Participant(
        code="ZA",
        name="South Africa",
        status=ACTIVE,
        validity_days=90,
        admitted_block=block,
        history=(StatusChange(ACTIVE, block, when),),
    )
    assert read(world.gov, "registry", "statusOf", b"ZA") == (ACTIVE,)
    (event,) = events_in(world.gov, block, "ParticipantAdmitted")
    assert bytes(event["code"]) == b"ZA"
    assert event["by"].lower() == world.gov.address.lower()
    assert (event["name"], event["validityDays"]) == ("South Africa", 90)
    # The participant's scoped roles are wired: governance administers its authorities,
    # its authorities administer its exporters and importers.
    assert read(world.gov, "registry", "getRoleAdmin", authority_role("ZA")) == (GOVERNANCE_ROLE,)
    assert read(world.gov, "registry", "getRoleAdmin", exporter_role("ZA")) == (authority_role("ZA"),)
    assert read(world.gov, "registry", "getRoleAdmin", importer_role("ZA")) == (authority_role("ZA"),)


def test_role_ids_match_the_contract(world: World) -> None:
    for code in ("BW", "EU"):
        assert read(world.gov, "registry", "authorityRole", code.encode()) == (authority_role(code),)
        assert read(world.gov, "registry", "exporterRole", code.encode()) == (exporter_role(code),)
        assert read(world.gov, "registry", "importerRole", code.encode()) == (importer_role(code),)
    assert read(world.gov, "registry", "GOVERNANCE_ROLE") == (GOVERNANCE_ROLE,)
    assert read(world.gov, "registry", "AUDITOR_ROLE") == (AUDITOR_ROLE,)


@pytest.mark.parametrize("code", [b"AZ", b"ZA", b"EU"])
def test_admit_accepts_two_upper_case_letters(world: World, code: bytes) -> None:
    send(world.gov, "registry", "admitParticipant", code, "Somewhere", 60)
    assert read(world.gov, "registry", "statusOf", code) == (ACTIVE,)


@pytest.mark.parametrize(
    "code",
    [b"b1", b"bw", b"Bw", b"bW", b"B1", b"1B", b"@A", b"A@", b"[A", b"A[", b"\0\0", b"Z ", b"\xc3\x89"],
    ids=lambda c: c.hex(),
)
def test_admit_refuses_a_code_that_is_not_two_upper_case_letters(world: World, code: bytes) -> None:
    with (
        unchanged(world.gov, lambda: read(world.gov, "registry", "participantCodes")),
        reverts(RegistryInvalidParticipantCode, code=code),
    ):
        send(world.gov, "registry", "admitParticipant", code, "Somewhere", 60)


@pytest.mark.parametrize("code", ["BW", "VE"])
def test_admit_refuses_a_duplicate_even_when_suspended(world: World, code: str) -> None:
    with (
        unchanged(world.gov, lambda: participant_of(world, code)),
        reverts(RegistryParticipantAlreadyAdmitted, code=code.encode()),
    ):
        world.gov.admit_participant(code, "Again", 30)


@pytest.mark.parametrize("name", ["x" * 200, "é" * 100, "Côte d'Ivoire", "Z"])
def test_admit_accepts_names_of_1_to_200_bytes(world: World, name: str) -> None:
    world.gov.admit_participant("ZA", name, 60)
    participant = world.gov.participant("ZA")
    assert participant is not None and participant.name == name


@pytest.mark.parametrize("name", ["", "x" * 201, "é" * 101], ids=["empty", "201-ascii", "202-utf8"])
def test_admit_refuses_empty_or_too_long_names(world: World, name: str) -> None:
    with (
        unchanged(world.gov, lambda: participant_of(world, "ZA")),
        reverts(RegistryInvalidParticipantName, code=b"ZA"),
    ):
        world.gov.admit_participant("ZA", name, 60)


@pytest.mark.parametrize("days", [1, 60, 366])
def test_admit_accepts_validity_of_1_to_366_days(world: World, days: int) -> None:
    world.gov.admit_participant("ZA", "South Africa", days)
    participant = world.gov.participant("ZA")
    assert participant is not None and participant.validity_days == days


@pytest.mark.parametrize("days", [0, 367, 65535])
def test_admit_refuses_validity_outside_1_to_366_days(world: World, days: int) -> None:
    with (
        unchanged(world.gov, lambda: participant_of(world, "ZA")),
        reverts(RegistryInvalidValidityPeriod, code=b"ZA", validityDays=days),
    ):
        world.gov.admit_participant("ZA", "South Africa", days)


def test_participant_codes_keep_the_order_of_admission(world: World) -> None:
    for code in ("ZA", "EU", "AD"):
        world.gov.admit_participant(code, f"participant {code}", 60)
    world.gov.suspend_participant("EU", "review")
    (codes,) = read(world.gov, "registry", "participantCodes")
    assert [bytes(c).decode() for c in codes] == ["BW", "AE", "BE", "VE", "ZA", "EU", "AD"]
    assert [p.code for p in world.gov.participants()] == ["BW", "AE", "BE", "VE", "ZA", "EU", "AD"]


def test_unknown_participant_reads_as_unknown(world: World) -> None:
    assert world.gov.participant("ZZ") is None
    assert read(world.gov, "registry", "statusOf", b"ZZ") == (UNKNOWN,)
    assert world.gov.status_at("ZZ", world.gov.block_number()) is UNKNOWN
    assert world.gov.status_history("ZZ") == []


# ---------------------------------------------------------------------- suspension and readmission


def test_suspend_and_readmit_change_status_history_and_emit_events(world: World) -> None:
    suspended = world.gov.suspend_participant("BE", "plenary decision 2026/1")
    assert read(world.gov, "registry", "statusOf", b"BE") == (SUSPENDED,)
    participant = world.gov.participant("BE")
    assert participant is not None and participant.status is SUSPENDED
    (event,) = events_in(world.gov, suspended.block_number, "ParticipantSuspended")
    assert bytes(event["code"]) == b"BE" and event["reason"] == "plenary decision 2026/1"
    assert event["by"].lower() == world.gov.address.lower()

    readmitted = world.gov.readmit_participant("BE", "plenary decision 2026/2")
    participant = world.gov.participant("BE")
    assert participant is not None and participant.status is ACTIVE
    (event,) = events_in(world.gov, readmitted.block_number, "ParticipantReadmitted")
    assert bytes(event["code"]) == b"BE" and event["reason"] == "plenary decision 2026/2"
    assert [(c.status, c.block_number) for c in participant.history[-2:]] == [
        (SUSPENDED, suspended.block_number),
        (ACTIVE, readmitted.block_number),
    ]


def test_suspend_refuses_a_suspended_participant(world: World) -> None:
    with (
        unchanged(world.gov, lambda: participant_of(world, "VE")),
        reverts(RegistryParticipantNotActive, code=b"VE", status=SUSPENDED),
    ):
        world.gov.suspend_participant("VE", "again")


def test_readmit_refuses_an_active_participant(world: World) -> None:
    with (
        unchanged(world.gov, lambda: participant_of(world, "BW")),
        reverts(RegistryParticipantNotSuspended, code=b"BW", status=ACTIVE),
    ):
        world.gov.readmit_participant("BW", "not suspended")


@pytest.mark.parametrize("action", ["suspend", "readmit", "setValidityPeriod", "appoint", "revoke"])
def test_governance_actions_refuse_an_unknown_participant(world: World, action: str) -> None:
    gov = world.gov
    calls = {
        "suspend": lambda: gov.suspend_participant("ZZ", "reason"),
        "readmit": lambda: gov.readmit_participant("ZZ", "reason"),
        "setValidityPeriod": lambda: gov.set_validity_period("ZZ", 30),
        "appoint": lambda: gov.appoint_authority("ZZ", world.stranger.address),
        "revoke": lambda: gov.revoke_authority("ZZ", world.stranger.address),
    }
    with (
        unchanged(gov, lambda: read(gov, "registry", "participantCodes")),
        reverts(RegistryParticipantUnknown, code=b"ZZ"),
    ):
        calls[action]()


def test_suspension_stops_issuing_and_readmission_restores_it(world: World) -> None:
    world.gov.suspend_participant("BW", "review mission")
    terms = world.terms()
    with reverts(RegistryParticipantNotActive, code=b"BW", status=SUSPENDED):
        world.bw_auth.issue(terms, world.bw_exporter.address)
    world.gov.readmit_participant("BW", "compliant")
    world.bw_auth.issue(terms, world.bw_exporter.address)
    record = world.gov.certificate(terms.document_hash)
    assert record is not None and record.status is CertificateStatus.ISSUED


# ---------------------------------------------------------------------- history and statusAt


def test_status_history_and_status_at_every_block_of_a_venezuela_like_history(world: World) -> None:
    gov = world.gov

    def filler() -> int:
        return gov.set_validity_period("BW", 60).block_number

    before = gov.block_number()
    admitted = gov.admit_participant("GY", "Guyana", 60).block_number
    filler()
    suspended = gov.suspend_participant("GY", "self-suspension 2008").block_number
    filler()
    filler()
    readmitted = gov.readmit_participant("GY", "readmitted 2016").block_number
    filler()
    resuspended = gov.suspend_participant("GY", "again").block_number
    after = filler()
    assert before < admitted < suspended < readmitted < resuspended < after

    history = gov.status_history("GY")
    assert history == [
        StatusChange(ACTIVE, admitted, gov.block_time(admitted)),
        StatusChange(SUSPENDED, suspended, gov.block_time(suspended)),
        StatusChange(ACTIVE, readmitted, gov.block_time(readmitted)),
        StatusChange(SUSPENDED, resuspended, gov.block_time(resuspended)),
    ]
    expected = {
        0: UNKNOWN,
        before: UNKNOWN,
        admitted - 1: UNKNOWN,
        admitted: ACTIVE,
        admitted + 1: ACTIVE,
        suspended - 1: ACTIVE,
        suspended: SUSPENDED,
        suspended + 1: SUSPENDED,
        readmitted - 1: SUSPENDED,
        readmitted: ACTIVE,
        readmitted + 1: ACTIVE,
        resuspended - 1: ACTIVE,
        resuspended: SUSPENDED,
        resuspended + 1: SUSPENDED,
        after: SUSPENDED,
        after + 1_000_000: SUSPENDED,
        2**256 - 1: SUSPENDED,
    }
    assert {block: gov.status_at("GY", block) for block in expected} == expected
    # Other participants' histories are untouched by ZV's changes.
    assert [c.status for c in gov.status_history("BW")] == [ACTIVE]


def test_world_venezuela_history_is_admitted_then_suspended(world: World) -> None:
    history = world.gov.status_history("VE")
    assert [c.status for c in history] == [ACTIVE, SUSPENDED]
    admitted, suspended = (c.block_number for c in history)
    assert admitted < suspended
    assert world.gov.status_at("VE", admitted) is ACTIVE
    assert world.gov.status_at("VE", suspended - 1) is ACTIVE
    assert world.gov.status_at("VE", suspended) is SUSPENDED
    assert world.gov.status_at("VE", admitted - 1) is UNKNOWN


# ---------------------------------------------------------------------- authorities


def test_appoint_and_revoke_authority(world: World) -> None:
    account = fresh_account()
    granted = world.gov.appoint_authority("BE", account)
    assert world.gov.is_authority("BE", account)
    assert not world.gov.is_authority("BW", account)
    (event,) = events_in(world.gov, granted.block_number, "ParticipantRoleGranted")
    assert bytes(event["code"]) == b"BE" and event["account"].lower() == account.lower()
    assert event["by"].lower() == world.gov.address.lower() and event["kind"] == RoleKind.AUTHORITY

    revoked = world.gov.revoke_authority("BE", account)
    assert not world.gov.is_authority("BE", account)
    (event,) = events_in(world.gov, revoked.block_number, "ParticipantRoleRevoked")
    assert event["account"].lower() == account.lower() and event["kind"] == RoleKind.AUTHORITY


def test_appoint_authority_of_a_suspended_participant_is_allowed(world: World) -> None:
    account = fresh_account()
    world.gov.appoint_authority("VE", account)
    assert world.gov.is_authority("VE", account)


def test_appoint_refuses_a_current_authority(world: World) -> None:
    with (
        unchanged(world.gov),
        reverts(RegistryRoleAlreadyHeld, code=b"BW", account=world.bw_auth.address, kind=RoleKind.AUTHORITY),
    ):
        world.gov.appoint_authority("BW", world.bw_auth.address)


def test_revoke_refuses_an_account_that_is_not_an_authority(world: World) -> None:
    # ae_auth is an authority, but of AE, not of BW.
    with (
        unchanged(world.gov),
        reverts(RegistryRoleNotHeld, code=b"BW", account=world.ae_auth.address, kind=RoleKind.AUTHORITY),
    ):
        world.gov.revoke_authority("BW", world.ae_auth.address)


def test_appoint_refuses_the_zero_account(world: World) -> None:
    with unchanged(world.gov), reverts(RegistryZeroAccount):
        world.gov.appoint_authority("BW", ZERO_ADDRESS)


def test_authority_roles_are_scoped_to_their_participant(world: World) -> None:
    assert world.gov.is_authority("BW", world.bw_auth.address)
    assert not world.gov.is_authority("AE", world.bw_auth.address)
    assert read(world.gov, "registry", "requireIssuer", b"BW", b"AE", world.bw_auth.address) == (60,)
    assert read(world.gov, "registry", "requireExporter", b"BW", b"AE", world.bw_exporter.address) == (60,)
    error = call_error(world.gov, "registry", "requireAuthority", b"AE", world.bw_auth.address)
    check_error(
        error,
        AccessControlUnauthorizedAccount,
        account=world.bw_auth.address,
        neededRole=authority_role("AE"),
    )
    error = call_error(world.gov, "registry", "requireActiveAuthority", b"VE", world.ve_auth.address)
    check_error(error, RegistryParticipantNotActive, code=b"VE", status=SUSPENDED)
    error = call_error(world.gov, "registry", "requireIssuer", b"BW", b"ZZ", world.bw_auth.address)
    check_error(error, RegistryParticipantUnknown, code=b"ZZ")


# ---------------------------------------------------------------------- exporters and importers

LICENCES = {
    # kind: (code, authority attribute, license method, delist method, holder attribute, is-method)
    "exporter": ("BW", "bw_auth", "license_exporter", "delist_exporter", "bw_exporter", "is_exporter"),
    "importer": ("AE", "ae_auth", "license_importer", "delist_importer", "ae_importer", "is_importer"),
}
KIND = {"exporter": RoleKind.EXPORTER, "importer": RoleKind.IMPORTER}
ROLE = {"exporter": exporter_role, "importer": importer_role}


@pytest.mark.parametrize("kind", list(LICENCES))
def test_own_authority_licenses_and_delists(world: World, kind: str) -> None:
    code, auth_name, license_name, delist_name, _, is_name = LICENCES[kind]
    auth: Ledger = getattr(world, auth_name)
    account = fresh_account()
    granted = getattr(auth, license_name)(code, account)
    assert getattr(world.gov, is_name)(code, account)
    (event,) = events_in(world.gov, granted.block_number, "ParticipantRoleGranted")
    assert bytes(event["code"]) == code.encode() and event["kind"] == KIND[kind]
    assert event["by"].lower() == auth.address.lower()
    revoked = getattr(auth, delist_name)(code, account)
    assert not getattr(world.gov, is_name)(code, account)
    (event,) = events_in(world.gov, revoked.block_number, "ParticipantRoleRevoked")
    assert event["kind"] == KIND[kind] and event["by"].lower() == auth.address.lower()


@pytest.mark.parametrize("kind", list(LICENCES))
@pytest.mark.parametrize("who", ["other_authority", "governance", "holder"])
def test_only_the_participants_own_authority_licenses(world: World, kind: str, who: str) -> None:
    code, auth_name, license_name, delist_name, holder_name, is_name = LICENCES[kind]
    other = "ae_auth" if auth_name == "bw_auth" else "bw_auth"
    actor: Ledger = {"other_authority": getattr(world, other), "governance": world.gov}.get(
        who, getattr(world, holder_name)
    )
    account = fresh_account()
    holder = getattr(world, holder_name).address
    needed = authority_role(code)
    observe = (
        lambda: getattr(world.gov, is_name)(code, account),
        lambda: getattr(world.gov, is_name)(code, holder),
    )
    with (
        unchanged(world.gov, *observe),
        reverts(AccessControlUnauthorizedAccount, account=actor.address, neededRole=needed),
    ):
        getattr(actor, license_name)(code, account)
    with (
        unchanged(world.gov, *observe),
        reverts(AccessControlUnauthorizedAccount, account=actor.address, neededRole=needed),
    ):
        getattr(actor, delist_name)(code, holder)


@pytest.mark.parametrize("kind", list(LICENCES))
def test_an_authority_cannot_license_for_another_participant(world: World, kind: str) -> None:
    # bw_auth licensing for AE, ae_auth licensing for BW: both refused.
    code, auth_name, license_name, _, _, _ = LICENCES[kind]
    other_code = "AE" if code == "BW" else "BW"
    auth: Ledger = getattr(world, auth_name)
    with (
        unchanged(world.gov),
        reverts(
            AccessControlUnauthorizedAccount, account=auth.address, neededRole=authority_role(other_code)
        ),
    ):
        getattr(auth, license_name)(other_code, fresh_account())


@pytest.mark.parametrize("kind", list(LICENCES))
def test_license_refuses_a_current_holder_and_delist_a_non_holder(world: World, kind: str) -> None:
    code, auth_name, license_name, delist_name, holder_name, _ = LICENCES[kind]
    auth: Ledger = getattr(world, auth_name)
    holder = getattr(world, holder_name).address
    with (
        unchanged(world.gov),
        reverts(RegistryRoleAlreadyHeld, code=code.encode(), account=holder, kind=KIND[kind]),
    ):
        getattr(auth, license_name)(code, holder)
    stranger = world.stranger.address
    with (
        unchanged(world.gov),
        reverts(RegistryRoleNotHeld, code=code.encode(), account=stranger, kind=KIND[kind]),
    ):
        getattr(auth, delist_name)(code, stranger)


@pytest.mark.parametrize("kind", list(LICENCES))
def test_license_refuses_the_zero_account(world: World, kind: str) -> None:
    code, auth_name, license_name, _, _, _ = LICENCES[kind]
    with unchanged(world.gov), reverts(RegistryZeroAccount):
        getattr(getattr(world, auth_name), license_name)(code, ZERO_ADDRESS)


def test_delisted_exporter_can_no_longer_anchor(world: World) -> None:
    world.bw_auth.delist_exporter("BW", world.bw_exporter.address)
    with reverts(
        AccessControlUnauthorizedAccount, account=world.bw_exporter.address, neededRole=exporter_role("BW")
    ):
        world.bw_exporter.anchor(world.terms())


def test_suspended_participants_authority_may_still_manage_licences(world: World) -> None:
    """Pinned behaviour: licences of a suspended participant can be managed (they are
    useless while it is suspended: anchoring needs an active origin)."""
    account = fresh_account()
    world.ve_auth.license_exporter("VE", account)
    assert world.gov.is_exporter("VE", account)
    world.ve_auth.delist_exporter("VE", world.ve_exporter.address)
    assert not world.gov.is_exporter("VE", world.ve_exporter.address)


# ---------------------------------------------------------------------- the scoped-role guard

SCOPED = [
    # (role kind, code, admin attribute (may grant/revoke as AccessControl admin), holder attribute)
    ("authority", "BW", "gov", "bw_auth"),
    ("exporter", "BW", "bw_auth", "bw_exporter"),
    ("importer", "AE", "ae_auth", "ae_importer"),
]


def _scoped_role(kind: str, code: str) -> bytes:
    return {"authority": authority_role, "exporter": exporter_role, "importer": importer_role}[kind](code)


@pytest.mark.parametrize(("kind", "code", "admin", "holder"), SCOPED, ids=[s[0] for s in SCOPED])
@pytest.mark.parametrize("operation", ["grantRole", "revokeRole", "renounceRole"])
def test_scoped_roles_change_only_through_the_registry_functions(
    world: World, kind: str, code: str, admin: str, holder: str, operation: str
) -> None:
    role = _scoped_role(kind, code)
    holder_ledger: Ledger = getattr(world, holder)
    # The admin of the role (per AccessControl) is refused too, not only outsiders; a
    # holder cannot renounce either.
    actor: Ledger = holder_ledger if operation == "renounceRole" else getattr(world, admin)
    account = world.stranger.address if operation == "grantRole" else holder_ledger.address
    observe = (lambda: has_role(world.gov, role, account),)
    with unchanged(world.gov, *observe), reverts(RegistryScopedRoleManagedByRegistry, role=role):
        send(actor, "registry", operation, role, account)
    assert has_role(world.gov, role, holder_ledger.address)


def test_non_scoped_roles_use_plain_access_control(world: World) -> None:
    account = world.stranger.address
    send(world.gov, "registry", "grantRole", AUDITOR_ROLE, account)
    assert has_role(world.gov, AUDITOR_ROLE, account)
    send(world.gov, "registry", "revokeRole", AUDITOR_ROLE, account)
    assert not has_role(world.gov, AUDITOR_ROLE, account)
    send(world.auditor, "registry", "renounceRole", AUDITOR_ROLE, world.auditor.address)
    assert not has_role(world.gov, AUDITOR_ROLE, world.auditor.address)
    assert read(world.gov, "registry", "getRoleAdmin", AUDITOR_ROLE) == (GOVERNANCE_ROLE,)


def test_scoped_role_of_a_not_yet_admitted_participant_cannot_be_granted_directly(world: World) -> None:
    role = authority_role("ZA")
    account = world.stranger.address
    with contextlib.suppress(RegistryScopedRoleManagedByRegistry):
        send(world.gov, "registry", "grantRole", role, account)
    start = world.gov.block_number()
    world.gov.admit_participant("ZA", "South Africa", 60)
    granted = [
        args
        for event, args, _ in world.gov.events(start, world.gov.block_number())
        if event == "ParticipantRoleGranted"
    ]
    # Whoever is an authority of ZA must have been granted that through an event.
    assert not world.gov.is_authority("ZA", account) or granted


# ---------------------------------------------------------------------- validity period


def test_set_validity_period(world: World) -> None:
    receipt = world.gov.set_validity_period("BW", 90)
    participant = world.gov.participant("BW")
    assert participant is not None and participant.validity_days == 90
    (event,) = events_in(world.gov, receipt.block_number, "ValidityPeriodChanged")
    assert bytes(event["code"]) == b"BW" and event["validityDays"] == 90
    assert event["by"].lower() == world.gov.address.lower()
    # Status and history are untouched.
    assert participant.status is ACTIVE and len(participant.history) == 1


def test_set_validity_period_of_a_suspended_participant(world: World) -> None:
    world.gov.set_validity_period("VE", 366)
    participant = world.gov.participant("VE")
    assert participant is not None and participant.validity_days == 366 and participant.status is SUSPENDED


@pytest.mark.parametrize("days", [0, 367])
def test_set_validity_period_refuses_out_of_range(world: World, days: int) -> None:
    with (
        unchanged(world.gov, lambda: participant_of(world, "BW")),
        reverts(RegistryInvalidValidityPeriod, code=b"BW", validityDays=days),
    ):
        world.gov.set_validity_period("BW", days)


# ---------------------------------------------------------------------- key rotation


def test_authority_key_rotation(world: World) -> None:
    old = world.bw_auth
    new = world.gov.as_signer(world.chain.keys[11])
    issued = world.terms()
    old.issue(issued, world.bw_exporter.address)
    requested = world.terms()
    world.bw_exporter.anchor(requested)

    world.gov.appoint_authority("BW", new.address)
    world.gov.revoke_authority("BW", old.address)
    assert world.gov.is_authority("BW", new.address) and not world.gov.is_authority("BW", old.address)

    needed = authority_role("BW")
    attempts: list[Callable[[], Receipt]] = [
        lambda: old.issue(world.terms(), world.bw_exporter.address),
        lambda: old.validate(requested.document_hash),
        lambda: old.void(issued.document_hash, "old key"),
        lambda: old.license_exporter("BW", fresh_account()),
        lambda: old.anchor_batch("BW", b"\x01" * 32, 1),
    ]
    for attempt in attempts:
        with (
            unchanged(old, lambda: old.certificate(issued.document_hash)),
            reverts(AccessControlUnauthorizedAccount, account=old.address, neededRole=needed),
        ):
            attempt()

    # What the old key did stays on the ledger, attributed to the old key.
    record = world.gov.certificate(issued.document_hash)
    assert record is not None and record.status is CertificateStatus.ISSUED
    (entry,) = world.auditor.timeline(issued.document_hash)
    assert entry.event == "CertificateIssued" and entry.actor == old.address

    # The new key takes over, and the timeline shows both keys.
    new.validate(requested.document_hash)
    voided = new.void(issued.document_hash, "re-issued under the new key")
    timeline = world.auditor.timeline(issued.document_hash)
    assert [(e.event, e.actor) for e in timeline] == [
        ("CertificateIssued", old.address),
        ("CertificateVoided", new.address),
    ]
    assert timeline[1].block_number == voided.block_number
    assert [(e.event, e.actor) for e in world.auditor.timeline(requested.document_hash)] == [
        ("CertificateRequested", world.bw_exporter.address),
        ("CertificateValidated", new.address),
    ]


def test_participant_codes_are_one_rule(world: Any) -> None:
    """Registry and certificate model accept exactly the same codes: the assigned ISO
    3166-1 alpha-2 codes and EU; any other pair of capitals (XX, QQ, UK) is refused."""
    from itertools import product

    from kpledger.certificate.model import PARTICIPANT_CODES

    registry = world.gov
    accepted = {
        a + b
        for a, b in product(string.ascii_uppercase, repeat=2)
        if registry.is_participant_code(a + b)
    }
    assert accepted == set(PARTICIPANT_CODES)
    assert {"EU", "BW", "CF", "AE"} <= accepted and not {"XX", "QQ", "UK", "ZV"} & accepted
    with pytest.raises(RegistryInvalidParticipantCode):
        registry.admit_participant("XX", "Nowhere", 60)
