"""Merkle batches that @openzeppelin/merkle-tree (``StandardMerkleTree``) and OZ ``MerkleProof``
accept as their own.

Why a port and not a new design: the ledger checks batch proofs on-chain with OpenZeppelin's
``MerkleProof``, and importers, other KP systems and the web page check them with the npm library.
Three implementations must agree bit for bit, so this module copies the npm library's rules
exactly (version 1.0.8) instead of inventing nicer ones:

- leaf = ``keccak256(keccak256(abi.encode(types, values)))``. Hashing twice keeps a leaf from
  ever being mistaken for an inner node (a 64-byte leaf encoding could otherwise collide with
  two concatenated child hashes);
- inner node = ``keccak256(min(a, b) ++ max(a, b))`` (sorted pairs, so a proof needs no
  left/right flags);
- the leaf hashes are sorted (stable sort, so duplicate values keep their input order) and laid
  out *reversed* at the end of an array of ``2n - 1`` nodes, node ``i`` having children
  ``2i + 1`` and ``2i + 2``; ``tree[0]`` is the root. A leaf's proof is the list of its
  siblings' hashes from the leaf up to (not including) the root;
- ``dump()`` / ``load()`` use the library's ``"standard-v1"`` JSON format, key order included,
  so ``json.dumps(tree.dump(), separators=(",", ":"), ensure_ascii=False)`` equals
  ``JSON.stringify(tree.dump())`` of the npm library for the same values;
- ``proof(value)`` of a value given twice is the proof of its *last* occurrence, as the npm
  library's lookup table has it (``proof(index)`` addresses each occurrence).

Stricter than the npm library only where its own output always complies: ``load`` also wants
``2n - 1`` nodes and one distinct leaf per value. Multiproofs (``getMultiProof``) are not
ported; the ledger proves one certificate at a time.

Leaf values. A leaf is a list with one value per type of the leaf encoding. Inputs may be
Python values or their JSON form; values are kept (and dumped) in this JSON form, which the npm
library accepts as input unchanged:

============================  =============================================  ======================
ABI type                      accepted input                                 JSON form
============================  =============================================  ======================
``uintN``, ``intN``           ``int``, decimal string, ``0x`` hex string     decimal string
``bytesN``, ``bytes``         ``bytes``, ``0x`` hex string                   ``0x`` + lower-case hex
``address``                   ``0x`` + 40 hex digits, or 20 ``bytes``        EIP-55 checksummed
``bool``                      ``bool``                                       ``true`` / ``false``
``string``                    ``str``                                        the string
``T[]``, ``T[k]``, ``(T,U)``  ``list`` / ``tuple`` of the above              ``list``
============================  =============================================  ======================

Integers become decimal *strings* because JavaScript numbers lose precision above 2**53 and
``JSON.stringify`` cannot write a ``BigInt``. As in the npm library (and Solidity's
``abi.encode``), a ``bytesN`` value shorter than ``N`` bytes is right-padded with zeros.
A tree read by :meth:`StandardMerkleTree.load` keeps the dump's values verbatim, so
``load(d).dump() == d``.

The ledger's two leaf encodings are :data:`DOCUMENT_HASH_LEAF` (``["bytes32"]``) and
:data:`CERTIFICATE_LEAF`, matching the contract's
``keccak256(bytes.concat(keccak256(abi.encode(documentHash, number, origin, destination,
carats, valueCents, parcels, expiresAt))))``.

Batch proof document (format ``"kpledger-batch-proof-v1"``). What an importer carries to show
that one certificate belongs to an anchored batch; :func:`batch_proof_document` writes it and
:func:`verify_proof_document` checks it offline. A JSON object whose field names follow the npm
library's camelCase, so a JavaScript verifier can run
``StandardMerkleTree.verify(doc.root, doc.leafEncoding, doc.leaf, doc.proof)`` unchanged::

    {
      "format": "kpledger-batch-proof-v1",
      "leafEncoding": ["bytes32", "string", "bytes2", "bytes2",
                       "uint256", "uint256", "uint256", "uint256"],
      "leaf": ["0x9f…", "BW-2024/000123", "0x4257", "0x4145",
               "125050", "9800000", "3", "1735689600"],
      "leafHash": "0x…",          # keccak256(keccak256(abi.encode(leaf))), 32 bytes
      "root": "0x…",              # the batch root anchored on chain
      "proof": ["0x…", …],        # sibling hashes, leaf to root; [] for a one-leaf batch
      "chainId": 1337 | null,     # filled by the caller once the root is anchored
      "ledger": "0xAbC…" | null,  # certificate ledger contract, EIP-55
      "anchorTx": "0x…" | null    # hash of the transaction that anchored the root
    }

``leaf`` uses the JSON form above (for the certificate encoding: ``documentHash`` and the
two-letter participant codes as hex, the four amounts as decimal strings). The offline check
proves only "this leaf is in the tree with this root"; that the root was anchored by ``ledger``
on ``chainId`` is for the chain client to check.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, overload

from eth_abi.abi import encode as _abi_encode
from eth_abi.exceptions import ABITypeError, EncodingError
from eth_abi.exceptions import ParseError as _ABIParseError
from eth_abi.grammar import ABIType, BasicType, TupleType
from eth_abi.grammar import normalize as _normalize_type
from eth_abi.grammar import parse as _parse_type
from eth_utils.address import to_checksum_address

from kpledger.errors import MerkleError

__all__ = [
    "CERTIFICATE_LEAF",
    "DOCUMENT_HASH_LEAF",
    "DUMP_FORMAT",
    "KECCAK_BACKEND",
    "PROOF_DOCUMENT_FORMAT",
    "StandardMerkleTree",
    "batch_proof_document",
    "batch_proof_documents",
    "encode_leaf",
    "leaf_hash",
    "process_proof",
    "verify_proof",
    "verify_proof_document",
]

DUMP_FORMAT: Final = "standard-v1"
PROOF_DOCUMENT_FORMAT: Final = "kpledger-batch-proof-v1"

#: A batch of bare document hashes.
DOCUMENT_HASH_LEAF: Final[tuple[str, ...]] = ("bytes32",)
#: The ledger's certificate tuple: (documentHash, number, origin, destination, carats in
#: hundredths, valueCents, parcels, expiresAt). The contract decides who may act on a batched
#: certificate from these fields, so the leaf must carry them, not only the document hash.
CERTIFICATE_LEAF: Final[tuple[str, ...]] = (
    "bytes32",
    "string",
    "bytes2",
    "bytes2",
    "uint256",
    "uint256",
    "uint256",
    "uint256",
)

HexOrBytes = str | bytes


# --------------------------------------------------------------------------------------------
# keccak256: the fastest backend present. safe-pysha3 hashes 32 bytes in ~0.7 µs here,
# pycryptodome (eth-hash's default backend) in ~5 µs, which alone would cap a batch at
# ~70,000 leaves/s. Both give the same digests.


class _Hasher(Protocol):
    def digest(self) -> bytes: ...


def _load_keccak() -> tuple[str, Callable[[bytes], _Hasher]]:
    try:
        from sha3 import keccak_256  # safe-pysha3 (eth-hash's "pysha3" backend)
    except ImportError:
        from Crypto.Hash import keccak as _cryptodome_keccak

        def keccak_cryptodome(data: bytes) -> _Hasher:
            return _cryptodome_keccak.new(data=data, digest_bits=256)

        return "pycryptodome", keccak_cryptodome
    return "pysha3", keccak_256


#: Which keccak implementation is in use ("pysha3" or "pycryptodome"), for benchmarks.
KECCAK_BACKEND, _keccak = _load_keccak()
# The hasher class's own (unbound) digest: map() calls it without a bytecode step per item,
# where operator.methodcaller("digest") would cost twice as much.
_digest: Callable[[_Hasher], bytes] = type(_keccak(b"")).digest


def _keccak_many(data: Iterable[bytes]) -> list[bytes]:
    """keccak256 of each item. A C-level map pipeline: at ~0.7 µs a hash, a Python loop or
    comprehension around it would add a quarter again."""
    return list(map(_digest, map(_keccak, data)))


def _node_hash(a: bytes, b: bytes) -> bytes:
    return _keccak(a + b if a < b else b + a).digest()


# --------------------------------------------------------------------------------------------
# Leaf values: parse, normalise to the JSON form, ABI-encode.

_HEX_RE: Final = re.compile(r"0[xX]([0-9a-fA-F]*)\Z")
_DEC_RE: Final = re.compile(r"-?[0-9]+\Z")
_HEXNUM_RE: Final = re.compile(r"0[xX][0-9a-fA-F]+\Z")
_ZERO32: Final = bytes(32)


def _hex_to_bytes(value: str, what: str) -> bytes:
    # bytes.fromhex alone would accept spaces and no prefix; a JS verifier would not.
    match = _HEX_RE.match(value)
    if match is None or len(match.group(1)) % 2:
        raise MerkleError(f"{what}: expected a 0x-prefixed even-length hex string, got {value!r}")
    return bytes.fromhex(match.group(1))


def _to_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return _hex_to_bytes(value, what)
    raise MerkleError(f"{what}: expected bytes or a 0x hex string, got {type(value).__name__}")


def _to_node(value: object, what: str) -> bytes:
    raw = _to_bytes(value, what)
    if len(raw) != 32:
        raise MerkleError(f"{what}: a Merkle node is 32 bytes, got {len(raw)}")
    return raw


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _to_int(value: object, what: str) -> int:
    if isinstance(value, bool):  # bool is an int subclass; True as a uint is surely a bug
        raise MerkleError(f"{what}: expected an integer, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if _DEC_RE.match(value):
            return int(value, 10)
        if _HEXNUM_RE.match(value):
            return int(value, 16)
    raise MerkleError(f"{what}: expected an int or a decimal/0x-hex string, got {value!r}")


def _pad_right(raw: bytes) -> bytes:
    return raw + bytes(-len(raw) % 32)


@dataclass(frozen=True, slots=True)
class _Elementary:
    """One non-array, non-tuple ABI type: parses a value into (JSON form, encodable value)
    and encodes it the way Solidity's ``abi.encode`` does."""

    type_str: str
    base: str
    size: int  # bits for (u)int, bytes for bytesN, 0 otherwise

    @property
    def dynamic(self) -> bool:
        return self.base in ("string", "bytes") and self.size == 0

    def parse(self, value: object) -> tuple[Any, Any]:
        what = self.type_str
        base = self.base
        if base == "uint" or base == "int":
            number = _to_int(value, what)
            bits = self.size
            low, high = (0, 1 << bits) if base == "uint" else (-(1 << (bits - 1)), 1 << (bits - 1))
            if not low <= number < high:
                raise MerkleError(f"{what}: {number} is out of range")
            return str(number), number
        if base == "bytes":
            raw = _to_bytes(value, what)
            if self.size and len(raw) > self.size:
                raise MerkleError(f"{what}: expected at most {self.size} bytes, got {len(raw)}")
            return _hex(raw), raw
        if base == "string":
            if not isinstance(value, str):
                raise MerkleError(f"{what}: expected a str, got {type(value).__name__}")
            return value, value
        if base == "address":
            if isinstance(value, str) and len(value) == 42:
                raw = _hex_to_bytes(value, what)
            elif isinstance(value, bytes | bytearray) and len(value) == 20:
                raw = bytes(value)
            else:
                raise MerkleError(f"{what}: expected 0x + 40 hex digits or 20 bytes, got {value!r}")
            return to_checksum_address(raw), raw
        if base == "bool":
            if not isinstance(value, bool):
                raise MerkleError(f"{what}: expected a bool, got {type(value).__name__}")
            return value, value
        raise MerkleError(f"unsupported ABI type {what!r}")  # pragma: no cover - refused in _compile

    def fast(self) -> Callable[[object], tuple[Any, bytes]]:
        """value -> (JSON form, encoded word or tail) with a shortcut for the common input of
        each type (a uint given as an int, a bytesN given as exactly N bytes, a str): about
        three times faster than parse + encode on a certificate tuple. Anything else takes
        the general path, so behaviour is the same."""

        def general(value: object) -> tuple[Any, bytes]:
            json_value, parsed = self.parse(value)
            return json_value, self.encode(parsed)

        base, size = self.base, self.size
        if base == "uint":
            high = 1 << size

            def uint(value: object) -> tuple[Any, bytes]:
                if type(value) is int and 0 <= value < high:
                    return str(value), value.to_bytes(32, "big")
                return general(value)

            return uint
        if base == "bytes" and size:
            padding = bytes(32 - size)

            def fixed_bytes(value: object) -> tuple[Any, bytes]:
                if type(value) is bytes and len(value) == size:
                    return "0x" + value.hex(), value + padding
                return general(value)

            return fixed_bytes
        if base == "string":

            def string(value: object) -> tuple[Any, bytes]:
                if type(value) is str:
                    data = value.encode("utf-8")
                    return value, len(data).to_bytes(32, "big") + data + bytes(-len(data) % 32)
                return general(value)

            return string
        return general

    def encode(self, parsed: Any) -> bytes:
        """Static types: the 32-byte head word. Dynamic types: the tail (length + padded data)."""
        base = self.base
        if base == "uint":
            return int(parsed).to_bytes(32, "big")
        if base == "int":
            return (int(parsed) % (1 << 256)).to_bytes(32, "big")
        if base == "bytes" and self.size:
            return _pad_right(parsed)
        if base == "address":
            return bytes(12) + bytes(parsed)
        if base == "bool":
            return (1 if parsed else 0).to_bytes(32, "big")
        data = bytes(parsed.encode("utf-8") if base == "string" else parsed)
        return len(data).to_bytes(32, "big") + _pad_right(data)


