"""Crash safety on a real node: a stream of pipelined anchors while anvil is killed
with SIGKILL ten times at random points and restarted each time from its last periodic
state dump (losing every block after it, acknowledged ones included). The client keeps
an outbox and resubmits what the chain lost; afterwards every acknowledged certificate
is on chain exactly once, in the contract's records and in the events. Meanwhile the
auditor's replay runs in follow mode and the API serves requests: both ride out every
outage by themselves (503 while the node is down, answers again once it is back; the
follower ends equal to the chain).

The restarts are what an operator's supervisor does: start anvil again on its state
file. anvil 1.7 writes that file in place and reads blocks and account state at two
different moments, so a kill can leave a torn file (anvil refuses to start) and a dump
can hold the state or the transactions of a block it does not hold (a nonce with no
transaction or no receipt behind it).
Neither is a state any real chain can be in; the supervisor then falls back to the
newest complete, consistent dump it kept, which is older still: a deeper loss for the
client to survive.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kpledger.api import create_app
from kpledger.audit import cross_check, replay
from kpledger.chain import artifacts
from kpledger.chain.node import AnvilNode, NodeStartError, free_port
from kpledger.chain.rpc import Rpc
from kpledger.chain.sender import Call
from kpledger.errors import ConnectionFailed, KPLedgerError, RecoveryIncomplete
from kpledger.ledger import Ledger
from kpledger.types import CertificateStatus, ChainTerms
from tests.api.conftest import client_for, settings
from tests.chain.nodeworld import NodeWorld, build_node_world, start_anvil
from tests.conftest import fresh_terms

pytestmark = pytest.mark.anvil

KILLS = 10
CHUNK = 100  # anvil's automine fits ~120 anchors (250k gas limit each) in a block
MIN_ANCHORS = 3_000
T = TypeVar("T")


class Supervisor:
    """Kills the node and starts it again from the newest usable dump. A watcher keeps a
    copy of the newest dump it found complete and consistent."""

    def __init__(self, node: AnvilNode, keep: Path) -> None:
        assert node.state_path is not None
        self.node = node
        self.state = node.state_path
        self.keep = keep
        self.kept: Path | None = None
        self.fallbacks = 0
        self.dumps_seen = 0
        self.dumps_usable = 0
        self._stop = threading.Event()
        self._seen: float = 0.0
        self._watcher = threading.Thread(target=self._watch, name="dump-watcher", daemon=True)
        self._watcher.start()

    def kill(self) -> None:
        deadline = time.monotonic() + 30
        while self.kept is None:  # the first kill waits for a dump to restart from
            assert time.monotonic() < deadline, "anvil never wrote a usable dump"
            time.sleep(0.05)
        self.node.kill()

    def restart(self) -> None:
        if not _usable_dump(self.state):
            self._fall_back()
        try:
            self.node.start()
        except NodeStartError:  # torn after all: fall back once more
            self._fall_back()
            self.node.start()

    def crash_back_to(self, dump: Path) -> None:
        """Kill the node and start it again from ``dump``, an older usable dump."""
        self.node.kill()
        shutil.copyfile(dump, self.state)
        self.node.start()

    def close(self) -> None:
        self._stop.set()
        self._watcher.join()

    def _watch(self) -> None:
        candidate = self.keep / "candidate.json"
        while not self._stop.wait(0.05):
            try:
                changed = self.state.stat().st_mtime
            except FileNotFoundError:
                continue
            if changed == self._seen or not self.node.running:
                continue
            self._seen = changed
            time.sleep(0.05)  # let a dump in progress finish
            shutil.copyfile(self.state, candidate)
            self.dumps_seen += 1
            if _usable_dump(candidate):
                self.dumps_usable += 1
                self.kept = candidate.replace(self.keep / "kept.json")

    def _fall_back(self) -> None:
        assert self.kept is not None
        shutil.copyfile(self.kept, self.state)
        self.fallbacks += 1


def _usable_dump(path: Path) -> bool:
    """A complete JSON dump in which every transaction belongs to a dumped block (a dump
    can list the transactions of a block it does not hold: anvil then has their nonces
    but serves no receipt for them) and every externally owned account's nonce equals
    the number of its transactions."""
    try:
        dump = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    transactions = dump.get("transactions", [])
    in_blocks = sum(len(block.get("transactions", [])) for block in dump.get("blocks", []))
    best = int(dump.get("best_block_number", -1))
    if in_blocks != len(transactions) or any(int(tx["block_number"]) > best for tx in transactions):
        return False
    sent = Counter(str(tx["info"]["from"]).lower() for tx in transactions)
    for address, account in dump.get("accounts", {}).items():
        if account.get("code") in (None, "", "0x") and int(account.get("nonce", 0)) != sent[address.lower()]:
            return False
    return True


def _when_up(node: AnvilNode, action: Callable[[], T], timeout: float = 60.0) -> T:
    """``action()``, retried while the node is down or restarting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except ConnectionFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_acknowledged_anchors_survive_ten_crashes(tmp_path: Path) -> None:
    rng = random.Random(20_240_611)
    (tmp_path / "kept").mkdir()
    node = start_anvil(
        port=free_port(), data_dir=tmp_path / "anvil", persist=True, state_interval=1, accounts=16
    )
    supervisor = Supervisor(node, tmp_path / "kept")
    stop = threading.Event()
    failures: list[BaseException] = []
    api_answers: list[tuple[int, int]] = []
    followed: list[Any] = []
    try:
        world = build_node_world(node, receipt_timeout=30.0, outbox=tmp_path / "outbox.sqlite")
        exporter = world.bw_exporter
        deployment_path = tmp_path / "deployment.json"
        world.gov.deployment.save(deployment_path)
        client = client_for(
            create_app(None, settings(rpc=node.url, deployment=deployment_path, rpc_timeout=2))
        )
        db_url = f"sqlite:///{tmp_path / 'audit.db'}"

        def follow() -> None:
            try:
                result = replay(
                    node.url,
                    world.gov.deployment,
                    db_url,
                    progress=False,
                    follow=True,
                    poll_interval=0.2,
                    stop=stop,
                )
                followed.append(result)
            except BaseException as exc:  # handed to the test thread
                failures.append(exc)

        def crash_ten_times() -> None:
            try:
                for _ in range(KILLS):
                    time.sleep(rng.uniform(0.8, 2.5))
                    supervisor.kill()
                    down = client.get("/health").status_code
                    time.sleep(rng.uniform(0.0, 0.3))
                    supervisor.restart()
                    api_answers.append((down, client.get("/health").status_code))
            except BaseException as exc:
                failures.append(exc)

        follower = threading.Thread(target=follow, name="follower")
        killer = threading.Thread(target=crash_ten_times, name="killer")
        follower.start()
        killer.start()
        acknowledged, errors = _anchor_stream(world, exporter, killer)
        killer.join()
        assert not failures, failures
        _when_up(node, exporter.resubmit_pending)  # what the last crash took
        # The random kills may all have struck between dumps that held every settled
        # write; one last crash surely costs acknowledged ones: back to a dump taken
        # before a final chunk was anchored.
        assert supervisor.kept is not None
        before = shutil.copyfile(supervisor.kept, tmp_path / "before-last-chunk.json")
        last_chunk = [fresh_terms(_when_up(node, world.now), tag="Y") for _ in range(CHUNK)]
        exporter.anchor_many(last_chunk)
        acknowledged.update((t.document_hash, t) for t in last_chunk)
        supervisor.crash_back_to(before)
        _when_up(node, exporter.resubmit_pending)
        reports = list(exporter.transactor.recoveries)  # automatic ones included

        # Every acknowledged certificate is on chain exactly once: records and events.
        assert len(acknowledged) >= MIN_ANCHORS
        head = _when_up(node, world.gov.block_number)
        events = Counter(
            bytes(args["documentHash"])
            for name, args, _ in world.gov.events(world.gov.deployment.block, head)
            if name == "CertificateRequested"
        )
        assert set(events) == set(acknowledged), (
            f"{len(set(acknowledged) - set(events))} acknowledged without an event,"
            f" {len(set(events) - set(acknowledged))} events never acknowledged"
        )
        assert max(events.values()) == 1
        for document_hash, terms in acknowledged.items():
            record = world.gov.certificate(document_hash)
            assert record is not None and record.terms == terms
            assert record.stored_status is CertificateStatus.REQUESTED
        # Nothing left behind or in conflict; the crashes did cost acknowledged writes.
        outbox = exporter.outbox
        assert outbox is not None and outbox.counts()["pending"] == 0 and outbox.conflicts() == []
        assert all(report.ok for report in reports), [r.summary() for r in reports if not r.ok]
        last_lost = {e.label for e in reports[-1].lost}
        assert {f"anchor 0x{t.document_hash.hex()}" for t in last_chunk} <= last_lost, reports[-1].summary()
        assert len(api_answers) == KILLS and all(answer == (503, 200) for answer in api_answers)

        # The follower rode out every restart and ends equal to the chain.
        _await_follower(world, db_url, head, failures)
        lost, resent = sum(len(r.lost) for r in reports), sum(len(r.resent) for r in reports)
        print(
            f"\n{len(acknowledged)} anchors, {KILLS} kills ({supervisor.fallbacks} from an older dump;"
            f" {supervisor.dumps_usable} of {supervisor.dumps_seen} dumps usable), {len(reports)} recoveries:"
            f" {lost} settled writes lost, {resent} resent; client errors {dict(errors)}"
        )
    finally:
        stop.set()
        supervisor.close()
        node.close()
    assert followed and not failures, failures


