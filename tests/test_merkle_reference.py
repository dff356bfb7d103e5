"""kpledger.merkle's fast construction against a plain one, written from the npm library's source.

The module builds a tree with numpy bulk steps (sort, inverse permutation, leaf pairs, hex) and
builds every proof one depth at a time; a slip in any index arithmetic there would still give a
valid-looking tree. This file keeps a deliberately naive port of @openzeppelin/merkle-tree's
makeMerkleTree / getProof (one node and one proof at a time, eth_hash's keccak) and checks that
both give the same nodes, tree indices, proofs and dump for random sizes 1..2000, duplicates
included. It needs no node; the npm differential tests in test_merkle.py do.
"""

from __future__ import annotations

import gc
import random
from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kpledger import merkle
from kpledger.errors import MerkleError
from kpledger.merkle import DOCUMENT_HASH_LEAF, StandardMerkleTree


def reference_tree(leaf_hashes: list[bytes]) -> tuple[list[bytes], list[int]]:
    """makeMerkleTree of the npm library, statement by statement: stable sort, leaves laid out
    reversed at the end of a 2n - 1 array, then each inner node from the last one up."""
    n = len(leaf_hashes)
    size = 2 * n - 1
    order = sorted(range(n), key=lambda i: leaf_hashes[i])  # stable, like Array.prototype.sort
    tree = [b""] * size
    tree_index = [0] * n
    for k, value_index in enumerate(order):
        tree[size - 1 - k] = leaf_hashes[value_index]
        tree_index[value_index] = size - 1 - k
    for i in range(n - 2, -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = keccak(min(left, right) + max(left, right))
    return tree, tree_index


def reference_proof(tree: list[bytes], index: int) -> list[str]:
    """getProof of the npm library: siblings from the leaf up to, not including, the root."""
    proof = []
    while index > 0:
        proof.append("0x" + tree[index - (-1) ** (index % 2)].hex())
        index = (index - 1) // 2
    return proof


def batch(size: int, seed: int, duplicate_share: float) -> list[bytes]:
    """``size`` document hashes; about ``duplicate_share`` of them repeat an earlier one."""
    rng = random.Random(seed)
    hashes: list[bytes] = []
    for _ in range(size):
        if hashes and rng.random() < duplicate_share:
            hashes.append(rng.choice(hashes))
        else:
            hashes.append(rng.randbytes(32))
    return hashes


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=2000),
    seed=st.integers(min_value=0, max_value=2**32),
    duplicate_share=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
)
# Sizes where the layout changes shape: one leaf, leaves on one or two depths, odd n (one node
# with a leaf child and an inner child), powers of two and their neighbours, the maximum.
@example(size=1, seed=0, duplicate_share=0.0)
@example(size=2, seed=0, duplicate_share=1.0)
@example(size=3, seed=1, duplicate_share=0.0)
@example(size=5, seed=2, duplicate_share=0.5)
@example(size=1023, seed=3, duplicate_share=0.0)
@example(size=1024, seed=4, duplicate_share=0.05)
@example(size=1025, seed=5, duplicate_share=0.0)
@example(size=2000, seed=6, duplicate_share=1.0)
def test_document_hash_batches_match_the_plain_construction(
    size: int, seed: int, duplicate_share: float
) -> None:
    hashes = batch(size, seed, duplicate_share)
    leaf_hashes = [keccak(keccak(h)) for h in hashes]
    nodes, tree_index = reference_tree(leaf_hashes)

    tree = StandardMerkleTree.of([[h] for h in hashes], DOCUMENT_HASH_LEAF)
    dump = tree.dump()
    assert dump["tree"] == ["0x" + node.hex() for node in nodes]
    assert [entry["treeIndex"] for entry in dump["values"]] == tree_index
    assert [entry["value"] for entry in dump["values"]] == [["0x" + h.hex()] for h in hashes]
    assert tree.root == "0x" + nodes[0].hex()
    assert tree.all_proofs() == [reference_proof(nodes, index) for index in tree_index]
    # The general path (hex strings in) builds through the same code; it must agree too.
    assert StandardMerkleTree.of([["0x" + h.hex()] for h in hashes], ["bytes32"]).dump() == dump


