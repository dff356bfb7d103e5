"""Compare EVM bytecode across builds and against code deployed on a chain.

Why: two builds of the same sources (ours through py-solc-x, Hardhat's) differ only in
the CBOR metadata solc appends to the code, because the metadata hashes source *names*;
and deployed runtime code differs from compiled runtime code where the constructor
filled in ``immutable`` values (compiled code holds zeros there). The helpers below
take those two differences out so what is left can be compared byte for byte.

solc ends runtime code with ``CBOR map || uint16 big-endian length of the map``; the
map holds ``ipfs`` (or ``bzzr0``/``bzzr1``) with the hash of the metadata JSON and
``solc`` with the compiler version. Creation code embeds the runtime code (and the code
of every contract it creates with ``new``) and may carry data after it, so its last two
bytes are *not* always a metadata length: :func:`metadata_spans` finds every embedded
block instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from kpledger.errors import KPLedgerError

MetadataValue = bytes | str | bool | int

# Keys solc writes into the CBOR map; a block must use only these to count as metadata.
METADATA_KEYS = frozenset({"ipfs", "bzzr0", "bzzr1", "solc", "experimental"})
_IPFS_CHUNK = 256 * 1024


class BytecodeError(KPLedgerError, ValueError):
    """Bytecode is malformed, or lacks the metadata or immutable slots expected in it."""


def to_bytes(code: str | bytes) -> bytes:
    """Bytes of ``code`` given as bytes or as hex text, with or without ``0x``."""
    if isinstance(code, bytes | bytearray | memoryview):
        return bytes(code)
    text = code[2:] if code[:2] in ("0x", "0X") else code
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        hint = " (unlinked library placeholder?)" if "__" in text else ""
        raise BytecodeError(f"bytecode is not hex{hint}: {exc}") from exc


# ----------------------------------------------------------------------------- CBOR


def _read_head(data: bytes, pos: int) -> tuple[int, int, int]:
    """Major type, argument and the position after the head of the CBOR item at ``pos``."""
    if pos >= len(data):
        raise BytecodeError("CBOR item runs past the end")
    major, info = data[pos] >> 5, data[pos] & 0x1F
    pos += 1
    if info < 24:
        return major, info, pos
    if info > 27:
        raise BytecodeError("indefinite or reserved CBOR length")
    size = 1 << (info - 24)
    if pos + size > len(data):
        raise BytecodeError("CBOR item runs past the end")
    return major, int.from_bytes(data[pos : pos + size], "big"), pos + size


def _read_item(data: bytes, pos: int) -> tuple[MetadataValue, int]:
    major, arg, pos = _read_head(data, pos)
    if major == 0:
        return arg, pos
    if major in (2, 3):
        end = pos + arg
        if end > len(data):
            raise BytecodeError("CBOR string runs past the end")
        raw = data[pos:end]
        if major == 2:
            return raw, end
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError as exc:
            raise BytecodeError("CBOR text is not UTF-8") from exc
    if major == 7 and arg in (20, 21):
        return arg == 21, pos
    raise BytecodeError(f"unexpected CBOR item (major type {major}) in solc metadata")


def _read_metadata_map(data: bytes, pos: int) -> tuple[dict[str, MetadataValue], int]:
    """Decode the solc metadata map starting at ``pos``; return it and its end."""
    major, count, pos = _read_head(data, pos)
    if major != 5 or not 0 < count <= len(METADATA_KEYS):
        raise BytecodeError("not a solc metadata map")
    result: dict[str, MetadataValue] = {}
    for _ in range(count):
        key, pos = _read_item(data, pos)
        if not isinstance(key, str) or key not in METADATA_KEYS or key in result:
            raise BytecodeError(f"unexpected key {key!r} in solc metadata")
        result[key], pos = _read_item(data, pos)
    return result, pos


def metadata_spans(code: str | bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of every solc metadata block in ``code``, length suffix included.

    A block is a CBOR map with only solc's keys, immediately followed by its own length
    as two big-endian bytes. Runtime code has one, at the very end; creation code also
    holds the runtime's (and those of contracts it deploys with ``new``)."""
    data = to_bytes(code)
    spans: list[tuple[int, int]] = []
    pos = 0
    while pos < len(data) - 2:
        if 0xA1 <= data[pos] <= 0xA5:
            try:
                _, end = _read_metadata_map(data, pos)
            except BytecodeError:
                end = -1
            if end > 0 and end + 2 <= len(data) and int.from_bytes(data[end : end + 2], "big") == end - pos:
                spans.append((pos, end + 2))
                pos = end + 2
                continue
        pos += 1
    return spans


