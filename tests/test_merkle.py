"""kpledger.merkle against the npm library it must agree with, and against Solidity's abi.encode.

The cross-checks run @openzeppelin/merkle-tree itself (scripts/oz_merkle.mjs) with many trees per
node start; they are skipped where node or node_modules is missing, the pinned vectors below
(taken from the npm library) still run there.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpledger import merkle
from kpledger.errors import KPLedgerError, MerkleError
from kpledger.merkle import (
    CERTIFICATE_LEAF,
    DOCUMENT_HASH_LEAF,
    PROOF_DOCUMENT_FORMAT,
    StandardMerkleTree,
    batch_proof_document,
    batch_proof_documents,
    leaf_hash,
    process_proof,
    verify_proof,
    verify_proof_document,
)

ROOT = Path(__file__).resolve().parents[1]
ORACLE = ROOT / "scripts" / "oz_merkle.mjs"
NODE = shutil.which("node")
HAVE_NPM_LIB = NODE is not None and (ROOT / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir()
needs_node = pytest.mark.skipif(not HAVE_NPM_LIB, reason="node or @openzeppelin/merkle-tree missing")

MIXED_LEAF = ["address", "int128", "bool", "bytes", "uint8[]", "(bytes32,string)[2]", "string[]", "bytes3"]
LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ANCHOR_TX = "0x" + "ab" * 32


def oracle(payload: dict[str, Any]) -> dict[str, Any]:
    """One node start for a whole batch of trees, dumps and proof documents."""
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(ORACLE)], input=json.dumps(payload), capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def js_form(value: Any) -> Any:
    """The JSON a JavaScript caller would hand the npm library, written independently of the
    module's own normalisation."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return [js_form(v) for v in value]
    return value


def compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def double_keccak(data: bytes) -> str:
    return "0x" + keccak(keccak(data)).hex()


def assert_same_as_npm(trees: list[StandardMerkleTree], answers: list[dict[str, Any]]) -> None:
    assert len(trees) == len(answers)
    for tree, js in zip(trees, answers, strict=True):
        assert "error" not in js, js
        assert tree.root == js["root"]
        assert tree.all_proofs() == js["proofs"]
        assert [tree.proof(i) for i in range(len(tree))] == js["proofs"]
        assert [tree.proof(tree.at(i)) for i in range(len(tree))] == js["proofsByValue"]
        assert [tree.leaf_hash(i) for i in range(len(tree))] == js["leafHashes"]
        # Byte-identical dump files, not just equal objects.
        assert compact(tree.dump()) == compact(js["dump"])


def cross_check(cases: list[tuple[list[list[Any]], list[str]]]) -> None:
    trees = [StandardMerkleTree.of(values, types) for values, types in cases]
    payload = {
        "cases": [{"leafEncoding": list(types), "values": js_form(values)} for values, types in cases],
        "dumps": [tree.dump() for tree in trees],
        "documents": [doc for tree in trees for doc in batch_proof_documents(tree)[:3]],
    }
    answers = oracle(payload)
    assert_same_as_npm(trees, answers["cases"])
    assert [d.get("root") for d in answers["dumps"]] == [t.root for t in trees]  # JS loads our dumps
    assert answers["documents"] == [True] * len(payload["documents"])  # JS verifies our proof files


# -- strategies ---------------------------------------------------------------------------------

bytes32 = st.binary(min_size=32, max_size=32)
uint256 = st.integers(min_value=0, max_value=2**256 - 1)
code = st.binary(min_size=2, max_size=2)
amount = uint256
certificate = st.tuples(bytes32, st.text(max_size=40), code, code, amount, amount, amount, amount).map(list)


def with_duplicates(leaf: st.SearchStrategy[list[Any]], max_size: int) -> st.SearchStrategy[list[list[Any]]]:
    """Lists of leaves where some values repeat: the npm library keeps duplicates (stable sort)."""

    @st.composite
    def build(draw: st.DrawFn) -> list[list[Any]]:
        base = draw(st.lists(leaf, min_size=1, max_size=max_size))
        extra = draw(st.lists(st.sampled_from(base), max_size=3))
        return draw(st.permutations(base + extra))

    return build()


