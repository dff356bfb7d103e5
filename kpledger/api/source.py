"""The service's way to the ledger: connect lazily, check the deployment, recover.

Why lazily: the service must start, serve its page and answer ``/health`` with 503
while the node is down, and answer again as soon as it is back, without a restart.
After a lost connection the deployment is checked again before the next answer (a node
that comes back may be another chain, or a fresh one without the contracts).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from kpledger.api.reads import PinnedReads
from kpledger.api.settings import ApiSettings
from kpledger.chain.deployment import Deployment
from kpledger.chain.http_rpc import HttpRpc
from kpledger.errors import ConnectionFailed, KPLedgerError
from kpledger.ledger import Ledger
from kpledger.verify import Verification
from kpledger.verify_cache import VerificationCache

T = TypeVar("T")
log = logging.getLogger("kpledger.api")


class LedgerSource:
    """Hands out a read-only :class:`Ledger` whose reads go through :class:`PinnedReads`,
    and the process's :class:`~kpledger.verify_cache.VerificationCache` over it."""

    def __init__(self, settings: ApiSettings, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._ledger: Ledger | None = None
        self._reads: PinnedReads | None = None
        self._suspect = False
        self._cache: VerificationCache | None = None
        self._epoch = 0
        self.warming = False
        if ledger is not None:  # given by the caller (tests, an embedding program): read-only view of it
            self._reads = PinnedReads(ledger.rpc, cache_entries=settings.read_cache_entries)
            self._ledger = Ledger(self._reads, ledger.deployment)
            self._cache = self._new_cache(self._ledger)

    @property
    def deployment(self) -> Deployment | None:
        return self._ledger.deployment if self._ledger is not None else None

    def get(self) -> tuple[Ledger, PinnedReads]:
        """The ledger, connecting first if needed. Raises ConnectionFailed (node down)
        or ConfigurationError (no deployment record, wrong chain, no contracts)."""
        with self._lock:
            if self._ledger is None or self._reads is None:
                deployment = Deployment.load(self.settings.deployment_path)
                reads = PinnedReads(
                    HttpRpc(self.settings.rpc, timeout=self.settings.rpc_timeout),
                    cache_entries=self.settings.read_cache_entries,
                )
                ledger = Ledger(reads, deployment)
                ledger.check_deployment()
                self._ledger, self._reads, self._suspect = ledger, reads, False
                self._cache = self._new_cache(ledger)
            elif self._suspect:
                self._ledger.check_deployment()
                self._ledger.forget_local_state()  # block times of a chain that may have been reset
                self._suspect = False
            return self._ledger, self._reads

    def read(self, action: Callable[[Ledger, int], T]) -> T:
        """Run ``action(ledger, head)`` with every read pinned to the head block."""
        with self.session() as (ledger, head):
            return action(ledger, head)

    @contextmanager
    def session(self) -> Iterator[tuple[Ledger, int]]:
        ledger, reads = self.get()
        try:
            with reads.pinned() as head:
                if reads.went_back:  # a reset or restored node: is the deployment still there?
                    reads.went_back = False
                    ledger.check_deployment()
                    ledger.forget_local_state()
                yield ledger, head
        except ConnectionFailed:
            self.mark_suspect()
            raise

    @property
    def cache(self) -> VerificationCache | None:
        """The verification cache, once connected."""
        return self._cache

    def cached_json(self, digest: bytes) -> bytes | None:
        """A verification answered from memory, without I/O (see
        :meth:`VerificationCache.cached_json`); None when the chain must be read."""
        cache = self._cache
        if cache is None or self._suspect:
            return None
        return cache.cached_json(digest)

    def verify_hash_json(self, digest: bytes) -> tuple[Verification, bytes]:
        """Verify ``digest`` through the cache at the watch's head, every read pinned to
        that block (so identity reads are shared by the requests of one block)."""
        ledger, reads = self.get()
        cache = self._cache
        assert cache is not None
        try:
            head = cache.watch.refresh()
            if head.epoch != self._epoch:
                if self._epoch:  # a reset or forked chain: is the deployment still there?
                    ledger.check_deployment()
                    ledger.forget_local_state()
                    reads.clear()
                self._epoch = head.epoch
            with reads.pinned(at=head.number):
                return cache.verify_hash_json(digest)
        except ConnectionFailed:
            self.mark_suspect()
            raise

    def mark_suspect(self) -> None:
        """The node was lost: check the deployment again before the next answer."""
        self._suspect = True

    # ------------------------------------------------------------------ cache

    def _new_cache(self, ledger: Ledger) -> VerificationCache:
        cache = VerificationCache(
            ledger,
            poll_interval=self.settings.head_poll_interval,
            capacity=self.settings.verify_cache_entries,
        )
        cache.follow()
        if self.settings.warm_cache and cache.capacity > 0:
            self.warming = True
            threading.Thread(target=self._warm, args=(cache,), name="kpledger-warm", daemon=True).start()
        return cache

    def _warm(self, cache: VerificationCache) -> None:
        """Verify the most recent certificates in the background; a failure only means
        their first verifications will read the chain."""
        try:
            kept = cache.warm(cache.recent_certificates())
            log.info("verification cache warmed with %d certificates", kept)
        except KPLedgerError as exc:
            log.warning("could not warm the verification cache: %s", exc)
        finally:
            self.warming = False
