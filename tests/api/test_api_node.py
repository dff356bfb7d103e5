"""The service against a real node (anvil): configured by settings like in production,
503 while the node is down, answering again as soon as it is back, and the plain
JSON-RPC transport it reads with."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpledger.api import create_app
from kpledger.chain.http_rpc import HttpRpc as NodeRpc
from kpledger.chain.node import AnvilNode, free_port
from kpledger.chain.rpc import RpcError
from kpledger.errors import ConnectionFailed
from tests.api.conftest import chain_terms, client_for, settings
from tests.chain.nodeworld import NodeWorld, build_node_world, start_anvil

pytestmark = pytest.mark.anvil


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    """An anvil on a fixed port (so it can come back at the same URL), state on disk."""
    started = start_anvil(port=free_port(), persist=True, data_dir=tmp_path / "anvil", accounts=16)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def node_world(node: AnvilNode) -> NodeWorld:
    return build_node_world(node)


def test_unreachable_node_is_503_and_the_service_recovers(
    node: AnvilNode, node_world: NodeWorld, tmp_path: Path
) -> None:
    from kpledger.certificate import sample_document_bytes

    data = sample_document_bytes()
    terms = chain_terms(data)
    node_world.bw_auth.issue(terms, node_world.bw_exporter.address)
    deployment = tmp_path / "deployment.json"
    node_world.gov.deployment.save(deployment)
    client = client_for(create_app(None, settings(rpc=node.url, deployment=deployment, rpc_timeout=3)))
    hash_request = {"hash": "0x" + terms.document_hash.hex()}

    health = client.get("/health")
    assert health.status_code == 200 and health.json()["chain_id"] == node.chain_id
    assert client.post("/v1/verify", json=hash_request).json()["verdict"] == "VALID"

    node.stop()  # clean stop: anvil writes its state, as a maintained node would
    for response in (client.get("/health"), client.post("/v1/verify", json=hash_request)):
        assert response.status_code == 503
        body = response.json()
        assert body["error"] == "chain_unavailable"
        assert "cannot be read right now" in body["message"] and node.url in body["message"]

    node.start()  # same port, state restored
    health = client.get("/health")
    assert health.status_code == 200, health.text
    verified = client.post("/v1/verify", json=hash_request)
    assert verified.status_code == 200 and verified.json()["verdict"] == "VALID"
    assert verified.json()["certificate"]["number"] == terms.number


def test_the_head_is_followed_without_requests_and_answers_from_memory_stop_with_the_node(
    node: AnvilNode, node_world: NodeWorld, tmp_path: Path
) -> None:
    """Cached answers never wait for a poll: a thread follows the head, so a void shows
    without any request polling, and when the node goes away answers from memory stop
    within ``poll_interval + FOLLOW_SLACK`` (requests then get the 503 of the chain)."""
    from kpledger.certificate import sample_document_bytes
    from kpledger.verify_cache import FOLLOW_SLACK

    terms = chain_terms(sample_document_bytes())
    node_world.bw_auth.issue(terms, node_world.bw_exporter.address)
    deployment = tmp_path / "deployment.json"
    node_world.gov.deployment.save(deployment)
    app = create_app(
        None, settings(rpc=node.url, deployment=deployment, rpc_timeout=3, head_poll_interval=0.05)
    )
    client = client_for(app)
    hash_request = {"hash": "0x" + terms.document_hash.hex()}
    assert client.post("/v1/verify", json=hash_request).json()["verdict"] == "VALID"
    source = app.state.ledger_source
    assert source.cache is not None and source.cached_json(terms.document_hash) is not None

    polls = source.cache.watch.polls
    time.sleep(0.5)
    assert source.cache.watch.polls >= polls + 5  # ~10 polls in 0.5 s, no request made them
    assert b'"verdict":"VALID"' in source.cached_json(terms.document_hash)

    node_world.bw_auth.void(terms.document_hash, "parcel seized")
    deadline = time.monotonic() + 2
    while source.cached_json(terms.document_hash) is not None and time.monotonic() < deadline:
        time.sleep(0.01)  # the follower sees the void's block and drops the answer
    assert source.cached_json(terms.document_hash) is None
    assert client.post("/v1/verify", json=hash_request).json()["code"] == "VOIDED"
    assert source.cached_json(terms.document_hash) is not None

    node.stop()
    time.sleep(0.05 + FOLLOW_SLACK + 0.1)
    assert source.cached_json(terms.document_hash) is None
    assert client.post("/v1/verify", json=hash_request).status_code == 503
    source.cache.close()


def test_service_started_while_the_node_is_down(
    node: AnvilNode, node_world: NodeWorld, tmp_path: Path
) -> None:
    deployment = tmp_path / "deployment.json"
    node_world.gov.deployment.save(deployment)
    node.stop()
    client = client_for(create_app(None, settings(rpc=node.url, deployment=deployment, rpc_timeout=3)))
    assert client.get("/health").status_code == 503
    assert client.get("/").status_code == 200  # the page is served all the same
    node.start()
    assert client.get("/health").status_code == 200


def test_node_reset_to_an_empty_chain_is_not_configured(
    node: AnvilNode, node_world: NodeWorld, tmp_path: Path
) -> None:
    """A node that comes back without the contracts (state lost) is reported, not read."""
    deployment = tmp_path / "deployment.json"
    node_world.gov.deployment.save(deployment)
    client = client_for(create_app(None, settings(rpc=node.url, deployment=deployment, rpc_timeout=3)))
    assert client.get("/health").status_code == 200
    node.kill()
    assert node.state_path is not None
    node.state_path.unlink(missing_ok=True)
    node.start()
    response = client.get("/health")
    assert response.status_code == 503 and response.json()["error"] == "not_configured"


def test_node_rpc_calls_batches_and_errors(node: AnvilNode) -> None:
    rpc = NodeRpc(node.url, timeout=3)
    assert int(rpc.call("eth_chainId", []), 16) == node.chain_id
    number, missing = rpc.batch([("eth_blockNumber", []), ("eth_noSuchMethod", [])])
    assert isinstance(number, str) and number.startswith("0x")
    assert isinstance(missing, RpcError)
    with pytest.raises(RpcError):
        rpc.call("eth_noSuchMethod", [])


def test_node_rpc_is_usable_from_many_threads(node: AnvilNode) -> None:
    rpc = NodeRpc(node.url, timeout=3)
    answers: list[int] = []

    def work() -> None:
        for _ in range(50):
            answers.append(int(rpc.call("eth_chainId", []), 16))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [node.chain_id] * 400


def test_node_rpc_reconnects_after_the_node_restarts(node: AnvilNode) -> None:
    rpc = NodeRpc(node.url, timeout=3)
    assert rpc.call("eth_blockNumber", [])
    node.stop()
    with pytest.raises(ConnectionFailed, match="cannot reach the node"):
        rpc.call("eth_blockNumber", [])
    node.start()
    assert rpc.call("eth_blockNumber", [])
