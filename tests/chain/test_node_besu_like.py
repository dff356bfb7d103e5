"""The client on a chain shaped like the production one: a Besu QBFT consortium with free
gas. Stood in for by an anvil with a custom chain id (1337), no automine (a block every
second), gas price and base fee 0. One node and one world for the module; every test
uses fresh certificates, so none needs a revert."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest

from kpledger import contract_errors as ce
from kpledger.chain.node import AnvilNode
from kpledger.chain.sender import FeePolicy
from kpledger.devkeys import DevKeysRefused, dev_only_keys
from kpledger.ledger import Ledger
from kpledger.types import CertificateStatus, ChainTerms, Receipt
from tests.chain.nodeworld import NodeWorld, run_main_flow, start_anvil

pytestmark = pytest.mark.anvil

CHAIN_ID = 1337
BLOCK_TIME = 1


def together(*writes: Callable[[], object]) -> None:
    """Run independent writes from threads, so they share a block."""
    with ThreadPoolExecutor(len(writes)) as pool:
        for future in [pool.submit(write) for write in writes]:
            future.result()


@pytest.fixture(scope="module")
def besu_like() -> Iterator[AnvilNode]:
    node = start_anvil(chain_id=CHAIN_ID, block_time=BLOCK_TIME, zero_fees=True)
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="module")
def besu_world(besu_like: AnvilNode) -> NodeWorld:
    """The roles, set up in as few blocks as possible: independent writes are sent
    from threads so they share a block."""
    keys = besu_like.dev_only_keys()
    gov = Ledger.deploy(besu_like.url, keys[0], receipt_timeout=30)
    bw_auth, ae_auth, be_auth, bw_exporter, ae_importer, stranger = (gov.as_signer(k) for k in keys[1:7])

    together(
        lambda: gov.admit_participant("BW", "Botswana", 60),
        lambda: gov.admit_participant("AE", "United Arab Emirates", 60),
        lambda: gov.admit_participant("BE", "Belgium", 60),
    )
    together(
        lambda: gov.appoint_authority("BW", bw_auth.address),
        lambda: gov.appoint_authority("AE", ae_auth.address),
        lambda: gov.appoint_authority("BE", be_auth.address),
    )
    together(
        lambda: bw_auth.license_exporter("BW", bw_exporter.address),
        lambda: ae_auth.license_importer("AE", ae_importer.address),
    )
    return NodeWorld(besu_like, gov, bw_auth, ae_auth, be_auth, bw_exporter, ae_importer, stranger, keys[7:])


def test_custom_chain_id_and_zero_fees(besu_world: NodeWorld) -> None:
    gov = besu_world.gov
    assert int(gov.rpc.call("eth_chainId", []), 16) == CHAIN_ID
    assert gov.deployment.chain_id == CHAIN_ID
    assert gov.transactor.fees == FeePolicy(max_fee=0, priority_fee=0, gas_price=None)
    assert gov.transactor.fees.fields() == {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2}
    with pytest.raises(DevKeysRefused):
        dev_only_keys(CHAIN_ID)  # the dev keys are only handed out with allow_any_chain

    balance = gov.rpc.call("eth_getBalance", [besu_world.bw_auth.address, "latest"])
    receipt = besu_world.bw_auth.issue(besu_world.terms(), besu_world.bw_exporter.address)
    tx = gov.rpc.call("eth_getTransactionByHash", ["0x" + receipt.tx_hash.hex()])
    assert int(tx["chainId"], 16) == CHAIN_ID
    assert int(tx["maxFeePerGas"], 16) == 0 and int(tx["maxPriorityFeePerGas"], 16) == 0
    assert receipt.gas_used > 0
    assert gov.rpc.call("eth_getBalance", [besu_world.bw_auth.address, "latest"]) == balance  # gas is free
    block = gov.rpc.call("eth_getBlockByNumber", [hex(receipt.block_number), False])
    assert int(block["baseFeePerGas"], 16) == 0


def test_main_flow_with_real_block_times(besu_world: NodeWorld) -> None:
    first_block = besu_world.gov.block_number()
    started = time.monotonic()
    run_main_flow(besu_world)
    elapsed = time.monotonic() - started
    blocks = besu_world.gov.block_number() - first_block
    # 14 writes that each wait for the previous one: each needs its own block, and
    # blocks come once a second, so the flow cannot be faster than the block clock
    # (an automine node runs it in a fraction of a second). The margin allows for a
    # late block timer on a busy machine, after which anvil catches up at once.
    assert blocks >= 14
    assert elapsed >= 13 * BLOCK_TIME * 0.8
    times = [besu_world.gov.block_time(n) for n in range(first_block + 1, besu_world.gov.block_number() + 1)]
    assert times == sorted(times) and times[-1] - times[0] >= 8 * BLOCK_TIME


def test_receipts_wait_for_the_next_block(besu_world: NodeWorld) -> None:
    transactor = besu_world.bw_auth.transactor
    fn = besu_world.bw_auth.ledger_abi.fn("issue")
    from kpledger.chain.sender import Call

    items = [besu_world.terms() for _ in range(20)]
    calls = [
        Call(
            besu_world.gov.deployment.ledger,
            fn.encode([t.as_tuple(), besu_world.bw_exporter.address]),
            250_000,
        )
        for t in items
    ]
    sent_at = time.monotonic()
    hashes = transactor.submit_many(calls)
    pending = besu_world.gov.rpc.batch([("eth_getTransactionReceipt", ["0x" + h.hex()]) for h in hashes])
    receipts = transactor.wait_many(hashes, timeout=10)
    waited = time.monotonic() - sent_at
    assert waited <= BLOCK_TIME + 4
    # Nothing is mined on submission (no automine): the 20 land together in one or two blocks.
    assert sum(1 for p in pending if p is None) >= 1
    assert len({r.block_number for r in receipts}) <= 2 and all(r.status == 1 for r in receipts)


def test_confirmations_wait_for_depth(besu_world: NodeWorld) -> None:
    assert besu_world.bw_auth.signer is not None
    deep = Ledger(
        besu_world.gov.rpc,
        besu_world.gov.deployment,
        besu_world.bw_auth.signer,
        confirmations=2,
        receipt_timeout=15,
    )
    deep.forget_local_state()
    receipt = deep.issue(besu_world.terms(), besu_world.bw_exporter.address)
    assert besu_world.gov.block_number() >= receipt.block_number + 2
    # Two clients on one account: the other one's cached nonce is stale now.
    besu_world.bw_auth.forget_local_state()


def test_concurrent_senders_share_blocks(besu_world: NodeWorld) -> None:
    """Four accounts pipelining at once, and two threads sharing one Ledger: with block
    times, many transactions of one sender ride in one block."""
    exporters = [besu_world.gov.as_signer(k) for k in besu_world.spare[0:2]]
    start = besu_world.gov.block_number() + 1
    together(*(partial(besu_world.bw_auth.license_exporter, "BW", e.address) for e in exporters))
    holder = besu_world.bw_exporter.address
    jobs: list[tuple[Ledger, list[ChainTerms], bool]] = [
        (exporters[0], [besu_world.terms() for _ in range(25)], False),
        (exporters[1], [besu_world.terms() for _ in range(25)], False),
        (besu_world.bw_auth, [besu_world.terms() for _ in range(25)], True),
        (besu_world.bw_auth, [besu_world.terms() for _ in range(25)], True),
    ]
    barrier = threading.Barrier(len(jobs))

    def run(ledger: Ledger, items: list[ChainTerms], issue: bool) -> list[Receipt]:
        barrier.wait()
        out: list[Receipt] = []
        for i in range(0, len(items), 10):
            chunk = items[i : i + 10]
            out += ledger.issue_many([(t, holder) for t in chunk]) if issue else ledger.anchor_many(chunk)
        return out

    with ThreadPoolExecutor(len(jobs)) as pool:
        receipts = [r for f in [pool.submit(run, *job) for job in jobs] for r in f.result(timeout=60)]
    assert len({r.tx_hash for r in receipts}) == 100 and all(r.status == 1 for r in receipts)
    assert len({r.block_number for r in receipts}) <= 12  # 3 rounds of 4 senders: they share blocks
    events = besu_world.gov.events(start, besu_world.gov.block_number())
    counts = Counter(
        bytes(a["documentHash"]) for n, a, _ in events if n in ("CertificateRequested", "CertificateIssued")
    )
    assert len(counts) == 100 and set(counts.values()) == {1}


def test_same_certificate_racing_in_one_block(besu_world: NodeWorld) -> None:
    """Two pipelined anchors of one certificate from two exporters land in the same
    block; the loser's revert must still decode to CertificateHashAlreadyUsed."""
    second = besu_world.gov.as_signer(besu_world.spare[2])
    besu_world.bw_auth.license_exporter("BW", second.address)
    terms = besu_world.terms()
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def attempt(ledger: Ledger) -> None:
        barrier.wait()
        try:
            outcomes.append(ledger.anchor_many([terms])[0])
        except Exception as exc:
            outcomes.append(exc)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(attempt, ledger) for ledger in (besu_world.bw_exporter, second)]:
            future.result()
    winners = [o for o in outcomes if isinstance(o, Receipt)]
    losers = [o for o in outcomes if not isinstance(o, Receipt)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], ce.CertificateHashAlreadyUsed), repr(losers[0])
    record = besu_world.gov.certificate(terms.document_hash)
    assert record is not None and record.status is CertificateStatus.REQUESTED


def test_threads_sharing_a_stale_ledger(besu_world: NodeWorld) -> None:
    """The API's worker threads share one authority Ledger while the CLI signs with the
    same key now and then: every write must land, none may fail."""
    ledger, holder = besu_world.be_auth, besu_world.bw_exporter.address
    assert ledger.signer is not None
    cli = Ledger.connect(besu_world.node.url, besu_world.gov.deployment, ledger.signer)
    ledger.issue(besu_world.terms("BE"), holder)  # the API's nonce is cached
    try:
        for _ in range(3):
            cli.issue(besu_world.terms("BE"), holder)  # ... and stale again
            items = [besu_world.terms("BE") for _ in range(4)]
            barrier = threading.Barrier(len(items))

            with ThreadPoolExecutor(len(items)) as pool:
                futures = [pool.submit(_released, barrier, ledger.issue, t, holder) for t in items]
                receipts = [f.result(timeout=30) for f in futures]
            assert all(r.status == 1 for r in receipts)
    finally:
        ledger.forget_local_state()


def _released(barrier: threading.Barrier, write: Callable[..., Receipt], *args: object) -> Receipt:
    barrier.wait()
    return write(*args)