def _anchor_stream(
    world: NodeWorld, exporter: Ledger, killer: threading.Thread
) -> tuple[dict[bytes, ChainTerms], Counter[str]]:
    """Anchor in chunks until the killer is done and MIN_ANCHORS are acknowledged. A
    chunk that raises is settled by recovery, then each of its certificates counts as
    acknowledged if the chain holds it, or goes back into the queue."""
    node = world.node
    assert isinstance(node, AnvilNode)
    acknowledged: dict[bytes, ChainTerms] = {}
    retry: deque[ChainTerms] = deque()
    errors: Counter[str] = Counter()
    now = _when_up(node, world.now)
    while killer.is_alive() or len(acknowledged) < MIN_ANCHORS or retry:
        chunk = [retry.popleft() for _ in range(min(CHUNK, len(retry)))]
        chunk += [fresh_terms(now, tag="X") for _ in range(CHUNK - len(chunk))]  # no round trip
        try:
            exporter.anchor_many(chunk)
        except KPLedgerError as exc:
            errors[type(exc).__name__] += 1
            _when_up(node, exporter.resubmit_pending)
            for terms in chunk:
                if _when_up(node, lambda t=terms: world.gov.certificate(t.document_hash)) is None:
                    retry.append(terms)
                else:
                    acknowledged[terms.document_hash] = terms
            continue
        acknowledged.update((t.document_hash, t) for t in chunk)
    return acknowledged, errors


