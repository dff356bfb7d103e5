"""Fixtures for the integration tests against real local nodes (anvil, Hardhat).

One automine anvil per session carries a deployed world; each test runs between an
``evm_snapshot`` and an ``evm_revert``, after which every Ledger forgets its cached
nonces and block times. Tests that need a node of their own (block times, no mining,
persistence, crashes) start it themselves.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kpledger.chain.node import AnvilNode
from tests.chain.nodeworld import ACCOUNTS, NodeWorld, build_node_world, start_anvil


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    """One automine anvil (chain id 31337) for the session."""
    node = start_anvil(accounts=ACCOUNTS)
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="session")
def _anvil_world(anvil_node: AnvilNode) -> NodeWorld:
    return build_node_world(anvil_node)


@pytest.fixture
def anvil_world(_anvil_world: NodeWorld) -> Iterator[NodeWorld]:
    """The deployed world on the session anvil, reverted after each test."""
    node = _anvil_world.node
    snapshot = node.snapshot()
    try:
        yield _anvil_world
    finally:
        node.revert(snapshot)
        _anvil_world.forget()
