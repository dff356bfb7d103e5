"""Helpers of the node integration tests: a deployed world of roles on a node, and the
main certificate flow every chain must carry.

The accounts are the node's public DEV-ONLY keys (:mod:`kpledger.devkeys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kpledger.chain.node import AnvilNode, LocalNode, NodeBinaryMissing
from kpledger.ledger import BatchProof, Ledger
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree
from kpledger.types import CertificateStatus, ChainTerms
from tests.conftest import fresh_terms

DAY = 86_400
ACCOUNTS = 16


@dataclass
class NodeWorld:
    """Who is who on a node. Participants BW, AE, BE active. ``spare`` are funded
    accounts with no role (for tests that hand out roles of their own)."""

    node: LocalNode
    gov: Ledger
    bw_auth: Ledger
    ae_auth: Ledger
    be_auth: Ledger
    bw_exporter: Ledger
    ae_importer: Ledger
    stranger: Ledger
    spare: list[bytes] = field(default_factory=list)

    def ledgers(self) -> list[Ledger]:
        return [
            self.gov,
            self.bw_auth,
            self.ae_auth,
            self.be_auth,
            self.bw_exporter,
            self.ae_importer,
            self.stranger,
        ]

    def now(self) -> int:
        return self.gov.block_time(self.gov.block_number())

    def terms(
        self,
        origin: str = "BW",
        destination: str = "AE",
        *,
        number: str | None = None,
        days: int = 30,
        seed: str | None = None,
    ) -> ChainTerms:
        """Fresh valid terms with a unique number and document hash."""
        return fresh_terms(self.now(), origin, destination, number=number, days=days, seed=seed, tag="N")

    def forget(self) -> None:
        for ledger in self.ledgers():
            ledger.forget_local_state()


def build_node_world(node: LocalNode, **options: Any) -> NodeWorld:
    """Deploy the contracts on ``node`` and hand out the roles."""
    keys = node.dev_only_keys(ACCOUNTS if isinstance(node, AnvilNode) and node.accounts >= ACCOUNTS else 10)
    gov = Ledger.deploy(node.url, keys[0], **options)
    bw_auth, ae_auth, be_auth, bw_exporter, ae_importer, stranger = (gov.as_signer(k) for k in keys[1:7])
    for code, name in (("BW", "Botswana"), ("AE", "United Arab Emirates"), ("BE", "Belgium")):
        gov.admit_participant(code, name, 60)
    gov.appoint_authority("BW", bw_auth.address)
    gov.appoint_authority("AE", ae_auth.address)
    gov.appoint_authority("BE", be_auth.address)
    bw_auth.license_exporter("BW", bw_exporter.address)
    ae_auth.license_importer("AE", ae_importer.address)
    return NodeWorld(node, gov, bw_auth, ae_auth, be_auth, bw_exporter, ae_importer, stranger, spare=keys[7:])


def start_anvil(**options: Any) -> AnvilNode:
    """Start an anvil, or skip the test when the project's node_modules lack it."""
    try:
        node = AnvilNode(**options)
    except NodeBinaryMissing as exc:
        pytest.skip(str(exc))
    return node.start()


# ---------------------------------------------------------------------- the main flow


def batch_of(world: NodeWorld, count: int) -> tuple[list[ChainTerms], StandardMerkleTree]:
    terms = [world.terms() for _ in range(count)]
    tree = StandardMerkleTree.of([list(t.as_tuple()) for t in terms], CERTIFICATE_LEAF)
    return terms, tree


def proof_of(tree: StandardMerkleTree, index: int, terms: ChainTerms) -> BatchProof:
    return BatchProof(
        terms=terms,
        root=bytes.fromhex(tree.root[2:]),
        proof=tuple(bytes.fromhex(p[2:]) for p in tree.proof(index)),
    )


def run_main_flow(world: NodeWorld) -> dict[str, ChainTerms]:
    """The life cycle every chain must carry: request → validate → confirm; issue →
    dispute → resolve; issue → void; issue → amend; a Merkle batch whose members are
    confirmed and disputed through their proofs. Returns the terms by role."""
    status = CertificateStatus
    requested = world.terms()
    world.bw_exporter.anchor(requested)
    assert _status(world, requested) is status.REQUESTED
    world.bw_auth.validate(requested.number)
    world.ae_auth.confirm_receipt(requested.document_hash)
    assert _status(world, requested) is status.RECEIVED

    disputed = world.terms()
    world.bw_auth.issue(disputed, world.bw_exporter.address)
    world.ae_auth.record_discrepancy(disputed.number, "seal broken, 2 parcels instead of 3")
    assert _status(world, disputed) is status.DISPUTED
    world.ae_auth.resolve_dispute(disputed.number, "recounted: 3 parcels")
    assert _status(world, disputed) is status.RECEIVED

    voided = world.terms()
    world.bw_auth.issue(voided, world.bw_exporter.address)
    world.bw_auth.void(voided.number, "issued in error")
    assert _status(world, voided) is status.VOIDED

    amended = world.terms()
    replacement = world.terms()
    world.bw_auth.issue(amended, world.bw_exporter.address)
    world.bw_auth.amend(amended.number, replacement, "carat weight corrected")
    assert _status(world, amended) is status.SUPERSEDED
    assert _status(world, replacement) is status.ISSUED

    members, tree = batch_of(world, 3)
    root = bytes.fromhex(tree.root[2:])
    world.bw_auth.anchor_batch("BW", root, len(members))
    batch = world.gov.batch(root)
    assert (
        batch is not None and batch.origin == "BW" and batch.issuer.lower() == world.bw_auth.address.lower()
    )
    first = proof_of(tree, 0, members[0])
    assert world.gov.verify_batch_certificate(first)
    assert world.gov.certificate(members[0].document_hash) is None  # not materialised yet
    world.ae_auth.confirm_receipt(members[0].document_hash, batch_proof=first)  # reveal + confirm, one tx
    assert _status(world, members[0]) is status.RECEIVED
    world.stranger.reveal(proof_of(tree, 1, members[1]))  # anyone may reveal
    assert _status(world, members[1]) is status.ISSUED
    world.ae_auth.record_discrepancy(members[1].number, "weight differs")
    assert _status(world, members[1]) is status.DISPUTED

    timeline = world.gov.timeline(disputed.number)
    assert [e.event for e in timeline] == ["CertificateIssued", "CertificateDisputed", "DisputeResolved"]
    assert all(e.timestamp > 0 for e in timeline)
    return {
        "requested": requested,
        "disputed": disputed,
        "voided": voided,
        "amended": amended,
        "replacement": replacement,
        "batched": members[0],
    }


def _status(world: NodeWorld, terms: ChainTerms) -> CertificateStatus | None:
    record = world.gov.certificate(terms.document_hash)
    return None if record is None else record.status
