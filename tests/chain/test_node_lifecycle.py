"""Nodes starting, stopping, crashing and failing: state persistence across a clean
restart and a crash, a stopped node, a receipt that cannot arrive, and the errors of
:mod:`kpledger.chain.node` when a binary is missing or a node does not come up."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from kpledger.chain import node as node_module
from kpledger.chain.deployment import Deployment
from kpledger.chain.node import (
    AnvilNode,
    NodeBinaryMissing,
    NodePortInUse,
    NodeStartError,
    find_anvil,
    free_port,
)
from kpledger.chain.sender import Call, Signer
from kpledger.errors import ConnectionFailed, KPLedgerError, TransactionTimeout
from kpledger.ledger import Ledger
from kpledger.types import CertificateStatus
from tests.chain.nodeworld import build_node_world, start_anvil

anvil = pytest.mark.anvil


# ---------------------------------------------------------------------- persistence


@anvil
def test_state_survives_a_clean_restart(tmp_path: Path) -> None:
    node = start_anvil(data_dir=tmp_path, persist=True)
    try:
        world = build_node_world(node)
        kept = [world.terms() for _ in range(3)]
        for terms in kept:
            world.bw_auth.issue(terms, world.bw_exporter.address)
        world.ae_auth.confirm_receipt(kept[0].number)
        world.gov.deployment.save(tmp_path / "deployment.json")
        height = world.gov.block_number()
        later = world.terms()
        assert node.stop() == 0  # SIGINT: anvil dumps its state on the way out
        assert node.state_path is not None and node.state_path.stat().st_size > 0
    finally:
        node.stop()

    with start_anvil(data_dir=tmp_path, persist=True) as again:  # a new process, a new port
        deployment = Deployment.load(tmp_path / "deployment.json")
        keys = again.dev_only_keys()
        gov = Ledger.connect(again.url, deployment, keys[0])  # checks chain id and contract code
        assert gov.block_number() >= height
        statuses = [gov.certificate(t.number).status for t in kept]  # type: ignore[union-attr]
        assert statuses == [CertificateStatus.RECEIVED, CertificateStatus.ISSUED, CertificateStatus.ISSUED]
        assert gov.participant("BW") is not None and gov.is_authority("BW", gov.as_signer(keys[1]).address)
        # Blocks and logs came back too: the timeline is rebuilt from events.
        assert [e.event for e in gov.timeline(kept[0].number)] == ["CertificateIssued", "CertificateReceived"]
        # Writing goes on where it stopped (nonces are read from the restored chain).
        bw_auth = gov.as_signer(keys[1])
        bw_auth.issue(later, world.bw_exporter.address)
        assert gov.certificate(later.number) is not None


@anvil
def test_a_crash_loses_only_what_came_after_the_last_dump(tmp_path: Path) -> None:
    node = start_anvil(data_dir=tmp_path, persist=True, state_interval=1)
    try:
        world = build_node_world(node)
        dumped, lost = world.terms(), world.terms()
        world.bw_auth.issue(dumped, world.bw_exporter.address)
        assert node.state_path is not None
        issued_at = time.time()
        deadline = time.monotonic() + 10
        while not (node.state_path.exists() and node.state_path.stat().st_mtime > issued_at + 0.05):
            assert time.monotonic() < deadline, "anvil never dumped its state"
            time.sleep(0.02)
        dump_seen = time.monotonic()
        world.bw_auth.issue(lost, world.bw_exporter.address)
        node.kill()  # SIGKILL: no dump on the way out
        killed_within = time.monotonic() - dump_seen
        deployment = world.gov.deployment
    finally:
        node.stop()

    with start_anvil(data_dir=tmp_path, persist=True) as again:
        gov = Ledger.connect(again.url, deployment)
        assert gov.certificate(dumped.number) is not None
        if killed_within < 0.5:  # the next periodic dump was still ~0.5 s away
            assert gov.certificate(lost.number) is None


# ---------------------------------------------------------------------- failures


@anvil
def test_a_stopped_node_raises_connection_failed() -> None:
    node = start_anvil()
    world = build_node_world(node)
    terms = world.terms()
    url, deployment = node.url, world.gov.deployment
    node.stop()

    with pytest.raises(ConnectionFailed):
        world.gov.certificate(terms.document_hash)
    with pytest.raises(ConnectionFailed):
        world.bw_auth.issue(terms, world.bw_exporter.address)  # simulated first
    with pytest.raises(ConnectionFailed):
        world.bw_auth.issue_many([(terms, world.bw_exporter.address)])  # sent without simulation
    with pytest.raises(ConnectionFailed):
        Ledger.connect(url, deployment)
    with pytest.raises(ConnectionFailed):
        Ledger.deploy(url, node.dev_only_keys(1)[0])
    node.close()


@anvil
def test_a_receipt_that_cannot_arrive_times_out() -> None:
    with start_anvil(no_mining=True) as node:
        key = node.dev_only_keys(1)[0]
        started = time.monotonic()
        with pytest.raises(TransactionTimeout):
            Ledger.deploy(node.url, key, receipt_timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 6.0
        node.mine()  # "may still be mined": the deployment was waiting in the pool
        assert int(node.request("eth_getTransactionCount", [Signer(key).address, "latest"]), 16) == 1

        node.request("evm_setAutomine", [True])
        world = build_node_world(node, receipt_timeout=1.0)
        node.request("evm_setAutomine", [False])
        terms = world.terms()
        started = time.monotonic()
        with pytest.raises(TransactionTimeout):
            world.bw_auth.issue(terms, world.bw_exporter.address)
        assert 1.0 <= time.monotonic() - started < 6.0
        assert world.gov.certificate(terms.number) is None
        node.mine()
        assert world.gov.certificate(terms.number) is not None
        # The local nonce stayed in step: the next write is accepted.
        node.request("evm_setAutomine", [True])
        world.bw_auth.issue(world.terms(), world.bw_exporter.address)


@anvil
def test_a_dropped_transaction_does_not_block_later_writes() -> None:
    with start_anvil(no_mining=True) as node:
        node.request("evm_setAutomine", [True])
        world = build_node_world(node, receipt_timeout=1.0)
        node.request("evm_setAutomine", [False])
        with pytest.raises(TransactionTimeout):
            world.bw_auth.issue(world.terms(), world.bw_exporter.address)
        node.request("anvil_dropAllTransactions")  # the pool forgets it, as after a node restart
        node.request("evm_setAutomine", [True])
        world.bw_auth.issue(world.terms(), world.bw_exporter.address)


@anvil
def test_a_node_dying_while_a_receipt_is_awaited() -> None:
    node = start_anvil()
    try:
        world = build_node_world(node, receipt_timeout=5.0)
        node.request("evm_setAutomine", [False])
        issue = world.bw_auth.ledger_abi.fn("issue")
        data = issue.encode([world.terms().as_tuple(), world.bw_exporter.address])
        hashes = world.bw_auth.transactor.submit_many([Call(world.gov.deployment.ledger, data, 250_000)])
        node.kill()
        with pytest.raises(ConnectionFailed):
            world.bw_auth.transactor.wait_many(hashes)
    finally:
        node.close()


# ---------------------------------------------------------------------- the node itself


@anvil
def test_node_life_cycle(tmp_path: Path) -> None:
    node = start_anvil(data_dir=tmp_path, chain_id=4242)
    assert node.running and node.url.startswith("http://127.0.0.1:") and node.pid is not None
    assert int(node.request("eth_chainId"), 16) == 4242
    assert "running" in repr(node)
    with pytest.raises(NodePortInUse):
        AnvilNode(port=node.port).start()
    port = node.port
    node.restart()
    assert node.running and node.port == port
    assert node.stop() == 0 and not node.running
    assert node.stop() == 0  # idempotent
    assert node.log_path.exists() and tmp_path.exists()  # a given data dir is kept
    node.close()
    assert tmp_path.exists()

    with start_anvil() as own:
        own_dir = own.data_dir
        own.kill()
        assert not own.running
    assert not own_dir.exists()  # a data dir made by the node is removed on exit


def test_missing_anvil_names_npm_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(node_module.ANVIL_ENV, raising=False)
    monkeypatch.setattr(node_module, "project_root", lambda: tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NodeBinaryMissing, match="npm ci") as caught:
        find_anvil()
    assert isinstance(caught.value, KPLedgerError)
    monkeypatch.setenv(node_module.ANVIL_ENV, str(tmp_path / "no-such-anvil"))
    with pytest.raises(NodeBinaryMissing, match=node_module.ANVIL_ENV):
        AnvilNode()


def test_env_var_selects_the_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _script(tmp_path / "anvil", "exit 0")
    monkeypatch.setenv(node_module.ANVIL_ENV, str(fake))
    assert find_anvil() == fake
    assert AnvilNode(block_time=1, zero_fees=True, chain_id=7).command()[0] == str(fake)


def test_a_node_that_exits_reports_its_log(tmp_path: Path) -> None:
    fake = _script(tmp_path / "anvil", 'echo "Error: invalid genesis"; exit 3')
    node = AnvilNode(binary=fake, data_dir=tmp_path / "data")
    with pytest.raises(NodeStartError, match=r"(?s)exited with code 3.*invalid genesis"):
        node.start()
    assert not node.running


def test_a_node_that_never_answers_times_out_with_its_log(tmp_path: Path) -> None:
    fake = _script(tmp_path / "anvil", 'echo "warming up the genesis"; exec sleep 60')
    node = AnvilNode(binary=fake, data_dir=tmp_path / "data", startup_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(NodeStartError, match=r"(?s)within 1.0s.*warming up"):
        node.start()
    assert time.monotonic() - started < 5 and not node.running


def test_port_in_use_is_detected_from_the_log(tmp_path: Path) -> None:
    fake = _script(tmp_path / "anvil", 'echo "Error: Address already in use (os error 98)" >&2; exit 1')
    with pytest.raises(NodePortInUse):
        AnvilNode(binary=fake, port=free_port(), data_dir=tmp_path / "data").start()


def test_options_are_checked() -> None:
    fake = "/bin/true"
    with pytest.raises(ValueError):
        AnvilNode(binary=fake, block_time=1, no_mining=True)
    with pytest.raises(ValueError):
        AnvilNode(binary=fake, state_interval=5)
    with pytest.raises(ValueError):
        AnvilNode(binary=fake, zero_fees=True, base_fee=7)
    command = AnvilNode(binary=fake, block_time=0.5, zero_fees=True, persist=True, state_interval=2).command()
    assert command[command.index("--block-time") + 1] == "0.5"
    assert command[command.index("--gas-price") + 1] == "0"
    assert command[command.index("--block-base-fee-per-gas") + 1] == "0"
    assert command[command.index("--state-interval") + 1] == "2"


# ---------------------------------------------------------------------- helpers


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert os.access(path, os.X_OK)
    return path
