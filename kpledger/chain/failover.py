"""JSON-RPC over several nodes of one network: fail over when a node dies or stalls.

Why at the RPC layer: the Ledger's read and write paths already speak :class:`Rpc`; a
client that switches nodes underneath them needs nothing else to change. Writes stay
exactly-once because the Transactor signs locally with nonces it tracks and re-sends the
*same* signed bytes (never a new transaction) when the node it now talks to does not
know a transaction it waits for; a node that already has it answers "already known".

A node is left when a request to it fails at the transport (dead, refused, timed out) or
when its head has not advanced for ``stall_after`` seconds while another node's head is
higher (it is cut off or stuck). When no node's head advances, the network itself is
stalled: :attr:`FailoverRpc.stalled` says so, and waits for receipts report
:class:`~kpledger.errors.ChainStalled` rather than a generic timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kpledger.chain.http_rpc import HttpRpc
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import ConnectionFailed


def split_urls(target: str) -> list[str]:
    """``"URL,URL,…"`` as a list (a single URL gives one element); blanks are refused."""
    urls = [part.strip() for part in target.split(",")]
    if not urls or any(not url for url in urls):
        raise ValueError(f"rpc: {target!r} has an empty URL; give URLs separated by commas, e.g. URL1,URL2")
    return urls


@dataclass
class _Head:
    number: int = -1
    advanced_at: float = 0.0
    checked_at: float = 0.0


class FailoverRpc(Rpc):
    """:class:`Rpc` over ``urls`` (the same chain behind each), one in use at a time.

    ``timeout`` is per request and generous (30 s): a receipt batch for a thousand
    writes takes geth seconds under load, and a dead node is noticed at once anyway
    (connection refused); a live node that stopped following the chain is left by the
    head check (``stall_after``), not by the timeout."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 30.0,
        stall_after: float = 8.0,
        probe_interval: float = 1.0,
    ) -> None:
        super().__init__(None)
        if not urls:
            raise ValueError("rpc: no URL given; pass at least one JSON-RPC URL")
        self.urls = list(urls)
        self.stall_after = stall_after
        self.probe_interval = probe_interval
        self._nodes = [HttpRpc(url, timeout=timeout) for url in self.urls]
        self._heads = [_Head(advanced_at=time.monotonic()) for _ in self.urls]
        self._current = 0
        self._lock = threading.Lock()
        self.failovers = 0

    @property
    def url(self) -> str:
        """The node in use now."""
        return self.urls[self._current]

    def call(self, method: str, params: Sequence[Any]) -> Any:
        return self._on_some_node(lambda node: node.call(method, params), method)

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any | RpcError]:
        if not requests:
            return []
        return self._on_some_node(lambda node: node.batch(requests), "batch")  # type: ignore[no-any-return]

    def close(self) -> None:
        for node in self._nodes:
            node.close()

    # ------------------------------------------------------------------ health

    @property
    def stalled(self) -> bool:
        """No node's head has advanced for ``stall_after`` seconds (probing all now)."""
        now = time.monotonic()
        for index in range(len(self._nodes)):
            self._probe(index, now)
        return all(now - head.advanced_at > self.stall_after for head in self._heads)

    def stall_seconds(self) -> float:
        """Seconds since any node's head last advanced."""
        return time.monotonic() - max(head.advanced_at for head in self._heads)

    def _probe(self, index: int, now: float) -> bool:
        """Read node ``index``'s head; False when it does not answer."""
        head = self._heads[index]
        head.checked_at = now
        try:
            number = int(self._nodes[index].call("eth_blockNumber", []), 16)
        except (ConnectionFailed, RpcError, ValueError, TypeError):
            return False
        if number != head.number:
            if head.number >= 0:  # a first sighting is not progress: the clock starts at creation
                head.advanced_at = now
            head.number = number
        return True

    def _check_progress(self) -> None:
        """Every ``probe_interval``: leave the current node if its head is stuck while
        another node's has moved on."""
        now = time.monotonic()
        current = self._current
        if now - self._heads[current].checked_at < self.probe_interval:
            return
        self._probe(current, now)
        if now - self._heads[current].advanced_at <= self.stall_after:
            return
        best = current
        for index in range(len(self._nodes)):
            if index != current and self._probe(index, now):
                head = self._heads[index]
                if head.number > self._heads[best].number and now - head.advanced_at <= self.stall_after:
                    best = index
        if best != current:
            self._switch(best)

    def _switch(self, index: int) -> None:
        self._current = index
        self.failovers += 1

    def _on_some_node(self, attempt: Any, what: str) -> Any:
        with self._lock:
            self._check_progress()
            start = self._current
        failures: list[str] = []
        for step in range(len(self._nodes)):
            index = (start + step) % len(self._nodes)
            try:
                result = attempt(self._nodes[index])
            except ConnectionFailed as exc:
                failures.append(str(exc))
                continue
            if index != start:
                with self._lock:
                    self._switch(index)
            return result
        raise ConnectionFailed(
            f"none of the {len(self._nodes)} nodes answered {what}: " + "; ".join(failures)
        )
