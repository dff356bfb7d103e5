"""Every Ledger operation against a real automine anvil (JSON-RPC over HTTP, batched
requests, the node's own revert format), each test on a snapshot of one deployed world."""

from __future__ import annotations

import pytest

from kpledger import contract_errors as ce
from kpledger.chain.deployment import Deployment
from kpledger.errors import ConfigurationError, ConnectionFailed, ContractError
from kpledger.ledger import Ledger
from kpledger.types import CertificateStatus, ParticipantStatus
from tests.chain.nodeworld import NodeWorld, batch_of, proof_of, run_main_flow

pytestmark = pytest.mark.anvil


def test_main_flow(anvil_world: NodeWorld) -> None:
    run_main_flow(anvil_world)


def test_admit_suspend_readmit_with_history(anvil_world: NodeWorld) -> None:
    gov = anvil_world.gov
    admitted = gov.admit_participant("VE", "Venezuela", 45)
    suspended = gov.suspend_participant("VE", "self-suspension")
    readmitted = gov.readmit_participant("VE", "plenary decision")
    gov.set_validity_period("VE", 30)

    ve = gov.participant("VE")
    assert ve is not None and ve.name == "Venezuela" and ve.status is ParticipantStatus.ACTIVE
    assert ve.validity_days == 30
    assert [c.status for c in ve.history] == [
        ParticipantStatus.ACTIVE,
        ParticipantStatus.SUSPENDED,
        ParticipantStatus.ACTIVE,
    ]
    assert gov.status_at("VE", admitted.block_number) is ParticipantStatus.ACTIVE
    assert gov.status_at("VE", suspended.block_number) is ParticipantStatus.SUSPENDED
    assert gov.status_at("VE", readmitted.block_number) is ParticipantStatus.ACTIVE
    assert {p.code for p in gov.participants()} == {"BW", "AE", "BE", "VE"}

    with pytest.raises(ce.RegistryParticipantAlreadyAdmitted):
        gov.admit_participant("VE", "Venezuela")
    with pytest.raises(ce.RegistryParticipantNotSuspended):
        gov.readmit_participant("VE", "again")
    with pytest.raises(ce.AccessControlUnauthorizedAccount):
        anvil_world.stranger.suspend_participant("BW", "coup")


def test_appoint_license_and_revoke(anvil_world: NodeWorld) -> None:
    gov, bw = anvil_world.gov, anvil_world.bw_auth
    newcomer = gov.as_signer(anvil_world.spare[0])
    gov.appoint_authority("BW", newcomer.address)
    assert gov.is_authority("BW", newcomer.address)
    newcomer.license_exporter("BW", anvil_world.stranger.address)
    assert gov.is_exporter("BW", anvil_world.stranger.address)
    anvil_world.ae_auth.license_importer("AE", anvil_world.stranger.address)
    assert gov.is_importer("AE", anvil_world.stranger.address)

    bw.delist_exporter("BW", anvil_world.stranger.address)
    anvil_world.ae_auth.delist_importer("AE", anvil_world.stranger.address)
    gov.revoke_authority("BW", newcomer.address)
    assert not gov.is_exporter("BW", anvil_world.stranger.address)
    assert not gov.is_importer("AE", anvil_world.stranger.address)
    assert not gov.is_authority("BW", newcomer.address)
    with pytest.raises(ce.RegistryRoleAlreadyHeld):
        bw.license_exporter("BW", anvil_world.bw_exporter.address)
    gov.grant_auditor(anvil_world.stranger.address)


