"""Merkle batches on the in-process EVM: an authority anchors the root of many issued
certificates in one cheap transaction; each certificate is revealed (materialised) with
its proof on its first transition, alone or in one multicall with the transition."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest

from kpledger.contract_errors import (
    AccessControlUnauthorizedAccount,
    BatchDestinationNotActive,
    BatchEmpty,
    BatchInvalidProof,
    BatchInvalidRoot,
    BatchOriginMismatch,
    BatchUnknown,
    CertificateExpiryInPast,
    CertificateHashAlreadyUsed,
    CertificateInvalidNumber,
    CertificateNumberAlreadyUsed,
    CertificateSameOriginAndDestination,
    CertificateValidityTooLong,
    RegistryParticipantNotActive,
)
from kpledger.ledger import BatchProof, Ledger
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree
from kpledger.types import Batch, CertificateRecord, CertificateStatus, ChainTerms, ParticipantStatus, Receipt

from .helpers import (
    DAY,
    ZERO_HASH,
    Fast,
    authority_role,
    call_error,
    check_error,
    fresh_hash,
    future_time,
    latest_block_at,
    make_terms,
    next_block_at,
    reverts,
    unchanged,
)

if TYPE_CHECKING:
    from tests.conftest import World

S = CertificateStatus
SUSPENDED = ParticipantStatus.SUSPENDED
LEAF_TYPES = ["bytes32", "string", "bytes2", "bytes2", "uint256", "uint256", "uint256", "uint256"]


@dataclass
class Tree:
    """A batch of certificate terms and its StandardMerkleTree."""

    terms: list[ChainTerms]
    tree: StandardMerkleTree

    @classmethod
    def of(cls, terms: list[ChainTerms]) -> Tree:
        return cls(terms, StandardMerkleTree.of([t.as_tuple() for t in terms], LEAF_TYPES))

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.tree.root[2:])

    def proof(self, index: int) -> BatchProof:
        nodes = tuple(bytes.fromhex(node[2:]) for node in self.tree.proof(index))
        return BatchProof(self.terms[index], self.root, nodes)

    def leaf(self, index: int) -> bytes:
        return bytes.fromhex(self.tree.leaf_hash(index)[2:])


def batch_of(
    world: World, count: int, origin: str = "BW", destinations: tuple[str, ...] = ("AE", "BE"), days: int = 30
) -> Tree:
    expires_at = world.now() + days * DAY
    terms = [
        make_terms(origin, destinations[i % len(destinations)], expires_at=expires_at) for i in range(count)
    ]
    return Tree.of(terms)


def anchored(world: World, count: int = 4, **options: Any) -> tuple[Tree, Receipt]:
    tree = batch_of(world, count, **options)
    receipt = Fast(world.bw_auth).anchor_batch("BW", tree.root, count)
    return tree, receipt


def record_of(world: World, terms: ChainTerms) -> CertificateRecord:
    record = world.gov.certificate(terms.document_hash)
    assert record is not None
    return record


def test_leaf_types_are_the_library_constant() -> None:
    assert tuple(LEAF_TYPES) == CERTIFICATE_LEAF


# ---------------------------------------------------------------------- anchoring


def test_anchor_batch_records_root_origin_issuer_and_time(world: World) -> None:
    tree = batch_of(world, 5)
    receipt = world.bw_auth.anchor_batch("BW", tree.root, 5)
    batch = world.gov.batch(tree.root)
    assert batch is not None
    assert batch == Batch(
        root=tree.root,
        origin="BW",
        issuer=world.bw_auth.address,
        anchored_block=receipt.block_number,
        anchored_at=world.gov.block_time(receipt.block_number),
        validity_days=60,
    )
    ((name, args, _),) = world.gov.events(receipt.block_number, receipt.block_number)
    assert name == "BatchAnchored"
    assert (bytes(args["root"]), bytes(args["origin"]), args["count"]) == (tree.root, b"BW", 5)
    assert args["issuer"].lower() == world.bw_auth.address.lower()
    # Anchoring materialises nothing: certificates appear when revealed.
    assert world.gov.certificate(tree.terms[0].document_hash) is None
    assert world.gov.batch(fresh_hash()) is None


def test_anchor_batch_gas_does_not_depend_on_batch_size(world: World) -> None:
    small = batch_of(world, 1)
    large = batch_of(world, 10_000)
    gas_small = world.bw_auth.anchor_batch("BW", small.root, 1).gas_used
    gas_large = world.bw_auth.anchor_batch("BW", large.root, 10_000).gas_used
    assert gas_small <= 100_000 and gas_large <= 100_000
    assert abs(gas_large - gas_small) <= 100  # only the count's calldata bytes differ
    # A one-leaf batch has an empty proof; a leaf of the large batch a 13- or 14-node one.
    world.stranger.reveal(small.proof(0))
    deep = large.proof(9_999)
    assert len(deep.proof) in (13, 14)
    world.stranger.reveal(deep)
    assert record_of(world, deep.terms).batch_root == large.root


@pytest.mark.parametrize(
    ("root", "why"), [(ZERO_HASH, "zero"), (None, "duplicate")], ids=["zero", "duplicate"]
)
def test_anchor_batch_refuses_a_zero_or_duplicate_root(world: World, root: bytes | None, why: str) -> None:
    if root is None:
        tree, _ = anchored(world)
        root = tree.root
    with unchanged(world.gov, lambda: world.gov.batch(root)), reverts(BatchInvalidRoot, root=root):
        world.bw_auth.anchor_batch("BW", root, 4)


def test_a_root_anchored_by_one_participant_cannot_be_anchored_by_another(world: World) -> None:
    tree, _ = anchored(world)
    with unchanged(world.gov, lambda: world.gov.batch(tree.root)), reverts(BatchInvalidRoot, root=tree.root):
        world.be_auth.anchor_batch("BE", tree.root, 4)
    batch = world.gov.batch(tree.root)
    assert batch is not None and batch.origin == "BW"


def test_anchor_batch_refuses_an_empty_batch(world: World) -> None:
    root = fresh_hash()
    with unchanged(world.gov, lambda: world.gov.batch(root)), reverts(BatchEmpty):
        world.bw_auth.anchor_batch("BW", root, 0)


def test_a_suspended_origin_cannot_anchor_a_batch(world: World) -> None:
    root = fresh_hash()
    with (
        unchanged(world.gov, lambda: world.gov.batch(root)),
        reverts(RegistryParticipantNotActive, code=b"VE", status=SUSPENDED),
    ):
        world.ve_auth.anchor_batch("VE", root, 3)
    Fast(world.gov).suspend("BW")
    with (
        unchanged(world.gov, lambda: world.gov.batch(root)),
        reverts(RegistryParticipantNotActive, code=b"BW", status=SUSPENDED),
    ):
        world.bw_auth.anchor_batch("BW", root, 3)


def test_only_the_origins_authority_anchors_its_batches(world: World) -> None:
    root = fresh_hash()
    with (
        unchanged(world.gov, lambda: world.gov.batch(root)),
        reverts(
            AccessControlUnauthorizedAccount, account=world.bw_auth.address, neededRole=authority_role("AE")
        ),
    ):
        world.bw_auth.anchor_batch("AE", root, 3)


# ---------------------------------------------------------------------- leaves and proofs


def test_contract_leaf_equals_the_python_tree_leaf(world: World) -> None:
    terms = [
        *batch_of(world, 3).terms,
        make_terms(
            number="BW" + "9" * 32, carats=2**40 - 1, value_cents=0, parcels=65_535, expires_at=2**40 - 1
        ),
        make_terms("EU", "BW", number="EU 1", expires_at=1),
    ]
    tree = Tree.of(terms)
    for index, item in enumerate(terms):
        assert world.gov.leaf_of(item) == tree.leaf(index)


def test_verify_batch_certificate(world: World) -> None:
    tree, _ = anchored(world)
    assert all(world.gov.verify_batch_certificate(tree.proof(i)) for i in range(4))
    wrong = replace(tree.proof(0), proof=tree.proof(1).proof)
    assert not world.gov.verify_batch_certificate(wrong)
    assert not world.gov.verify_batch_certificate(replace(tree.proof(0), root=fresh_hash()))
    assert not world.gov.verify_batch_certificate(
        replace(tree.proof(0), terms=replace(tree.terms[0], parcels=4))
    )


# ---------------------------------------------------------------------- revealing


def test_reveal_materialises_an_issued_certificate_at_the_batch_block(world: World) -> None:
    tree, batch_receipt = anchored(world)
    batch_block = batch_receipt.block_number
    terms = tree.terms[2]
    revealed = world.stranger.reveal(tree.proof(2))  # anyone may reveal
    assert revealed.block_number > batch_block
    record = record_of(world, terms)
    assert record.terms == terms
    assert (record.status, record.stored_status) == (S.ISSUED, S.ISSUED)
    assert (record.issued_block, record.requested_block, record.closed_block) == (batch_block, None, None)
    assert (record.batch_root, record.exporter) == (tree.root, None)
    timeline = world.auditor.timeline(terms.document_hash)
    assert [(e.event, e.status, e.block_number, (e.actor or "").lower()) for e in timeline] == [
        ("BatchAnchored", S.ISSUED, batch_block, world.bw_auth.address.lower()),
        ("CertificateIssued", S.ISSUED, revealed.block_number, world.bw_auth.address.lower()),
    ]
    ((name, args, _),) = world.gov.events(revealed.block_number, revealed.block_number)
    assert name == "CertificateIssued"
    assert bytes(args["batchRoot"]) == tree.root
    assert args["issuer"].lower() == world.bw_auth.address.lower()
    assert int(args["exporter"], 16) == 0
    # Other leaves stay unrevealed.
    assert world.gov.certificate(tree.terms[1].document_hash) is None


def test_double_reveal_is_refused(world: World) -> None:
    tree, _ = anchored(world)
    world.stranger.reveal(tree.proof(0))
    terms = tree.terms[0]
    with (
        unchanged(world.gov, lambda: world.gov.certificate(terms.document_hash)),
        reverts(CertificateHashAlreadyUsed, documentHash=terms.document_hash),
    ):
        world.stranger.reveal(tree.proof(0))


def test_reveal_respects_numbers_and_hashes_used_outside_the_batch(world: World) -> None:
    tree, _ = anchored(world)
    direct = replace(world.terms(), number=tree.terms[0].number)
    Fast(world.bw_auth).issue(direct, world.bw_exporter.address)
    proof = tree.proof(0)
    error = call_error(
        world.stranger, "ledger", "revealBatchCertificate", proof.terms.as_tuple(), proof.root, [*proof.proof]
    )
    check_error(error, CertificateNumberAlreadyUsed, number=direct.number, documentHash=direct.document_hash)

    same_hash = Tree.of([world.terms()])
    Fast(world.bw_auth).issue(same_hash.terms[0], world.bw_exporter.address)
    Fast(world.bw_auth).anchor_batch("BW", same_hash.root, 1)
    with reverts(CertificateHashAlreadyUsed, documentHash=same_hash.terms[0].document_hash):
        world.stranger.reveal(same_hash.proof(0))


@pytest.mark.parametrize("how", ["other-leafs-proof", "tampered-terms", "empty-proof", "truncated-proof"])
def test_reveal_with_a_wrong_proof_is_refused(world: World, how: str) -> None:
    tree, _ = anchored(world, 8)
    proof = tree.proof(3)
    if how == "other-leafs-proof":
        proof = replace(proof, proof=tree.proof(4).proof)
    elif how == "tampered-terms":
        proof = replace(proof, terms=replace(proof.terms, carats=proof.terms.carats + 1))
    elif how == "empty-proof":
        proof = replace(proof, proof=())
    else:
        proof = replace(proof, proof=proof.proof[:-1])
    leaf = world.gov.leaf_of(proof.terms)
    with (
        unchanged(world.gov, lambda: world.gov.certificate(proof.terms.document_hash)),
        reverts(BatchInvalidProof, root=tree.root, leaf=leaf),
    ):
        world.stranger.reveal(proof)


def test_reveal_against_an_unknown_root_is_refused(world: World) -> None:
    tree = batch_of(world, 4)  # never anchored
    with (
        unchanged(world.gov, lambda: world.gov.certificate(tree.terms[0].document_hash)),
        reverts(BatchUnknown, root=tree.root),
    ):
        world.stranger.reveal(tree.proof(0))


def test_reveal_of_another_participants_certificate_is_refused(world: World) -> None:
    # Botswana's authority anchors a tree that holds Belgian certificates.
    tree = batch_of(world, 2, origin="BE", destinations=("AE",))
    Fast(world.bw_auth).anchor_batch("BW", tree.root, 2)
    with (
        unchanged(world.gov, lambda: world.gov.certificate(tree.terms[0].document_hash)),
        reverts(BatchOriginMismatch, root=tree.root, expected=b"BW", actual=b"BE"),
    ):
        world.stranger.reveal(tree.proof(0))
    assert not world.gov.verify_batch_certificate(tree.proof(0))


@pytest.mark.parametrize("destination", ["VE", "ZZ"], ids=["suspended", "unknown"])
def test_reveal_refuses_a_destination_not_active_at_the_batch_block(world: World, destination: str) -> None:
    tree, _ = anchored(world, 2, destinations=(destination,))
    if destination == "VE":
        Fast(world.gov).readmit("VE")  # readmission after the batch does not help
    with (
        unchanged(world.gov, lambda: world.gov.certificate(tree.terms[0].document_hash)),
        reverts(BatchDestinationNotActive, root=tree.root, destination=destination.encode()),
    ):
        world.stranger.reveal(tree.proof(0))


def test_destination_suspended_after_the_batch_does_not_stop_the_reveal(world: World) -> None:
    tree, _ = anchored(world, 2, destinations=("AE",))
    Fast(world.gov).suspend("AE")
    world.stranger.reveal(tree.proof(0))
    assert record_of(world, tree.terms[0]).status is S.ISSUED


def test_reveal_applies_the_certificate_rules_to_the_leaf(world: World) -> None:
    expires_at = world.now() + 30 * DAY
    bad_number = make_terms(number="AE 123456", expires_at=expires_at)
    same = make_terms("BW", "BW", expires_at=expires_at)
    tree = Tree.of([bad_number, same])
    Fast(world.bw_auth).anchor_batch("BW", tree.root, 2)
    proof = tree.proof(0)
    error = call_error(
        world.stranger, "ledger", "revealBatchCertificate", proof.terms.as_tuple(), proof.root, [*proof.proof]
    )
    check_error(error, CertificateInvalidNumber, number="AE 123456", origin=b"BW")
    with reverts(CertificateSameOriginAndDestination, participant=b"BW"):
        world.stranger.reveal(tree.proof(1))


def test_reveal_measures_expiry_from_the_batch_time(world: World) -> None:
    at = future_time(world.gov)
    next_block_at(world.gov, world.chain, at)
    late = make_terms(expires_at=at + 61 * DAY)  # the longest BW validity from the batch time
    too_long = make_terms(expires_at=at + 61 * DAY + 1)
    past = make_terms(expires_at=at)
    short = make_terms(expires_at=at + 10)
    tree = Tree.of([late, too_long, past, short])
    receipt = world.bw_auth.anchor_batch("BW", tree.root, 4)
    assert world.gov.block_time(receipt.block_number) == at

    latest_block_at(world.gov, world.chain, at + 30 * DAY)  # reveal much later
    with reverts(CertificateValidityTooLong, expiresAt=at + 61 * DAY + 1, latestAllowed=at + 61 * DAY):
        world.stranger.reveal(tree.proof(1))
    with reverts(CertificateExpiryInPast, expiresAt=at, now_=at):
        world.stranger.reveal(tree.proof(2))
    world.stranger.reveal(tree.proof(0))
    assert record_of(world, late).status is S.ISSUED
    # Expired by the time it is revealed: stored ISSUED, read EXPIRED.
    world.stranger.reveal(tree.proof(3))
    record = record_of(world, short)
    assert (record.stored_status, record.status) == (S.ISSUED, S.EXPIRED)


def test_a_later_validity_change_does_not_affect_an_anchored_batch(world: World) -> None:
    tree, _ = anchored(world, 2, destinations=("AE",), days=50)  # valid under BW's 60 days
    Fast(world.gov).set_validity("BW", 30)
    world.ae_auth.confirm_receipt(tree.terms[0].document_hash, batch_proof=tree.proof(0))
    assert record_of(world, tree.terms[0]).status is S.RECEIVED


# ---------------------------------------------------------------------- transitions with batch_proof=

ACTIONS = ["confirm_receipt", "record_discrepancy", "void", "amend"]
RESULT = {
    "confirm_receipt": S.RECEIVED,
    "record_discrepancy": S.DISPUTED,
    "void": S.VOIDED,
    "amend": S.SUPERSEDED,
}


def act(world: World, action: str, proof: BatchProof, actor: Ledger | None = None) -> Receipt:
    if action == "confirm_receipt":
        return (actor or world.ae_auth).confirm_receipt(proof.terms.document_hash, batch_proof=proof)
    if action == "record_discrepancy":
        return (actor or world.ae_auth).record_discrepancy(
            proof.terms.document_hash, "seal broken", batch_proof=proof
        )
    if action == "void":
        return (actor or world.bw_auth).void(proof.terms.document_hash, "withdrawn", batch_proof=proof)
    return (actor or world.bw_auth).amend(
        proof.terms.document_hash, world.terms(), "corrected", batch_proof=proof
    )


@pytest.mark.parametrize("revealed", [False, True], ids=["reveal-in-multicall", "already-revealed"])
@pytest.mark.parametrize("action", ACTIONS)
def test_transition_of_a_batched_certificate(world: World, action: str, revealed: bool) -> None:
    tree, batch_receipt = anchored(world, 4, destinations=("AE",))
    proof = tree.proof(1)
    if revealed:
        Fast(world.stranger).reveal(proof.terms, proof.root, proof.proof)
    before = world.gov.block_number()
    receipt = act(world, action, proof)
    assert receipt.block_number == before + 1 == world.gov.block_number()  # one transaction
    record = record_of(world, proof.terms)
    assert record.status is RESULT[action]
    assert (record.batch_root, record.issued_block) == (tree.root, batch_receipt.block_number)
    if action == "amend":
        assert record.superseded_by is not None
        replacement = world.gov.certificate(record.superseded_by)
        assert replacement is not None and replacement.status is S.ISSUED
        assert (replacement.supersedes, replacement.exporter, replacement.batch_root) == (
            proof.terms.document_hash,
            None,  # a batched certificate has no exporter account; the amendment keeps that
            None,
        )
    events = [name for name, _, _ in world.gov.events(receipt.block_number, receipt.block_number)]
    assert ("CertificateIssued" in events) is (not revealed or action == "amend")


@pytest.mark.parametrize("action", ACTIONS)
def test_multicall_is_atomic_when_the_action_is_refused(world: World, action: str) -> None:
    tree, _ = anchored(world, 4, destinations=("AE",))
    proof = tree.proof(0)
    wrong = world.be_auth  # neither origin nor destination
    needed = authority_role("AE" if action in ("confirm_receipt", "record_discrepancy") else "BW")
    with (
        unchanged(world.gov, lambda: world.gov.certificate(proof.terms.document_hash)),
        reverts(AccessControlUnauthorizedAccount, account=wrong.address, neededRole=needed),
    ):
        act(world, action, proof, actor=wrong)
    assert world.gov.certificate(proof.terms.document_hash) is None  # not even revealed


def test_multicall_with_a_wrong_proof_is_refused(world: World) -> None:
    tree, _ = anchored(world, 4, destinations=("AE",))
    proof = replace(tree.proof(0), proof=tree.proof(2).proof)
    with (
        unchanged(world.gov, lambda: world.gov.certificate(proof.terms.document_hash)),
        reverts(BatchInvalidProof, root=tree.root, leaf=tree.leaf(0)),
    ):
        world.ae_auth.confirm_receipt(proof.terms.document_hash, batch_proof=proof)
