"""The hand-written event decoder equals eth_abi on random values of every event."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from kpledger.audit.decode import EventDecoder, code_text, normalise
from kpledger.audit.replay import _decoder
from tests.strategies import abi_values

DECODER = _decoder()
SPECS = sorted(DECODER.specs.values(), key=lambda spec: (spec.contract, spec.name))


def _topic(kind: str, value: Any) -> str:
    return "0x" + encode([kind], [value]).hex()


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.contract}.{s.name}" for s in SPECS])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fast_decoder_equals_eth_abi(spec: Any, data: st.DataObject) -> None:
    indexed = [data.draw(abi_values(kind)) for _, kind in spec.indexed]
    values = [data.draw(abi_values(kind)) for _, kind in spec.data]
    topics = [spec.topic, *(_topic(kind, v) for (_, kind), v in zip(spec.indexed, indexed, strict=True))]
    body = "0x" + encode([kind for _, kind in spec.data], values).hex()
    decoded = spec.decode(topics, body)
    expected = {name: normalise(kind, v) for (name, kind), v in zip(spec.indexed, indexed, strict=True)}
    expected |= {name: normalise(kind, v) for (name, kind), v in zip(spec.data, values, strict=True)}
    assert decoded == expected


def test_every_contract_event_has_a_fast_decoder() -> None:
    assert all(spec.fast for spec in SPECS)
    names = {spec.name for spec in SPECS}
    assert {"CertificateIssued", "CertificateSuperseded", "ParticipantRoleGranted", "RoleGranted"} <= names


def test_participant_codes_read_as_letters_and_odd_bytes_as_hex() -> None:
    assert code_text(b"BW") == "BW"
    assert code_text(b"bw") == "0x6277"
    assert code_text(b"\x00\x01") == "0x0001"


def test_non_utf8_strings_do_not_stop_the_replay() -> None:
    spec = DECODER.by_name("ledger", "CertificateVoided")
    body = "0x" + encode(["string"], [""]).hex()
    raw = bytes.fromhex(body[2:])
    # Patch the string bytes to an invalid UTF-8 sequence of the same length (0 here: add one).
    body = "0x" + (raw[:32] + (1).to_bytes(32, "big") + b"\xff" + bytes(31)).hex()
    topics = [spec.topic, "0x" + "11" * 32, "0x" + "00" * 12 + "22" * 20]
    assert spec.decode(topics, body)["reason"] == "\ufffd"


def test_unknown_types_fall_back_to_eth_abi() -> None:
    abi = [
        {
            "type": "event",
            "name": "Odd",
            "anonymous": False,
            "inputs": [
                {"name": "who", "type": "address", "indexed": True},
                {"name": "values", "type": "uint256[]", "indexed": False},
            ],
        }
    ]
    spec = EventDecoder({"x": abi}).by_name("x", "Odd")
    assert not spec.fast
    body = "0x" + encode(["uint256[]"], [[1, 2, 3]]).hex()
    with pytest.raises(TypeError):  # a list has no JSON form in the index's conventions
        spec.decode([spec.topic, "0x" + "00" * 12 + "aa" * 20], body)
