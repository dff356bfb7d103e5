"""The index written from a child process (:mod:`kpledger.audit.writer`) equals the one
a writer thread makes, chunk for chunk; the hand-over of ``writer="auto"`` keeps the
checkpoints continuous; a failure or the death of the child stops the run at a
committed checkpoint, and a re-run completes it as if nothing had happened. The
garbage collector paused during a catch-up is left as it was found."""

from __future__ import annotations

import gc
import io
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from kpledger.audit import AuditIndex, replay
from kpledger.audit.schema import engine_for
from kpledger.audit.source import open_source
from kpledger.audit.store import IndexStore
from kpledger.audit.writer import IndexWriterFailed, WriterProcess
from kpledger.errors import ConfigurationError
from tests.audit.test_history import dump
from tests.audit.test_replay import some_history

REPLAY = sys.modules["kpledger.audit.replay"]
WRITER = sys.modules["kpledger.audit.writer"]  # the package exports a function of that name
SMALL_CHUNKS = {"progress": False, "chunk_blocks": 2, "target_logs": 10**9}


def urls(tmp_path: Path, *names: str) -> list[str]:
    return [f"sqlite:///{tmp_path / f'{name}.db'}" for name in names]


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(self: Any, *args: Any) -> Any:
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_writer_process_makes_the_same_index(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_history(world)
    threaded, forked = urls(tmp_path, "threaded", "forked")
    sent = count_calls(monkeypatch, WriterProcess, "write")
    first = replay(world.chain, world.gov.deployment, threaded, writer="thread", **SMALL_CHUNKS)
    assert not sent
    second = replay(world.chain, world.gov.deployment, forked, writer="process", **SMALL_CHUNKS)
    assert len(sent) == second.chunks > 1
    assert (second.events, second.blocks, second.checkpoint) == (first.events, first.blocks, first.checkpoint)
    assert dump(forked) == dump(threaded)
    again = replay(world.chain, world.gov.deployment, forked, writer="process", progress=False)
    assert (again.events, again.chunks) == (0, 0)


def test_auto_hands_over_to_a_process_once_the_run_is_long(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_history(world)
    threaded, auto, short = urls(tmp_path, "threaded", "auto", "short")
    replay(world.chain, world.gov.deployment, threaded, writer="thread", **SMALL_CHUNKS)
    started = count_calls(monkeypatch, WriterProcess, "__init__")
    replay(world.chain, world.gov.deployment, short, **SMALL_CHUNKS)  # below PROCESS_AFTER
    assert not started

    monkeypatch.setattr(REPLAY, "PROCESS_AFTER", 5)
    in_thread = count_calls(monkeypatch, IndexStore, "write")
    sent = count_calls(monkeypatch, WriterProcess, "write")
    result = replay(world.chain, world.gov.deployment, auto, **SMALL_CHUNKS)
    assert len(started) == 1 and in_thread and sent
    assert len(in_thread) + len(sent) == result.chunks
    assert dump(auto) == dump(threaded)


def test_a_failed_chunk_in_the_process_stops_at_a_checkpoint(world: Any, tmp_path: Path) -> None:
    some_history(world)
    db, clean = urls(tmp_path, "db", "clean")
    head = world.gov.block_number()
    replay(world.chain, world.gov.deployment, db, to_block=world.gov.deployment.block, progress=False)
    engine = create_engine(db)
    with engine.begin() as conn:  # a row the replay will want to write: its chunk fails
        conn.execute(text("insert into blocks (number, hash, timestamp) values (:n, 'x', 0)"), {"n": head})
    with pytest.raises(IntegrityError, match=r"UNIQUE constraint failed: blocks\.number"):
        replay(world.chain, world.gov.deployment, db, writer="process", **SMALL_CHUNKS)
    with AuditIndex(db) as index:
        stopped = index.checkpoint().block
    assert world.gov.deployment.block < stopped < head
    with engine.begin() as conn:
        conn.execute(text("delete from blocks where number = :n"), {"n": head})
    engine.dispose()
    rest = replay(world.chain, world.gov.deployment, db, writer="process", progress=False)
    assert rest.start_block == stopped + 1
    replay(world.chain, world.gov.deployment, clean, progress=False)
    assert dump(db) == dump(clean)


def test_a_killed_writer_process_stops_the_run_and_a_rerun_completes_it(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_history(world)
    db, clean = urls(tmp_path, "db", "clean")
    real_write = WriterProcess.write
    calls = {"n": 0}

    def killing_write(self: WriterProcess, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()
        real_write(self, *args)

    monkeypatch.setattr(WriterProcess, "write", killing_write)
    with pytest.raises(IndexWriterFailed, match="exited"):
        replay(world.chain, world.gov.deployment, db, writer="process", **SMALL_CHUNKS)
    with AuditIndex(db) as index:
        stopped = index.checkpoint().block
    assert world.gov.deployment.block < stopped < world.gov.block_number()
    monkeypatch.setattr(WriterProcess, "write", real_write)
    rest = replay(world.chain, world.gov.deployment, db, progress=False)
    assert rest.start_block == stopped + 1
    replay(world.chain, world.gov.deployment, clean, progress=False)
    assert dump(db) == dump(clean)


def test_a_writer_is_named_among_the_known_ones(world: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="writer"):
        replay(world.chain, world.gov.deployment, urls(tmp_path, "db")[0], writer="fork", progress=False)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_paused_during_a_replay_and_restored(
    world: Any, tmp_path: Path, enabled: bool
) -> None:
    some_history(world)
    seen: list[bool] = []
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        engine = engine_for(urls(tmp_path, "db")[0])
        replayer = REPLAY.ReplayEngine(
            open_source(world.chain),
            world.gov.deployment,
            engine,
            sizer=REPLAY.ChunkSizer(blocks=2, target_logs=10**9),
            on_chunk=lambda *_: seen.append(gc.isenabled()),
        )
        head = world.gov.block_number()
        replayer.catch_up(head, REPLAY.ReplayResult("", 0, 0, 0, "", head, 0))
        engine.dispose()
        assert seen and not any(seen)
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_message_cut_short_reads_as_the_end_of_the_input() -> None:
    """A parent killed in mid-message leaves the child a truncated frame: the child sees
    the end of its input and exits, it never writes half a chunk."""
    message = ([(1, "0x" + "ab" * 32, None)], (7, "0x" + "cd" * 32))
    whole = WRITER._frame(message)
    assert WRITER._read(io.BytesIO(whole)) == message
    assert WRITER._read(io.BytesIO(WRITER._frame(None))) is None  # "no more chunks"
    for cut in (0, 3, WRITER._SIZE, len(whole) - 1):
        with pytest.raises(EOFError):
            WRITER._read(io.BytesIO(whole[:cut]))
