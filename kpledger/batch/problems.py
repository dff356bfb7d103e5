"""What may stop a batch, decided from facts already gathered (no I/O here).

A batch is refused as a whole: every problem is collected first, each naming the file
(or the position of a document given in Python) and the rule it breaks, so an exporter
fixes them all in one go, and nothing is anchored while any remains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kpledger.errors import KPLedgerError
from kpledger.types import ChainTerms

__all__ = ["BatchProblem", "BatchRefused", "Member", "membership_problems", "on_chain_problems"]


@dataclass(frozen=True, slots=True)
class Member:
    """One validated certificate of a batch: where it came from and what the leaf holds;
    ``leaf`` is its Merkle leaf (JSON form, hash) when a worker computed it already."""

    source: str
    terms: ChainTerms
    leaf: tuple[list[Any], bytes] | None = None


@dataclass(frozen=True, slots=True)
class BatchProblem:
    """A rule one member breaks: ``source`` is its file (or ``documents[i]``), ``field``
    the document field (``$`` for the whole document), ``rule`` a stable code."""

    source: str
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.field == "$" else f"{self.source}: {self.field}"
        return f"{where}: {self.message} [{self.rule}]"


class BatchRefused(KPLedgerError):
    """The batch breaks rules; ``problems`` lists every one. Nothing was anchored."""

    def __init__(self, problems: Sequence[BatchProblem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        count = len(self.problems)
        super().__init__(f"batch refused, {count} problem{'s' if count != 1 else ''}: {shown}{more}")


def membership_problems(members: Sequence[Member]) -> list[BatchProblem]:
    """The rules that hold between members: one exporting participant (the contract
    anchors a root for one origin), each number and each document hash once."""
    problems: list[BatchProblem] = []
    if not members:
        return [BatchProblem("batch", "$", "batch.empty", "a batch needs at least one certificate")]
    counts: dict[str, int] = {}
    for member in members:
        counts[member.terms.origin] = counts.get(member.terms.origin, 0) + 1
    if len(counts) > 1:
        majority = max(sorted(counts), key=counts.__getitem__)
        for member in members:
            if member.terms.origin != majority:
                problems.append(
                    BatchProblem(
                        member.source,
                        "exporting_participant",
                        "batch.mixed_origins",
                        f"exported by {member.terms.origin}, but most of the batch by {majority}:"
                        " a batch holds one exporting participant's certificates; split it",
                    )
                )
    problems += _repeated(members, lambda m: m.terms.number, "number", "batch.duplicate_number")
    problems += _repeated(
        members, lambda m: "0x" + m.terms.document_hash.hex(), "$", "batch.duplicate_document"
    )
    return problems


def _repeated(
    members: Sequence[Member], key_of: Callable[[Member], str], field: str, rule: str
) -> Iterable[BatchProblem]:
    first: dict[str, str] = {}
    for member in members:
        key = key_of(member)
        seen = first.setdefault(key, member.source)
        if seen != member.source:
            what = f"number {key}" if field == "number" else f"document (hash {key[:14]}…)"
            yield BatchProblem(
                member.source, field, rule, f"the {what} is also in {seen}; each certificate is used once"
            )


def on_chain_problems(
    members: Sequence[Member], hash_taken: Sequence[bool], number_taken: Sequence[bool]
) -> list[BatchProblem]:
    """Members the ledger already holds, by document hash or by number (same order as
    ``members``): anchoring them again would give one certificate two lives."""
    problems: list[BatchProblem] = []
    for member, by_hash, by_number in zip(members, hash_taken, number_taken, strict=True):
        if by_hash:
            problems.append(
                BatchProblem(
                    member.source,
                    "$",
                    "batch.already_anchored",
                    f"this document (0x{member.terms.document_hash.hex()[:12]}…) is already on the"
                    " ledger; leave it out of the batch",
                )
            )
        elif by_number:
            problems.append(
                BatchProblem(
                    member.source,
                    "number",
                    "batch.number_taken",
                    f"the number {member.terms.number} is already used on the ledger; give the"
                    " certificate a fresh number",
                )
            )
    return problems