bytes32_leaves = with_duplicates(bytes32.map(lambda h: [h]), 40)
certificate_leaves = with_duplicates(certificate, 12)
cross_settings = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the npm library, the reference ---------------------------------------------------------------


@needs_node
@cross_settings
@given(st.lists(bytes32_leaves, min_size=1, max_size=4))
@example([[[bytes(32)]], [[bytes(32)], [bytes(32)]], [[b"\xff" * 32], [bytes(32)]]])
def test_bytes32_trees_match_npm(batches: list[list[list[Any]]]) -> None:
    cross_check([(values, list(DOCUMENT_HASH_LEAF)) for values in batches])


@needs_node
@cross_settings
@given(st.lists(certificate_leaves, min_size=1, max_size=3))
@example([[[bytes(32), "", b"\0\0", b"\0\0", 0, 0, 0, 0]]])
@example([[[b"\x01" * 32, "BW-2025/ü 🜂" * 9, b"BW", b"AE", 2**256 - 1, 1, 2, 3]] * 2])
def test_certificate_trees_match_npm(batches: list[list[list[Any]]]) -> None:
    cross_check([(values, list(CERTIFICATE_LEAF)) for values in batches])


def _mixed_leaf(rng: random.Random) -> list[Any]:
    return [
        "0x" + rng.randbytes(20).hex(),
        rng.randrange(-(2**127), 2**127),
        rng.random() < 0.5,
        rng.randbytes(rng.randrange(70)),
        [rng.randrange(256) for _ in range(rng.randrange(4))],
        [[rng.randbytes(32), "x" * rng.randrange(40)], [rng.randbytes(32), "y"]],
        ["a", "bc", ""][: rng.randrange(4)],
        rng.randbytes(rng.randrange(4)),  # bytes3 given fewer bytes is right-padded, as in JS
    ]


@needs_node
def test_many_random_trees_match_npm_in_one_node_call() -> None:
    """Sizes around powers of two (where the array layout changes shape), both ledger encodings
    and a mix of other ABI types, all in one node start."""
    rng = random.Random(20250101)
    sizes = [*range(1, 18), 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 600]
    cases: list[tuple[list[list[Any]], list[str]]] = []
    for n in sizes:
        hashes = [[rng.randbytes(32)] for _ in range(n)]
        certs = [
            [
                rng.randbytes(32),
                f"BW-2025/{i}",
                b"BW",
                b"AE",
                rng.randrange(10**9),
                rng.randrange(10**9),
                1,
                9,
            ]
            for i in range(n)
        ]
        cases += [(hashes, list(DOCUMENT_HASH_LEAF)), (certs, list(CERTIFICATE_LEAF))]
        if n <= 33:
            values = [_mixed_leaf(rng) for _ in range(n)]
            # Addresses go in lower case; the JSON form checksums them, so JS gets that form too.
            tree = StandardMerkleTree.of(values, MIXED_LEAF)
            cases.append(([tree.at(i) for i in range(n)], MIXED_LEAF))
    cross_check(cases)


# -- pinned vectors from the npm library (run without node too) ----------------------------------