def _type_str(parsed: ABIType) -> str:
    return str(parsed.to_type_str())  # type: ignore[no-untyped-call]


def _compile_type(type_str: str) -> ABIType:
    try:
        parsed: ABIType = _parse_type(_normalize_type(type_str))  # type: ignore[no-untyped-call]
        parsed.validate()  # type: ignore[no-untyped-call]
    except (_ABIParseError, ABITypeError) as exc:
        raise MerkleError(f"invalid ABI type {type_str!r}: {exc}") from exc
    _refuse_unsupported(parsed, type_str)
    return parsed


def _refuse_unsupported(parsed: ABIType, type_str: str) -> None:
    if isinstance(parsed, TupleType):
        for component in parsed.components:
            _refuse_unsupported(component, type_str)
    elif isinstance(parsed, BasicType) and parsed.base in ("fixed", "ufixed", "function"):
        # The npm library's encoder (@metamask/abi-utils) has no fixed-point support either.
        raise MerkleError(f"unsupported ABI type {type_str!r}")


def _elementary(parsed: BasicType) -> _Elementary:
    sub = parsed.sub if isinstance(parsed.sub, int) else 0
    return _Elementary(_type_str(parsed), parsed.base, sub)


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _parse_nested(parsed: ABIType, value: object) -> tuple[Any, Any]:
    """Arrays and tuples (the slow, general path): JSON form and eth_abi-encodable value."""
    what = _type_str(parsed)
    if parsed.is_array:
        if not _is_list(value):
            raise MerkleError(f"{what}: expected a list, got {type(value).__name__}")
        assert isinstance(value, list | tuple)
        dims = parsed.arrlist[-1] if parsed.arrlist else ()
        if dims and len(value) != dims[0]:
            raise MerkleError(f"{what}: expected {dims[0]} items, got {len(value)}")
        pairs = [_parse_nested(parsed.item_type, item) for item in value]
        return [j for j, _ in pairs], [p for _, p in pairs]
    if isinstance(parsed, TupleType):
        if not _is_list(value):
            raise MerkleError(f"{what}: expected a list, got {type(value).__name__}")
        assert isinstance(value, list | tuple)
        if len(value) != len(parsed.components):
            raise MerkleError(f"{what}: expected {len(parsed.components)} items, got {len(value)}")
        pairs = [_parse_nested(c, item) for c, item in zip(parsed.components, value, strict=True)]
        return [j for j, _ in pairs], tuple(p for _, p in pairs)
    assert isinstance(parsed, BasicType)
    return _elementary(parsed).parse(value)