# 32-byte values from a tiny alphabet: long shared prefixes, trailing NUL bytes, all-zero values
# and duplicates, which real leaf hashes almost never give. numpy's fixed-width byte strings
# ignore trailing NULs in some comparisons; this pins that the sort still orders like bytes.
adversarial_hash = st.lists(st.sampled_from([0, 1, 0xFF]), min_size=32, max_size=32).map(bytes)


@settings(max_examples=200, deadline=None)
@given(st.lists(adversarial_hash, min_size=1, max_size=70))
@example([bytes(32), bytes(31) + b"\x01", bytes(32), b"\x01" + bytes(31)])
@example([b"\xff" * 31 + b"\x00", b"\xff" * 32, b"\xff" * 31 + b"\x00"])
@example([bytes(32)] * 3)
def test_build_orders_and_pairs_any_32_byte_values_like_the_npm_library(leaf_hashes: list[bytes]) -> None:
    nodes, tree_index = reference_tree(leaf_hashes)
    assert merkle._build(leaf_hashes) == (["0x" + node.hex() for node in nodes], tree_index)


HASH = bytes(range(32))


@pytest.mark.parametrize(
    ("leaves", "same_as"),
    [
        ([(HASH,)], [[HASH]]),  # a tuple leaf takes the fast path too
        ([[bytearray(HASH)]], [[HASH]]),  # not bytes: general path, same tree
        ([[HASH[:31]]], [[HASH[:31] + b"\0"]]),  # short bytes32 is right-padded, as in JS
        ([[HASH], ["0x" + HASH.hex()]], [[HASH], [HASH]]),  # a mixed batch
    ],
)
def test_lookalikes_of_the_fast_path_build_the_general_path_tree(
    leaves: list[Any], same_as: list[list[bytes]]
) -> None:
    expected = StandardMerkleTree.of(same_as, DOCUMENT_HASH_LEAF)
    tree = StandardMerkleTree.of(leaves, DOCUMENT_HASH_LEAF)
    assert tree.dump()["tree"] == expected.dump()["tree"]
    assert tree.all_proofs() == expected.all_proofs()


@pytest.mark.parametrize(
    "leaves",
    [[[HASH + b"\0"]], [[HASH, HASH]], [[]], [{0: HASH}], [HASH], ["0x" + HASH.hex()]],
)
def test_lookalikes_of_the_fast_path_are_refused_by_the_general_path(leaves: list[Any]) -> None:
    with pytest.raises(MerkleError):
        StandardMerkleTree.of(leaves, DOCUMENT_HASH_LEAF)


@pytest.mark.parametrize("enabled", [True, False])
def test_building_leaves_the_garbage_collector_as_it_was(enabled: bool) -> None:
    was_enabled = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        StandardMerkleTree.of([[h] for h in batch(50, 1, 0.0)], DOCUMENT_HASH_LEAF).all_proofs()
        assert gc.isenabled() is enabled
        with pytest.raises(MerkleError):
            StandardMerkleTree.of([[HASH], [HASH, HASH]], DOCUMENT_HASH_LEAF)  # raises while paused
        assert gc.isenabled() is enabled
    finally:
        if was_enabled:
            gc.enable()
        else:
            gc.disable()


def test_all_proofs_does_not_make_the_collector_scan_its_temporaries() -> None:
    """Resuming the collector must not set off a collection over the ~2n lists all_proofs made
    while it was paused (~45 ms per 100,000 leaves). A caller that drops the result right away,
    as the benchmark does, then sees no collection at all."""
    leaves = [[h] for h in batch(20_000, 2, 0.0)]
    started: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(record)
    try:
        StandardMerkleTree.of(leaves, DOCUMENT_HASH_LEAF).all_proofs()
    finally:
        gc.callbacks.remove(record)
    assert started == []