def test_anchor_validate_confirm_and_reads(anvil_world: NodeWorld) -> None:
    terms = anvil_world.terms()
    anchored = anvil_world.bw_exporter.anchor(terms)
    assert anchored.status == 1 and anchored.gas_used > 0
    validated = anvil_world.bw_auth.validate(terms.number)
    confirmed = anvil_world.ae_auth.confirm_receipt(terms.document_hash)

    record = anvil_world.gov.certificate(terms.number)
    assert record is not None
    assert record.status is CertificateStatus.RECEIVED
    assert record.exporter == anvil_world.bw_exporter.address
    assert (record.requested_block, record.issued_block, record.closed_block) == (
        anchored.block_number,
        validated.block_number,
        confirmed.block_number,
    )
    # Historical reads: the node serves state at past blocks.
    before = anvil_world.gov.certificate(terms.number, block=validated.block_number)
    assert before is not None and before.status is CertificateStatus.ISSUED
    assert anvil_world.gov.resolve(terms.number) == terms.document_hash
    names = [name for name, _, _ in anvil_world.gov.events(anchored.block_number, confirmed.block_number)]
    assert names == ["CertificateRequested", "CertificateValidated", "CertificateReceived"]


def test_reverts_decode_from_the_node(anvil_world: NodeWorld) -> None:
    terms = anvil_world.terms()
    with pytest.raises(ce.CertificateUnknown):
        anvil_world.bw_auth.validate(terms.document_hash)
    with pytest.raises(ce.CertificateSameOriginAndDestination):
        anvil_world.bw_auth.issue(anvil_world.terms("BW", "BW"), anvil_world.bw_exporter.address)
    with pytest.raises(ce.CertificateValidityTooLong):
        anvil_world.bw_auth.issue(anvil_world.terms(days=365), anvil_world.bw_exporter.address)
    anvil_world.bw_auth.issue(terms, anvil_world.bw_exporter.address)
    with pytest.raises(ce.CertificateInvalidTransition):
        anvil_world.ae_auth.resolve_dispute(terms.number)
    with pytest.raises(ContractError):  # not the destination's authority
        anvil_world.be_auth.confirm_receipt(terms.number)
    record = anvil_world.gov.certificate(terms.number)
    assert record is not None and record.status is CertificateStatus.ISSUED


def test_void_and_amend(anvil_world: NodeWorld) -> None:
    bw = anvil_world.bw_auth
    voided, amended, replacement = anvil_world.terms(), anvil_world.terms(), anvil_world.terms()
    bw.issue(voided, anvil_world.bw_exporter.address)
    bw.issue(amended, anvil_world.bw_exporter.address)
    bw.void(voided.number, "licence withdrawn")
    bw.amend(amended.number, replacement, "value corrected")
    assert anvil_world.gov.certificate(voided.number).status is CertificateStatus.VOIDED  # type: ignore[union-attr]
    old = anvil_world.gov.certificate(amended.number)
    new = anvil_world.gov.certificate(replacement.number)
    assert old is not None and new is not None
    assert old.status is CertificateStatus.SUPERSEDED and old.superseded_by == replacement.document_hash
    assert new.status is CertificateStatus.ISSUED and new.supersedes == amended.document_hash
    assert [e.event for e in anvil_world.gov.timeline(replacement.number)] == [
        "CertificateIssued",
        "Supersedes",
    ]


def test_batch_anchor_reveal_confirm_void(anvil_world: NodeWorld) -> None:
    members, tree = batch_of(anvil_world, 5)
    root = bytes.fromhex(tree.root[2:])
    anchored = anvil_world.bw_auth.anchor_batch("BW", root, len(members))
    batch = anvil_world.gov.batch(root)
    assert batch is not None and batch.anchored_block == anchored.block_number
    assert anvil_world.gov.leaf_of(members[2]).hex() == tree.leaf_hash(2)[2:]

    proofs = [proof_of(tree, i, t) for i, t in enumerate(members)]
    assert all(anvil_world.gov.verify_batch_certificate(p) for p in proofs)
    anvil_world.gov.reveal(proofs[0])  # anyone may reveal
    anvil_world.ae_auth.confirm_receipt(members[0].number)
    anvil_world.ae_auth.confirm_receipt(members[1].document_hash, batch_proof=proofs[1])
    anvil_world.ae_auth.record_discrepancy(members[2].document_hash, "short", batch_proof=proofs[2])
    anvil_world.ae_auth.resolve_dispute(members[2].number, "found")
    anvil_world.bw_auth.void(members[3].document_hash, "withdrawn", batch_proof=proofs[3])
    anvil_world.bw_auth.amend(members[4].document_hash, anvil_world.terms(), "typo", batch_proof=proofs[4])

    statuses = [anvil_world.gov.certificate(t.document_hash).status for t in members]  # type: ignore[union-attr]
    assert statuses == [
        CertificateStatus.RECEIVED,
        CertificateStatus.RECEIVED,
        CertificateStatus.RECEIVED,
        CertificateStatus.VOIDED,
        CertificateStatus.SUPERSEDED,
    ]
    timeline = anvil_world.gov.timeline(members[1].number)
    assert [e.event for e in timeline] == ["BatchAnchored", "CertificateIssued", "CertificateReceived"]

    forged = proof_of(tree, 0, anvil_world.terms())
    with pytest.raises(ce.BatchInvalidProof):
        anvil_world.gov.reveal(forged)


