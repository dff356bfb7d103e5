"""Replayed and wrong-chain transactions on real nodes (anvil): a signed transaction is
bound to its chain id and its nonce, so it lands at most once and on one chain only.

Two anvils with different chain ids carry the same deployment: the same deployer and
the same sequence of setup writes give the contracts the same addresses and every
account the same nonces on both, so a captured transaction would be valid on the other
chain but for its chain id. That id is the only barrier, and these tests show it holds,
in the node and, before anything is signed, in the library.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kpledger.chain.node import AnvilNode, free_port
from kpledger.chain.outbox import Outbox
from kpledger.chain.rpc import RpcError
from kpledger.chain.sender import Call, Signer, Transactor
from kpledger.errors import ChainIdMismatch, ConfigurationError, ConnectionFailed
from kpledger.ledger import GAS, Ledger
from kpledger.types import ChainTerms
from tests.chain.nodeworld import NodeWorld, build_node_world, start_anvil

pytestmark = pytest.mark.anvil

OTHER_CHAIN = 4242


@pytest.fixture(scope="module")
def _twins() -> Iterator[tuple[NodeWorld, NodeWorld]]:
    a = start_anvil(accounts=16)
    b = start_anvil(accounts=16, chain_id=OTHER_CHAIN)
    try:
        yield build_node_world(a), build_node_world(b)
    finally:
        a.close()
        b.close()


@pytest.fixture
def chains(_twins: tuple[NodeWorld, NodeWorld]) -> Iterator[tuple[NodeWorld, NodeWorld]]:
    """The same deployment on chain 31337 (``a``) and on chain 4242 (``b``), both reverted
    after each test, so the twins stay in step."""
    snapshots = [world.node.snapshot() for world in _twins]
    try:
        yield _twins
    finally:
        for world, snapshot in zip(_twins, snapshots, strict=True):
            world.node.revert(snapshot)
            world.forget()


def _key(world: NodeWorld, index: int) -> bytes:
    return world.node.dev_only_keys(index + 1)[index]


def _signed_issue(world: NodeWorld, terms: ChainTerms, chain_id: int) -> tuple[bytes, bytes]:
    """``issue(terms)`` signed by BW's authority (key 1) for ``chain_id`` at the
    authority's next nonce on ``world``'s chain."""
    ledger = world.bw_auth
    data = ledger.ledger_abi.fn("issue").encode([terms.as_tuple(), world.bw_exporter.address])
    tx = {
        "to": ledger.deployment.ledger,
        "data": data,
        "gas": GAS["issue"],
        "nonce": _nonce(world, ledger.address),
        "chainId": chain_id,
        "value": 0,
        **ledger.transactor.fees.fields(),
    }
    return Signer(_key(world, 1)).sign(tx)


def _nonce(world: NodeWorld, address: str, tag: str = "latest") -> int:
    return int(world.node.request("eth_getTransactionCount", [address, tag]), 16)


def _send(world: NodeWorld, raw: bytes) -> Any:
    """``eth_sendRawTransaction``: the hash, or the node's RpcError."""
    try:
        return world.gov.rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
    except RpcError as exc:
        return exc


def _snapshot(world: NodeWorld, terms: ChainTerms) -> tuple[int, int, Any]:
    """What a refused transaction must leave as it was."""
    return (
        world.gov.block_number(),
        _nonce(world, world.bw_auth.address),
        world.gov.certificate(terms.number),
    )


def test_the_worlds_are_twins_but_for_the_chain_id(chains: tuple[NodeWorld, NodeWorld]) -> None:
    a, b = chains
    assert (a.node.chain_id, b.node.chain_id) == (31337, OTHER_CHAIN)
    assert (a.gov.deployment.registry, a.gov.deployment.ledger) == (
        b.gov.deployment.registry,
        b.gov.deployment.ledger,
    )
    assert a.bw_auth.address == b.bw_auth.address


def test_a_transaction_signed_for_another_chain_is_refused(chains: tuple[NodeWorld, NodeWorld]) -> None:
    a, _ = chains
    terms = a.terms()
    raw, tx_hash = _signed_issue(a, terms, OTHER_CHAIN)
    before = _snapshot(a, terms)
    answer = _send(a, raw)
    assert isinstance(answer, RpcError) and "chain" in answer.message.lower(), answer
    assert _snapshot(a, terms) == before and before[2] is None
    assert a.node.request("eth_getTransactionByHash", ["0x" + tx_hash.hex()]) is None


