"""Which chain a deployment lives on, told apart from any other chain with the same
contract addresses.

Why more than a chain id: local nodes all call themselves chain 31337, and the same
deployer key at the same nonce puts the contracts at the same addresses on every one of
them, so "chain id matches and there is code at the address" cannot tell the ledger a
user meant from another one on the same port. The genesis block's hash names a chain;
the hash of the block the contracts were deployed in names the history they belong to
(a reorganisation shallower than the deployment keeps both).

:func:`read_facts` gathers what the node says (one batch of three requests);
:func:`mismatch` decides, as a pure function, whether that is the recorded chain and
words the refusal so it names what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kpledger.errors import ConfigurationError

if TYPE_CHECKING:
    from kpledger.chain.deployment import Deployment
    from kpledger.chain.rpc import Rpc


class ChainMismatch(ConfigurationError):
    """The node serves another chain than the one a deployment or an audit index is on."""


@dataclass(frozen=True)
class ChainFacts:
    """What the node reports about its chain: its id, its genesis block's hash and the
    hash of its block at the deployment's height (None when it has no such block)."""

    chain_id: int
    genesis_hash: str
    block_hash: str | None


def read_facts(rpc: Rpc, block: int) -> ChainFacts:
    """Ask the node behind ``rpc`` for its chain id and the hashes of blocks 0 and ``block``."""
    from kpledger.chain.rpc import RpcError

    answers = rpc.batch(
        [
            ("eth_chainId", []),
            ("eth_getBlockByNumber", ["0x0", False]),
            ("eth_getBlockByNumber", [hex(block), False]),
        ]
    )
    for answer in answers:
        if isinstance(answer, RpcError):
            raise answer
    chain_id, genesis, at_block = answers
    if genesis is None:
        raise ConfigurationError("the node does not serve its genesis block: cannot tell which chain it is")
    return ChainFacts(chain_id=_int(chain_id), genesis_hash=_hash(genesis), block_hash=_block_hash(at_block))


def mismatch(deployment: Deployment, facts: ChainFacts) -> str | None:
    """Why ``facts`` are not the chain ``deployment`` was recorded on (None when they are).

    A record without an identity (written before identities were recorded) is checked
    on its chain id alone."""
    expected = describe_expected(deployment)
    if facts.chain_id != deployment.chain_id:
        return f"expected {expected}; found chain {facts.chain_id}"
    if not deployment.genesis_hash:
        return None
    if facts.genesis_hash != deployment.genesis_hash.lower():
        return f"expected {expected}; found chain {facts.chain_id} with genesis {short(facts.genesis_hash)}"
    if deployment.block_hash and facts.block_hash != deployment.block_hash.lower():
        found = "no such block" if facts.block_hash is None else short(facts.block_hash)
        return (
            f"expected {expected}; found the same genesis but block {deployment.block} is {found}"
            " (the deployment's history was replaced, e.g. a node reset)"
        )
    return None


def describe_expected(deployment: Deployment) -> str:
    """``chain 31337 with genesis 0x1234…abcd, deployed in block 3 (0x…)`` for messages."""
    text = f"chain {deployment.chain_id}"
    if deployment.genesis_hash:
        text += f" with genesis {short(deployment.genesis_hash)}"
    if deployment.block_hash:
        text += f", deployed in block {deployment.block} ({short(deployment.block_hash)})"
    return text


def short(value: str) -> str:
    """A 32-byte hash shortened for a message, ``0x1234abcd…89ef``."""
    return value if len(value) <= 16 else f"{value[:10]}…{value[-4:]}"


def _int(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 16)


def _block_hash(block: Any) -> str | None:
    return None if block is None else _hash(block)


def _hash(block: Any) -> str:
    value = block["hash"]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value).lower()