def _await_follower(world: NodeWorld, db_url: str, head: int, failures: list[BaseException]) -> None:
    compiled = artifacts.artifacts()
    deadline = time.monotonic() + 60
    while True:
        assert not failures, failures
        report = cross_check(
            world.node.url, world.gov.deployment, db_url, compiled=compiled, bytecode_check=False
        )
        if report.checkpoint >= head and report.ok:
            return
        assert time.monotonic() < deadline, (
            f"the follower is at {report.checkpoint} of {head}: {report.to_dict()}"
        )
        time.sleep(0.2)


# ---------------------------------------------------------------------- outbox cases


def test_a_restarted_program_resends_what_the_node_forgot(tmp_path: Path) -> None:
    """Signed and sent, then the node's pool is lost and this program stops: another
    program opening the same outbox puts the same bytes on chain, once."""
    with start_anvil(accounts=16) as node:
        world = build_node_world(node)
        outbox_path = tmp_path / "outbox.sqlite"
        key = node.dev_only_keys(2)[1]  # BW's authority
        first = Ledger.connect(node.url, world.gov.deployment, key, outbox=outbox_path)
        items = [(world.terms(), world.bw_exporter.address) for _ in range(5)]
        node.request("evm_setAutomine", [False])
        hashes = first.transactor.submit_many(
            [Call(first.deployment.ledger, first.ledger_abi.fn("issue").encode([t.as_tuple(), e]), 250_000)
             for t, e in items]
        )  # fmt: skip
        node.request("anvil_dropAllTransactions")  # the node forgets them
        node.request("evm_setAutomine", [True])

        again = Ledger.connect(node.url, world.gov.deployment, key, outbox=outbox_path)
        report = again.resubmit_pending()
        assert report.ok and [e.tx_hash for e in report.resent] == hashes
        assert [e.label for e in report.resent] == [f"issue 0x{t.document_hash.hex()}" for t, _ in items]
        assert all(world.gov.certificate(t.number) is not None for t, _ in items)
        assert again.outbox is not None and again.outbox.counts()["pending"] == 0
        assert again.resubmit_pending().resent == []  # nothing twice