class _LeafCodec:
    """Turns one leaf (a list of values) into (JSON form, ``abi.encode`` bytes) for one leaf
    encoding. A flat list of elementary types (both ledger encodings) is encoded here, ~6x
    faster than eth_abi; arrays and tuples go through eth_abi."""

    def __init__(self, leaf_encoding: tuple[str, ...]) -> None:
        self.types = leaf_encoding
        self._parsed = [_compile_type(t) for t in self.types]
        self._canonical = [_type_str(p) for p in self._parsed]
        flat = all(isinstance(p, BasicType) and not p.is_array for p in self._parsed)
        elements = [_elementary(p) for p in self._parsed if isinstance(p, BasicType)]
        self._flat: list[tuple[bool, Callable[[object], tuple[Any, bytes]]]] | None = (
            [(e.dynamic, e.fast()) for e in elements] if flat else None
        )
        self.is_bytes32 = self._canonical == ["bytes32"]

    def encode(self, leaf: object) -> tuple[list[Any], bytes]:
        if not _is_list(leaf):
            raise MerkleError(
                f"a leaf is a list with one value per type {list(self.types)}, got {type(leaf).__name__}"
            )
        assert isinstance(leaf, list | tuple)
        if len(leaf) != len(self.types):
            raise MerkleError(
                f"a leaf needs {len(self.types)} values for {list(self.types)}, not {len(leaf)}"
            )
        if self._flat is None:
            pairs = [_parse_nested(p, v) for p, v in zip(self._parsed, leaf, strict=True)]
            try:
                encoded = _abi_encode(self._canonical, [p for _, p in pairs])
            except EncodingError as exc:  # pragma: no cover - values were checked above
                raise MerkleError(f"cannot ABI-encode leaf: {exc}") from exc
            return [j for j, _ in pairs], encoded
        json_values: list[Any] = []
        heads: list[bytes] = []
        tails: list[bytes] = []
        offset = 32 * len(self._flat)
        for (dynamic, encode), value in zip(self._flat, leaf, strict=True):
            json_value, word = encode(value)
            json_values.append(json_value)
            if dynamic:
                heads.append(offset.to_bytes(32, "big"))
                tails.append(word)
                offset += len(word)
            else:
                heads.append(word)
        return json_values, b"".join(heads + tails)

    def hash(self, leaf: object) -> bytes:
        return _keccak(_keccak(self.encode(leaf)[1]).digest()).digest()


