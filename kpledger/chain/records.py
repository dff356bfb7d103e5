"""Fast decoding of the ledger's fixed-layout certificate view.

Why by hand: ``certificate(bytes32)`` returns one tuple of 20 fields, one of them a
string, and eth_abi's generic decoder spends ~0.1 ms building and walking a decoder
tree for it on every read, the largest share of a verification's CPU after the round
trips. The layout is fixed by the contract's ABI, so slicing 32-byte words is enough.
:func:`decode_certificate_view` is held equal to eth_abi by a property test
(``tests/chain/test_records.py``) and refuses anything eth_abi would refuse for this
layout (short data, bad offsets, dirty padding), so a malformed answer never turns into
a plausible record.

:func:`checksum` caches EIP-55 addresses: the same few authority and exporter accounts
appear in every read, and ``to_checksum_address`` hashes with keccak each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Final

from eth_utils.address import to_checksum_address

from kpledger.chain.abi import dynamic_at
from kpledger.errors import ChainError
from kpledger.types import CertificateRecord, CertificateStatus, day_date

WORD: Final = 32
FIELDS: Final = 20
"""Head words of ``ICertificateLedger.Certificate`` (the string is one offset word)."""

MAX_DAY: Final = 2**16 - 1
_ZERO_WORD: Final = b"\0" * WORD
_STATUS_COUNT: Final = len(CertificateStatus)


class ViewDecodeError(ChainError):
    """The node answered a certificate read with bytes that are not the view's layout."""


@lru_cache(maxsize=4096)
def checksum(address: str) -> str:
    """EIP-55 form of ``address`` (cached: accounts repeat across reads)."""
    return str(to_checksum_address(address))


def decode_certificate_view(data: bytes) -> CertificateRecord | None:
    """``certificate(...)`` / ``certificateByNumber(...)`` return data as a record; None
    when the ledger does not hold the certificate (stored status ``None``)."""
    if len(data) < WORD * (1 + FIELDS) + WORD:
        raise ViewDecodeError(f"certificate view too short: {len(data)} bytes")
    # Offsets are held to eth_abi's rules: past the head they belong to, inside the data.
    base = _uint(data, 0)
    if not WORD <= base < len(data):
        raise ViewDecodeError(f"certificate view: tuple offset {base} out of range")
    end_of_head = base + WORD * FIELDS
    if end_of_head > len(data):
        raise ViewDecodeError("certificate view: the record runs past the data")
    head = data[base:end_of_head]
    words = [head[i : i + WORD] for i in range(0, WORD * FIELDS, WORD)]
    # What eth_abi checks is checked for every answer, an unknown certificate's too; what
    # the record adds (status names, ASCII codes) only for a certificate the ledger holds.
    number = _string(data, base, end_of_head, words[1])
    origin, destination = _code(words[2], "origin"), _code(words[3], "destination")
    status, stored = _uint8(words[4], "status"), _uint8(words[5], "storedStatus")
    exporter = _address(words[10])
    if stored == CertificateStatus.NONE:
        return None
    return CertificateRecord(
        document_hash=bytes(words[0]),
        number=number,
        origin=_ascii(origin, "origin"),
        destination=_ascii(destination, "destination"),
        status=_status(status, "status"),
        stored_status=_status(stored, "storedStatus"),
        carats=int.from_bytes(words[6], "big"),
        value_cents=int.from_bytes(words[7], "big"),
        parcels=int.from_bytes(words[8], "big"),
        expires_at=int.from_bytes(words[9], "big"),
        exporter=exporter,
        requested_block=int.from_bytes(words[11], "big") or None,
        issued_block=int.from_bytes(words[12], "big") or None,
        responded_block=int.from_bytes(words[13], "big") or None,
        closed_block=int.from_bytes(words[14], "big") or None,
        supersedes=_hash(words[15]),
        superseded_by=_hash(words[16]),
        batch_root=_hash(words[17]),
        issued_on=_day(words[18]),
        imported_on=_day(words[19]),
    )


