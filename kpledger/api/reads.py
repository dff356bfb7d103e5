"""How the service reads the chain: plain keep-alive JSON-RPC, reads pinned to one block,
and a cache of what a block can no longer change.

Why not the library's web3 transport as it is: a verification is half a dozen reads, and
through web3 each one costs ~1 ms of ``requests`` plus an extra ``eth_chainId`` that
web3's validation middleware sends before every ``eth_call`` (measured: ~20 ms per
verification against anvil). :class:`~kpledger.chain.http_rpc.HttpRpc` speaks JSON-RPC over ``http.client``
(~0.15 ms a round trip) and returns the node's hex text, which
:class:`~kpledger.ledger.Ledger`'s read path accepts as it is.

Why pin: :class:`PinnedReads` answers every ``latest`` read of a request at the block the
request started at, so a verification sees one consistent state even while blocks are
mined, and a read at a given block is immutable on a chain with final blocks (Besu QBFT),
so it is cached. Repeated questions (the origin participant, its authority, a
certificate's record read twice by the library) then cost nothing. A head that moves
backwards (a node reset, a reorg, ``evm_revert``) or a lost connection empties the cache.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import ConnectionFailed

_MISSING: Final = object()
_CACHEABLE_TAGGED: Final = {"eth_call": 1, "eth_getBlockByNumber": 0, "eth_getCode": 1, "eth_getBalance": 1}
"""Methods whose block tag is at this parameter index."""


class PinnedReads(Rpc):
    """Wraps another :class:`Rpc`. Inside :meth:`pinned`, ``latest`` means the block the
    pin was taken at, and reads at a block no later than it are cached (see the module
    doc). Outside a pin, requests pass through unchanged."""

    def __init__(self, inner: Rpc, *, cache_entries: int = 20_000) -> None:
        super().__init__(inner.w3)
        self.inner = inner
        self.cache_entries = cache_entries
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._highest = -1
        self.went_back = False
        """Set when the head was seen lower than before (the reader of it resets it)."""
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ pinning

    def head(self) -> int:
        """The node's latest block number, asked now (never cached)."""
        number = _int(self._pass("eth_blockNumber", []))
        if number < self._highest:
            self.clear()  # the chain went backwards: cached blocks may be different blocks now
            self.went_back = True
        self._highest = number
        return number

    @contextmanager
    def pinned(self, at: int | None = None) -> Iterator[int]:
        """Pin this thread's reads to the current head (or to block ``at``, a head the
        caller already knows); yields its number."""
        previous = getattr(self._local, "head", None)
        if previous is not None:
            head = previous
        elif at is not None:
            head = at
            self._highest = max(self._highest, at)
        else:
            head = self.head()
        self._local.head = head
        try:
            yield head
        finally:
            self._local.head = previous

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    # ------------------------------------------------------------------ Rpc

    def call(self, method: str, params: Sequence[Any]) -> Any:
        head: int | None = getattr(self._local, "head", None)
        if head is None:
            return self._pass(method, params)
        if method == "eth_blockNumber":
            return hex(head)
        fixed = _pin(method, params, head)
        if fixed is None:
            return self._pass(method, params)
        key = _key(method, fixed)
        hit = self._cache.get(key, _MISSING)
        if hit is not _MISSING:
            self.hits += 1
            return hit
        self.misses += 1
        result = self._pass(method, fixed)
        self._store(key, result)
        return result

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any | RpcError]:
        head: int | None = getattr(self._local, "head", None)
        if head is None:
            return self._pass_batch(requests)
        results: list[Any] = [_MISSING] * len(requests)
        missing: list[tuple[int, str | None, tuple[str, Sequence[Any]]]] = []
        for i, (method, params) in enumerate(requests):
            if method == "eth_blockNumber":
                results[i] = hex(head)
                continue
            fixed = _pin(method, params, head)
            if fixed is None:
                missing.append((i, None, (method, params)))
                continue
            key = _key(method, fixed)
            hit = self._cache.get(key, _MISSING)
            if hit is _MISSING:
                missing.append((i, key, (method, fixed)))
            else:
                self.hits += 1
                results[i] = hit
        if missing:
            self.misses += len(missing)
            answers = self._pass_batch([request for _, _, request in missing])
            for (i, cache_key, _), answer in zip(missing, answers, strict=True):
                results[i] = answer
                if cache_key is not None and not isinstance(answer, RpcError):
                    self._store(cache_key, answer)
        return results

    # ------------------------------------------------------------------ internals

    def _pass(self, method: str, params: Sequence[Any]) -> Any:
        try:
            return self.inner.call(method, params)
        except ConnectionFailed:
            self.clear()  # the node may come back as another chain
            raise

    def _pass_batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any | RpcError]:
        try:
            return self.inner.batch(requests)
        except ConnectionFailed:
            self.clear()
            raise

    def _store(self, key: str, value: Any) -> None:
        if self.cache_entries <= 0 or value is None:  # None: a block not mined yet, or no such thing
            return
        with self._lock:
            while len(self._cache) >= self.cache_entries:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = value


def _pin(method: str, params: Sequence[Any], head: int) -> list[Any] | None:
    """``params`` with ``latest`` replaced by the pinned block, or None when the request
    is not a read of a fixed block (and must not be cached)."""
    if method == "eth_chainId":
        return []
    if method == "eth_getLogs":
        if len(params) != 1 or not isinstance(params[0], dict):
            return None
        query = dict(params[0])
        if "blockHash" in query:
            return [query]
        for field, default in (("fromBlock", "latest"), ("toBlock", "latest")):
            tag = _fixed_tag(query.get(field, default), head)
            if tag is None:
                return None
            query[field] = tag
        return [query]
    index = _CACHEABLE_TAGGED.get(method)
    if index is None or len(params) <= index:
        return None
    tag = _fixed_tag(params[index], head)
    if tag is None:
        return None
    fixed = list(params)
    fixed[index] = tag
    return fixed


def _fixed_tag(tag: Any, head: int) -> str | None:
    if tag == "latest":
        return hex(head)
    if isinstance(tag, int):
        return hex(tag) if tag <= head else None
    if isinstance(tag, str) and tag.startswith("0x"):
        try:
            number = int(tag, 16)
        except ValueError:
            return None
        return tag if number <= head else None
    return None  # pending, safe, finalized, earliest: not worth the reasoning


def _key(method: str, params: list[Any]) -> str:
    return method + json.dumps(params, sort_keys=True, separators=(",", ":"), default=_hex_default)


def _hex_default(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else int(value)
