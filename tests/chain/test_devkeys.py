"""The DEV-ONLY keys of local nodes: derived from the public mnemonic, refused for
chains that are not known to be local."""

from __future__ import annotations

import pytest

from kpledger.chain.sender import Signer
from kpledger.devkeys import (
    DEV_ONLY_ACCOUNT_COUNT,
    DEV_ONLY_CHAIN_ID,
    DEV_ONLY_MNEMONIC,
    DevKeysRefused,
    dev_only_addresses,
    dev_only_key,
    dev_only_keys,
)
from kpledger.errors import ConfigurationError

# The addresses anvil and Hardhat print for the default mnemonic (public knowledge).
ANVIL_ADDRESSES = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
]


def test_keys_are_anvils_default_accounts() -> None:
    assert DEV_ONLY_MNEMONIC.split() == ["test"] * 11 + ["junk"]
    keys = dev_only_keys(DEV_ONLY_CHAIN_ID)
    assert len(keys) == DEV_ONLY_ACCOUNT_COUNT == 10
    assert all(isinstance(k, bytes) and len(k) == 32 for k in keys)
    assert [Signer(k).address for k in keys] == ANVIL_ADDRESSES == dev_only_addresses()
    assert dev_only_key(3) == keys[3]


def test_other_chains_are_refused_unless_allowed() -> None:
    for chain_id in (1, 1337, 11155111):
        with pytest.raises(DevKeysRefused, match="DEV-ONLY") as caught:
            dev_only_keys(chain_id)
        assert isinstance(caught.value, ConfigurationError)
        assert "allow_any_chain" in str(caught.value)
    assert dev_only_keys(1337, allow_any_chain=True) == dev_only_keys(DEV_ONLY_CHAIN_ID)


def test_more_accounts_than_the_default_ten() -> None:
    keys = dev_only_keys(DEV_ONLY_CHAIN_ID, count=16)
    assert len(set(keys)) == 16 and keys[:10] == dev_only_keys(DEV_ONLY_CHAIN_ID)
    with pytest.raises(ValueError):
        dev_only_keys(DEV_ONLY_CHAIN_ID, count=0)


def test_a_refusal_does_not_show_keys() -> None:
    with pytest.raises(DevKeysRefused) as caught:
        dev_only_keys(1)
    assert all(k.hex() not in str(caught.value) for k in dev_only_keys(DEV_ONLY_CHAIN_ID))
