"""Several senders writing at once against a real node: every transaction lands exactly
once, a Ledger shared by threads keeps its nonces in step, and a certificate anchored
twice (one after the other, or racing) is refused and stored once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kpledger import contract_errors as ce
from kpledger.ledger import Ledger
from kpledger.types import CertificateStatus, ChainTerms, Receipt
from tests.chain.nodeworld import NodeWorld

pytestmark = pytest.mark.anvil

PER_THREAD = 50
WRITE_EVENTS = {"CertificateRequested", "CertificateIssued"}


def nonce(world: NodeWorld, address: str) -> int:
    return int(world.gov.rpc.call("eth_getTransactionCount", [address, "latest"]), 16)


def written(world: NodeWorld, from_block: int) -> Counter[bytes]:
    """How many Requested/Issued events each document hash got since ``from_block``."""
    events = world.gov.events(from_block, world.gov.block_number())
    return Counter(bytes(args["documentHash"]) for name, args, _ in events if name in WRITE_EVENTS)


def run_together(jobs: list[Callable[[], list[Receipt]]]) -> list[list[Receipt]]:
    """Run ``jobs`` on one thread each, released together by a barrier."""
    barrier = threading.Barrier(len(jobs))

    def released(job: Callable[[], list[Receipt]]) -> list[Receipt]:
        barrier.wait()
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(released, job) for job in jobs]
        return [f.result(timeout=120) for f in futures]


def test_concurrent_senders_land_exactly_once(anvil_world: NodeWorld) -> None:
    """4 threads with 4 accounts (2 exporters anchoring, 2 authorities issuing), plus
    2 threads sharing ONE Ledger: one sends singly, the other pipelines batches."""
    w = anvil_world
    exporters = [w.gov.as_signer(k) for k in w.spare[0:2]]
    authorities = [w.gov.as_signer(k) for k in w.spare[2:4]]
    shared = w.gov.as_signer(w.spare[4])  # a fresh Ledger: its Transactor is created under contention
    for exporter in exporters:
        w.bw_auth.license_exporter("BW", exporter.address)
    for authority in [*authorities, shared]:
        w.gov.appoint_authority("BW", authority.address)
    start = w.gov.block_number() + 1
    before = {ledger.address: nonce(w, ledger.address) for ledger in [*exporters, *authorities, shared]}

    anchored = [[w.terms() for _ in range(PER_THREAD)] for _ in exporters]
    issued = [[w.terms() for _ in range(PER_THREAD)] for _ in authorities]
    shared_single = [w.terms() for _ in range(PER_THREAD)]
    shared_batched = [w.terms() for _ in range(PER_THREAD)]
    holder = w.bw_exporter.address

    def anchor_each(ledger: Ledger, items: list[ChainTerms]) -> Callable[[], list[Receipt]]:
        return lambda: [ledger.anchor(t) for t in items]

    def issue_each(ledger: Ledger, items: list[ChainTerms]) -> Callable[[], list[Receipt]]:
        return lambda: [ledger.issue(t, holder) for t in items]

    def issue_in_batches(ledger: Ledger, items: list[ChainTerms]) -> Callable[[], list[Receipt]]:
        def job() -> list[Receipt]:
            out: list[Receipt] = []
            for i in range(0, len(items), 10):
                out += ledger.issue_many([(t, holder) for t in items[i : i + 10]])
            return out

        return job

    results = run_together(
        [
            *(anchor_each(e, items) for e, items in zip(exporters, anchored, strict=True)),
            *(issue_each(a, items) for a, items in zip(authorities, issued, strict=True)),
            issue_each(shared, shared_single),
            issue_in_batches(shared, shared_batched),
        ]
    )

    receipts = [r for batch in results for r in batch]
    total = PER_THREAD * 6
    assert len(receipts) == total and all(r.status == 1 for r in receipts)
    assert len({r.tx_hash for r in receipts}) == total
    # Each account sent exactly its own transactions: no lost, doubled or skipped nonce.
    sent = {e.address: PER_THREAD for e in [*exporters, *authorities]} | {shared.address: 2 * PER_THREAD}
    assert {a: nonce(w, a) - n for a, n in before.items()} == sent
    # Every certificate is on the ledger once, with the right status.
    counts = written(w, start)
    assert len(counts) == total and set(counts.values()) == {1}
    for items in anchored:
        for t in items:
            assert w.gov.certificate(t.document_hash).status is CertificateStatus.REQUESTED  # type: ignore[union-attr]
    for items in [*issued, shared_single, shared_batched]:
        for t in items:
            assert w.gov.certificate(t.document_hash).status is CertificateStatus.ISSUED  # type: ignore[union-attr]


def test_same_certificate_anchored_twice_in_sequence(anvil_world: NodeWorld) -> None:
    w = anvil_world
    start = w.gov.block_number() + 1
    terms = w.terms()
    w.bw_exporter.anchor(terms)
    with pytest.raises(ce.CertificateHashAlreadyUsed) as caught:
        w.bw_exporter.anchor(terms)
    assert caught.value.args_["documentHash"] == terms.document_hash
    with pytest.raises(ce.CertificateHashAlreadyUsed):  # the authority cannot issue it either
        w.bw_auth.issue(terms, w.bw_exporter.address)
    same_hash = ChainTerms(**{**terms.__dict__, "number": terms.number + "B"})
    with pytest.raises(ce.CertificateHashAlreadyUsed):
        w.bw_exporter.anchor(same_hash)
    same_number = w.terms(number=terms.number)
    with pytest.raises(ce.CertificateNumberAlreadyUsed):
        w.bw_exporter.anchor(same_number)
    # Pipelined (no simulation): the revert is decoded from the mined receipt.
    with pytest.raises(ce.CertificateHashAlreadyUsed):
        w.bw_exporter.anchor_many([terms])
    assert written(w, start) == Counter({terms.document_hash: 1})
    assert w.gov.certificate(same_hash.number) is None


@pytest.mark.parametrize("pipelined", [False, True], ids=["simulated", "pipelined"])
def test_same_certificate_anchored_twice_concurrently(anvil_world: NodeWorld, pipelined: bool) -> None:
    """Two exporters race to anchor one certificate. Simulated sends may both pass the
    simulation; pipelined sends skip it, so the loser reverts on chain and its error is
    recovered from the receipt."""
    w = anvil_world
    second = w.gov.as_signer(w.spare[0])
    w.bw_auth.license_exporter("BW", second.address)
    start = w.gov.block_number() + 1
    terms = w.terms()

    def attempt(ledger: Ledger) -> Callable[[], list[Receipt]]:
        def job() -> list[Receipt]:
            try:
                return ledger.anchor_many([terms]) if pipelined else [ledger.anchor(terms)]
            except ce.CertificateHashAlreadyUsed as exc:
                outcomes.append(exc)
                return []

        return job

    outcomes: list[Any] = []
    results = run_together([attempt(w.bw_exporter), attempt(second)])
    winners = [r for batch in results for r in batch]
    assert len(winners) == 1 and len(outcomes) == 1
    assert written(w, start) == Counter({terms.document_hash: 1})
    record = w.gov.certificate(terms.document_hash)
    assert record is not None and record.status is CertificateStatus.REQUESTED


def test_a_second_client_on_the_same_account(anvil_world: NodeWorld) -> None:
    """The API and the CLI signing with one authority key: each caches its own nonce.
    A pipelined batch from the stale one must still land exactly once, and say so."""
    w = anvil_world
    holder = w.bw_exporter.address
    assert w.bw_auth.signer is not None
    w.bw_auth.issue(w.terms(), holder)  # its nonce is now cached
    other = Ledger.connect(w.node.url, w.gov.deployment, w.bw_auth.signer)
    other.issue(w.terms(), holder)  # ... and now stale by one
    start = w.gov.block_number() + 1
    items = [(w.terms(), holder) for _ in range(10)]
    try:
        receipts = w.bw_auth.issue_many(items)
    finally:
        # Whatever was raised, nothing may be half-done silently: count what landed.
        landed = written(w, start)
    assert len(receipts) == 10 and all(r.status == 1 for r in receipts)
    assert len(landed) == 10 and set(landed.values()) == {1}
