"""Replay the contracts' events into the auditor's index.

How a run goes:

1. Bind the index to the deployment (or check it belongs to it) and read the
   checkpoint: the last block whose events are all indexed, and its hash.
2. Reorg check: if the chain's block at the checkpoint has another hash, or is gone,
   walk back over the recorded block hashes to the newest one the chain still has (the
   fork point), delete everything above it and recompute what it touched.
3. Catch up to ``head - confirmations`` in chunks of blocks: ``eth_getLogs`` for both
   contracts over the chunk, block times from the logs (or one batched header request),
   decode, fold, and write the chunk with its checkpoint in one transaction. The chunk
   size adapts: it shrinks when the node refuses or times out, and grows while chunks
   come back sparse.
4. With ``follow``, poll for new blocks and repeat 2-3 until told to stop.

Only blocks ``confirmations`` deep are indexed, so a reorg shallower than that never
reaches the index; a deeper one is caught by step 2.
"""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kpledger.audit.decode import EventDecoder, EventSpec
from kpledger.audit.fold import Event, Folder
from kpledger.audit.schema import DEFAULT_DB_URL, create_indexes, drop_indexes, engine_for
from kpledger.audit.source import ChainSource, Header, is_range_error, open_source
from kpledger.audit.store import Checkpoint, IndexStore
from kpledger.audit.writer import WriterProcess, available
from kpledger.chain import artifacts, identity
from kpledger.chain.deployment import Deployment
from kpledger.chain.identity import ChainFacts
from kpledger.errors import ChainError, ConfigurationError, ConnectionFailed

REORG_SCAN = 128
PREFETCH = 2
PROCESS_AFTER = 10_000
"""Events a run must reach before ``writer="auto"`` hands its chunks to a child process,
from the chunk that reaches it on (starting one costs half a second of CPU: worth it for
long replays only)."""
WRITERS = ("auto", "thread", "process")
_DONE = object()


class ReorgDuringReplay(ChainError):
    """Blocks changed under a chunk being read; the run restarts from the checkpoint."""


@dataclass(frozen=True)
class Reorg:
    """A reorganisation found below the checkpoint and undone."""

    fork_block: int
    previous_checkpoint: int
    removed_events: int


@dataclass
class ReplayResult:
    """What one call of :func:`replay` did."""

    db_url: str
    chain_id: int
    start_block: int
    checkpoint: int
    checkpoint_hash: str
    head: int
    confirmations: int
    events: int = 0
    blocks: int = 0
    chunks: int = 0
    seconds: float = 0.0
    reorgs: list[Reorg] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["events_per_second"] = round(self.events_per_second, 1)
        return data


