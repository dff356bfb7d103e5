"""The same client against a second, independent EVM: Hardhat's node (EDR) on the
project's Node 22, with a custom chain id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from kpledger import contract_errors as ce
from kpledger.chain.node import HardhatNode, NodeBinaryMissing
from kpledger.ledger import Ledger
from kpledger.types import CertificateStatus
from tests.chain.nodeworld import NodeWorld, build_node_world, run_main_flow

pytestmark = pytest.mark.anvil  # needs the node binaries of node_modules (Node 22 + Hardhat)

CHAIN_ID = 1338


def hardhat_node(**options: Any) -> HardhatNode:
    """A Hardhat node (not started), or skip when the project's node_modules lack it."""
    try:
        return HardhatNode(**options)
    except NodeBinaryMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def hardhat() -> Iterator[HardhatNode]:
    with hardhat_node(chain_id=CHAIN_ID) as node:
        yield node


@pytest.fixture(scope="module")
def _hardhat_world(hardhat: HardhatNode) -> NodeWorld:
    return build_node_world(hardhat)


@pytest.fixture
def hardhat_world(_hardhat_world: NodeWorld) -> Iterator[NodeWorld]:
    snapshot = _hardhat_world.node.snapshot()
    try:
        yield _hardhat_world
    finally:
        _hardhat_world.node.revert(snapshot)
        _hardhat_world.forget()


def test_main_flow_on_hardhat(hardhat_world: NodeWorld) -> None:
    assert (
        int(hardhat_world.gov.rpc.call("eth_chainId", []), 16)
        == CHAIN_ID
        == hardhat_world.gov.deployment.chain_id
    )
    run_main_flow(hardhat_world)


def test_pipelined_writes_and_decoded_reverts(hardhat_world: NodeWorld) -> None:
    items = [(hardhat_world.terms(), hardhat_world.bw_exporter.address) for _ in range(40)]
    receipts = hardhat_world.bw_auth.issue_many(items)
    assert len({r.tx_hash for r in receipts}) == 40 and all(r.status == 1 for r in receipts)
    with pytest.raises(ce.CertificateHashAlreadyUsed):
        hardhat_world.bw_auth.issue(*items[0])  # simulated
    with pytest.raises(ce.CertificateInvalidTransition):
        hardhat_world.ae_auth.resolve_dispute(items[2][0].number)


def test_unsimulated_revert_decodes_on_hardhat(hardhat_world: NodeWorld) -> None:
    terms = hardhat_world.terms()
    hardhat_world.bw_auth.issue(terms, hardhat_world.bw_exporter.address)
    with pytest.raises(ce.CertificateHashAlreadyUsed):
        hardhat_world.bw_auth.issue_many(
            [(terms, hardhat_world.bw_exporter.address)]
        )  # no simulation: mined, reverted
    # The local nonce is still in step after the failed send.
    hardhat_world.bw_auth.issue(hardhat_world.terms(), hardhat_world.bw_exporter.address)


def test_snapshot_reverted_between_tests(hardhat_world: NodeWorld) -> None:
    terms = hardhat_world.terms()
    hardhat_world.bw_auth.issue(terms, hardhat_world.bw_exporter.address)
    record = hardhat_world.gov.certificate(terms.document_hash)
    assert record is not None and record.status is CertificateStatus.ISSUED


def test_interval_mining() -> None:
    """``block_time`` switches Hardhat from automine to a block every interval."""
    with hardhat_node(block_time=0.5) as node:
        first = int(node.request("eth_blockNumber"), 16)
        time.sleep(1.6)
        assert int(node.request("eth_blockNumber"), 16) >= first + 2  # blocks without transactions
        key = node.dev_only_keys(1)[0]
        started = time.monotonic()
        gov = Ledger.deploy(node.url, key, receipt_timeout=10)  # two blocks: registry, then ledger
        assert 0.5 <= time.monotonic() - started < 6
        assert gov.participants() == []