@pytest.mark.parametrize("mining", ["automine", "pool"])
def test_the_same_signed_transaction_lands_once(chains: tuple[NodeWorld, NodeWorld], mining: str) -> None:
    a, _ = chains
    terms = a.terms()
    raw, tx_hash = _signed_issue(a, terms, a.node.chain_id)
    nonce = _nonce(a, a.bw_auth.address)
    start = a.gov.block_number()
    if mining == "pool":
        a.node.request("evm_setAutomine", [False])
    try:
        assert _send(a, raw) == "0x" + tx_hash.hex()
        second = _send(a, raw)  # in the pool: "already known"; mined: its nonce is used
        if mining == "pool":
            assert isinstance(second, RpcError) or second == "0x" + tx_hash.hex()
            a.node.mine()
            third = _send(a, raw)
            assert isinstance(third, RpcError) and "nonce" in third.message.lower(), third
        else:
            assert isinstance(second, RpcError) and "nonce" in second.message.lower(), second
    finally:
        a.node.request("evm_setAutomine", [True])
    assert _nonce(a, a.bw_auth.address) == nonce + 1
    record = a.gov.certificate(terms.number)
    assert record is not None and record.terms == terms
    events = a.gov.events(start + 1, a.gov.block_number())
    assert [(name, bytes(args["documentHash"])) for name, args, _ in events] == [
        ("CertificateIssued", terms.document_hash)
    ]


def test_a_transaction_captured_on_one_chain_is_refused_on_another(
    chains: tuple[NodeWorld, NodeWorld], tmp_path: Path
) -> None:
    a, b = chains
    outbox = Outbox(tmp_path / "outbox.sqlite")
    capturing = Ledger(a.gov.rpc, a.gov.deployment, Signer(_key(a, 1)), outbox=outbox)
    terms = a.terms()
    assert _nonce(a, a.bw_auth.address) == _nonce(b, b.bw_auth.address)  # valid on b but for its chain id
    receipt = capturing.issue(terms, a.bw_exporter.address)
    (captured,) = [e for e in outbox.entries() if e.tx_hash == receipt.tx_hash]
    assert captured.label == "issue 0x" + terms.document_hash.hex()
    before = _snapshot(b, terms)
    answer = _send(b, captured.raw)
    assert isinstance(answer, RpcError) and "chain" in answer.message.lower(), answer
    assert _snapshot(b, terms) == before and before[2] is None
    assert a.gov.certificate(terms.number) is not None


def test_the_library_refuses_to_sign_for_another_chain(chains: tuple[NodeWorld, NodeWorld]) -> None:
    a, b = chains
    terms = a.terms()
    before = _snapshot(a, terms)
    # A deployment record of chain b used against chain a's node, without connect()'s check.
    stale = Ledger(a.gov.rpc, b.gov.deployment, Signer(_key(a, 1)))
    with pytest.raises(ChainIdMismatch, match=rf"serves chain 31337 but .* signs for chain {OTHER_CHAIN}"):
        stale.issue(terms, a.bw_exporter.address)
    with pytest.raises(ChainIdMismatch):
        stale.issue_many([(terms, a.bw_exporter.address)])  # pipelined: not simulated first
    transactor = Transactor(a.gov.rpc, Signer(_key(a, 1)), a.gov.decoder, chain_id=OTHER_CHAIN)
    with pytest.raises(ChainIdMismatch) as caught:
        transactor.submit_many([Call(a.gov.deployment.ledger, b"\x00" * 4, 30_000)])
    assert isinstance(caught.value, ConfigurationError)
    assert _key(a, 1).hex() not in str(caught.value)
    assert _snapshot(a, terms) == before
    with pytest.raises(ConfigurationError, match=r"not the deployment's chain: expected chain"):
        Ledger.connect(a.node.url, b.gov.deployment)


def test_a_node_replaced_by_another_chain_is_reported_as_such(tmp_path: Path) -> None:
    """The node behind the URL goes away and a node of another chain answers there: a
    write is refused (by the library when it saw the node fail, else by the node) and
    reported as a chain id mismatch; nothing lands on the other chain."""
    port = free_port()
    first = start_anvil(port=port, accounts=16)
    try:
        world = build_node_world(first)
        world.bw_auth.issue(world.terms(), world.bw_exporter.address)
        terms = world.terms()
        first.stop()
        with pytest.raises(ConnectionFailed):  # the library sees the node fail
            world.bw_auth.issue_many([(terms, world.bw_exporter.address)])
        with AnvilNode(port=port, chain_id=OTHER_CHAIN, accounts=16) as impostor:
            with pytest.raises(ChainIdMismatch):
                world.bw_auth.issue_many([(terms, world.bw_exporter.address)])
            nonce = int(impostor.request("eth_getTransactionCount", [world.bw_auth.address, "pending"]), 16)
            assert nonce == 0  # nothing reached the impostor
    finally:
        first.close()
