"""FailoverRpc against real endpoints: a live anvil and ports where nothing listens."""

from __future__ import annotations

import pytest

from kpledger.chain.failover import FailoverRpc, split_urls
from kpledger.chain.node import AnvilNode, free_port
from kpledger.errors import ConnectionFailed
from kpledger.ledger import Ledger
from tests.chain.nodeworld import NodeWorld

pytestmark = pytest.mark.anvil


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_split_urls_names_an_empty_entry() -> None:
    assert split_urls("http://a:1, http://b:2") == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError, match=r"^rpc: .*empty URL"):
        split_urls("http://a:1,,http://b:2")


def test_a_dead_first_node_is_skipped_and_the_live_one_kept(anvil_node: AnvilNode) -> None:
    rpc = FailoverRpc([_dead_url(), anvil_node.url], timeout=2.0)
    assert int(rpc.call("eth_chainId", []), 16) == anvil_node.chain_id
    assert rpc.url == anvil_node.url and rpc.failovers == 1
    assert rpc.batch([("eth_blockNumber", []), ("eth_chainId", [])])[1] == hex(anvil_node.chain_id)
    assert rpc.failovers == 1  # stays on the node that answers


def test_no_node_answering_names_every_url() -> None:
    urls = [_dead_url(), _dead_url()]
    with pytest.raises(ConnectionFailed, match="none of the 2 nodes answered eth_chainId") as caught:
        FailoverRpc(urls, timeout=1.0).call("eth_chainId", [])
    assert all(url in str(caught.value) for url in urls)


def test_ledger_connect_accepts_several_urls(anvil_world: NodeWorld) -> None:
    ledger = Ledger.connect(f"{_dead_url()},{anvil_world.node.url}", anvil_world.gov.deployment)
    assert isinstance(ledger.rpc, FailoverRpc)
    assert ledger.rpc.url == anvil_world.node.url
