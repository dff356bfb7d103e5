"""Verifications by document hash, remembered until the chain changes them.

Why: importers, customs officers and banks verify the same certificates again and
again while they are in force (a KP certificate is valid for about two months), and a
cold verification costs three JSON-RPC round trips and the node's work for each. A
verification at block N is still exactly the verification at a later head H unless

1. an event after N named its certificate or its exporting participant (void,
   amendment, receipt, dispute, suspension, a revoked authority ...), which
   :class:`~kpledger.chain.watch.ChainWatch` learns from the logs of every new block;
2. its expiry time passed between block N's time and H's (the contract derives
   EXPIRED from the block time, no event says so).

Otherwise the cached answer is returned, stamped with H (``checked_at_block``). So a
cached answer is never older than the watch's head, which lags the node by at most
its ``poll_interval`` (see :mod:`kpledger.chain.watch`); a state change is visible at
the first poll that sees its block. Answers that could not read the chain
(CHAIN_UNAVAILABLE) are never kept.

:meth:`VerificationCache.warm` fills the cache in bulk with :func:`verify_many`
(a few JSON-RPC batches per 500 certificates), e.g. with the certificates anchored
most recently, the ones people are likely to verify next.

:meth:`VerificationCache.follow` polls the head on a thread of its own, so that answers
from memory (:meth:`~VerificationCache.cached_json`) never wait for a poll: without it,
every request that found the watch due took the slow path that polls, and in a busy
server those requests, queued behind a thread hand-over, were the latency tail
(docs/benchmarks.md). While following, an answer from memory describes a head at most
``poll_interval + FOLLOW_SLACK`` old; if the follower falls further behind (a slow or
lost node), requests read the chain again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson
from hexbytes import HexBytes

from kpledger.chain.rpc import RpcError
from kpledger.chain.watch import ChainWatch, Head
from kpledger.errors import KPLedgerError
from kpledger.ledger import Ledger
from kpledger.verify import Code, Verification, verify_hash, verify_many

DEFAULT_CAPACITY: Final = 20_000
"""About two months of certificates at 100,000 a year: the ones still in force."""

WARM_CHUNK: Final = 500
FOLLOW_SLACK: Final = 0.05
"""Seconds a followed head may be late (a poll's round trip, a busy interpreter) before
answers from memory stop: past it, requests read the chain, which fails loudly on a
lost node instead of answering from an ever older head."""
log = logging.getLogger("kpledger.verify_cache")


@dataclass
class _Entry:
    verification: Verification
    block: int
    block_time: int
    epoch: int
    origin: str | None
    expires_at: int | None
    prefix: bytes | None = None
    """The JSON answer without its closing ``checked_at_block`` member (filled lazily)."""


class VerificationCache:
    """Verify document hashes at the watch's head, answering from memory when nothing
    the answer depends on changed (see the module doc). Thread-safe."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        watch: ChainWatch | None = None,
        poll_interval: float = 0.1,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.ledger = ledger
        self.watch = watch or ChainWatch(ledger.rpc, ledger.deployment, poll_interval=poll_interval)
        self.capacity = capacity
        self._entries: dict[bytes, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._following = False
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------ answers

    def verify_hash(self, digest: bytes) -> Verification:
        """The verification of ``digest`` at the current head (polling if due)."""
        head = self.watch.refresh()
        entry = self._fresh(digest, head)
        if entry is not None:
            self.hits += 1
            return _stamped(entry.verification, head.number)
        self.misses += 1
        verification = verify_hash(self.ledger, digest, block=head.number)
        self._store(digest, verification, head)
        return verification

    def verify_hash_json(self, digest: bytes) -> tuple[Verification, bytes]:
        """:meth:`verify_hash` and its answer as JSON (``Verification.to_dict``)."""
        head = self.watch.refresh()
        entry = self._fresh(digest, head)
        if entry is None:
            self.misses += 1
            verification = verify_hash(self.ledger, digest, block=head.number)
            entry = self._store(digest, verification, head)
            if entry is None:
                return verification, _json(verification)
        else:
            self.hits += 1
        return _stamped(entry.verification, head.number), _body(entry, head.number)

    def cached_json(self, digest: bytes) -> bytes | None:
        """The JSON answer from memory, or None when it is not cached, no longer holds,
        or the head is too old: due to poll or, while following, older than the poll
        interval plus ``FOLLOW_SLACK``. Does no I/O (safe on an event loop)."""
        head = self.watch.head
        current = self.watch.recent(FOLLOW_SLACK) if self._following else not self.watch.due()
        if head is None or not current:
            return None
        entry = self._fresh(digest, head)
        if entry is None:
            return None
        self.hits += 1
        return _body(entry, head.number)

    # ------------------------------------------------------------------ following

    def follow(self) -> bool:
        """Poll the head every ``poll_interval`` on a daemon thread until :meth:`close`
        (see the module doc). Returns False, and starts nothing, when the watch polls on
        every call (``poll_interval`` 0) or a follower already runs."""
        with self._lock:
            if self._following or self.watch.poll_interval <= 0:
                return False
            self._following = True
        threading.Thread(target=self._follow, name="kpledger-head", daemon=True).start()
        return True

    def close(self) -> None:
        """Stop following (the thread ends at its next wake-up)."""
        self._stop.set()

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.watch.refresh()
                except KPLedgerError as exc:  # the node is away: answers from memory stop by themselves
                    log.debug("head poll failed: %s", exc)
                self._stop.wait(self.watch.poll_interval)
        finally:
            self._following = False

    # ------------------------------------------------------------------ warming

    def warm(self, digests: Iterable[bytes], *, chunk: int = WARM_CHUNK) -> int:
        """Verify ``digests`` in bulk and keep the answers; returns how many were kept."""
        todo = list(dict.fromkeys(digests))[: self.capacity]
        kept = 0
        for at in range(0, len(todo), chunk):
            head = self.watch.refresh()
            part = [d for d in todo[at : at + chunk] if self._fresh(d, head) is None]
            answers = verify_many(self.ledger, part, block=head.number)
            for digest, verification in zip(part, answers, strict=True):
                kept += self._store(digest, verification, head) is not None
        return kept

    def recent_certificates(self, limit: int | None = None) -> list[bytes]:
        """Document hashes of the certificates anchored or issued most recently, newest
        first (from the ledger's CertificateRequested and CertificateIssued events)."""
        limit = self.capacity if limit is None else limit
        head = self.watch.refresh()
        events = self.ledger.ledger_abi.events_by_name
        kinds = ["0x" + events[n].topic.hex() for n in ("CertificateRequested", "CertificateIssued")]
        query = {
            "address": [self.ledger.deployment.ledger],
            "fromBlock": hex(self.ledger.deployment.block),
            "toBlock": hex(head.number),
            "topics": [kinds],
        }
        logs: Any = self.ledger.rpc.call("eth_getLogs", [query])
        if isinstance(logs, RpcError):  # pragma: no cover - call raises rather than returns
            raise logs
        newest: dict[bytes, None] = {}
        for log in reversed(logs):
            newest.setdefault(bytes(HexBytes(log["topics"][1])), None)
            if len(newest) >= limit:
                break
        return list(newest)

    # ------------------------------------------------------------------ internals

    def _fresh(self, digest: bytes, head: Head) -> _Entry | None:
        entry = self._entries.get(digest)
        if entry is None or entry.block > head.number:
            return None
        if not self.watch.unchanged(entry.block, entry.epoch, digest, entry.origin):
            return None
        expires = entry.expires_at
        if expires is not None and entry.block_time <= expires < head.timestamp:
            return None  # expired since: the contract now derives another status
        return entry

    def _store(self, digest: bytes, verification: Verification, head: Head) -> _Entry | None:
        if verification.code is Code.CHAIN_UNAVAILABLE or self.capacity <= 0:
            return None
        certificate = verification.certificate or {}
        entry = _Entry(
            verification,
            head.number,
            head.timestamp,
            head.epoch,
            certificate.get("origin"),
            certificate.get("expires_at"),
        )
        with self._lock:
            self._entries.pop(digest, None)
            while len(self._entries) >= self.capacity:
                self._entries.pop(next(iter(self._entries)))
            self._entries[digest] = entry
        return entry


def _stamped(verification: Verification, block: int) -> Verification:
    if verification.checked_at_block == block:
        return verification
    return replace(verification, checked_at_block=block)


def _json(verification: Verification) -> bytes:
    return orjson.dumps(verification.to_dict())


def _body(entry: _Entry, block: int) -> bytes:
    prefix = entry.prefix
    if prefix is None:
        answer = entry.verification.to_dict()
        del answer["checked_at_block"]  # the last member: appended per answer below
        prefix = entry.prefix = orjson.dumps(answer)[:-1] + b',"checked_at_block":'
    return prefix + str(block).encode() + b"}"
