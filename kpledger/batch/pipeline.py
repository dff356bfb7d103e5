"""A batch from first file to last proof: validate, check, anchor, write the holders' files.

Three steps an exporter's program can take one by one (:func:`prepare_batch`,
:func:`anchor_prepared`, :func:`write_holder_files`) or at once (:func:`run_batch`).
Everything that can refuse a batch is checked in the first step and reported together;
only a batch with no problem at all reaches the anchoring transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpledger.batch.chain_checks import BackgroundCheck
from kpledger.batch.holder_files import (
    BUNDLE_SUFFIX,
    PROOF_SUFFIX,
    HolderFileError,
    Layout,
    anchor_json,
    bundle_name,
    bundle_text,
    proof_json,
)
from kpledger.batch.pool import in_order, worker_count
from kpledger.batch.problems import BatchProblem, BatchRefused, Member, membership_problems, on_chain_problems
from kpledger.batch.validation import CHUNK, Item, Progress, validate_members
from kpledger.certificate import canonical_json
from kpledger.errors import KPLedgerError
from kpledger.ledger import BatchProof, Ledger
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree, batch_proof_document
from kpledger.types import Receipt

__all__ = [
    "AnchoredBatch",
    "PreparedBatch",
    "anchor_prepared",
    "certificate_files",
    "prepare_batch",
    "prepare_members",
    "run_batch",
    "write_holder_files",
]


@dataclass
class PreparedBatch:
    """A batch that passed every check: its members in input order and its tree.

    ``targets`` are the holder files to write (one per member, none if no files were
    asked for); ``texts`` the members' JSON text when they came as Python values."""

    origin: str
    members: list[Member]
    tree: StandardMerkleTree
    layout: Layout
    targets: list[Path] = field(default_factory=list)
    sources: list[Path | None] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.tree.root[2:])


@dataclass
class AnchoredBatch:
    """A prepared batch whose root is on chain; ``files`` are the holder files written."""

    prepared: PreparedBatch
    receipt: Receipt
    chain_id: int
    ledger: str
    files: list[Path] = field(default_factory=list)

    @property
    def anchor_tx(self) -> str:
        return "0x" + self.receipt.tx_hash.hex()

    def proofs(self) -> Iterator[BatchProof]:
        """Each member's :class:`BatchProof`, in member order (what ``verify`` takes)."""
        root = self.prepared.root
        for member, proof in zip(self.prepared.members, self.prepared.tree.all_proofs(), strict=True):
            yield BatchProof(member.terms, root, tuple(bytes.fromhex(p[2:]) for p in proof))

    def proof_documents(self) -> Iterator[dict[str, Any]]:
        """Each member's ``kpledger-batch-proof-v1`` object, anchoring fields filled in."""
        tree = self.prepared.tree
        anchor = {"chainId": self.chain_id, "ledger": self.ledger, "anchorTx": self.anchor_tx}
        template = batch_proof_document(tree, 0, **_snake(anchor)) if len(tree) else {}
        for index, proof in enumerate(tree.all_proofs()):
            yield {
                **template,
                "leaf": tree.at(index),
                "leafHash": tree.leaf_hash(index),
                "proof": proof,
            }


def certificate_files(directory: Path) -> list[Path]:
    """The certificate files of a directory: ``*.json`` minus the proof and bundle files
    a batch writes, sorted by name (one ``scandir``, names compared as strings: a
    directory of 50,000 files is listed in milliseconds, not the second ``glob`` takes)."""
    with os.scandir(directory) as entries:
        names = sorted(
            e.name
            for e in entries
            if e.name.endswith(".json") and not e.name.endswith((PROOF_SUFFIX, BUNDLE_SUFFIX)) and e.is_file()
        )
    return [directory / name for name in names]