_CODECS: dict[tuple[str, ...], _LeafCodec] = {}


def _codec(leaf_encoding: object) -> _LeafCodec:
    if (
        isinstance(leaf_encoding, str)
        or not isinstance(leaf_encoding, Sequence)
        or not all(isinstance(t, str) for t in leaf_encoding)
    ):
        raise MerkleError(f"leaf encoding must be a list of ABI type strings, got {leaf_encoding!r}")
    key = tuple(leaf_encoding)
    codec = _CODECS.get(key)
    if codec is None:
        codec = _LeafCodec(key)
        if len(_CODECS) < 64:  # a handful of encodings in practice; never grow without bound
            _CODECS[key] = codec
    return codec


# --------------------------------------------------------------------------------------------
# Free functions: the npm library's standardLeafHash / processProof / StandardMerkleTree.verify.


def leaf_hash(leaf_encoding: Sequence[str], leaf: Sequence[Any]) -> str:
    """``keccak256(keccak256(abi.encode(leaf_encoding, leaf)))`` as 0x hex (npm:
    ``standardLeafHash``). What the contract recomputes from a certificate's fields."""
    return _hex(_codec(leaf_encoding).hash(leaf))


def encode_leaf(leaf_encoding: Sequence[str], leaf: Sequence[Any]) -> tuple[list[Any], bytes]:
    """(JSON form, leaf hash) of one leaf: the per-leaf work of :meth:`StandardMerkleTree.of`,
    picklable, so a large batch can do it on every core (see
    :meth:`StandardMerkleTree.of_encoded`)."""
    json_value, data = _codec(leaf_encoding).encode(leaf)
    return json_value, _keccak(_keccak(data).digest()).digest()


def _process(leaf: bytes, proof: Iterable[object]) -> bytes:
    node = leaf
    for i, sibling in enumerate(proof):
        node = _node_hash(node, _to_node(sibling, f"proof[{i}]"))
    return node


