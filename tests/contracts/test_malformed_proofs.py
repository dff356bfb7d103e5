"""Malformed Merkle proofs on the in-process EVM: revealing, confirming or voiding a
batched certificate with a proof that does not prove it fails with the exact custom
error and changes nothing (no block, the certificate still unrevealed, the batch as
anchored).

The matrix: every malformation (empty, truncated, one element too many, another leaf's
proof, the proof checked against another batch's root or another participant's root,
an unknown root, the terms altered in any one field) against each action. A confirm or
a void of an unrevealed certificate is the reveal and the action in one ``multicall``,
so the reveal's error is what it fails with. The combinations test_batches.py already
covers for ``reveal`` are left out here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from kpledger.contract_errors import BatchInvalidProof, BatchOriginMismatch, BatchUnknown
from kpledger.errors import ContractError
from kpledger.ledger import BatchProof
from kpledger.types import ChainTerms

from .helpers import Fast, fresh_hash, reverts, unchanged
from .test_batches import Tree, batch_of

if TYPE_CHECKING:
    from tests.conftest import World

ACTIONS = ["reveal", "confirm_receipt", "void"]

FIELD_CHANGES: dict[str, Any] = {
    "document_hash": lambda t: fresh_hash(),
    "number": lambda t: t.number + "X",
    "origin": lambda t: "BE",
    "destination": lambda t: "BE",
    "carats": lambda t: t.carats + 1,
    "value_cents": lambda t: t.value_cents + 1,
    "parcels": lambda t: t.parcels + 1,
    "expires_at": lambda t: t.expires_at - 1,
}

PROOF_CHANGES = [
    "empty",
    "truncated",
    "extra-element",
    "other-leafs-proof",
    "other-batch-root",
    "other-participants-root",
    "unknown-root",
]
MALFORMATIONS = PROOF_CHANGES + [f"terms.{name}" for name in FIELD_CHANGES]

# Already in tests/contracts/test_batches.py (test_reveal_with_a_wrong_proof_is_refused,
# test_reveal_against_an_unknown_root_is_refused).
COVERED = {
    ("reveal", "empty"),
    ("reveal", "truncated"),
    ("reveal", "other-leafs-proof"),
    ("reveal", "terms.carats"),
    ("reveal", "unknown-root"),
}
CASES = [(a, m) for a in ACTIONS for m in MALFORMATIONS if (a, m) not in COVERED]


def _act(world: World, action: str, proof: BatchProof) -> None:
    if action == "reveal":
        world.stranger.reveal(proof)
    elif action == "confirm_receipt":
        world.ae_auth.confirm_receipt(proof.terms.document_hash, batch_proof=proof)
    else:
        world.bw_auth.void(proof.terms.document_hash, "withdrawn", batch_proof=proof)


def _malformed(world: World, tree: Tree, how: str) -> tuple[BatchProof, type[ContractError], dict[str, Any]]:
    """The bad proof of ``tree``'s leaf 3 and the error it must fail with."""
    good = tree.proof(3)
    leaf = tree.leaf(3)
    if how == "empty":
        return replace(good, proof=()), BatchInvalidProof, {"root": tree.root, "leaf": leaf}
    if how == "truncated":
        return replace(good, proof=good.proof[:-1]), BatchInvalidProof, {"root": tree.root, "leaf": leaf}
    if how == "extra-element":
        longer = (*good.proof, fresh_hash())
        return replace(good, proof=longer), BatchInvalidProof, {"root": tree.root, "leaf": leaf}
    if how == "other-leafs-proof":
        other = tree.proof(4).proof
        return replace(good, proof=other), BatchInvalidProof, {"root": tree.root, "leaf": leaf}
    if how == "other-batch-root":
        second = batch_of(world, 8, destinations=("AE",))
        Fast(world.bw_auth).anchor_batch("BW", second.root, 8)
        return replace(good, root=second.root), BatchInvalidProof, {"root": second.root, "leaf": leaf}
    if how == "other-participants-root":
        belgian = batch_of(world, 2, origin="BE", destinations=("AE",))
        Fast(world.be_auth).anchor_batch("BE", belgian.root, 2)
        expected = {"root": belgian.root, "expected": b"BE", "actual": b"BW"}
        return replace(good, root=belgian.root), BatchOriginMismatch, expected
    if how == "unknown-root":
        root = fresh_hash()
        return replace(good, root=root), BatchUnknown, {"root": root}
    name = how.removeprefix("terms.")
    altered: ChainTerms = replace(good.terms, **{name: FIELD_CHANGES[name](good.terms)})
    bad = replace(good, terms=altered)
    if name == "origin":
        return bad, BatchOriginMismatch, {"root": tree.root, "expected": b"BW", "actual": b"BE"}
    return bad, BatchInvalidProof, {"root": tree.root, "leaf": world.gov.leaf_of(altered)}


@pytest.mark.parametrize(("action", "how"), CASES, ids=[f"{a}-{m}" for a, m in CASES])
def test_a_malformed_proof_fails_with_its_error_and_changes_nothing(
    world: World, action: str, how: str
) -> None:
    tree = batch_of(world, 8, destinations=("AE",))
    Fast(world.bw_auth).anchor_batch("BW", tree.root, 8)
    proof, error, arguments = _malformed(world, tree, how)
    hashes = {tree.terms[3].document_hash, proof.terms.document_hash}

    def state() -> Any:
        return (
            [world.gov.certificate(h) for h in sorted(hashes)],
            world.gov.batch(tree.root),
            world.gov.batch(proof.root),
        )

    assert all(record is None for record in state()[0])
    with unchanged(world.gov, state), reverts(error, **arguments):
        _act(world, action, proof)
    # The good proof still works afterwards: the failed attempt left no trace.
    _act(world, action, tree.proof(3))
    assert world.gov.certificate(tree.terms[3].document_hash) is not None


def test_the_matrix_covers_every_field_and_action() -> None:
    fields = {f.name for f in ChainTerms.__dataclass_fields__.values()}
    assert set(FIELD_CHANGES) == fields
    assert {a for a, _ in CASES} == set(ACTIONS)
    assert len(CASES) == len(ACTIONS) * len(MALFORMATIONS) - len(COVERED)