def prepare_batch(
    items: Sequence[Path] | Iterable[bytes | Mapping[str, Any]],
    *,
    ledger: Ledger | None = None,
    out: Path | None = None,
    layout: Layout = "bundle",
    write_files: bool = True,
    validity_days: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> PreparedBatch:
    """Validate a batch and decide whether it may be anchored; :class:`BatchRefused`
    lists every problem otherwise.

    ``items`` are certificate files (``Path``) or documents (file bytes or parsed JSON
    objects; any iterable, consumed once). Checked: every rule of the certificate
    format, one exporting participant, each number and document once, and — with a
    ``ledger`` — none already on the ledger (by hash or number), read in batched calls
    while validation goes on. Holder files go next to each file, or into ``out``
    (required for documents); an existing proof or bundle file refuses its member (it may hold an
    earlier batch's proof, and is never overwritten). ``write_files=False`` plans none.
    """
    path_list = (
        list(items) if isinstance(items, Sequence) and all(isinstance(i, Path) for i in items) else None
    )
    paths = path_list is not None
    keep_texts = write_files and not paths
    texts: list[str] = []
    source: Iterable[Item] = items if not keep_texts else _keeping_texts(items, texts)  # type: ignore[arg-type]
    total = len(items) if isinstance(items, Sequence) else None
    labels = (lambda _i, item: str(item)) if paths else (lambda i, _item: f"documents[{i}]")
    check = BackgroundCheck(ledger) if ledger is not None else None
    members, problems = validate_members(
        source, labels=labels, validity_days=validity_days, workers=workers, total=total, progress=progress,
        on_members=check.add if check is not None else None,
    )  # fmt: skip
    if progress is not None and check is not None:
        progress("checking the ledger", 0, len(members))
    taken = check.result() if check is not None else None
    if progress is not None and check is not None:
        progress("checking the ledger", len(members), len(members))
    if not paths and write_files and out is None:
        raise ValueError("documents given as values need `out`: the directory for their holder files")
    problems += membership_problems(members) if members or not problems else []
    targets: list[Path] = []
    member_paths: list[Path | None] = []
    if write_files:
        by_label: dict[str, Path] = {str(p): p for p in path_list if isinstance(p, Path)} if path_list else {}
        member_paths = [by_label.get(m.source) for m in members]
        targets = [_target(m, p, out, layout) for m, p in zip(members, member_paths, strict=True)]
        problems += _file_problems(members, targets)
    if taken is not None:
        problems += on_chain_problems(members, *taken)
    if problems:
        raise BatchRefused(problems)
    tree = _tree(members)
    kept = [texts[i] for i in range(len(texts))] if keep_texts else []
    return PreparedBatch(members[0].terms.origin, members, tree, layout, targets, member_paths, kept)


def prepare_members(members: Sequence[Member], *, layout: Layout = "bundle") -> PreparedBatch:
    """A batch of members whose terms were validated already (e.g. built in Python by the
    demo): the batch's own rules are checked, no files are planned."""
    problems = membership_problems(members)
    if problems:
        raise BatchRefused(problems)
    return PreparedBatch(members[0].terms.origin, list(members), _tree(members), layout)


def anchor_prepared(ledger: Ledger, prepared: PreparedBatch) -> AnchoredBatch:
    """Anchor the batch's root (the ledger's signer must be an authority of its origin)."""
    receipt = ledger.anchor_batch(prepared.origin, prepared.root, len(prepared.members))
    return AnchoredBatch(prepared, receipt, ledger.deployment.chain_id, ledger.deployment.ledger)


def write_holder_files(
    anchored: AnchoredBatch, *, workers: int | None = None, progress: Progress | None = None
) -> list[Path]:
    """Write each member's bundle or proof file, creating each file exclusively (an
    existing file is left alone and reported in :class:`HolderFileError`). Files are
    written by worker processes for large batches, chunk by chunk."""
    prepared = anchored.prepared
    total = len(prepared.targets)
    for folder in {t.parent for t in prepared.targets}:
        folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    clashes: list[str] = []
    done = 0
    jobs = _write_jobs(anchored)
    for chunk, refused in in_order(_write_chunk, jobs, worker_count(workers, total)):
        refused_set = set(refused)
        clashes += refused
        written += [Path(job[0]) for job in chunk if job[0] not in refused_set]
        done += len(chunk)
        if progress is not None:
            progress("writing holder files", done, total)
    anchored.files = written
    if clashes:
        raise HolderFileError(
            f"{len(clashes)} holder file(s) appeared while the batch was anchored and were left alone,"
            f" e.g. {clashes[0]}: write those members' proofs elsewhere with the proof documents"
        )
    return written


# (target, certificate file to embed or None, document text, proof JSON, bundle?)
_WriteJob = tuple[str, str | None, str, str, bool]


def _write_jobs(anchored: AnchoredBatch) -> Iterator[list[_WriteJob]]:
    """Chunks of write jobs, each member's proof assembled as JSON text here (the tree
    lives in this process) and the files read and written by the workers."""
    prepared = anchored.prepared
    tree = prepared.tree
    encoding = tree.leaf_encoding
    anchor = anchor_json(anchored.chain_id, anchored.ledger, anchored.anchor_tx)
    bundle = prepared.layout == "bundle"
    chunk: list[_WriteJob] = []
    for index, proof in enumerate(tree.all_proofs()):
        text = proof_json(encoding, tree.at(index), tree.leaf_hash(index), tree.root, proof, anchor)
        source = prepared.sources[index] if prepared.sources else None
        document = prepared.texts[index] if bundle and source is None else ""
        chunk.append((str(prepared.targets[index]), str(source) if source else None, document, text, bundle))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_chunk(jobs: list[_WriteJob]) -> list[str]:
    """Runs in a worker: write each file exclusively; the targets that already existed."""
    refused: list[str] = []
    for target, source, document, proof, bundle in jobs:
        if bundle:
            text = bundle_text(Path(source).read_text(encoding="utf-8") if source else document, proof)
        else:
            text = proof + "\n"
        try:
            with open(target, "x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            refused.append(target)
    return refused


def run_batch(
    ledger: Ledger,
    items: Sequence[Path] | Iterable[bytes | Mapping[str, Any]],
    *,
    out: Path | None = None,
    layout: Layout = "bundle",
    write_files: bool = True,
    validity_days: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> AnchoredBatch:
    """:func:`prepare_batch` (checked against ``ledger``), anchor, write the holder files."""
    prepared = prepare_batch(
        items, ledger=ledger, out=out, layout=layout, write_files=write_files,
        validity_days=validity_days, workers=workers, progress=progress,
    )  # fmt: skip
    if progress is not None:
        progress("anchoring", 0, 1)
    anchored = anchor_prepared(ledger, prepared)
    if progress is not None:
        progress("anchoring", 1, 1)
    if write_files:
        write_holder_files(anchored, workers=workers, progress=progress)
    return anchored


# ---------------------------------------------------------------------- helpers


def _tree(members: Sequence[Member]) -> StandardMerkleTree:
    """The batch's tree, from the leaves the workers encoded when they all did."""
    leaves = [m.leaf for m in members]
    if all(leaf is not None for leaf in leaves):
        return StandardMerkleTree.of_encoded([leaf for leaf in leaves if leaf is not None], CERTIFICATE_LEAF)
    return StandardMerkleTree.of([list(m.terms.as_tuple()) for m in members], CERTIFICATE_LEAF)


def _keeping_texts(items: Iterable[bytes | Mapping[str, Any]], texts: list[str]) -> Iterator[Item]:
    for item in items:
        if isinstance(item, bytes | bytearray | memoryview):
            texts.append(bytes(item).decode("utf-8", "replace"))
        elif isinstance(item, Mapping):
            try:
                texts.append(canonical_json(dict(item)).decode("utf-8"))
            except (KPLedgerError, ValueError, TypeError):  # reported by validation
                texts.append("")
        else:
            texts.append("")
        yield item


def _target(member: Member, path: Path | None, out: Path | None, layout: Layout) -> Path:
    suffix = BUNDLE_SUFFIX if layout == "bundle" else PROOF_SUFFIX
    if path is not None:
        return (out or path.parent) / (path.name.removesuffix(".json") + suffix)
    assert out is not None
    name = bundle_name(member.terms.number)
    return out / (name if layout == "bundle" else name.removesuffix(BUNDLE_SUFFIX) + PROOF_SUFFIX)


def _file_problems(members: Sequence[Member], targets: Sequence[Path]) -> list[BatchProblem]:
    """Members whose holder file (or the other layout's file beside it) already exists,
    and targets two members would share. One directory listing per target folder
    instead of two or three ``stat`` calls a member."""
    existing: dict[Path, set[str]] = {}
    for folder in {t.parent for t in targets}:
        try:
            existing[folder] = set(os.listdir(folder))
        except FileNotFoundError:
            existing[folder] = set()
    problems: list[BatchProblem] = []
    seen: dict[Path, str] = {}
    for member, target in zip(members, targets, strict=True):
        other = seen.setdefault(target, member.source)
        if other != member.source:
            problems.append(
                BatchProblem(member.source, "$", "batch.file_clash",
                             f"its holder file {target} would also be {other}'s; rename one of them")
            )  # fmt: skip
        names = existing[target.parent]
        stem = target.name.removesuffix(BUNDLE_SUFFIX).removesuffix(PROOF_SUFFIX)
        for name in (target.name, stem + BUNDLE_SUFFIX, stem + PROOF_SUFFIX):
            if name in names:
                problems.append(
                    BatchProblem(
                        member.source, "$", "batch.already_batched",
                        f"{target.parent / name} exists: the certificate may already be in a batch, and"
                        " that file is never overwritten; move it away only if it is stale",
                    )
                )  # fmt: skip
                break
    return problems


def _snake(anchor: dict[str, Any]) -> dict[str, Any]:
    return {"chain_id": anchor["chainId"], "ledger": anchor["ledger"], "anchor_tx": anchor["anchorTx"]}
