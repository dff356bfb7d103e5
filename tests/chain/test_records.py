"""The hand-written certificate view decoder equals eth_abi's, on generated views, on
corrupted ones, and on what the contract really returns."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kpledger.chain import artifacts
from kpledger.chain.records import (
    ViewDecodeError,
    checksum,
    decode_bytes_array,
    decode_certificate_view,
    encode_bytes_array,
)
from kpledger.ledger import record_from_view
from kpledger.types import CertificateStatus
from tests.conftest import World

VIEW_TYPES = list(artifacts.interface("CertificateLedger").fn("certificate").output_types)
UINT = st.integers(min_value=0, max_value=2**256 - 1)
SMALL = st.integers(min_value=0, max_value=2**40)
DAYS = st.integers(min_value=0, max_value=2**16 - 1)
WORD = st.binary(min_size=32, max_size=32)
ZERO_OR_WORD = st.one_of(st.just(b"\0" * 32), WORD)
CODE = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2).map(str.encode)
ADDRESS = st.one_of(
    st.just("0x" + "00" * 20), st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
)

views = st.tuples(
    WORD,
    st.text(max_size=40),
    CODE,
    CODE,
    st.integers(min_value=0, max_value=len(CertificateStatus) - 1),
    st.integers(min_value=0, max_value=len(CertificateStatus) - 1),
    UINT,
    UINT,
    SMALL,
    SMALL,
    ADDRESS,
    SMALL,
    SMALL,
    SMALL,
    SMALL,
    ZERO_OR_WORD,
    ZERO_OR_WORD,
    ZERO_OR_WORD,
    DAYS,
    DAYS,
)

ISSUED = (
    b"\x11" * 32,
    "BW 2026/000001",
    b"BW",
    b"AE",
    2,
    2,
    125_050,
    98_765_400,
    3,
    1_800_000_000,
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    0,
    12,
    0,
    0,
    b"\0" * 32,
    b"\0" * 32,
    b"\0" * 32,
    20_600,
    0,
)
UNKNOWN = (
    (b"\0" * 32, "", b"\0\0", b"\0\0", 0, 0, 0, 0, 0, 0, "0x" + "00" * 20, 0, 0, 0, 0)
    + (b"\0" * 32,) * 3
    + (0, 0)
)


def encode(view: tuple[Any, ...]) -> bytes:
    return abi_encode(VIEW_TYPES, [view])


def reference(data: bytes) -> Any:
    """What the Ledger decoded before: eth_abi, then :func:`record_from_view`."""
    (raw,) = abi_decode(VIEW_TYPES, data)
    return record_from_view(raw)


@given(views)
@example(ISSUED)
@example(UNKNOWN)
@example((*ISSUED[:1], "BW 2026/ÄÖ ✓ " * 5, *ISSUED[2:]))  # a long, multi-byte number
def test_the_decoder_equals_eth_abi(view: tuple[Any, ...]) -> None:
    data = encode(view)
    assert decode_certificate_view(data) == reference(data)


@settings(max_examples=300)
@given(views, st.data())
@example(ISSUED, None)
def test_corrupted_views_are_refused_as_eth_abi_refuses_them(view: tuple[Any, ...], data: Any) -> None:
    """Flip, cut or extend bytes: either both decoders fail, or both give the same record
    (a flip in a field eth_abi does not check, such as a hash, is a different record)."""
    raw = bytearray(encode(view))
    if data is not None:
        for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
            at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
            raw[at] = data.draw(st.integers(min_value=0, max_value=255))
        cut = data.draw(st.sampled_from([None, -1, -32, 33]))
        if cut is not None:
            raw = raw[:cut]
    _decodes_as_eth_abi_does(bytes(raw))


def _decodes_as_eth_abi_does(raw: bytes) -> None:
    try:
        expected = reference(raw)
    except Exception:  # eth_abi's and the enum's errors alike
        with pytest.raises(ViewDecodeError):
            decode_certificate_view(raw)
        return
    assert decode_certificate_view(raw) == expected


def _with_word(raw: bytes, index: int, value: int) -> bytes:
    return raw[: index * 32] + value.to_bytes(32, "big") + raw[(index + 1) * 32 :]


@pytest.mark.parametrize(
    ("word", "value"),
    [
        (0, 0),  # the record's offset points at itself
        (0, 64),  # past the first word: eth_abi reads the record from there
        (0, 2**16),  # past the end
        (2, 32 * 10),  # the number's offset points into the record's head
        (2, 32 * 19),  # ... at its last word
        (2, 32 * 20 + 32),  # past the number, still inside the data
        (2, 2**16),  # past the end
    ],
)
def test_offsets_are_held_to_eth_abis_rules(word: int, value: int) -> None:
    """Offsets into the head they belong to or past the data are refused; others are
    followed, exactly as eth_abi does (a property test once found the head case)."""
    for view in (ISSUED, UNKNOWN):
        _decodes_as_eth_abi_does(_with_word(encode(view), word, value))


def test_a_short_answer_is_refused() -> None:
    with pytest.raises(ViewDecodeError, match="too short"):
        decode_certificate_view(b"\0" * 64)


def test_what_the_contract_returns_decodes_alike(world: World) -> None:
    terms = world.terms()
    world.bw_auth.issue(terms, world.bw_exporter.address)
    world.ae_auth.confirm_receipt(terms.document_hash)
    fn = world.gov.ledger_abi.fn("certificate")
    for digest in (terms.document_hash, b"\x42" * 32):
        data = world.gov._raw_read(
            "eth_call",
            [{"to": world.gov.deployment.ledger, "data": "0x" + fn.encode([digest]).hex()}, "latest"],
        )
        assert decode_certificate_view(data) == reference(data)
    record = world.gov.certificate(terms.document_hash)
    assert record is not None and record.status is CertificateStatus.RECEIVED
    assert record.exporter == world.bw_exporter.address == checksum(world.bw_exporter.address.lower())


@given(st.lists(st.binary(max_size=100), max_size=12))
def test_the_bytes_array_coders_equal_eth_abi(items: list[bytes]) -> None:
    data = abi_encode(["bytes[]"], [items])
    assert encode_bytes_array(items) == data
    assert decode_bytes_array(data, len(items)) == list(abi_decode(["bytes[]"], data)[0])


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=70), min_size=1, max_size=6), st.data())
def test_corrupted_bytes_arrays_are_refused_as_eth_abi_refuses_them(items: list[bytes], data: Any) -> None:
    raw = bytearray(abi_encode(["bytes[]"], [items]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[at] = data.draw(st.integers(min_value=0, max_value=255))
    _array_decodes_as_eth_abi_does(bytes(raw), len(items))


def _array_decodes_as_eth_abi_does(raw: bytes, count: int) -> None:
    try:
        (expected,) = abi_decode(["bytes[]"], raw)
    except Exception:
        with pytest.raises(ViewDecodeError):
            decode_bytes_array(raw, count)
        return
    if len(expected) != count:
        with pytest.raises(ViewDecodeError, match="results for"):
            decode_bytes_array(raw, count)
        return
    assert decode_bytes_array(raw, count) == list(expected)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        (5, 255),  # status: a uint8, but no status
        (5, 256),  # status: not a uint8
        (3, 0xFF41 << 240),  # origin: not ASCII
        (4, 0x4180 << 240),  # destination: not ASCII
        (11, 1 << 160),  # exporter: dirty padding
    ],
    ids=["status-255", "status-256", "origin", "destination", "exporter"],
)
def test_what_the_record_adds_is_checked_for_a_held_certificate_only(word: int, value: int) -> None:
    """eth_abi's own checks hold for every answer; a status name and ASCII codes only
    matter for a certificate the ledger holds (an unknown one reads as None)."""
    for view in (ISSUED, UNKNOWN):
        _decodes_as_eth_abi_does(_with_word(encode(view), word, value))


@pytest.mark.parametrize(
    ("word", "value"),
    [(0, 0), (0, 64), (0, 2**16), (2, 0), (2, 32), (3, 0), (2, 2**16)],
)
def test_bytes_array_offsets_are_held_to_eth_abis_rules(word: int, value: int) -> None:
    """The array's offset and each element's: into the offsets or past the data is
    refused; anything else is followed, as eth_abi does."""
    items = [b"\x01" * 40, b"", b"\x02" * 3]
    _array_decodes_as_eth_abi_does(_with_word(abi_encode(["bytes[]"], [items]), word, value), len(items))


def test_many_records_in_one_multicall_equal_single_reads(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``certificates`` reads through the ledger's multicall: same records, in order, with
    unknown hashes as None, and chunking does not reorder them."""
    issued = [world.terms() for _ in range(3)]
    for terms in issued:
        world.bw_auth.issue(terms, world.bw_exporter.address)
    world.ae_auth.confirm_receipt(issued[1].document_hash)
    hashes = [issued[0].document_hash, b"\x42" * 32, issued[1].document_hash, issued[2].document_hash]
    singles = [world.gov.certificate(h) for h in hashes]
    assert singles[1] is None and all(r is not None for i, r in enumerate(singles) if i != 1)

    def no_batches(*_: Any) -> None:
        raise AssertionError("records were read one by one, not in one multicall")

    monkeypatch.setattr(world.gov.rpc, "batch", no_batches)
    assert world.gov.certificates(hashes) == singles
    monkeypatch.setattr("kpledger.ledger.MULTICALL_READS", 3)
    assert world.gov.certificates(hashes) == singles