def split_metadata(code: str | bytes) -> tuple[bytes, bytes]:
    """Split runtime code into ``(body, metadata block)``; the block ends with its length.

    Raises :class:`BytecodeError` when the code does not end with solc metadata (code
    compiled with ``appendCBOR: false``, or creation code with data after the runtime)."""
    data = to_bytes(code)
    if len(data) < 2:
        raise BytecodeError("code too short to hold solc metadata")
    size = int.from_bytes(data[-2:], "big")
    start = len(data) - 2 - size
    if size == 0 or start < 0:
        raise BytecodeError("code does not end with solc metadata")
    _, end = _read_metadata_map(data, start)
    if end != len(data) - 2:
        raise BytecodeError("code does not end with solc metadata")
    return data[:start], data[start:]


def decode_metadata(code: str | bytes) -> dict[str, MetadataValue]:
    """The CBOR map at the end of runtime code, e.g. ``{"ipfs": b"\\x12 ...", "solc": b"\\0\\x08%"}``."""
    _, block = split_metadata(code)
    return _read_metadata_map(block, 0)[0]


def solc_version(metadata: Mapping[str, MetadataValue]) -> str:
    """The compiler version a decoded metadata map names (``"0.8.37"``)."""
    value = metadata.get("solc")
    if isinstance(value, bytes) and len(value) == 3:
        return ".".join(str(part) for part in value)
    if isinstance(value, str):  # pre-release builds write the full version string
        return value
    raise BytecodeError("solc metadata names no compiler version")


def strip_metadata(code: str | bytes) -> bytes:
    """``code`` without any solc metadata block (all of them, see :func:`metadata_spans`).

    For runtime code this drops the trailer. For creation code the embedded blocks are
    cut out, which shifts later offsets; use the result to compare two builds, never to
    deploy. Code without metadata comes back unchanged."""
    data = to_bytes(code)
    kept: list[bytes] = []
    pos = 0
    for start, end in metadata_spans(data):
        kept.append(data[pos:start])
        pos = end
    kept.append(data[pos:])
    return b"".join(kept)


def metadata_ipfs_hash(metadata_json: str | bytes) -> bytes:
    """The multihash (``0x1220`` + SHA-256) solc stores under ``ipfs`` for this metadata.

    It is the hash of the IPFS UnixFS file node holding the JSON, so the committed
    metadata of a contract can be checked against the code it claims to describe."""
    data = metadata_json.encode("utf-8") if isinstance(metadata_json, str) else metadata_json
    if len(data) > _IPFS_CHUNK:
        raise BytecodeError("metadata over 256 KiB spans several IPFS chunks; not supported")
    size = _varint(len(data))
    unixfs = b"\x08\x02" + (b"\x12" + size + data if data else b"") + b"\x18" + size
    node = b"\x0a" + _varint(len(unixfs)) + unixfs
    return b"\x12\x20" + hashlib.sha256(node).digest()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


# ----------------------------------------------------------------------- immutables


def _immutable_ranges(refs: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[tuple[int, int]]:
    return [(int(ref["start"]), int(ref["length"])) for slots in refs.values() for ref in slots]


def mask_immutables(
    runtime: str | bytes, immutable_references: Mapping[str, Iterable[Mapping[str, Any]]]
) -> bytes:
    """``runtime`` with every ``immutable`` slot zeroed, as in the compiled code.

    ``immutable_references`` is solc's ``evm.deployedBytecode.immutableReferences``
    (``{astId: [{"start": n, "length": 32}, ...]}``) for the same compilation."""
    data = bytearray(to_bytes(runtime))
    for start, length in _immutable_ranges(immutable_references):
        if start < 0 or length <= 0 or start + length > len(data):
            raise BytecodeError(f"immutable slot {start}+{length} lies outside {len(data)} bytes of code")
        data[start : start + length] = bytes(length)
    return bytes(data)


def runtime_matches(
    deployed: str | bytes,
    compiled: str | bytes,
    immutable_references: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    ignore_metadata: bool = False,
) -> bool:
    """Whether code read from a chain (``eth_getCode``) is the compiled runtime code.

    Immutable slots are masked on both sides. With ``ignore_metadata`` the metadata
    trailers are dropped too, to accept a build of the same sources under other source
    names (Hardhat's ``project/...``); the default demands identical metadata."""
    deployed_bytes, compiled_bytes = to_bytes(deployed), to_bytes(compiled)
    if len(deployed_bytes) != len(compiled_bytes):
        return False
    deployed_masked = mask_immutables(deployed_bytes, immutable_references)
    compiled_masked = mask_immutables(compiled_bytes, immutable_references)
    if ignore_metadata:
        return strip_metadata(deployed_masked) == strip_metadata(compiled_masked)
    return deployed_masked == compiled_masked
