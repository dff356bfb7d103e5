"""Every Annex I rule on every member, on all cores, in bounded memory.

Each member is read, strictly loaded, validated by :func:`parse_certificate`, hashed,
turned into its chain terms and its Merkle leaf in a worker process: that is ~80 % of a batch's CPU, and
the GIL keeps it on one core in threads. Work goes out in chunks, at most a few chunks
ahead of what has come back, so a batch of a million files never holds more than a few
thousand documents at once; what stays is one small :class:`Member` per certificate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Final, TypeAlias

from kpledger.batch.pool import in_order, worker_count
from kpledger.batch.problems import BatchProblem, Member
from kpledger.certificate import parse_certificate
from kpledger.errors import DocumentError
from kpledger.merkle import CERTIFICATE_LEAF, encode_leaf
from kpledger.types import ChainTerms

__all__ = ["CHUNK", "Progress", "validate_members"]

#: Members per task sent to a worker: large enough that pickling and scheduling cost
#: little per member, small enough to keep both cores busy to the end.
CHUNK: Final = 512

#: ``progress(stage, done, total)``; ``total`` is None while the total is unknown.
Progress: TypeAlias = Callable[[str, int, int | None], None]

# What a worker sends back per member: its terms as a plain tuple, or its problems.
_Terms = tuple[bytes, str, str, str, int, int, int, int]
_Outcome = tuple[_Terms | None, list[tuple[str, str, str]], tuple[list[Any], bytes] | None]
Item: TypeAlias = "Path | bytes | Mapping[str, Any]"


def validate_members(
    items: Iterable[Item],
    *,
    labels: Callable[[int, Item], str],
    validity_days: int | None = None,
    workers: int | None = None,
    total: int | None = None,
    progress: Progress | None = None,
    on_members: Callable[[list[Member]], None] | None = None,
) -> tuple[list[Member], list[BatchProblem]]:
    """Validate ``items`` (paths, file bytes or parsed documents) in input order.

    Returns the valid members and the problems of the others, each labelled by
    ``labels(index, item)``. ``workers`` is the number of processes (default: one per
    core for large batches, none for small ones). ``on_members`` receives each chunk's
    valid members as soon as they are known (the chain check starts on them meanwhile).
    """
    members: list[Member] = []
    problems: list[BatchProblem] = []
    done = 0
    for chunk, outcomes in _outcomes(items, validity_days, worker_count(workers, total)):
        fresh: list[Member] = []
        for offset, (item, (terms, found, leaf)) in enumerate(zip(chunk, outcomes, strict=True)):
            label = labels(done + offset, item)
            if terms is None:
                problems += [BatchProblem(label, field, rule, message) for field, rule, message in found]
            else:
                fresh.append(Member(label, ChainTerms(*terms), leaf))
        members += fresh
        if on_members is not None and fresh:
            on_members(fresh)
        done += len(chunk)
        if progress is not None:
            progress("validating", done, total)
    return members, problems


def _outcomes(
    items: Iterable[Item], validity_days: int | None, workers: int
) -> Iterator[tuple[list[Item], list[_Outcome]]]:
    return in_order(partial(_check_chunk, validity_days=validity_days), _chunks(items), workers)


def _chunks(items: Iterable[Item]) -> Iterator[list[Item]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def _check_chunk(chunk: Sequence[Item], *, validity_days: int | None) -> list[_Outcome]:
    """Runs in a worker: one outcome per item, never an exception for bad input."""
    return [_check(item, validity_days) for item in chunk]


def _check(item: Item, validity_days: int | None) -> _Outcome:
    try:
        data = item.read_bytes() if isinstance(item, Path) else item
    except OSError as exc:
        return None, [("$", "file.unreadable", f"cannot read the file: {exc.strerror or exc}")], None
    try:
        terms = parse_certificate(data, validity_days=validity_days).chain_terms()
    except DocumentError as exc:
        return None, [(p.field, p.rule, p.message) for p in exc.problems], None
    values = terms.as_tuple()
    return (
        terms.document_hash, terms.number, terms.origin, terms.destination,
        terms.carats, terms.value_cents, terms.parcels, terms.expires_at,
    ), [], encode_leaf(CERTIFICATE_LEAF, values)  # fmt: skip
