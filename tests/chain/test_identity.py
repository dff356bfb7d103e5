"""Chain identity: two anvils with the same chain id and, deployed by the same key, the
same contract addresses. A client of one chain's deployment refuses the other chain
before its first read or write, and nothing is written there; the audit index refuses
it too (it is not a reorganisation). Records older than identities still load and are
upgraded from the chain they are on."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpledger.audit import replay
from kpledger.chain.deployment import Deployment
from kpledger.chain.identity import ChainFacts, ChainMismatch, mismatch, read_facts, short
from kpledger.chain.node import AnvilNode
from kpledger.devkeys import dev_only_key
from kpledger.ledger import Ledger
from tests.chain.nodeworld import start_anvil
from tests.conftest import fresh_terms


@dataclasses.dataclass
class TwoChains:
    a: AnvilNode
    b: AnvilNode
    on_a: Ledger
    on_b: Ledger


@pytest.fixture(scope="module")
def chains() -> Iterator[TwoChains]:
    """Chain id 31337 twice, contracts at the same addresses; B's genesis a day older,
    so the two genesis blocks differ even when both nodes start in the same second."""
    a = start_anvil(accounts=10)
    b = start_anvil(accounts=10, extra_args=("--timestamp", str(int(time.time()) - 86_400)))
    try:
        key = dev_only_key(0)
        on_a, on_b = Ledger.deploy(a.url, key), Ledger.deploy(b.url, key)
        for gov in (on_a, on_b):
            gov.admit_participant("BW", "Botswana", 60)
            gov.admit_participant("AE", "United Arab Emirates", 60)
            gov.appoint_authority("BW", gov.as_signer(dev_only_key(1)).address)
        yield TwoChains(a, b, on_a, on_b)
    finally:
        a.close()
        b.close()


def _state(ledger: Ledger) -> tuple[int, int]:
    """Block height and the authority's nonce: what any write would change."""
    authority = ledger.as_signer(dev_only_key(1)).address
    nonce = ledger.rpc.call("eth_getTransactionCount", [authority, "latest"])
    return ledger.block_number(), int(nonce, 16) if isinstance(nonce, str) else int(nonce)


def test_the_record_names_its_chain(chains: TwoChains) -> None:
    a, b = chains.on_a.deployment, chains.on_b.deployment
    assert (a.registry, a.ledger, a.chain_id) == (b.registry, b.ledger, b.chain_id)
    assert a.has_identity and b.has_identity
    assert a.genesis_hash != b.genesis_hash and a.block_hash != b.block_hash
    facts = read_facts(chains.on_a.rpc, a.block)
    assert (facts.genesis_hash, facts.block_hash) == (a.genesis_hash, a.block_hash)
    receipt = chains.on_a.rpc.call("eth_getTransactionReceipt", [a.registry_tx])
    assert receipt is not None and str(receipt["contractAddress"]).lower() == a.registry.lower()
    assert chains.on_a.rpc.call("eth_getTransactionReceipt", [a.ledger_tx]) is not None


def test_a_write_aimed_at_the_other_chain_is_refused_and_writes_nothing(chains: TwoChains) -> None:
    before = _state(chains.on_b)
    with pytest.raises(ChainMismatch) as refused:
        Ledger.connect(chains.b.url, chains.on_a.deployment, dev_only_key(1))
    message = str(refused.value)
    assert "not the deployment's chain" in message
    assert short(chains.on_a.deployment.genesis_hash) in message  # expected
    assert short(chains.on_b.deployment.genesis_hash) in message  # found
    assert _state(chains.on_b) == before
    terms = fresh_terms(int(time.time()), "BW", "AE", tag="ID")
    assert chains.on_b.certificate(terms.document_hash) is None


def test_a_reset_chain_with_the_same_genesis_is_refused_in_words() -> None:
    """Same genesis, but the deployment block is not the recorded one (a history
    replaced under the record, e.g. a node reset and redeployed)."""
    good = Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, 3, "0x" + "33" * 20, "", "0xaa", "0xbb")
    assert mismatch(good, ChainFacts(31337, "0xaa", "0xbb")) is None
    assert "block 3 is 0xcc" in (mismatch(good, ChainFacts(31337, "0xaa", "0xcc")) or "")
    assert "no such block" in (mismatch(good, ChainFacts(31337, "0xaa", None)) or "")
    assert "found chain 1" in (mismatch(good, ChainFacts(1, "0xaa", "0xbb")) or "")
    assert "genesis 0xdd" in (mismatch(good, ChainFacts(31337, "0xdd", "0xbb")) or "")
    older = dataclasses.replace(good, genesis_hash="", block_hash="")
    assert mismatch(older, ChainFacts(31337, "0xdd", None)) is None  # chain id alone


def test_an_older_record_loads_and_is_upgraded_from_its_chain(chains: TwoChains, tmp_path: Path) -> None:
    current = chains.on_a.deployment
    path = tmp_path / "deployment.json"
    record = current.to_json()
    for name in ("format", "genesis_hash", "block_hash", "registry_tx", "ledger_tx"):
        del record[name]
    path.write_text(json.dumps(record), encoding="utf-8")
    older = Deployment.load(path)
    assert not older.has_identity
    reader = Ledger.connect(chains.a.url, older)
    upgraded = older.with_identity(read_facts(reader.rpc, older.block))
    assert (upgraded.genesis_hash, upgraded.block_hash) == (current.genesis_hash, current.block_hash)
    with pytest.raises(ChainMismatch):
        Ledger.connect(chains.b.url, upgraded)


def test_the_audit_index_refuses_a_foreign_chain(chains: TwoChains, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    first = replay(chains.a.url, chains.on_a.deployment, db, progress=False)
    assert first.events > 0
    with pytest.raises(ChainMismatch, match="not the deployment's chain"):
        replay(chains.b.url, chains.on_a.deployment, db, progress=False)
    # An older record (chain id alone) does not get past the index: it was bound to A.
    older = dataclasses.replace(chains.on_a.deployment, genesis_hash="", block_hash="")
    with pytest.raises(ChainMismatch, match="index was built from another chain"):
        replay(chains.b.url, older, db, progress=False)
    again = replay(chains.a.url, chains.on_a.deployment, db, progress=False)
    assert again.reorgs == [] and again.checkpoint >= first.checkpoint
