"""The Clique genesis decisions (pure; no geth needed)."""

from __future__ import annotations

import pytest
from eth_account import Account

from kpledger.network.genesis import clique_extra_data, clique_genesis, clique_validators

ADDRESSES = [Account.create().address for _ in range(4)]


def test_extra_data_names_the_validators_sorted_between_vanity_and_seal() -> None:
    extra = clique_extra_data(ADDRESSES)
    raw = bytes.fromhex(extra[2:])
    assert len(raw) == 32 + 4 * 20 + 65
    assert raw[:32] == bytes(32) and raw[-65:] == bytes(65)
    assert clique_validators(extra) == sorted(ADDRESSES, key=lambda a: bytes.fromhex(a[2:]))


def test_genesis_has_london_without_shanghai_a_zero_base_fee_and_clique() -> None:
    genesis = clique_genesis(ADDRESSES, chain_id=99, period=2, gas_limit=123_456_789)
    config = genesis["config"]
    assert config["chainId"] == 99 and config["londonBlock"] == 0
    assert "shanghaiTime" not in config and "cancunTime" not in config  # geth's Clique refuses them
    assert config["clique"] == {"period": 2, "epoch": 30000}
    assert genesis["baseFeePerGas"] == "0x0" and int(genesis["gasLimit"], 16) == 123_456_789
    assert clique_validators(genesis["extraData"]) == sorted(ADDRESSES, key=lambda a: bytes.fromhex(a[2:]))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"period": 0}, "period"), ({"chain_id": 0}, "chain_id"), ({"period": 61}, "period")],
)
def test_bad_parameters_are_refused_naming_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}:"):
        clique_genesis(ADDRESSES, **kwargs)


def test_no_validator_and_malformed_extra_data_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^validators:"):
        clique_extra_data([])
    with pytest.raises(ValueError, match=r"^extraData:"):
        clique_validators("0x" + "00" * 100)
