"""Every Annex I rule on every member, on all cores, in bounded memory.

Each member is read, strictly loaded, validated by :func:`parse_certificate`, hashed
and turned into its chain terms in a worker process: that is ~80 % of a batch's CPU, and
the GIL keeps it on one core in threads. Work goes out in chunks, at most a few chunks
ahead of what has come back, so a batch of a million files never holds more than a few
thousand documents at once; what stays is one small :class:`Member` per certificate.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, Final, TypeAlias

from kpledger.batch.problems import BatchProblem, Member
from kpledger.certificate import parse_certificate
from kpledger.errors import DocumentError
from kpledger.types import ChainTerms

__all__ = ["CHUNK", "Progress", "validate_members"]

#: Members per task sent to a worker: large enough that pickling and scheduling cost
#: little per member, small enough to keep both cores busy to the end.
CHUNK: Final = 512
#: Below this many members a process pool costs more (fork, imports) than it saves.
POOL_THRESHOLD: Final = 2048

#: ``progress(stage, done, total)``; ``total`` is None while the total is unknown.
Progress: TypeAlias = Callable[[str, int, int | None], None]

# What a worker sends back per member: its terms as a plain tuple, or its problems.
_Terms = tuple[bytes, str, str, str, int, int, int, int]
_Outcome = tuple[_Terms | None, list[tuple[str, str, str]]]
Item: TypeAlias = "Path | bytes | Mapping[str, Any]"


def validate_members(
    items: Iterable[Item],
    *,
    labels: Callable[[int, Item], str],
    validity_days: int | None = None,
    workers: int | None = None,
    total: int | None = None,
    progress: Progress | None = None,
) -> tuple[list[Member], list[BatchProblem]]:
    """Validate ``items`` (paths, file bytes or parsed documents) in input order.

    Returns the valid members and the problems of the others, each labelled by
    ``labels(index, item)``. ``workers`` is the number of processes (default: one per
    core for large batches, none for small ones).
    """
    members: list[Member] = []
    problems: list[BatchProblem] = []
    done = 0
    for chunk, outcomes in _outcomes(items, validity_days, _workers(workers, total)):
        for offset, (item, (terms, found)) in enumerate(zip(chunk, outcomes, strict=True)):
            label = labels(done + offset, item)
            if terms is None:
                problems += [BatchProblem(label, field, rule, message) for field, rule, message in found]
            else:
                members.append(Member(label, ChainTerms(*terms)))
        done += len(chunk)
        if progress is not None:
            progress("validating", done, total)
    return members, problems


def _workers(requested: int | None, total: int | None) -> int:
    if requested is not None:
        return max(1, requested)
    if total is not None and total < POOL_THRESHOLD:
        return 1
    return os.cpu_count() or 1


def _outcomes(
    items: Iterable[Item], validity_days: int | None, workers: int
) -> Iterator[tuple[list[Item], list[_Outcome]]]:
    chunks = _chunks(items)
    if workers == 1:
        for chunk in chunks:
            yield chunk, _check_chunk(chunk, validity_days)
        return
    # fork: the workers inherit the imported package, so they start in milliseconds.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: list[tuple[list[Item], Future[list[_Outcome]]]] = []
        for chunk in chunks:
            pending.append((chunk, pool.submit(_check_chunk, chunk, validity_days)))
            if len(pending) > 2 * workers:  # bounded: a few chunks in flight, never the batch
                first, future = pending.pop(0)
                yield first, future.result()
        for chunk, future in pending:
            yield chunk, future.result()


def _chunks(items: Iterable[Item]) -> Iterator[list[Item]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def _check_chunk(chunk: Sequence[Item], validity_days: int | None) -> list[_Outcome]:
    """Runs in a worker: one outcome per item, never an exception for bad input."""
    return [_check(item, validity_days) for item in chunk]


def _check(item: Item, validity_days: int | None) -> _Outcome:
    try:
        data = item.read_bytes() if isinstance(item, Path) else item
    except OSError as exc:
        return None, [("$", "file.unreadable", f"cannot read the file: {exc.strerror or exc}")]
    try:
        terms = parse_certificate(data, validity_days=validity_days).chain_terms()
    except DocumentError as exc:
        return None, [(p.field, p.rule, p.message) for p in exc.problems]
    return (
        terms.document_hash, terms.number, terms.origin, terms.destination,
        terms.carats, terms.value_cents, terms.parcels, terms.expires_at,
    ), []  # fmt: skip