def test_pycryptodome_fallback_hashes_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without safe-pysha3 the module falls back to pycryptodome: slower, same digests."""
    monkeypatch.setitem(sys.modules, "sha3", None)  # makes "from sha3 import ..." fail
    name, fallback = merkle._load_keccak()
    assert name == "pycryptodome"
    for data in (b"", b"abc", bytes(64), bytes(range(200))):
        assert fallback(data).digest() == keccak(data) == merkle._keccak(data).digest()


def test_pinned_bytes32_vector() -> None:
    values = [[(i + 1).to_bytes(32, "big")] for i in range(3)]
    tree = StandardMerkleTree.of(values, ["bytes32"])
    assert tree.root == "0x6115218373392d12cc18a3d50ad2a53a2c99b391060070dfc0ebbbbe158ec944"
    assert tree.all_proofs() == [
        ["0x673620737675e2755ce8269a99904022d15da8d5843f5aec205cd243ff80240a"],
        [
            "0x2584db4a68aa8b172f70bc04e2e74541617c003374de6eb4b295e823e5beab01",
            "0xb5d9d894133a730aa651ef62d26b0ffa846233c74177a591a4a896adfda97d22",
        ],
        [
            "0x1ab0c6948a275349ae45a06aad66a8bd65ac18074615d53676c09b67809099e0",
            "0xb5d9d894133a730aa651ef62d26b0ffa846233c74177a591a4a896adfda97d22",
        ],
    ]


def test_pinned_certificate_vector() -> None:
    values = [
        [b"\x11" * 32, "BW-2025/000001", b"BW", b"AE", 125050, 9800000, 3, 1767225600],
        [b"\x22" * 32, "RU-2025/000002", b"RU", b"EU", 99, 100, 1, 1767225600],
    ]
    tree = StandardMerkleTree.of(values, CERTIFICATE_LEAF)
    assert tree.root == "0x271882a2e74fa299c993d0300a0af0c260ac72b1e1c0dcf74382e3af477890a7"
    assert tree.leaf_hash(0) == "0x57b54a563e461dea99aeae55bdbfbde57db1ac199917fb42948d491340e179e0"
    assert tree.all_proofs() == [
        ["0x0b6ec81926a47d30e27f62d82071d5d808bfc4a3b976c314d303a203f21f55d2"],
        ["0x57b54a563e461dea99aeae55bdbfbde57db1ac199917fb42948d491340e179e0"],
    ]
    assert tree.at(0) == [
        "0x" + "11" * 32,
        "BW-2025/000001",
        "0x4257",
        "0x4145",
        "125050",
        "9800000",
        "3",
        "1767225600",
    ]


# -- Solidity's encoding ----------------------------------------------------------------------


@given(certificate)
@example([bytes(32), "", b"BW", b"AE", 0, 0, 0, 0])
@example([b"\xff" * 32, "x" * 33, b"\xff\xff", b"\x00\x01", 2**256 - 1, 2**255, 1, 2**64])
def test_certificate_leaf_is_solidity_abi_encode(cert: list[Any]) -> None:
    """The contract computes keccak256(bytes.concat(keccak256(abi.encode(documentHash, number,
    origin, destination, carats, valueCents, parcels, expiresAt)))); eth_abi's encode is
    Solidity's abi.encode, and keccak256(bytes.concat(h)) of one bytes32 is keccak256(h)."""
    expected = double_keccak(abi_encode(list(CERTIFICATE_LEAF), cert))
    assert leaf_hash(CERTIFICATE_LEAF, cert) == expected
    assert StandardMerkleTree.of([cert], CERTIFICATE_LEAF).root == expected


@given(st.lists(bytes32, min_size=1, max_size=20))
def test_bytes32_leaf_is_double_keccak_of_the_hash(hashes: list[bytes]) -> None:
    tree = StandardMerkleTree.of([[h] for h in hashes], DOCUMENT_HASH_LEAF)
    assert [tree.leaf_hash(i) for i in range(len(hashes))] == [double_keccak(h) for h in hashes]
    # The fast path (bytes in) and the general path (hex strings in) agree.
    assert tree.dump() == StandardMerkleTree.of([["0x" + h.hex()] for h in hashes], ["bytes32"]).dump()


flat_value = st.one_of(
    st.tuples(st.just("uint8"), st.integers(0, 255)),
    st.tuples(st.just("uint256"), uint256),
    st.tuples(st.just("int16"), st.integers(-(2**15), 2**15 - 1)),
    st.tuples(st.just("int256"), st.integers(-(2**255), 2**255 - 1)),
    st.tuples(st.just("bool"), st.booleans()),
    st.tuples(st.just("bytes1"), st.binary(min_size=1, max_size=1)),
    st.tuples(st.just("bytes32"), bytes32),
    st.tuples(st.just("bytes"), st.binary(max_size=80)),
    st.tuples(st.just("string"), st.text(max_size=50)),
    st.tuples(st.just("address"), st.binary(min_size=20, max_size=20)),
)


@given(st.lists(flat_value, max_size=8))
def test_own_abi_encoder_equals_eth_abi(pairs: list[tuple[str, Any]]) -> None:
    """Flat leaf encodings skip eth_abi for speed; they must still encode exactly like it."""
    types = [t for t, _ in pairs]
    values = [v for _, v in pairs]
    assert leaf_hash(types, values) == double_keccak(abi_encode(types, values))