@dataclass
class ChunkSizer:
    """Blocks per ``eth_getLogs``: halve on refusal, aim at ``target_logs`` per chunk."""

    blocks: int = 16
    target_logs: int = 10_000
    minimum: int = 1
    maximum: int = 100_000

    def refused(self, asked: int) -> bool:
        """Shrink after a refused range of ``asked`` blocks; False if it cannot shrink."""
        if asked <= self.minimum:
            return False
        self.blocks = max(self.minimum, asked // 2)
        return True

    def observed(self, asked: int, logs: int) -> None:
        """Aim the next chunk at ``target_logs``: shrink in proportion when over, grow
        (up to 4x at once, so sparse history is crossed quickly) when well under."""
        if logs > self.target_logs:
            self.blocks = max(self.minimum, asked * self.target_logs // logs)
        elif logs < self.target_logs // 2:
            aimed = asked * self.target_logs // max(logs, 1)
            self.blocks = min(self.maximum, max(self.blocks, min(asked * 4, aimed)))


def _deployment(value: Deployment | str | Path) -> Deployment:
    return value if isinstance(value, Deployment) else Deployment.load(Path(value))


def _decoder() -> EventDecoder:
    return EventDecoder(
        {
            "registry": artifacts.contract("ParticipantRegistry")["abi"],
            "ledger": artifacts.contract("CertificateLedger")["abi"],
            "directory": artifacts.contract("ExchangeDirectory")["abi"],
        }
    )


class _CollectorPause:
    """Pauses CPython's cyclic garbage collector while any catch-up runs.

    Why: a chunk is tens of thousands of parsed logs, events and rows alive at once.
    They hold no reference cycles (reference counting frees them), but each one that
    lives through a young collection is traversed again by the older ones: with the
    collector on, a replay spent a quarter of its CPU in it. Paused from the first
    catch-up that starts to the last one that ends (several may run in threads), then
    left as it was found."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._was_enabled = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._was_enabled:
                    gc.enable()


_collector_paused = _CollectorPause()


def _process_url(engine: Engine, mode: str) -> str | None:
    """The URL a writer process opens the index with; None if chunks are to be written
    by a thread (``mode`` says so, the platform cannot, or the database is in memory)."""
    url = engine.url
    if mode == "thread" or not available():
        return None
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None  # a memory database exists in this process only
    return url.render_as_string(hide_password=False)


class _ChunkSink:
    """Where the writer thread puts chunks: the index directly, or a child process
    (:mod:`kpledger.audit.writer`) from the start (``process``) or once a run has shown
    itself long (``auto``: from the chunk that brings it to :data:`PROCESS_AFTER` events
    on). One chunk at a time either way, in chain order.

    The writer thread waits for a child that is still starting rather than writing the
    chunk itself: the decoding goes on meanwhile, whereas a chunk written here would take
    its CPU from the decoding (the process's threads share one interpreter lock)."""

    def __init__(self, store: IndexStore, mode: str) -> None:
        self.store = store
        self.mode = mode
        self.url = _process_url(store.engine, mode)
        self.seen = 0
        self.process: WriterProcess | None = None

    def write(self, rows: Any, previous: Checkpoint, checkpoint: Checkpoint, count: int) -> None:
        self.seen += count
        wanted = self.mode == "process" or self.seen >= PROCESS_AFTER
        if self.url is not None and self.process is None and wanted:
            self.process = WriterProcess(self.url)
        if self.process is not None:
            self.process.write(rows, previous, checkpoint)
        else:
            self.store.write(rows, previous, checkpoint)

    def close(self) -> None:
        if self.process is not None:
            self.process.close()
            self.process = None


class ReplayEngine:
    """One index, one deployment, one chain. :func:`replay` is the usual entry point."""

    def __init__(
        self,
        source: ChainSource,
        deployment: Deployment,
        engine: Engine,
        *,
        confirmations: int = 0,
        sizer: ChunkSizer | None = None,
        on_chunk: Callable[[int, int, int], None] | None = None,
        stop: threading.Event | None = None,
        writer: str = "auto",
    ) -> None:
        if confirmations < 0:
            raise ConfigurationError("confirmations must be >= 0")
        if writer not in WRITERS:
            raise ConfigurationError(f"writer must be one of {', '.join(WRITERS)}, not {writer!r}")
        self.writer = writer
        self.source = source
        self.deployment = deployment
        self.store = IndexStore(engine)
        self.confirmations = confirmations
        self.sizer = sizer or ChunkSizer()
        self.decoder = _decoder()
        self.on_chunk = on_chunk
        self.stop = stop
        self.contracts = {deployment.registry.lower(): "registry", deployment.ledger.lower(): "ledger"}
        if deployment.directory:  # exchange keys and inbox URLs (issue 15): replayed as events
            self.contracts[deployment.directory.lower()] = "directory"
        # Address -> topic 0 -> event: two lookups of strings per log, no key to build.
        self._specs: dict[str, dict[str, EventSpec]] = {address: {} for address in self.contracts}
        for (contract, topic), spec in self.decoder.specs.items():
            for address, label in self.contracts.items():
                if label == contract:
                    self._specs[address][topic] = spec
        self.checkpoint = self.store.bind(deployment, self.check_chain())

    def check_chain(self) -> ChainFacts:
        """Refuse a node that is not the deployment's chain (nor the index's): another
        chain with the same contract addresses is not a reorganisation to follow."""
        facts = chain_facts(self.source, self.deployment.block)
        why = identity.mismatch(self.deployment, facts)
        if why is not None:
            raise identity.ChainMismatch(f"the node is not the deployment's chain: {why}")
        return facts

    def target(self, head: int, to_block: int | None = None) -> int:
        """The newest block this run may index."""
        safe = head - self.confirmations
        return safe if to_block is None else min(safe, to_block)

    # ------------------------------------------------------------------ reorgs

    def check_reorg(self) -> Reorg | None:
        """Undo indexed blocks the chain no longer has. Returns what was undone."""
        checkpoint = self.store.checkpoint()
        if checkpoint.block < self.deployment.block or not checkpoint.hash:
            return None
        header = self.source.header(checkpoint.block)
        if header is not None and header.hash == checkpoint.hash:
            return None
        self.store.bind(self.deployment, self.check_chain())  # a swapped node, not a reorg
        fork = self._fork_point(checkpoint.block)
        removed = self.store.rollback(fork)
        self.checkpoint = fork
        return Reorg(fork.block, checkpoint.block, removed)

    def _fork_point(self, below: int) -> Checkpoint:
        while True:
            recorded = self.store.stored_blocks(below, REORG_SCAN)
            if not recorded:
                return Checkpoint(self.deployment.block - 1, "")
            headers = self.source.headers(n for n, _ in recorded)
            for number, stored_hash in recorded:
                header = headers.get(number)
                if header is not None and header.hash == stored_hash:
                    return Checkpoint(number, stored_hash)
            below = recorded[-1][0] - 1

    # ------------------------------------------------------------------ catching up

    def catch_up(self, target: int, result: ReplayResult) -> None:
        """Index every block up to ``target`` (already confirmed deep enough).

        Three stages overlap: a reader thread fetches the next chunk, this thread
        decodes and folds, a writer thread commits the previous chunk. The node works
        while this process waits for it; but the writer thread's SQLite hands the GIL
        back and forth around every row, so it alternates with the decoding rather than
        running beside it: a long run hands the writing to a child process (see
        :class:`_ChunkSink`). Python's cyclic garbage collector is paused meanwhile
        (see :class:`_CollectorPause`)."""
        with _collector_paused():
            self._catch_up(target, result)

    def _catch_up(self, target: int, result: ReplayResult) -> None:
        folder = Folder(self.store.load_state(), self.store.reader())
        pending: queue.Queue[Any] = queue.Queue(maxsize=1)
        failure: list[BaseException] = []
        sink = _ChunkSink(self.store, self.writer)

        def write() -> None:
            while True:
                item = pending.get()
                if item is _DONE:
                    return
                if failure:
                    continue  # drain: nothing after a failed chunk may be written
                rows, checkpoint, blocks, count = item
                try:
                    sink.write(rows, self.checkpoint, checkpoint, count)
                except BaseException as exc:
                    failure.append(exc)
                    continue
                self.checkpoint = checkpoint
                result.events += count
                result.blocks += blocks
                result.chunks += 1
                if self.on_chunk is not None:
                    self.on_chunk(blocks, count, checkpoint.block)

        writer = threading.Thread(target=write, name="kpledger-audit-writer", daemon=True)
        writer.start()
        chunks = self._chunks(self.checkpoint.block + 1, target)
        try:
            for start, end, events, headers in chunks:
                if failure or (self.stop is not None and self.stop.is_set()):
                    break
                rows = folder.fold(events)
                for number, header in headers.items():
                    rows.blocks[number] = {
                        "number": number,
                        "hash": header.hash,
                        "timestamp": header.timestamp,
                    }
                pending.put((rows, Checkpoint(end, headers[end].hash), end - start + 1, len(events)))
        finally:
            chunks.close()  # stops the reader thread
            pending.put(_DONE)
            writer.join()  # the chunk in flight is committed (or fails) before we return
            sink.close()
        if failure:
            raise failure[0]

    def _chunks(self, start: int, target: int) -> Generator[tuple[int, int, list[Event], dict[int, Header]]]:
        """Chunks of decoded events with their block headers, read and decoded one chunk
        ahead on a thread so the node works (and the network waits) meanwhile."""
        ahead: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH)
        stop = threading.Event()

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                first = start
                while first <= target and not stop.is_set():
                    last = min(target, first + self.sizer.blocks - 1)
                    try:
                        logs = self.source.log_entries(first, last, list(self.contracts))
                    except ChainError as exc:
                        if is_range_error(exc) and self.sizer.refused(last - first + 1):
                            continue
                        raise
                    self.sizer.observed(last - first + 1, len(logs))
                    if not put((first, last, *self._decode(logs, last))):
                        return
                    first = last + 1
                put(_DONE)
            except BaseException as exc:  # handed to the consumer, raised there
                put(exc)

        reader = threading.Thread(target=read, name="kpledger-audit-reader", daemon=True)
        reader.start()
        try:
            while True:
                item = ahead.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            reader.join()

    def _decode(self, logs: list[dict[str, Any]], end: int) -> tuple[list[Event], dict[int, Header]]:
        """The events of a chunk's logs (JSON-RPC objects, see
        :meth:`ChainSource.log_entries`), in chain order, and the header of every block
        with logs and of the chunk's last block ``end``.

        Two passes over the logs: the first reads each block's header where its logs
        begin (nodes that leave the time out of logs are asked for it, in one batch);
        the second decodes. Both look at a log's block number only where its block hash
        changes: logs come grouped by block."""
        headers = self._block_headers(logs, end)
        events: list[Event] = []
        add = events.append
        specs = self._specs.get
        block_hash, number, stamp = "", 0, 0
        previous, ordered = (-1, -1, -1), True
        for log in logs:
            if log["blockHash"] != block_hash:
                block_hash = log["blockHash"]
                number = int(log["blockNumber"], 16)
                stamp = headers[number].timestamp
            topics = log["topics"]
            by_topic = specs(log["address"].lower())
            spec = by_topic.get(topics[0]) if by_topic is not None and topics else None
            if spec is None:
                continue
            position = (number, int(log["transactionIndex"], 16), int(log["logIndex"], 16))
            ordered = ordered and previous < position
            previous = position
            add(
                Event(
                    *position,
                    log["transactionHash"],
                    block_hash,
                    stamp,
                    spec.contract,
                    spec.name,
                    spec.decode(topics, log["data"]),
                )
            )
        if not ordered:  # nodes return chain order; sort if this one did not
            events.sort(key=lambda event: event[:3])
        return events, headers

    def _block_headers(self, logs: list[dict[str, Any]], end: int) -> dict[int, Header]:
        """Hash and time of every block with logs (from the logs, or asked of the node
        if they leave the time out), and of the chunk's last block. Raises
        :class:`ReorgDuringReplay` if the logs of one block disagree on its hash, or the
        node's header on a block's hash."""
        known: dict[int, Header] = {}
        seen: list[tuple[int, str]] = []
        block_hash = ""
        for log in logs:
            if log["blockHash"] == block_hash:
                continue
            block_hash = log["blockHash"]
            number = int(log["blockNumber"], 16)
            seen.append((number, block_hash))
            stamp = log.get("blockTimestamp")
            if stamp is not None and number not in known:
                known[number] = Header(number, block_hash, int(stamp, 16))
        missing = {number for number, _ in seen} | {end}
        for number, header in self.source.headers(missing - known.keys()).items():
            if header is None:
                raise ReorgDuringReplay(f"block {number} vanished while it was read")
            known[number] = header
        for number, seen_hash in seen:
            if known[number].hash != seen_hash:
                raise ReorgDuringReplay(f"block {number} changed while it was read")
        return known

    # ------------------------------------------------------------------ one pass

    def run_once(self, result: ReplayResult, to_block: int | None = None) -> None:
        """Reorg check, then catch up to the confirmed head (or ``to_block``)."""
        for _ in range(5):
            reorg = self.check_reorg()
            if reorg is not None:
                result.reorgs.append(reorg)
            head = self.source.head()
            result.head = head
            try:
                self.catch_up(self.target(head, to_block), result)
                return
            except ReorgDuringReplay:
                continue
        raise ChainError("the chain kept reorganising under the replay; try a larger confirmation depth")


def chain_facts(source: ChainSource, block: int) -> ChainFacts:
    """The identity of the chain behind ``source`` at a deployment made in ``block``."""
    headers = source.headers([0, block])
    genesis = headers[0]
    if genesis is None:
        raise ConfigurationError("the node does not serve its genesis block: cannot tell which chain it is")
    at_block = headers[block]
    return ChainFacts(
        chain_id=source.chain_id(),
        genesis_hash=genesis.hash.lower(),
        block_hash=None if at_block is None else at_block.hash.lower(),
    )


def replay(
    target: Any,
    deployment: Deployment | str | Path,
    db_url: str | Engine = DEFAULT_DB_URL,
    *,
    confirmations: int = 0,
    progress: bool = True,
    to_block: int | None = None,
    follow: bool = False,
    poll_interval: float = 2.0,
    stop: threading.Event | None = None,
    max_polls: int | None = None,
    chunk_blocks: int = 16,
    target_logs: int = 10_000,
    max_chunk_blocks: int = 100_000,
    bulk: bool | None = None,
    writer: str = "auto",
) -> ReplayResult:
    """Replay ``deployment``'s events from ``target`` into the index at ``db_url``.

    ``target`` is a JSON-RPC URL, a :class:`~kpledger.ledger.Ledger`, an in-process
    chain, a ``Web3`` or an ``Rpc``; ``db_url`` a SQLAlchemy URL (a bare path means a
    SQLite file). Indexes blocks at least ``confirmations`` deep, up to ``to_block`` if
    given. Re-running resumes after the checkpoint. With ``follow``, keeps polling every
    ``poll_interval`` seconds until ``stop`` is set (or ``max_polls`` passes), undoing
    reorgs deeper than the confirmation depth when it sees one. ``progress`` shows a
    rich progress bar on stderr. ``bulk`` drops the indexes that are costly to keep up
    to date (:data:`~kpledger.audit.schema.BULK_DEFERRED`) during the run and builds them
    once at the end (much faster for a long history); by default it is on for a first
    replay into an empty index.
    ``writer`` says who writes the index: ``thread`` (a thread of this process),
    ``process`` (a child process, so that SQLite works on another core than the
    decoding) or ``auto`` (the thread, then a child process from the chunk that brings
    the run to :data:`PROCESS_AFTER` events; the thread for an ``Engine`` given as
    ``db_url``, which a child could not open the same way)."""
    source = open_source(target)
    record = _deployment(deployment)
    chain_id = source.chain_id()
    if chain_id != record.chain_id:
        raise ConfigurationError(
            f"the node serves chain {chain_id}; the deployment is on chain {record.chain_id}"
        )
    engine = engine_for(db_url)
    url = db_url if isinstance(db_url, str) else str(engine.url)
    sizer = ChunkSizer(blocks=chunk_blocks, target_logs=target_logs, maximum=max_chunk_blocks)
    if writer == "auto" and not isinstance(db_url, str):
        writer = "thread"
    replayer = ReplayEngine(
        source, record, engine, confirmations=confirmations, sizer=sizer, stop=stop, writer=writer
    )
    started = time.perf_counter()
    result = ReplayResult(
        db_url=url,
        chain_id=chain_id,
        start_block=replayer.checkpoint.block + 1,
        checkpoint=replayer.checkpoint.block,
        checkpoint_hash=replayer.checkpoint.hash,
        head=0,
        confirmations=confirmations,
    )
    if bulk is None:
        # A first replay builds its costliest index once, at the end: sorting the column
        # once costs a fifth of keeping the index up to date row by row (a random
        # document hash lands anywhere in it), even on a writer process's own core.
        bulk = replayer.checkpoint.block < record.block
    if bulk:
        drop_indexes(engine)
    bar = _ProgressBar() if progress else None
    try:
        polls = 0
        while True:
            try:
                if bar is not None:
                    head = source.head()
                    bar.start_pass(replayer.checkpoint.block, replayer.target(head, to_block), result.events)
                    replayer.on_chunk = bar.advance
                replayer.run_once(result, to_block)
            except ConnectionFailed:
                if not follow:
                    raise
                # A follower outlives node outages: it waits and resumes from its committed
                # checkpoint (run_once first undoes blocks a restarted node no longer has).
                polls += 1
                if (max_polls is not None and polls >= max_polls) or (stop is not None and stop.is_set()):
                    break
                if stop is not None:
                    stop.wait(poll_interval)
                else:
                    time.sleep(poll_interval)
                continue
            if bulk:  # caught up: from here on, keep the indexes up to date as we go
                create_indexes(engine)
                bulk = False
            polls += 1
            done = stop is not None and stop.is_set()
            if not follow or done or (max_polls is not None and polls >= max_polls):
                break
            if to_block is not None and replayer.checkpoint.block >= to_block:
                break
            if stop is not None:
                if stop.wait(poll_interval):
                    break
            else:
                time.sleep(poll_interval)
    finally:
        if bar is not None:
            bar.close()
        if bulk:
            create_indexes(engine)
        result.seconds = time.perf_counter() - started
        result.checkpoint = replayer.checkpoint.block
        result.checkpoint_hash = replayer.checkpoint.hash
        if isinstance(db_url, str):
            engine.dispose()
    return result


class _ProgressBar:
    """A rich progress bar over blocks, with the events indexed and their rate."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]replay[/bold] blocks"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[events]:,} events ({task.fields[rate]:,.0f}/s)"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: Any = None
        self._events = 0
        self._started = time.perf_counter()
        self._progress.start()

    def start_pass(self, checkpoint: int, target: int, events: int) -> None:
        total = max(0, target - checkpoint)
        self._events = events
        if self._task is None:
            self._task = self._progress.add_task("replay", total=total, events=events, rate=0.0)
        else:
            self._progress.update(self._task, total=total, completed=0)

    def advance(self, blocks: int, events: int, _last_block: int) -> None:
        self._events += events
        rate = self._events / max(1e-9, time.perf_counter() - self._started)
        self._progress.update(self._task, advance=blocks, events=self._events, rate=rate)

    def close(self) -> None:
        self._progress.stop()
