"""PinnedReads: ``latest`` means the pinned block, reads of a fixed block are cached, a
chain that goes backwards or a lost node empties the cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from kpledger.api.reads import PinnedReads
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import ConnectionFailed
from tests.conftest import World


class FakeRpc(Rpc):
    """Answers from a script and records what was asked."""

    def __init__(self, world: World) -> None:
        super().__init__(world.chain.w3)
        self.head = 10
        self.calls: list[tuple[str, list[Any]]] = []
        self.down = False

    def call(self, method: str, params: Sequence[Any]) -> Any:
        if self.down:
            raise ConnectionFailed("down")
        self.calls.append((method, list(params)))
        if method == "eth_blockNumber":
            return hex(self.head)
        if method == "eth_fail":
            raise RpcError(method, {"message": "no"})
        return f"{method}:{list(params)}"

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        out: list[Any] = []
        for method, params in requests:
            try:
                out.append(self.call(method, params))
            except RpcError as exc:
                out.append(exc)
        return out


@pytest.fixture
def fake(world: World) -> FakeRpc:
    return FakeRpc(world)


def asked(fake: FakeRpc, method: str) -> list[list[Any]]:
    return [params for m, params in fake.calls if m == method]


def test_outside_a_pin_everything_passes_through(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    reads.call("eth_call", [{"to": "0x1"}, "latest"])
    reads.call("eth_call", [{"to": "0x1"}, "latest"])
    assert asked(fake, "eth_call") == [[{"to": "0x1"}, "latest"]] * 2


def test_a_pin_answers_latest_at_its_block_and_caches(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    with reads.pinned() as head:
        assert head == 10
        assert reads.call("eth_blockNumber", []) == "0xa"
        first = reads.call("eth_call", [{"to": "0x1"}, "latest"])
        again = reads.call("eth_call", [{"to": "0x1"}, "0xa"])  # the same question, spelled by number
    assert first == again
    assert asked(fake, "eth_call") == [[{"to": "0x1"}, "0xa"]]
    assert asked(fake, "eth_blockNumber") == [[]]
    assert reads.hits == 1


def test_logs_get_an_upper_block(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    with reads.pinned():
        reads.batch([("eth_getLogs", [{"fromBlock": "0x1", "topics": [None, "0xab"]}])])
        reads.batch([("eth_getLogs", [{"fromBlock": "0x1", "topics": [None, "0xab"]}])])
    assert asked(fake, "eth_getLogs") == [[{"fromBlock": "0x1", "toBlock": "0xa", "topics": [None, "0xab"]}]]


def test_a_block_after_the_pin_or_a_symbolic_tag_is_not_cached(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    with reads.pinned():
        for _ in range(2):
            reads.call("eth_call", [{"to": "0x1"}, "0xff"])
            reads.call("eth_call", [{"to": "0x1"}, "pending"])
            reads.call("eth_sendRawTransaction", ["0x00"])
    assert len(fake.calls) == 1 + 6


def test_a_new_block_asks_again(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    with reads.pinned():
        reads.call("eth_call", [{"to": "0x1"}, "latest"])
    fake.head = 11
    with reads.pinned():
        reads.call("eth_call", [{"to": "0x1"}, "latest"])
    assert asked(fake, "eth_call") == [[{"to": "0x1"}, "0xa"], [{"to": "0x1"}, "0xb"]]


def test_a_chain_that_goes_backwards_empties_the_cache(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    with reads.pinned():
        reads.call("eth_call", [{"to": "0x1"}, "0x5"])
    fake.head = 7  # evm_revert, a reorg, a node restored from an older state
    assert not reads.went_back
    with reads.pinned():
        reads.call("eth_call", [{"to": "0x1"}, "0x5"])
    assert len(asked(fake, "eth_call")) == 2
    assert reads.went_back  # LedgerSource checks the deployment again when it sees this


def test_a_lost_node_empties_the_cache(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    with reads.pinned():
        reads.call("eth_call", [{"to": "0x1"}, "0x5"])
    fake.down = True
    with pytest.raises(ConnectionFailed):
        reads.head()
    fake.down = False
    with reads.pinned():
        reads.call("eth_call", [{"to": "0x1"}, "0x5"])
    assert len(asked(fake, "eth_call")) == 2


def test_errors_are_not_cached_and_batches_mix_hits_and_misses(fake: FakeRpc) -> None:
    reads = PinnedReads(fake)
    with reads.pinned():
        reads.call("eth_getCode", ["0x1", "latest"])
        results = reads.batch([("eth_getCode", ["0x1", "latest"]), ("eth_call", [{"to": "0x2"}, "latest"])])
        with pytest.raises(RpcError):
            reads.call("eth_fail", [])
    assert results[0] == "eth_getCode:['0x1', '0xa']"
    assert len(asked(fake, "eth_getCode")) == 1


def test_the_cache_is_bounded(fake: FakeRpc) -> None:
    reads = PinnedReads(fake, cache_entries=3)
    with reads.pinned():
        for i in range(10):
            reads.call("eth_call", [{"to": hex(i)}, "latest"])
    assert len(reads._cache) == 3
    off = PinnedReads(fake, cache_entries=0)
    with off.pinned():
        off.call("eth_call", [{"to": "0x1"}, "latest"])
    assert off._cache == {}