# -- structure and edge cases -----------------------------------------------------------------


def test_single_leaf_tree_is_its_leaf_hash_with_an_empty_proof() -> None:
    tree = StandardMerkleTree.of([[b"\x07" * 32]], DOCUMENT_HASH_LEAF)
    assert tree.root == double_keccak(b"\x07" * 32)
    assert tree.proof(0) == [] and tree.all_proofs() == [[]]
    assert tree.verify(0, [])
    assert StandardMerkleTree.verify(tree.root, ["bytes32"], [b"\x07" * 32], [])
    assert tree.dump()["values"] == [{"value": ["0x" + "07" * 32], "treeIndex": 0}]


def test_two_leaf_tree_hashes_the_sorted_pair() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    tree = StandardMerkleTree.of([[a], [b]], DOCUMENT_HASH_LEAF)
    la, lb = bytes.fromhex(double_keccak(a)[2:]), bytes.fromhex(double_keccak(b)[2:])
    assert tree.root == "0x" + keccak(min(la, lb) + max(la, lb)).hex()
    assert tree.proof(0) == ["0x" + lb.hex()] and tree.proof(1) == ["0x" + la.hex()]
    assert process_proof(la, tree.proof(0)) == tree.root


@pytest.mark.parametrize("values", [[], iter([])])
def test_empty_input_raises(values: Any) -> None:
    with pytest.raises(MerkleError, match="at least one value"):
        StandardMerkleTree.of(values, DOCUMENT_HASH_LEAF)
    assert issubclass(MerkleError, KPLedgerError)


@given(st.lists(bytes32, min_size=1, max_size=70))
def test_all_proofs_equals_proof_by_index_and_by_value(hashes: list[bytes]) -> None:
    tree = StandardMerkleTree.of([[h] for h in hashes], ["bytes32"])
    proofs = tree.all_proofs()
    assert proofs == [tree.proof(i) for i in range(len(hashes))]
    for i, h in enumerate(hashes):
        last = len(hashes) - 1 - hashes[::-1].index(h)  # a duplicated value names its last index, as in JS
        assert tree.proof([h]) == proofs[last]
        assert tree.verify([h], proofs[i]) and tree.verify(i, proofs[i])