def encode_bytes_array(items: Sequence[bytes]) -> bytes:
    """``abi.encode(bytes[])`` by hand, for the ``multicall`` of many reads (eth_abi takes
    ~7 ms for 200 elements, more than the node takes to run them)."""
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = WORD * len(items)
    for item in items:
        heads.append(offset.to_bytes(WORD, "big"))
        tail = len(item).to_bytes(WORD, "big") + item + bytes(-len(item) % WORD)
        tails.append(tail)
        offset += len(tail)
    return WORD.to_bytes(WORD, "big") + len(items).to_bytes(WORD, "big") + b"".join(heads + tails)


def decode_bytes_array(data: bytes, expected: int) -> list[bytes]:
    """The ``bytes[]`` a ``multicall`` returns, sliced out by hand (eth_abi takes ~20 µs
    an element). Checked like :func:`decode_certificate_view`: ``expected`` elements,
    offsets and lengths within the data, zero padding; anything else raises."""
    top = _uint(data, 0)
    if len(data) < 2 * WORD or not WORD <= top <= len(data) - WORD:
        raise ViewDecodeError("multicall answer: not a bytes[] (bad offset)")
    count = _uint(data, top)
    if count != expected:
        raise ViewDecodeError(f"multicall answer: {count} results for {expected} calls")
    base = top + WORD  # element offsets count from the first offset word
    end_of_offsets = base + count * WORD
    if end_of_offsets > len(data):
        raise ViewDecodeError("multicall answer: offsets run past the data")
    out = []
    for i in range(count):
        raw = dynamic_at(data, base + _uint(data, base + i * WORD), end_of_offsets)
        if raw is None:
            raise ViewDecodeError(f"multicall answer: result {i}'s offset, length or padding is out of rule")
        out.append(raw)
    return out


# ---------------------------------------------------------------------- words


def _uint(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + WORD], "big")


def _uint8(word: bytes, name: str) -> int:
    if word[:-1] != _ZERO_WORD[:-1]:
        raise ViewDecodeError(f"certificate view: {name} does not fit a uint8")
    return word[-1]


def _status(value: int, name: str) -> CertificateStatus:
    if value >= _STATUS_COUNT:
        raise ViewDecodeError(f"certificate view: {name} {value} is not a status")
    return CertificateStatus(value)


def _code(word: bytes, name: str) -> bytes:
    """A ``bytes2`` participant code: left-aligned, zero padding after it."""
    if word[2:] != _ZERO_WORD[2:]:
        raise ViewDecodeError(f"certificate view: {name} has non-zero padding")
    return word[:2]


def _ascii(code: bytes, name: str) -> str:
    try:
        return code.decode("ascii")
    except UnicodeDecodeError:
        raise ViewDecodeError(f"certificate view: {name} is not ASCII") from None


def _address(word: bytes) -> str | None:
    if word[:12] != _ZERO_WORD[:12]:
        raise ViewDecodeError("certificate view: exporter has non-zero padding")
    if word == _ZERO_WORD:
        return None
    return checksum("0x" + word[12:].hex())


def _day(word: bytes) -> date | None:
    """A day number (the contract keeps 16 bits of it); 0 means none."""
    return optional_day(int.from_bytes(word, "big"))


def optional_day(number: int) -> date | None:
    """The date of a day number from a certificate view, None for 0; a number the
    contract cannot hold (over 16 bits) is refused rather than turned into a date."""
    if number > MAX_DAY:
        raise ViewDecodeError(f"certificate view: day {number} does not fit the contract's 16 bits")
    return day_date(number) if number else None


def _hash(word: bytes) -> bytes | None:
    return None if word == _ZERO_WORD else bytes(word)


def _string(data: bytes, base: int, end_of_head: int, offset_word: bytes) -> str:
    raw = dynamic_at(data, base + int.from_bytes(offset_word, "big"), end_of_head)
    if raw is None:
        raise ViewDecodeError("certificate view: the number's offset, length or padding is out of rule")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ViewDecodeError("certificate view: number is not UTF-8") from None