def test_pipelined_issue_and_anchor_many(anvil_world: NodeWorld) -> None:
    issued = [(anvil_world.terms(), anvil_world.bw_exporter.address) for _ in range(30)]
    requested = [anvil_world.terms() for _ in range(30)]
    receipts = anvil_world.bw_auth.issue_many(issued)
    receipts += anvil_world.bw_exporter.anchor_many(requested)
    assert len({r.tx_hash for r in receipts}) == 60 and all(r.status == 1 for r in receipts)
    for terms, _ in issued:
        assert anvil_world.gov.certificate(terms.document_hash).status is CertificateStatus.ISSUED  # type: ignore[union-attr]
    for terms in requested:
        assert anvil_world.gov.certificate(terms.document_hash).status is CertificateStatus.REQUESTED  # type: ignore[union-attr]
    # A failure inside a pipelined batch is decoded from its receipt.
    duplicate = [issued[0], (anvil_world.terms(), anvil_world.bw_exporter.address)]
    with pytest.raises(ce.CertificateHashAlreadyUsed):
        anvil_world.bw_auth.issue_many(duplicate)


def test_connect_checks_the_deployment(anvil_world: NodeWorld) -> None:
    deployment = anvil_world.gov.deployment
    reader = Ledger.connect(anvil_world.node.url, deployment)
    assert reader.participant("BW") is not None
    wrong_chain = Deployment(**{**deployment.__dict__, "chain_id": 1})
    with pytest.raises((ConfigurationError, ConnectionFailed)):
        Ledger.connect(anvil_world.node.url, wrong_chain)
    no_code = Deployment(**{**deployment.__dict__, "ledger": anvil_world.stranger.address})
    with pytest.raises(ConfigurationError):
        Ledger.connect(anvil_world.node.url, no_code)


def test_snapshot_isolation(anvil_world: NodeWorld) -> None:
    """The previous tests' certificates are gone, and nonces resynchronise."""
    assert anvil_world.gov.participant("VE") is None
    terms = anvil_world.terms()
    anvil_world.bw_auth.issue(terms, anvil_world.bw_exporter.address)
    assert anvil_world.gov.certificate(terms.document_hash) is not None


def test_timelines_take_block_times_from_the_logs(
    anvil_world: NodeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """anvil's logs carry ``blockTimestamp``: a timeline needs no block header, and its
    times equal the headers' times."""
    terms = anvil_world.terms()
    issued = anvil_world.bw_auth.issue(terms, anvil_world.bw_exporter.address)
    received = anvil_world.ae_auth.confirm_receipt(terms.document_hash)
    reader = Ledger.connect(anvil_world.node.url, anvil_world.gov.deployment)
    asked: list[str] = []
    call = reader.rpc.call

    def counting(method: str, params: list[object]) -> object:
        asked.append(method)
        return call(method, params)

    monkeypatch.setattr(reader.rpc, "call", counting)
    timeline = reader.timeline(terms.document_hash)
    assert "eth_getBlockByNumber" not in asked
    monkeypatch.undo()
    headers = {
        r.block_number: int(call("eth_getBlockByNumber", [hex(r.block_number), False])["timestamp"], 16)
        for r in (issued, received)
    }
    assert [(e.event, e.timestamp) for e in timeline] == [
        ("CertificateIssued", headers[issued.block_number]),
        ("CertificateReceived", headers[received.block_number]),
    ]
