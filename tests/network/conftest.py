"""A real Clique network of geth 1.13.15 validators on loopback (``make geth`` builds the
binary). One network per test module: starting four validators takes a few seconds."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpledger.chain.failover import FailoverRpc
from kpledger.chain.revert import RevertDecoder
from kpledger.chain.sender import Call, Signer, Transactor
from kpledger.ledger import Ledger
from kpledger.network.cluster import CliqueNetwork

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def clique(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliqueNetwork]:
    network = CliqueNetwork.open(tmp_path_factory.mktemp("clique"), validators=4)
    network.start()
    try:
        network.wait_for_block(2, timeout=60)
        yield network
    finally:
        network.stop()


@pytest.fixture
def all_running(clique: CliqueNetwork) -> CliqueNetwork:
    """Every validator up and peered again before the test."""
    for index, node in enumerate(clique.nodes):
        if not node.running:
            clique.start_validator(index)
    clique.heal()
    return clique


def tagged_call(tag: bytes) -> Call:
    """A write whose payload names it: a duplicate would show as the same tag twice."""
    return Call("0x000000000000000000000000000000000000dEaD", tag, gas=30_000)


def transactor(urls: list[str], outbox_path: Path | None = None, **options: object) -> Transactor:
    from kpledger.chain.outbox import Outbox

    outbox = Outbox(outbox_path) if outbox_path is not None else None
    return Transactor(
        FailoverRpc(urls, stall_after=4.0), Signer(secrets.token_bytes(32)), RevertDecoder(),
        outbox=outbox, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def tags_on_chain(network: CliqueNetwork, node: int, sender: str, prefix: bytes) -> list[bytes]:
    """Every payload starting with ``prefix`` that ``sender`` got into validator ``node``'s chain."""
    head = int(network.nodes[node].request("eth_blockNumber"), 16)
    found: list[bytes] = []
    for number in range(head + 1):
        block = network.nodes[node].request("eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            data = bytes.fromhex(tx["input"][2:])
            if tx["from"].lower() == sender.lower() and data.startswith(prefix):
                found.append(data)
    return found


def kimberley_process(url: str) -> tuple[Ledger, Ledger, Ledger]:
    """kpledger deployed through ``url`` (one URL or several, comma-separated) with BW and AE
    admitted and their authorities appointed: (BW's authority, AE's authority, a BW exporter)."""
    kp = Ledger.deploy(url, secrets.token_bytes(32))
    botswana, uae, exporter = (kp.as_signer(secrets.token_bytes(32)) for _ in range(3))
    kp.admit_participant("BW", "Botswana", validity_days=60)
    kp.admit_participant("AE", "United Arab Emirates", validity_days=60)
    kp.appoint_authority("BW", botswana.address)
    kp.appoint_authority("AE", uae.address)
    botswana.license_exporter("BW", exporter.address)
    return botswana, uae, exporter
