""" "As of" queries: a certificate or participant at block N or date D, from the index
alone, equal to what the contracts answered at that block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kpledger.audit import AuditIndex, replay
from kpledger.errors import NotFound
from kpledger.types import CertificateStatus, ParticipantStatus

DAY = 86_400


def test_certificate_as_of_every_block_equals_the_contract(world: Any, db_url: str) -> None:
    start = world.gov.block_number()
    disputed = world.terms(days=5)
    world.bw_auth.issue(disputed, world.bw_exporter.address)
    world.ae_auth.record_discrepancy(disputed.number, "two parcels, not three")
    world.ae_auth.resolve_dispute(disputed.number, "recounted")
    amended = world.terms(days=2)
    world.bw_auth.issue(amended, world.bw_exporter.address)
    replacement = world.terms(days=3)
    world.bw_auth.amend(amended.number, replacement, "wrong value")
    expiring = world.terms(days=1)
    world.bw_exporter.anchor(expiring)
    world.chain.time_travel(world.now() + 2 * DAY)  # an empty block in which `expiring` expires
    world.gov.admit_participant("ZA", "South Africa", 30)
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    with AuditIndex(db_url, chain=world.chain) as index:
        for block in range(start, world.gov.block_number() + 1):
            for terms in (disputed, amended, replacement, expiring):
                ours = index.certificate(terms.document_hash, block=block)
                theirs = world.gov.certificate(terms.document_hash, block=block)
                assert (ours.record() if ours is not None else None) == theirs, (terms.number, block)
        final = index.certificate(expiring.number)
        assert final is not None and final.status is CertificateStatus.EXPIRED
        timeline = index.timeline(disputed.number)
        assert [t.event for t in timeline] == ["CertificateIssued", "CertificateDisputed", "DisputeResolved"]
        assert timeline[1].detail == "two parcels, not three"
        assert [t.event for t in index.timeline(replacement.document_hash)] == [
            "CertificateIssued",
            "Supersedes",
        ]


def test_without_the_chain_an_unrecorded_block_is_judged_at_an_earlier_time(world: Any, db_url: str) -> None:
    expiring = world.terms(days=1)
    world.bw_auth.issue(expiring, world.bw_exporter.address)
    world.chain.time_travel(world.now() + 2 * DAY)
    empty = world.gov.block_number()  # the time-travel block carries no event
    world.bw_auth.issue(world.terms(), world.bw_exporter.address)
    replay(world.chain, world.gov.deployment, db_url, progress=False, chunk_blocks=10_000)
    with AuditIndex(db_url) as offline, AuditIndex(db_url, chain=world.chain) as online:
        guess = offline.certificate(expiring.number, block=empty)
        exact = online.certificate(expiring.number, block=empty)
        assert guess is not None and exact is not None
        assert not guess.point.exact and exact.point.exact
        assert exact.status is CertificateStatus.EXPIRED
        assert guess.status is CertificateStatus.ISSUED  # the latest recorded time is before the expiry


def test_participant_status_as_of_every_block_equals_status_at(world: Any, db_url: str) -> None:
    start = world.gov.block_number()
    world.gov.suspend_participant("BE", "review mission")
    world.gov.set_validity_period("BE", 30)
    world.gov.readmit_participant("VE", "compliant again")
    world.gov.readmit_participant("BE", "review closed")
    world.gov.admit_participant("ZA", "South Africa", 45)
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    with AuditIndex(db_url) as index:
        for block in range(0, world.gov.block_number() + 1):
            for code in ("BW", "AE", "BE", "VE", "ZA", "CN"):
                assert index.status_at(code, block) == world.gov.status_at(code, block), (code, block)
        be_mid = index.participant("BE", block=start + 2)
        assert be_mid is not None
        assert (be_mid.status, be_mid.validity_days) == (ParticipantStatus.SUSPENDED, 30)
        assert [h.event for h in be_mid.history] == [
            "ParticipantAdmitted",
            "ParticipantSuspended",
            "ValidityPeriodChanged",
        ]
        assert index.participant("ZA", block=start) is None
        assert [p.code for p in index.participants()] == ["BW", "AE", "BE", "VE", "ZA"]
        assert [p.code for p in index.participants(block=start)] == ["BW", "AE", "BE", "VE"]


def test_licences_as_of_a_block_and_a_date(world: Any, db_url: str) -> None:
    exporter = world.bw_exporter.address.lower()
    licensed = world.gov.block_number()
    world.chain.time_travel(world.now() + 40 * DAY)
    world.bw_auth.delist_exporter("BW", world.bw_exporter.address)
    delisted_at = world.now()
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    with AuditIndex(db_url) as index:
        assert exporter in index.participant("BW", block=licensed).exporters
        assert exporter not in index.participant("BW").exporters
        day_before = datetime.fromtimestamp(delisted_at, UTC).date() - timedelta(days=1)
        assert exporter in index.participant("BW", at=day_before).exporters
        assert exporter not in index.participant("BW", at=delisted_at).exporters
        history = [h for h in index.roles("BW", history=True) if h.account == exporter]
        assert len(history) == 1 and history[0].revoked_block is not None
        assert index.roles("BW", block=licensed, history=True)[0].revoked_block is None
        governance = [h for h in index.roles() if h.code is None]
        assert {h.kind for h in governance} >= {"admin", "governance", "auditor"}


def test_certificate_as_of_a_date(world: Any, db_url: str) -> None:
    terms = world.terms(days=50)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    issued_day = datetime.fromtimestamp(world.now(), UTC).date()
    world.chain.time_travel(world.now() + 10 * DAY)
    world.ae_auth.confirm_receipt(terms.number)
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    with AuditIndex(db_url) as index:
        assert index.certificate(terms.number, at=issued_day - timedelta(days=1)) is None
        on_issue_day = index.certificate(terms.number, at=issued_day)
        assert on_issue_day is not None and on_issue_day.status is CertificateStatus.ISSUED
        later = index.certificate(terms.number, at=datetime.now(UTC) + timedelta(days=400))
        assert later is not None and later.status is CertificateStatus.RECEIVED


def test_references_and_points(world: Any, db_url: str) -> None:
    terms = world.terms()
    world.bw_auth.issue(terms, world.bw_exporter.address)
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    with AuditIndex(db_url) as index:
        by_hash = index.certificate(terms.document_hash)
        assert by_hash == index.certificate("0x" + terms.document_hash.hex())
        assert by_hash == index.certificate(terms.number)
        assert index.certificate(b"\x01" * 32) is None
        with pytest.raises(NotFound):
            index.certificate("BW NOT-THERE")
        with pytest.raises(ValueError):
            index.point(block=1, at=1)
        assert index.counts()["certificates"] == 1
        assert index.issues() == []
