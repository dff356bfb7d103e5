"""docs/vectors/ holds what the library computes, and what independent npm implementations
(canonicalize, node:crypto, @openzeppelin/merkle-tree, BigInt scaling of the decimal text)
compute from the same files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from kpledger.certificate import hash_document_bytes, hash_hex, parse_certificate
from kpledger.interchange import decimal_scaled
from kpledger.merkle import StandardMerkleTree, verify_proof_document
from tests.interchange.conftest import ROOT, VECTORS

sys.path.insert(0, str(ROOT / "scripts"))
import interchange_files


def vectors() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text("utf-8"))
    return loaded


def test_committed_files_are_what_the_library_generates() -> None:
    assert interchange_files.stale_files() == []


def test_a_changed_vector_is_reported_stale(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interchange_files, "VECTORS_DIR", tmp_path)
    assert interchange_files.stale_files()  # nothing written there yet


@pytest.mark.parametrize("entry", vectors()["documents"], ids=lambda entry: entry["name"])
def test_document_vector_matches_the_library(entry: dict[str, Any]) -> None:
    data = (VECTORS / entry["file"]).read_bytes()
    digest, kind = hash_document_bytes(data)
    assert kind == "json"
    assert hash_hex(digest) == entry["documentHash"]
    assert (VECTORS / entry["canonicalFile"]).read_text("utf-8") == entry["canonical"]
    terms = parse_certificate(data).chain_terms()
    assert entry["chainTerms"]["carats"] == str(terms.carats)
    assert entry["chainTerms"]["valueCents"] == str(terms.value_cents)
    assert entry["chainTerms"]["expiresAt"] == str(terms.expires_at)
    bundle = json.loads((VECTORS / entry["bundleFile"]).read_bytes(), parse_float=Decimal)
    assert bundle["format"] == "kpledger-bundle-v1"
    assert parse_certificate(bundle["document"]).document_hash() == digest
    assert bundle["proof"]["leaf"][0] == entry["documentHash"]
    assert bundle["proof"]["leafHash"] == entry["leafHash"]
    assert verify_proof_document(bundle["proof"])


def test_batch_vector_matches_the_library() -> None:
    batch = vectors()["batch"]
    tree = StandardMerkleTree.of(batch["values"], batch["leafEncoding"])
    assert tree.root == batch["root"]
    assert StandardMerkleTree.load(batch["dump"]).root == batch["root"]
    for proof in batch["proofs"]:
        assert proof["root"] == batch["root"]
        assert verify_proof_document(proof)
    tampered = dict(
        batch["proofs"][0], leaf=[*batch["proofs"][0]["leaf"][:4], "1", *batch["proofs"][0]["leaf"][5:]]
    )
    assert not verify_proof_document(tampered)


def test_raw_file_vector_is_the_sha256_of_its_bytes() -> None:
    for entry in vectors()["rawFiles"]:
        digest, kind = hash_document_bytes((VECTORS / entry["file"]).read_bytes())
        assert (hash_hex(digest), kind) == (entry["documentHash"], "raw")


def test_scaling_vectors_are_exact() -> None:
    for entry in vectors()["scaling"]:
        scaled = decimal_scaled(entry["decimal"], entry["places"])
        assert (None if scaled is None else str(scaled)) == entry["scaled"]
    assert decimal_scaled("884.46", 2) == 88446  # where 884.46 * 100 in binary is 88445.99999999999
    with pytest.raises(ValueError, match="not a decimal"):
        decimal_scaled("12,5", 2)


def test_npm_implementations_compute_the_same_vectors(
    npm_check: Callable[[list[str]], dict[str, Any]],
) -> None:
    expected = vectors()
    got = npm_check([])
    for mine, theirs in zip(expected["documents"], got["documents"], strict=True):
        assert theirs["canonical"] == mine["canonical"], mine["name"]
        assert theirs["canonicalFileMatches"], mine["name"]
        assert theirs["documentHash"] == mine["documentHash"], mine["name"]
        assert theirs["chainTerms"] == mine["chainTerms"], mine["name"]
        assert theirs["leafHash"] == mine["leafHash"], mine["name"]
        assert theirs["bundle"] == {
            "format": "kpledger-bundle-v1",
            "documentHash": mine["documentHash"],
            "leafHashMatches": True,
            "verifies": True,
        }
        assert theirs["schemaValid"] is True, mine["name"]
    assert got["batch"]["root"] == expected["batch"]["root"]
    assert got["batch"]["loadedRoot"] == expected["batch"]["root"]
    assert got["batch"]["proofsVerify"] == [True] * len(expected["documents"])
    assert got["raw"] == [entry["documentHash"] for entry in expected["rawFiles"]]
    assert got["scaling"] == [entry["scaled"] for entry in expected["scaling"]]
    assert got["expiry"] == [entry["expiresAt"] for entry in expected["expiry"]]