def test_a_nonce_taken_by_another_transaction_is_reported(tmp_path: Path) -> None:
    """The outbox holds a write the node forgot, and meanwhile another program signed a
    different transaction with the same key and nonce: the write is reported as a
    conflict (and kept): the first write of the program, which recovers first, raises
    RecoveryIncomplete naming it; later writes go on."""
    with start_anvil(accounts=16) as node:
        world = build_node_world(node)
        key = node.dev_only_keys(2)[1]
        ledger = Ledger.connect(node.url, world.gov.deployment, key, outbox=tmp_path / "outbox.sqlite")
        lost = world.terms()
        node.request("evm_setAutomine", [False])
        data = ledger.ledger_abi.fn("issue").encode([lost.as_tuple(), world.bw_exporter.address])
        ledger.transactor.submit_many([Call(ledger.deployment.ledger, data, 250_000)])
        node.request("anvil_dropAllTransactions")
        node.request("evm_setAutomine", [True])
        other = world.terms()
        world.bw_auth.forget_local_state()
        world.bw_auth.issue(other, world.bw_exporter.address)  # same key, no outbox: takes the nonce

        restarted = Ledger.connect(node.url, world.gov.deployment, key, outbox=tmp_path / "outbox.sqlite")
        with pytest.raises(RecoveryIncomplete, match=r"1 nonce\(s\) taken by other transactions") as caught:
            restarted.issue(world.terms(), world.bw_exporter.address)
        (conflict,) = caught.value.report.conflicts
        assert conflict.label == f"issue 0x{lost.document_hash.hex()}"
        assert restarted.outbox is not None
        assert [e.tx_hash for e in restarted.outbox.conflicts()] == [conflict.tx_hash]  # kept, flagged
        assert world.gov.certificate(lost.number) is None
        later = world.terms()
        restarted.issue(later, world.bw_exporter.address)  # reported once; writing goes on
        assert world.gov.certificate(later.number) is not None


class _MinesAt(Rpc):
    """The transactor's RPC, unchanged, except that the node mines its pool just before
    the first request of ``method``: the moment a busy node happens to mine at."""

    def __init__(self, inner: Rpc, node: AnvilNode, method: str) -> None:
        super().__init__(None)
        self.inner, self.node, self.method, self.fired = inner, node, method, False

    def _maybe_mine(self, methods: Sequence[str]) -> None:
        if not self.fired and self.method in methods:
            self.fired = True
            self.node.request("evm_mine", [])

    def call(self, method: str, params: Sequence[Any]) -> Any:
        self._maybe_mine([method])
        return self.inner.call(method, params)

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        self._maybe_mine([m for m, _ in requests])
        return self.inner.batch(requests)


@pytest.mark.parametrize(
    "mined_before",
    ["eth_getTransactionReceipt", "eth_getTransactionCount", "eth_sendRawTransaction"],
)
def test_recovery_while_the_node_mines_its_pool_finds_no_conflict(tmp_path: Path, mined_before: str) -> None:
    """Recovery runs while the node still holds the program's own transactions in its
    pool and mines them at any point of the recovery (before it reads the mined nonce
    count, between that and the receipts, or just before it sends them again, which the
    node then refuses with "nonce too low"): each is found mined, none is called a
    conflict, and the outbox ends settled."""
    with start_anvil(accounts=16) as node:
        world = build_node_world(node)
        key = node.dev_only_keys(2)[1]
        ledger = Ledger.connect(node.url, world.gov.deployment, key, outbox=tmp_path / "outbox.sqlite")
        items = [world.terms() for _ in range(5)]
        node.request("evm_setAutomine", [False])
        issue = ledger.ledger_abi.fn("issue")
        hashes = ledger.transactor.submit_many(
            [Call(ledger.deployment.ledger, issue.encode([t.as_tuple(), world.bw_exporter.address]), 250_000)
             for t in items]
        )  # fmt: skip
        hooked = _MinesAt(ledger.transactor.rpc, node, mined_before)
        ledger.transactor.rpc = hooked
        report = ledger.transactor.recover()
        node.request("evm_setAutomine", [True])

        assert hooked.fired
        assert report.ok and report.conflicts == [], report.summary()
        assert sorted(e.tx_hash for e in report.found_mined) == sorted(hashes)
        assert ledger.outbox is not None and ledger.outbox.counts()["pending"] == 0
        assert ledger.outbox.conflicts() == []
        assert all(world.gov.certificate(t.number) is not None for t in items)
