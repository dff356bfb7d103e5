"""The replay engine: checkpointed, resumable, idempotent, bound to one deployment,
adaptive to nodes that refuse large log queries, and following the head."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kpledger.audit import AuditIndex, ConcurrentReplay, cross_check, replay
from kpledger.audit.replay import ChunkSizer, ReplayEngine, ReplayResult
from kpledger.audit.schema import engine_for
from kpledger.audit.source import ChainSource, ChainTimeout, Web3Transport, open_source
from kpledger.audit.store import IndexStore
from kpledger.chain import artifacts
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import ConfigurationError
from tests.audit.test_history import dump

ARTIFACTS = artifacts.artifacts()


def some_history(world: Any) -> list[Any]:
    """A few certificates through several transitions."""
    made = []
    for i in range(4):
        terms = world.terms(carats=10_000 + i, value_cents=1_500_000 + i)
        world.bw_auth.issue(terms, world.bw_exporter.address)
        made.append(terms)
    world.ae_auth.confirm_receipt(made[0].document_hash)
    world.ae_auth.record_discrepancy(made[1].document_hash, "seal broken")
    world.bw_auth.void(made[2].document_hash, "issued in error")
    requested = world.terms()
    world.bw_exporter.anchor(requested)
    world.bw_auth.validate(requested.document_hash)
    made.append(requested)
    return made


def logs_on_chain(world: Any) -> int:
    d = world.gov.deployment
    return len(open_source(world.chain).logs(0, world.gov.block_number(), [d.registry, d.ledger]))


def test_replay_equals_contracts_and_rerun_adds_nothing(world: Any, db_url: str) -> None:
    some_history(world)
    first = replay(world.chain, world.gov.deployment, db_url, progress=False)
    assert first.events == logs_on_chain(world)
    assert first.checkpoint == world.gov.block_number()
    report = cross_check(world.chain, world.gov.deployment, db_url, compiled=ARTIFACTS)
    assert report.ok, report.to_dict()
    before = dump(db_url)
    again = replay(world.gov, world.gov.deployment, db_url, progress=False)  # a Ledger works too
    assert (again.events, again.chunks) == (0, 0)
    assert dump(db_url) == before


def test_progress_bar_shows_blocks_and_events(world: Any, db_url: str, capsys: Any) -> None:
    some_history(world)
    replay(world.chain, world.gov.deployment, db_url, progress=True)
    err = capsys.readouterr().err
    assert "replay" in err and "events" in err


def test_a_crash_mid_replay_resumes_without_double_counting(
    world: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_history(world)
    real_write = IndexStore.write
    calls = {"n": 0}

    def crashing_write(self: IndexStore, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("power cut")
        real_write(self, *args)

    monkeypatch.setattr(IndexStore, "write", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        replay(world.chain, world.gov.deployment, db_url, progress=False, chunk_blocks=3, target_logs=10**9)
    with AuditIndex(db_url) as index:
        stopped = index.checkpoint().block  # after the two chunks written before the cut
        assert world.gov.deployment.block < stopped < world.gov.block_number()
    monkeypatch.setattr(IndexStore, "write", real_write)
    rest = replay(world.chain, world.gov.deployment, db_url, progress=False)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    replay(world.chain, world.gov.deployment, clean, progress=False)
    assert dump(db_url) == dump(clean)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from events")).scalar() == logs_on_chain(world)
    engine.dispose()
    assert rest.start_block == stopped + 1


class RefusingTransport(Web3Transport):
    """A node that refuses log queries over more than ``limit`` blocks."""

    def __init__(self, rpc: Rpc, limit: int, error: Exception) -> None:
        super().__init__(rpc)
        self.limit = limit
        self.error = error
        self.refused = 0

    def request(self, method: str, params: Sequence[Any]) -> Any:
        if method == "eth_getLogs":
            query = params[0]
            if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 > self.limit:
                self.refused += 1
                raise self.error
        return super().request(method, params)


@pytest.mark.parametrize(
    "error",
    [
        RpcError("eth_getLogs", {"code": -32005, "message": "query returned more than 10000 results"}),
        RpcError("eth_getLogs", {"code": -32000, "message": "Requested range exceeds maximum range limit"}),
        ChainTimeout("no answer within 30s"),
    ],
    ids=["geth-results", "besu-range", "timeout"],
)
def test_chunks_shrink_when_the_node_refuses(
    world: Any, db_url: str, tmp_path: Path, error: Exception
) -> None:
    some_history(world)
    transport = RefusingTransport(Rpc(world.chain.w3), 4, error)
    result = replay(ChainSource(transport), world.gov.deployment, db_url, progress=False, chunk_blocks=64)
    assert transport.refused > 0
    assert result.checkpoint == world.gov.block_number()
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    replay(world.chain, world.gov.deployment, clean, progress=False)
    assert dump(db_url) == dump(clean)


def test_other_node_errors_are_not_mistaken_for_large_ranges(world: Any, db_url: str) -> None:
    transport = RefusingTransport(
        Rpc(world.chain.w3), 0, RpcError("eth_getLogs", {"message": "method not found"})
    )
    with pytest.raises(RpcError, match="method not found"):
        replay(ChainSource(transport), world.gov.deployment, db_url, progress=False)


def test_chunk_sizer_adapts() -> None:
    sizer = ChunkSizer(blocks=100, target_logs=1_000, maximum=1_000)
    sizer.observed(100, 10)
    assert sizer.blocks == 400  # sparse: up to four times as many
    sizer.observed(400, 300)
    assert sizer.blocks == 1_000  # aimed at 1,333, capped at the maximum
    sizer.observed(200, 8_000)
    assert sizer.blocks == 25
    assert sizer.refused(25) and sizer.blocks == 12
    sizer.blocks = 1
    assert not sizer.refused(1)


def test_an_index_belongs_to_one_deployment(world: Any, db_url: str) -> None:
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    other = dataclasses.replace(world.gov.deployment, ledger=world.gov.deployment.registry)
    with pytest.raises(ConfigurationError, match="another deployment"):
        replay(world.chain, other, db_url, progress=False)
    wrong_chain = dataclasses.replace(world.gov.deployment, chain_id=1)
    with pytest.raises(ConfigurationError, match="chain"):
        replay(world.chain, wrong_chain, db_url, progress=False)


def test_a_deployment_record_file_is_accepted(world: Any, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    world.gov.deployment.save(path)
    assert replay(world.chain, path, db_url, progress=False).events > 0


def test_two_replays_cannot_interleave_on_one_index(world: Any, db_url: str) -> None:
    some_history(world)
    engine = engine_for(db_url)
    first = ReplayEngine(open_source(world.chain), world.gov.deployment, engine, sizer=ChunkSizer(blocks=4))
    second = ReplayEngine(open_source(world.chain), world.gov.deployment, engine, sizer=ChunkSizer(blocks=4))
    head = world.gov.block_number()
    first.catch_up(head, ReplayResult("", 0, 0, 0, "", head, 0))
    with pytest.raises(ConcurrentReplay):
        second.catch_up(head, ReplayResult("", 0, 0, 0, "", head, 0))
    engine.dispose()


def test_confirmations_hold_back_recent_blocks(world: Any, db_url: str) -> None:
    some_history(world)
    head = world.gov.block_number()
    result = replay(world.chain, world.gov.deployment, db_url, progress=False, confirmations=3)
    assert result.checkpoint == head - 3
    for _ in range(3):
        world.bw_auth.issue(world.terms(), world.bw_exporter.address)
    more = replay(world.chain, world.gov.deployment, db_url, progress=False, confirmations=3)
    assert more.start_block == head - 2 and more.checkpoint == head
    with pytest.raises(ConfigurationError):
        replay(world.chain, world.gov.deployment, db_url, progress=False, confirmations=-1)


def test_follow_polls_until_told_to_stop(world: Any, db_url: str) -> None:
    some_history(world)
    result = replay(
        world.chain, world.gov.deployment, db_url, progress=False, follow=True, max_polls=3, poll_interval=0
    )
    assert result.checkpoint == world.gov.block_number()


def test_catch_up_costs_only_the_new_events(world: Any, db_url: str) -> None:
    some_history(world)
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    start = world.gov.block_number()
    world.bw_auth.issue(world.terms(), world.bw_exporter.address)
    result = replay(world.chain, world.gov.deployment, db_url, progress=False)
    assert (result.start_block, result.blocks, result.events) == (start + 1, 1, 1)