def process_proof(leaf: HexOrBytes, proof: Sequence[HexOrBytes]) -> str:
    """The root a proof leads to from a leaf *hash* (npm: ``processProof``; OZ ``MerkleProof``)."""
    if isinstance(proof, str | bytes):
        raise MerkleError("a proof is a list of 32-byte nodes, not a single string")
    return _hex(_process(_to_node(leaf, "leaf hash"), proof))


def verify_proof(
    root: HexOrBytes, leaf_encoding: Sequence[str], leaf: Sequence[Any], proof: Sequence[HexOrBytes]
) -> bool:
    """True when ``proof`` proves ``leaf`` under ``root`` (npm: static
    ``StandardMerkleTree.verify``). A proof that does not verify gives False; a malformed
    root, proof node or leaf value raises :class:`MerkleError`, since that is a broken input
    rather than a failed check."""
    if isinstance(proof, str | bytes):
        raise MerkleError("a proof is a list of 32-byte nodes, not a single string")
    expected = _to_node(root, "root")
    return _process(_codec(leaf_encoding).hash(leaf), proof) == expected


# --------------------------------------------------------------------------------------------
# The tree.


def _levels(internal: int) -> list[tuple[int, int]]:
    """Index ranges [lo, hi] of the inner nodes 0..internal-1, one per depth, root first.
    Depth d holds indices 2**d - 1 .. 2**(d+1) - 2, so a whole level can be hashed in one
    pass once the level below exists."""
    levels = []
    lo = 0
    while lo < internal:
        levels.append((lo, min(2 * lo, internal - 1)))
        lo = 2 * lo + 1
    return levels


def _bytes32_batch(leaves: list[Any]) -> list[bytes] | None:
    """The document hashes of a batch given as ``[[h], [h], ...]`` with each ``h`` 32 bytes,
    or None for any other input (which then takes the general path, with its checks and
    error messages). Whole-batch passes in C (~9 ms per 100,000 leaves) rather than a
    per-leaf check in a generator (~13 ms)."""
    if not {*map(type, leaves)} <= {list, tuple}:
        return None
    try:
        raw: list[Any] = [value for (value,) in leaves]  # also: exactly one value per leaf
    except ValueError:
        return None
    if {*map(type, raw)} != {bytes} or {*map(len, raw)} != {32}:
        return None
    return raw