def test_all_proofs_does_no_per_value_search(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = StandardMerkleTree.of([[i.to_bytes(32, "big")] for i in range(1000)], ["bytes32"])

    def forbidden(*_: object) -> int:
        raise AssertionError("all_proofs must map value index -> tree index, never search values")

    monkeypatch.setattr(StandardMerkleTree, "index_of", forbidden)
    proofs = tree.all_proofs()
    assert len(proofs) == 1000 and all(len(p) in (9, 10) for p in proofs)  # depth of a 1999-node tree
    # Each proof is its own list: changing one cannot change another.
    proofs[0].append("x")
    assert proofs[1][-1] != "x"


@given(st.lists(bytes32, min_size=2, max_size=40), st.data())
def test_tampered_proofs_fail(hashes: list[bytes], data: st.DataObject) -> None:
    tree = StandardMerkleTree.of([[h] for h in hashes], ["bytes32"])
    i = data.draw(st.integers(0, len(hashes) - 1))
    proof = tree.proof(i)
    j = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    node = bytearray(bytes.fromhex(proof[j][2:]))
    node[bit // 8] ^= 1 << (bit % 8)
    flipped = [*proof[:j], "0x" + node.hex(), *proof[j + 1 :]]
    assert not tree.verify(i, flipped)
    assert not StandardMerkleTree.verify(tree.root, ["bytes32"], [hashes[i]], flipped)
    assert not tree.verify(i, proof[:-1])  # truncated
    assert not tree.verify([b"\xee" * 32], proof) or [b"\xee" * 32] in [[h] for h in hashes]


def test_verify_refuses_malformed_proofs() -> None:
    tree = StandardMerkleTree.of([[b"\x01" * 32], [b"\x02" * 32]], ["bytes32"])
    with pytest.raises(MerkleError):
        tree.verify(0, ["0x1234"])
    with pytest.raises(MerkleError):
        tree.verify(0, tree.proof(0)[0])  # a string, not a list
    with pytest.raises(MerkleError):
        verify_proof("0x00", ["bytes32"], [b"\x01" * 32], tree.proof(0))


@pytest.mark.parametrize(
    ("types", "leaf", "match"),
    [
        (["bytes32"], [b"\x01" * 33], "at most 32 bytes"),
        (["bytes32"], ["abcd"], "0x-prefixed"),
        (["bytes32"], ["0xabc"], "0x-prefixed"),
        (["bytes32"], ["0x ab"], "0x-prefixed"),
        (["uint256"], [-1], "out of range"),
        (["uint8"], [256], "out of range"),
        (["uint256"], [True], "bool"),
        (["uint256"], ["1_000"], "decimal"),
        (["uint256"], [1.5], "decimal"),
        (["bool"], [1], "bool"),
        (["string"], [b"x"], "str"),
        (["address"], ["0x1234"], "40 hex"),
        (["uint8[2]"], [[1]], "2 items"),
        (["bytes32"], [b"\x01" * 32, b"\x02" * 32], "needs 1 values"),
        (["bytes32"], b"\x01" * 32, "a leaf is a list"),
        ("bytes32", [b"\x01" * 32], "list of ABI type"),
        (["uint7"], [1], "invalid ABI type"),
        (["fixed128x18"], [1], "unsupported"),
    ],
)
def test_bad_values_and_types_raise(types: Any, leaf: Any, match: str) -> None:
    with pytest.raises(MerkleError, match=match):
        StandardMerkleTree.of([leaf], types)


def test_integer_inputs_accept_decimal_and_hex_strings() -> None:
    a = StandardMerkleTree.of([[255, 1]], ["uint256", "int8"])
    b = StandardMerkleTree.of([["255", "0x01"]], ["uint256", "int8"])
    c = StandardMerkleTree.of([["0xff", 1]], ["uint256", "int8"])
    assert a.dump() == b.dump() == c.dump()
    assert a.at(0) == ["255", "1"]


# -- dump / load ------------------------------------------------------------------------------


@given(certificate_leaves)
def test_dump_load_round_trip(values: list[list[Any]]) -> None:
    tree = StandardMerkleTree.of(values, CERTIFICATE_LEAF)
    dumped = json.loads(json.dumps(tree.dump()))
    loaded = StandardMerkleTree.load(dumped)
    assert loaded.dump() == dumped
    assert loaded.root == tree.root and loaded.all_proofs() == tree.all_proofs()
    assert loaded.proof(values[0]) == tree.proof(values[0])


def test_load_keeps_npm_values_verbatim_and_checks_them() -> None:
    """A JS caller may dump numbers as JSON numbers; load keeps them so load(d).dump() == d."""
    tree = StandardMerkleTree.of([[5, "0x4257"], [6, "0x4145"]], ["uint256", "bytes2"])
    dumped = tree.dump()
    for entry in dumped["values"]:
        entry["value"][0] = int(entry["value"][0])
    assert StandardMerkleTree.load(dumped).dump() == dumped


def _tampered_dumps() -> list[tuple[str, dict[str, Any]]]:
    tree = StandardMerkleTree.of([[i.to_bytes(32, "big")] for i in range(5)], ["bytes32"])
    cases = []
    d = tree.dump()
    d["format"] = "standard-v2"
    cases.append(("unknown tree dump format", d))
    d = tree.dump()
    d["tree"][3] = "0x" + "00" * 32
    cases.append(("not the hash of its children", d))
    d = tree.dump()
    d["values"][0]["value"] = ["0x" + "ff" * 32]
    cases.append(("does not hash", d))
    d = tree.dump()
    d["values"][1]["treeIndex"] = 0
    cases.append(("leaf index", d))
    d = tree.dump()
    d["values"][1]["treeIndex"] = d["values"][0]["treeIndex"]
    cases.append(("does not hash|same treeIndex", d))
    d = tree.dump()
    d["tree"].pop()
    cases.append(("nodes for", d))
    d = tree.dump()
    del d["leafEncoding"]
    cases.append(("leafEncoding", d))
    return cases


@pytest.mark.parametrize(("match", "dump"), _tampered_dumps())
def test_load_refuses_invalid_dumps(match: str, dump: dict[str, Any]) -> None:
    with pytest.raises(MerkleError, match=match):
        StandardMerkleTree.load(dump)


# -- proof documents --------------------------------------------------------------------------


def _cert_tree() -> StandardMerkleTree:
    return StandardMerkleTree.of(
        [
            [bytes([i]) * 32, f"BW-2025/{i:06d}", b"BW", b"AE", 125050 + i, 9_800_000, 3, 1_767_225_600]
            for i in range(1, 8)
        ],
        CERTIFICATE_LEAF,
    )


def test_proof_document_format_and_offline_check() -> None:
    tree = _cert_tree()
    doc = batch_proof_document(tree, 2, chain_id=1337, ledger=LEDGER.lower(), anchor_tx=ANCHOR_TX)
    assert list(doc) == [
        "format",
        "leafEncoding",
        "leaf",
        "leafHash",
        "root",
        "proof",
        "chainId",
        "ledger",
        "anchorTx",
    ]
    assert doc["format"] == PROOF_DOCUMENT_FORMAT
    assert doc["leafEncoding"] == list(CERTIFICATE_LEAF)
    assert doc["leaf"] == [
        "0x" + "03" * 32,
        "BW-2025/000003",
        "0x4257",
        "0x4145",
        "125053",
        "9800000",
        "3",
        "1767225600",
    ]
    assert doc["root"] == tree.root and doc["proof"] == tree.proof(2)
    assert doc["ledger"] == LEDGER  # checksummed
    assert (doc["chainId"], doc["anchorTx"]) == (1337, ANCHOR_TX)
    carried = json.loads(json.dumps(doc))  # what an importer receives
    assert verify_proof_document(carried)
    by_value = batch_proof_document(tree, tree.at(2))
    assert by_value["proof"] == doc["proof"] and by_value["chainId"] is None
    assert batch_proof_documents(tree, chain_id=1337, ledger=LEDGER, anchor_tx=ANCHOR_TX)[2] == doc


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("leaf", lambda leaf: [*leaf[:5], "9800001", *leaf[6:]]),  # value inflated
        ("leaf", lambda leaf: [leaf[0], leaf[1], leaf[3], leaf[2], *leaf[4:]]),  # origin/destination swapped
        ("root", lambda _: "0x" + "00" * 32),
        ("proof", lambda proof: proof[::-1]),
        ("proof", lambda proof: proof[:-1]),
        ("leafHash", lambda _: "0x" + "11" * 32),
    ],
)
def test_tampered_proof_document_fails(field: str, change: Any) -> None:
    doc = batch_proof_document(_cert_tree(), 4)
    doc[field] = change(doc[field])
    assert not verify_proof_document(doc)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(format="kpledger-batch-proof-v0"), "format"),
        (lambda d: d.pop("proof"), "lacks proof"),
        (lambda d: d.update(proof="0x00"), "must be a list"),
        (lambda d: d.update(ledger="0x1234"), "ledger"),
        (lambda d: d.update(chainId="1"), "chainId"),
        (lambda d: d.update(root="0x12"), "32 bytes"),
        (lambda d: d.update(leaf=d["leaf"][:-1]), "needs 8 values"),
    ],
)
def test_malformed_proof_document_raises(change: Any, match: str) -> None:
    doc = batch_proof_document(_cert_tree(), 0)
    change(doc)
    with pytest.raises(MerkleError, match=match):
        verify_proof_document(doc)


def test_proof_document_anchor_fields_are_checked_when_written() -> None:
    with pytest.raises(MerkleError, match="anchorTx"):
        batch_proof_document(_cert_tree(), 0, anchor_tx="0x12")
    with pytest.raises(MerkleError, match="chainId"):
        batch_proof_document(_cert_tree(), 0, chain_id=0)
    with pytest.raises(MerkleError, match="out of bounds"):
        batch_proof_document(_cert_tree(), 7)
    with pytest.raises(MerkleError, match="not in tree"):
        batch_proof_document(_cert_tree(), [bytes(32), "X", b"BW", b"AE", 1, 1, 1, 1])
