"""The Clique genesis of a kpledger consortium network (pure: no I/O).

Why these values:

- Forks up to London, none after: geth 1.13's Clique refuses Shanghai and Cancun
  ("clique does not support shanghai fork"), so the EVM is London's (no ``PUSH0``);
  kpledger's contracts are compiled for London, so they deploy and run here unchanged.
- ``baseFeePerGas`` 0: with free gas the base fee starts at 0 and only moves up (by at
  least 1 wei a block) while blocks are more than half full, which a 1e9 gas limit keeps
  far away; the client re-reads fees when a node refuses them (``FeePolicy``).
- ``extraData`` = 32 vanity bytes, the validators' 20-byte addresses in ascending order,
  and 65 zero bytes where a block's seal goes (EIP-225).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from eth_utils.address import to_checksum_address

DEFAULT_CHAIN_ID: Final = 1717
"""The consortium network's chain id (arbitrary, unused by public networks we know of)."""

DEFAULT_PERIOD: Final = 1
"""Seconds between blocks."""

DEFAULT_GAS_LIMIT: Final = 1_000_000_000
"""Per block: batches of thousands of anchors fit in one block."""

_VANITY: Final = 32
_SEAL: Final = 65
_FORKS: Final = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "berlinBlock",
    "londonBlock",
)


def clique_extra_data(validators: Sequence[str]) -> str:
    """EIP-225 genesis ``extraData`` naming ``validators`` (sorted, as Clique keeps them)."""
    if not validators:
        raise ValueError("validators: a Clique network needs at least one validator address")
    addresses = sorted({bytes.fromhex(to_checksum_address(a)[2:]) for a in validators})
    return "0x" + (bytes(_VANITY) + b"".join(addresses) + bytes(_SEAL)).hex()


def clique_validators(extra_data: str) -> list[str]:
    """The validator addresses a genesis ``extraData`` names (the inverse of
    :func:`clique_extra_data`)."""
    raw = bytes.fromhex(extra_data.removeprefix("0x"))
    body = raw[_VANITY : len(raw) - _SEAL]
    if len(raw) < _VANITY + _SEAL or len(body) % 20:
        raise ValueError(f"extraData: {len(raw)} bytes is not 32 + 20*n + 65 (EIP-225)")
    return [to_checksum_address(body[i : i + 20]) for i in range(0, len(body), 20)]


def clique_genesis(
    validators: Sequence[str],
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    period: int = DEFAULT_PERIOD,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    funded: Sequence[str] = (),
) -> dict[str, Any]:
    """geth's ``genesis.json`` for a Clique network sealed by ``validators``. ``funded``
    accounts get a large balance (gas is free, but a zero balance still cannot pay a
    value transfer)."""
    if not 1 <= period <= 60:
        raise ValueError(f"period: {period} s is outside 1..60 s; pick the block interval in seconds")
    if chain_id <= 0:
        raise ValueError(f"chain_id: {chain_id} must be a positive integer")
    config: dict[str, Any] = {"chainId": chain_id, **{fork: 0 for fork in _FORKS}}
    config["clique"] = {"period": period, "epoch": 30000}
    alloc = {to_checksum_address(a)[2:].lower(): {"balance": hex(10**30)} for a in [*validators, *funded]}
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": clique_extra_data(validators),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "baseFeePerGas": "0x0",
        "alloc": alloc,
    }
