"""Chunks of work on all cores, in order, a few chunks in flight at a time.

The GIL keeps CPU-bound Python on one core in threads, so the batch's per-member work
(validation, hashing, file writing) goes to forked worker processes: they inherit the
imported package and start in milliseconds. At most ``2 * workers`` chunks are
outstanding, so memory stays bounded whatever the batch's size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Final, TypeVar

__all__ = ["POOL_THRESHOLD", "in_order", "worker_count"]

#: Below this many members a process pool costs more (fork, pickling) than it saves.
POOL_THRESHOLD: Final = 2048

Chunk = TypeVar("Chunk")
Result = TypeVar("Result")


def worker_count(requested: int | None, total: int | None) -> int:
    """``requested``, or one per core for a large (or unknown-size) batch, one for a small one."""
    if requested is not None:
        return max(1, requested)
    if total is not None and total < POOL_THRESHOLD:
        return 1
    return os.cpu_count() or 1


def in_order(
    work: Callable[[Chunk], Result], chunks: Iterable[Chunk], workers: int
) -> Iterator[tuple[Chunk, Result]]:
    """``(chunk, work(chunk))`` for each chunk, in input order; in this process when
    ``workers`` is 1, else in that many forked processes (``work`` must be a module-level
    function, its arguments and results picklable)."""
    if workers == 1:
        for chunk in chunks:
            yield chunk, work(chunk)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: list[tuple[Chunk, Future[Result]]] = []
        for chunk in chunks:
            pending.append((chunk, pool.submit(work, chunk)))
            if len(pending) > 2 * workers:
                first, future = pending.pop(0)
                yield first, future.result()
        for chunk, future in pending:
            yield chunk, future.result()