def _build(leaf_hashes: list[bytes]) -> tuple[list[str], list[int]]:
    """The npm library's makeMerkleTree: returns (tree as 0x hex, tree index of each value
    index). O(n log n) for the sort, n - 1 node hashes.

    The sort, the inverse permutation and the leaf pairs run in numpy on one contiguous
    buffer: done per item in Python, with the sorted leaves read back in random memory
    order, they took ~90 ms per 100,000 leaves against ~25 ms here (the n - 1 hashes,
    ~75 ms, are the same in both). numpy is imported here, not at module load: it takes
    ~0.1 s, and most users of this module never build a tree.

    Layout shortcuts, all consequences of the rules in the module docstring:

    - the leaves sit at positions n - 1 .. 2n - 2 sorted *descending*, so with ``ascending``
      the stably sorted hashes, position ``2n - 2 - k`` holds ``ascending[k]``;
    - inner node i has two leaf children exactly when ``i >= (n - 1) // 2``. Those n // 2
      nodes, from n - 2 down, hash the pairs (ascending[0], ascending[1]),
      (ascending[2], ascending[3]), ...: already in order, adjacent in ``ascending``'s
      buffer, so each sorted pair is a 64-byte slice with no comparison to make;
    - for odd n, one node has a leaf and an inner child: leaf ``ascending[n - 1]``, at
      position n - 1, which the level loop below treats as one more entry of ``nodes``.
    """
    import numpy as np

    n = len(leaf_hashes)
    size = 2 * n - 1
    hashes = np.frombuffer(b"".join(leaf_hashes), dtype="S32")
    # Stable, as Array.prototype.sort: duplicate hashes keep their input order. (S32 compares
    # all 32 bytes like bytes objects do; numpy only ignores trailing NULs between strings of
    # different lengths, and these all have 32 bytes.)
    order = np.argsort(hashes, kind="stable")
    tree_index = np.empty(n, dtype=np.intp)
    tree_index[order] = np.arange(size - 1, n - 2, -1, dtype=np.intp)
    ascending = hashes[order]

    leaf_parents = (n - 1) // 2
    pairs = ascending[: 2 * (n // 2)].view("V64")[::-1].tolist()
    nodes: list[bytes] = [_ZERO32] * leaf_parents
    nodes += _keccak_many(pairs)
    nodes.append(ascending[n - 1 :].tobytes())  # position n - 1 (a bytes_ scalar would lose trailing NULs)
    for lo, hi in reversed(_levels(leaf_parents)):
        left = nodes[2 * lo + 1 : 2 * hi + 2 : 2]
        right = nodes[2 * lo + 2 : 2 * hi + 3 : 2]
        nodes[lo : hi + 1] = _keccak_many(
            [a + b if a < b else b + a for a, b in zip(left, right, strict=True)]
        )
    tree = ["0x" + node.hex() for node in nodes]  # positions 0 .. n - 1
    tree += ["0x" + leaf.hex() for leaf in reversed(ascending[: n - 1].view("V32").tolist())]
    return tree, tree_index.tolist()


class _GcPaused:
    """Pause the cyclic garbage collector while a batch allocates its ~2n node strings and
    lists: none can form a cycle, yet the collector would rescan them again and again
    (measured at 100,000 leaves: all_proofs 1.6 to 5 times slower with it running).

    A class, not a @contextmanager generator: leaving a generator allocates (the
    StopIteration it ends with), and the first allocation after ``gc.enable()`` runs a
    collection over every container made while paused. For all_proofs that is ~45 ms per 100,000 leaves
    spent scanning its own temporary lists just before they are freed. Here nothing is
    allocated between ``gc.enable()`` and the return, so the temporaries are gone first."""

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._was_enabled:
            gc.enable()


def _clone(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_clone(v) for v in value]
    return value


class _Verify:
    """``verify`` as the npm library has it: ``StandardMerkleTree.verify(root, leafEncoding,
    leaf, proof)`` on the class, ``tree.verify(leaf, proof)`` on a tree."""

    @overload
    def __get__(
        self, instance: None, owner: type[StandardMerkleTree]
    ) -> Callable[[HexOrBytes, Sequence[str], Sequence[Any], Sequence[HexOrBytes]], bool]: ...

    @overload
    def __get__(
        self, instance: StandardMerkleTree, owner: type[StandardMerkleTree]
    ) -> Callable[[int | Sequence[Any], Sequence[HexOrBytes]], bool]: ...

    def __get__(self, instance: StandardMerkleTree | None, owner: type[StandardMerkleTree]) -> Any:
        if instance is None:
            return verify_proof
        return instance._verify


class StandardMerkleTree:
    """A batch tree, interchangeable with the npm library's ``StandardMerkleTree``: same root,
    same proofs, same dump for the same leaf encoding and values.

    Build with :meth:`of` or :meth:`load`. Values are addressed by their index in the input
    (the "value index"), never by their place in the tree, as in the npm library."""

    verify = _Verify()

    def __init__(
        self,
        tree: list[str],
        values: list[Any] | None,
        tree_index: list[int],
        codec: _LeafCodec,
        raw_bytes32: list[bytes] | None = None,
    ) -> None:
        """Internal: use :meth:`of` or :meth:`load`, which check their inputs. ``values`` may be
        None when ``raw_bytes32`` holds the document hashes; their JSON form is then made on
        first use, which keeps ~10% off building a batch whose values are never dumped."""
        self._tree = tree
        self._values_json = values
        self._raw_bytes32 = raw_bytes32
        self._tree_index = tree_index
        self._codec = codec
        self._lookup: dict[str, int] | None = None

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def of(cls, values: Iterable[Sequence[Any]], leaf_encoding: Sequence[str]) -> StandardMerkleTree:
        """Build the tree of ``values`` (each a list with one value per type of
        ``leaf_encoding``). Raises :class:`MerkleError` on no values or a value that does not
        fit its type."""
        codec = _codec(leaf_encoding)
        leaves = values if isinstance(values, list) else list(values)
        if not leaves:
            raise MerkleError("a Merkle tree needs at least one value")
        with _GcPaused():
            raw = _bytes32_batch(leaves) if codec.is_bytes32 else None
            if raw is not None:
                # Fast path for batches of document hashes: abi.encode(bytes32) is the 32 bytes.
                tree, tree_index = _build(_keccak_many(_keccak_many(raw)))
                return cls(tree, None, tree_index, codec, raw)
            json_values = []
            encoded = []
            for leaf in leaves:
                json_value, data = codec.encode(leaf)
                json_values.append(json_value)
                encoded.append(data)
            tree, tree_index = _build(_keccak_many(_keccak_many(encoded)))
            return cls(tree, json_values, tree_index, codec)

    @classmethod
    def of_encoded(
        cls, leaves: Sequence[tuple[list[Any], bytes]], leaf_encoding: Sequence[str]
    ) -> StandardMerkleTree:
        """The tree of leaves already put through :func:`encode_leaf` with the same
        ``leaf_encoding`` (e.g. by worker processes): equal to :meth:`of` of the values."""
        codec = _codec(leaf_encoding)
        if not leaves:
            raise MerkleError("a Merkle tree needs at least one value")
        with _GcPaused():
            tree, tree_index = _build([leaf for _, leaf in leaves])
            return cls(tree, [value for value, _ in leaves], tree_index, codec)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Read a ``"standard-v1"`` dump (ours or the npm library's) and check it entirely:
        every inner node is the hash of its children and every value hashes to its leaf, so a
        loaded tree never hands out a proof for something it does not contain."""
        if not isinstance(data, Mapping):
            raise MerkleError("a tree dump is a JSON object")
        if data.get("format") != DUMP_FORMAT:
            raise MerkleError(f"unknown tree dump format {data.get('format')!r}")
        if "leafEncoding" not in data:
            raise MerkleError("tree dump has no leafEncoding")
        codec = _codec(data["leafEncoding"])
        raw_tree, raw_values = data.get("tree"), data.get("values")
        if not isinstance(raw_tree, list) or not isinstance(raw_values, list) or not raw_values:
            raise MerkleError("tree dump needs a non-empty 'tree' list and 'values' list")
        n = len(raw_values)
        if len(raw_tree) != 2 * n - 1:
            raise MerkleError(f"tree dump has {len(raw_tree)} nodes for {n} values, expected {2 * n - 1}")
        nodes = [_to_node(node, f"tree[{i}]") for i, node in enumerate(raw_tree)]
        for i in range(n - 1):
            if nodes[i] != _node_hash(nodes[2 * i + 1], nodes[2 * i + 2]):
                raise MerkleError(f"tree dump is invalid: node {i} is not the hash of its children")
        values: list[Any] = []
        tree_index: list[int] = []
        for i, entry in enumerate(raw_values):
            if not isinstance(entry, Mapping) or "value" not in entry:
                raise MerkleError(f"values[{i}] must be an object with 'value' and 'treeIndex'")
            index = entry.get("treeIndex")
            if isinstance(index, bool) or not isinstance(index, int) or not n - 1 <= index < 2 * n - 1:
                raise MerkleError(f"values[{i}].treeIndex must be a leaf index, got {index!r}")
            if codec.hash(entry["value"]) != nodes[index]:
                raise MerkleError(f"values[{i}] does not hash to tree[{index}]")
            values.append(entry["value"])
            tree_index.append(index)
        if len(set(tree_index)) != n:
            raise MerkleError("tree dump gives two values the same treeIndex")
        return cls(["0x" + node.hex() for node in nodes], values, tree_index, codec)

    def dump(self) -> dict[str, Any]:
        """The npm library's ``"standard-v1"`` JSON object (a fresh copy)."""
        return {
            "format": DUMP_FORMAT,
            "leafEncoding": list(self._codec.types),
            "tree": list(self._tree),
            "values": [
                {"value": _clone(value), "treeIndex": index}
                for value, index in zip(self._values, self._tree_index, strict=True)
            ],
        }

    # -- reading -----------------------------------------------------------------------------

    @property
    def root(self) -> str:
        """The root as 0x hex: what the ledger anchors."""
        return self._tree[0]

    @property
    def leaf_encoding(self) -> tuple[str, ...]:
        return self._codec.types

    def __len__(self) -> int:
        return len(self._tree_index)

    @property
    def _values(self) -> list[Any]:
        if self._values_json is None:
            assert self._raw_bytes32 is not None
            self._values_json = [["0x" + raw.hex()] for raw in self._raw_bytes32]
            self._raw_bytes32 = None
        return self._values_json

    def at(self, index: int) -> Any:
        """The value at ``index`` (input order), in JSON form."""
        return _clone(self._values[self._check_index(index)])

    def leaf_hash(self, leaf: int | Sequence[Any]) -> str:
        """The leaf hash of a value index or a value."""
        if isinstance(leaf, int):
            return self._tree[self._tree_index[self._check_index(leaf)]]
        return _hex(self._codec.hash(leaf))

    def index_of(self, leaf: Sequence[Any]) -> int:
        """The value index of ``leaf``; the *last* one if it was given twice, as the npm
        library's lookup table (``Object.fromEntries``) has it, so that ``proof(value)`` of a
        duplicate is the same proof in both."""
        if self._lookup is None:
            # Built on first use only: all_proofs and the bytes32 fast path never need it.
            tree = self._tree
            self._lookup = {tree[index]: value_index for value_index, index in enumerate(self._tree_index)}
        found = self._lookup.get(_hex(self._codec.hash(leaf)))
        if found is None:
            raise MerkleError("leaf is not in tree")
        return found

    def proof(self, leaf: int | Sequence[Any]) -> list[str]:
        """The proof of a value index or a value (npm: ``getProof``): sibling hashes from the
        leaf up, 0x hex, as ``bytes32[]`` for OZ ``MerkleProof.verify``."""
        value_index = self._resolve(leaf)
        index = self._tree_index[value_index]
        tree = self._tree
        proof = []
        while index > 0:
            proof.append(tree[index + 1 if index % 2 else index - 1])
            index = (index - 1) // 2
        return proof

    def all_proofs(self) -> list[list[str]]:
        """Every value's proof, in value order, in O(n log n) total: each node's proof is its
        sibling followed by its parent's proof, so one pass from the root down builds them
        all, with no search and no per-proof walk. Equal to ``[self.proof(i) for i in
        range(len(self))]``, many times faster.

        The pass goes one depth at a time (nodes ``2**d - 1 .. 2**(d+1) - 2``), with the
        siblings and the parents' proofs of a whole depth lined up by slice assignments, so
        the only per-node Python step is building the node's own list. Each proof is a
        fresh list, so callers may change one without touching another."""
        tree = self._tree
        size = len(tree)
        with _GcPaused():
            proofs: list[list[str]] = [[]]  # by node index; the root's proof is empty
            lo = 1
            while lo < size:  # nodes lo..hi: a depth's first index is odd, its last even
                hi = min(2 * lo, size - 1)
                count = hi - lo + 1
                siblings = [""] * count  # node lo + 2j's sibling is lo + 2j + 1, and back
                siblings[0::2] = tree[lo + 1 : hi + 1 : 2]
                siblings[1::2] = tree[lo:hi:2]
                parents = proofs[(lo - 1) // 2 : (hi + 1) // 2]
                above: list[list[str]] = [[]] * count  # each parent's proof, once per child
                above[0::2] = parents
                above[1::2] = parents
                # list + list: ~40% faster here than [x, *above], which ruff would prefer.
                proofs += [[sibling] + up for sibling, up in zip(siblings, above, strict=True)]  # noqa: RUF005
                lo = 2 * lo + 1
            return list(map(proofs.__getitem__, self._tree_index))

    # -- checking ----------------------------------------------------------------------------

    def _verify(self, leaf: int | Sequence[Any], proof: Sequence[HexOrBytes]) -> bool:
        if isinstance(proof, str | bytes):
            raise MerkleError("a proof is a list of 32-byte nodes, not a single string")
        start = bytes.fromhex(self.leaf_hash(leaf)[2:]) if isinstance(leaf, int) else self._codec.hash(leaf)
        return _hex(_process(start, proof)) == self.root

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise MerkleError(f"value index {index!r} out of bounds (0..{len(self) - 1})")
        return index

    def _resolve(self, leaf: int | Sequence[Any]) -> int:
        return self._check_index(leaf) if isinstance(leaf, int) else self.index_of(leaf)


# --------------------------------------------------------------------------------------------
# Batch proof documents.

_ADDRESS_RE: Final = re.compile(r"0[xX][0-9a-fA-F]{40}\Z")
_TX_RE: Final = re.compile(r"0[xX][0-9a-fA-F]{64}\Z")


def _anchor_fields(chain_id: int | None, ledger: str | None, anchor_tx: str | None) -> dict[str, Any]:
    if chain_id is not None and (type(chain_id) is not int or chain_id <= 0):
        raise MerkleError(f"chainId must be a positive int, got {chain_id!r}")
    if ledger is not None and not (isinstance(ledger, str) and _ADDRESS_RE.match(ledger)):
        raise MerkleError(f"ledger must be a 0x address, got {ledger!r}")
    if anchor_tx is not None and not (isinstance(anchor_tx, str) and _TX_RE.match(anchor_tx)):
        raise MerkleError(f"anchorTx must be a 0x transaction hash, got {anchor_tx!r}")
    return {
        "chainId": chain_id,
        "ledger": to_checksum_address(ledger) if ledger is not None else None,
        "anchorTx": anchor_tx.lower() if anchor_tx is not None else None,
    }


def _document(
    tree: StandardMerkleTree, value_index: int, proof: list[str], anchor: dict[str, Any]
) -> dict[str, Any]:
    return {
        "format": PROOF_DOCUMENT_FORMAT,
        "leafEncoding": list(tree.leaf_encoding),
        "leaf": tree.at(value_index),
        "leafHash": tree.leaf_hash(value_index),
        "root": tree.root,
        "proof": proof,
        **anchor,
    }


def batch_proof_document(
    tree: StandardMerkleTree,
    leaf: int | Sequence[Any],
    *,
    chain_id: int | None = None,
    ledger: str | None = None,
    anchor_tx: str | None = None,
) -> dict[str, Any]:
    """The ``kpledger-batch-proof-v1`` document (see the module docstring) for one value of
    ``tree``, given by value index or value. JSON-serialisable as is. ``chain_id``,
    ``ledger`` and ``anchor_tx`` say where the root was anchored; leave them None until it
    is, and fill them in then."""
    anchor = _anchor_fields(chain_id, ledger, anchor_tx)
    value_index = tree._resolve(leaf)
    return _document(tree, value_index, tree.proof(value_index), anchor)


def batch_proof_documents(
    tree: StandardMerkleTree,
    *,
    chain_id: int | None = None,
    ledger: str | None = None,
    anchor_tx: str | None = None,
) -> list[dict[str, Any]]:
    """One proof document per value of ``tree``, in value order, through
    :meth:`StandardMerkleTree.all_proofs` (O(n log n) for the whole batch)."""
    anchor = _anchor_fields(chain_id, ledger, anchor_tx)
    return [_document(tree, i, proof, dict(anchor)) for i, proof in enumerate(tree.all_proofs())]


def verify_proof_document(doc: Mapping[str, Any]) -> bool:
    """Offline check of a batch proof document: the leaf hashes to ``leafHash`` and the
    proof leads from it to ``root``. False when the check fails (a tampered leaf, proof or
    root); :class:`MerkleError` when the document is not a ``kpledger-batch-proof-v1``
    document at all or a field is malformed. Says nothing about the chain: whether ``root``
    was anchored by ``ledger`` on ``chainId`` is the chain client's check."""
    if not isinstance(doc, Mapping):
        raise MerkleError("a proof document is a JSON object")
    if doc.get("format") != PROOF_DOCUMENT_FORMAT:
        raise MerkleError(f"unknown proof document format {doc.get('format')!r}")
    missing = [key for key in ("leafEncoding", "leaf", "root", "proof") if key not in doc]
    if missing:
        raise MerkleError(f"proof document lacks {', '.join(missing)}")
    proof = doc["proof"]
    if not isinstance(proof, list):
        raise MerkleError("proof document's 'proof' must be a list")
    _anchor_fields(doc.get("chainId"), doc.get("ledger"), doc.get("anchorTx"))
    computed = _codec(doc["leafEncoding"]).hash(doc["leaf"])
    if "leafHash" in doc and _to_node(doc["leafHash"], "leafHash") != computed:
        return False
    return _process(computed, proof) == _to_node(doc["root"], "root")
