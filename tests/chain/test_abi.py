"""The events' word-slicing decoder equals eth_abi: on generated values of every event
of both contracts, on corrupted data (both refuse, or both give the same values), and
on types it leaves to eth_abi."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from kpledger.chain import artifacts
from kpledger.chain.abi import AbiEvent
from tests.strategies import abi_values

EVENTS = [
    event
    for contract in ("ParticipantRegistry", "CertificateLedger")
    for event in artifacts.interface(contract).events.values()
]


def reference(event: AbiEvent, topics: list[bytes], data: bytes) -> dict[str, Any]:
    """What eth_abi gives, field by field."""
    out = {
        name: abi_decode([kind], topic)[0]
        for (name, kind), topic in zip(event.indexed, topics[1:], strict=True)
    }
    out.update(zip([n for n, _ in event.data], abi_decode([k for _, k in event.data], data), strict=True))
    return out


@st.composite
def logs(draw: st.DrawFn) -> tuple[AbiEvent, list[bytes], bytes]:
    event = draw(st.sampled_from(EVENTS))
    indexed = [draw(abi_values(kind)) for _, kind in event.indexed]
    data = [draw(abi_values(kind)) for _, kind in event.data]
    topics = [event.topic] + [abi_encode([k], [v]) for (_, k), v in zip(event.indexed, indexed, strict=True)]
    return event, topics, abi_encode([k for _, k in event.data], data)


def test_every_event_of_the_contracts_takes_the_fast_path() -> None:
    assert EVENTS and all(event._fast is not None for event in EVENTS)


@settings(max_examples=400)
@given(logs())
def test_the_fast_decoder_equals_eth_abi(log: tuple[AbiEvent, list[bytes], bytes]) -> None:
    event, topics, data = log
    assert event.decode(topics, data) == reference(event, topics, data)


@settings(max_examples=600)
@given(logs(), st.data())
def test_corrupted_logs_decode_as_eth_abi_decodes_them(
    log: tuple[AbiEvent, list[bytes], bytes], draw: Any
) -> None:
    event, topics, data = log
    raw = bytearray(data)
    topics = list(topics)
    for _ in range(draw.draw(st.integers(min_value=1, max_value=3))):
        if topics[1:] and draw.draw(st.booleans()):
            i = draw.draw(st.integers(min_value=1, max_value=len(topics) - 1))
            word = bytearray(topics[i])
            word[draw.draw(st.integers(min_value=0, max_value=31))] = draw.draw(st.integers(0, 255))
            topics[i] = bytes(word)
        elif raw:
            raw[draw.draw(st.integers(min_value=0, max_value=len(raw) - 1))] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.sampled_from([None, -1, -32, 1]))
    if cut is not None:
        raw = raw[:cut] if cut < 0 else raw + b"\0" * 32
    try:
        expected = reference(event, topics, bytes(raw))
    except Exception:  # eth_abi's decoding errors
        with pytest.raises(Exception):  # noqa: B017 - whatever eth_abi raises, both refuse
            event.decode(topics, bytes(raw))
        return
    assert event.decode(topics, bytes(raw)) == expected


def test_types_it_does_not_slice_go_to_eth_abi() -> None:
    signed = AbiEvent("Signed", b"\0" * 32, (), (("delta", "int64"), ("note", "string")))
    listed = AbiEvent("Listed", b"\0" * 32, (), (("items", "uint256[]"),))
    assert signed._fast is None and listed._fast is None
    data = abi_encode(["int64", "string"], [-5, "x"])
    assert signed.decode([b"\0" * 32], data) == {"delta": -5, "note": "x"}
    assert listed.decode([b"\0" * 32], abi_encode(["uint256[]"], [[1, 2]])) == {"items": (1, 2)}


def _plain(kind: str) -> Any:
    """A valid value of an elementary type."""
    if kind == "address":
        return "0x" + "11" * 20
    if kind == "bool":
        return True
    if kind == "string":
        return "BW 2026/000001"
    if kind == "bytes":
        return b"\x02\x03"
    if kind.startswith("bytes"):
        return b"\x01" * int(kind[5:])
    return 7  # uintN, intN


DYNAMIC = [event for event in EVENTS if any(kind in ("string", "bytes") for _, kind in event.data)]


@pytest.mark.parametrize("event", DYNAMIC, ids=[event.name for event in DYNAMIC])
def test_a_pointer_into_the_head_is_refused_as_eth_abi_refuses_it(event: AbiEvent) -> None:
    """Found by the corruption property test: an offset word pointing back into the
    head is not followed."""
    data = abi_encode([kind for _, kind in event.data], [_plain(kind) for _, kind in event.data])
    topics = [event.topic] + [abi_encode([kind], [_plain(kind)]) for _, kind in event.indexed]
    at = next(i for i, (_, kind) in enumerate(event.data) if kind in ("string", "bytes"))
    for offset in range(0, 32 * len(event.data), 32):
        raw = data[: 32 * at] + offset.to_bytes(32, "big") + data[32 * (at + 1) :]
        with pytest.raises(Exception):  # noqa: B017 - whatever eth_abi raises
            reference(event, topics, raw)
        with pytest.raises(Exception):  # noqa: B017
            event.decode(topics, raw)
