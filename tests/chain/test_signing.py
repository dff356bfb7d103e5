"""The coincurve signer gives eth-account's bytes exactly, for both transaction types.

eth-account is the reference: what it signs, every node accepts. The fast signer must
produce the same raw transaction and hash for any transaction the Transactor may build
(any chain id, zero or large fees, contract creation, empty or long calldata).
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kpledger.chain.sender import Signer
from kpledger.chain.signing import SigningError, address_of, load_private_key, sign_transaction
from kpledger.errors import KPLedgerError

_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
U256 = st.integers(0, 2**256 - 1)
SMALL = st.integers(0, 2**64 - 1)
KEYS = st.integers(1, _ORDER - 1).map(lambda n: n.to_bytes(32, "big"))
CHAIN_IDS = st.one_of(st.sampled_from([1, 1337, 31337, 2**31 - 1]), st.integers(1, 2**53))
TO = st.one_of(st.none(), st.binary(min_size=20, max_size=20))


def _common(draw: st.DrawFn) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "nonce": draw(SMALL),
        "gas": draw(st.integers(21_000, 2**63 - 1)),
        "value": draw(U256),
        "data": draw(st.binary(max_size=600)),
        "chainId": draw(CHAIN_IDS),
    }
    to = draw(TO)
    if to is not None:
        tx["to"] = to
    return tx


@st.composite
def dynamic_fee_txs(draw: st.DrawFn) -> dict[str, Any]:
    tx = _common(draw)
    tx.update(type=2, maxFeePerGas=draw(U256), maxPriorityFeePerGas=draw(U256))
    if draw(st.booleans()):
        tx["accessList"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "address": st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
                        "storageKeys": st.lists(
                            st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()), max_size=3
                        ),
                    }
                ),
                max_size=3,
            )
        )
    return tx


@st.composite
def legacy_txs(draw: st.DrawFn) -> dict[str, Any]:
    tx = _common(draw)
    tx["gasPrice"] = draw(U256)
    return tx


def _reference(key: bytes, tx: dict[str, Any]) -> tuple[bytes, bytes]:
    signed = Account.from_key(key).sign_transaction(dict(tx))
    return bytes(signed.raw_transaction), bytes(signed.hash)


ZERO_FEE_CALL = {
    "type": 2,
    "chainId": 1337,
    "nonce": 0,
    "maxFeePerGas": 0,
    "maxPriorityFeePerGas": 0,
    "gas": 250_000,
    "to": bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3"),
    "value": 0,
    "data": bytes.fromhex("a9059cbb") + bytes(64),
}


@given(KEYS, dynamic_fee_txs())
@example(b"\x01" * 32, ZERO_FEE_CALL)
@example(b"\x01" * 32, {**ZERO_FEE_CALL, "data": b"", "to": None})
@settings(max_examples=150, deadline=None)
def test_dynamic_fee_transactions_equal_eth_account(key: bytes, tx: dict[str, Any]) -> None:
    tx = {k: v for k, v in tx.items() if v is not None}
    assert sign_transaction(load_private_key(key), tx) == _reference(key, tx)


@given(KEYS, legacy_txs())
@example(b"\x02" * 32, {"nonce": 7, "gasPrice": 0, "gas": 90_000, "value": 0, "data": b"", "chainId": 1})
@example(
    b"\x02" * 32, {"nonce": 0, "gasPrice": 10**9, "gas": 10**6, "value": 1, "data": b"\x60", "chainId": 2**40}
)
@settings(max_examples=150, deadline=None)
def test_legacy_transactions_equal_eth_account(key: bytes, tx: dict[str, Any]) -> None:
    assert sign_transaction(load_private_key(key), tx) == _reference(key, tx)


@given(KEYS)
@settings(max_examples=30, deadline=None)
def test_address_equals_eth_account(key: bytes) -> None:
    assert address_of(load_private_key(key)) == Account.from_key(key).address
    assert load_private_key("0x" + key.hex()).secret == key


def test_signer_signs_like_eth_account_and_never_shows_its_key() -> None:
    key = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")  # anvil's #0
    signer = Signer(key)
    assert signer.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert signer.sign(dict(ZERO_FEE_CALL)) == _reference(key, ZERO_FEE_CALL)
    assert Signer(Account.from_key(key)).address == signer.address
    assert Signer("0x" + key.hex()).address == signer.address
    for shown in (repr(signer), str(signer), f"{signer}"):
        assert shown == f"Signer({signer.address})"
        assert key.hex() not in shown.lower()
    with pytest.raises(AttributeError):
        signer.__dict__  # noqa: B018 - slots only: no stray attribute can hold the key
    with pytest.raises(TypeError, match="not picklable"):
        __import__("pickle").dumps(signer)


@pytest.mark.parametrize(
    ("tx", "message"),
    [
        ({**ZERO_FEE_CALL, "type": 1}, "type 1 is not supported"),
        ({**ZERO_FEE_CALL, "gasPrice": 1}, "not gasPrice"),
        ({k: v for k, v in ZERO_FEE_CALL.items() if k != "nonce"}, "nonce is missing"),
        ({**ZERO_FEE_CALL, "gas": -1}, "gas must not be negative"),
        ({**ZERO_FEE_CALL, "to": b"\x01" * 19}, "20 bytes"),
        ({**ZERO_FEE_CALL, "data": "0xzz"}, "not hex"),
    ],
)
def test_malformed_transactions_raise_signing_errors(tx: dict[str, Any], message: str) -> None:
    key = b"\x03" * 32
    with pytest.raises(SigningError, match=message) as caught:
        sign_transaction(load_private_key(key), tx)
    assert isinstance(caught.value, KPLedgerError)
    assert key.hex() not in str(caught.value)


@pytest.mark.parametrize("key", [b"\x00" * 32, _ORDER.to_bytes(32, "big"), b"\x01" * 31, "0xnothex"])
def test_bad_keys_are_refused_without_echoing_them(key: bytes | str) -> None:
    with pytest.raises(SigningError) as caught:
        load_private_key(key)
    text = key.hex() if isinstance(key, bytes) else key
    assert text not in str(caught.value)
