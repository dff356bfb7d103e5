"""A batch from first file to last proof: validate, check, anchor, write the holders' files.

Three steps an exporter's program can take one by one (:func:`prepare_batch`,
:func:`anchor_prepared`, :func:`write_holder_files`) or at once (:func:`run_batch`).
Everything that can refuse a batch is checked in the first step and reported together;
only a batch with no problem at all reaches the anchoring transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpledger.batch.chain_checks import taken_on_chain
from kpledger.batch.holder_files import (
    BUNDLE_SUFFIX,
    PROOF_SUFFIX,
    HolderFileError,
    Layout,
    bundle_name,
    bundle_text,
)
from kpledger.batch.problems import BatchProblem, BatchRefused, Member, membership_problems, on_chain_problems
from kpledger.batch.validation import Item, Progress, validate_members
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
    a batch writes, sorted by name."""
    return sorted(p for p in directory.glob("*.json") if not p.name.endswith((PROOF_SUFFIX, BUNDLE_SUFFIX)))


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
    at one block. Holder files go next to each file, or into ``out`` (required for
    documents); an existing proof or bundle file refuses its member (it may hold an
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
    members, problems = validate_members(
        source, labels=labels, validity_days=validity_days, workers=workers, total=total, progress=progress
    )
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
    if ledger is not None and members and not problems:
        if progress is not None:
            progress("checking the ledger", 0, len(members))
        block = ledger.block_number()
        problems += on_chain_problems(members, *taken_on_chain(ledger, members, block=block))
        if progress is not None:
            progress("checking the ledger", len(members), len(members))
    if problems:
        raise BatchRefused(problems)
    tree = StandardMerkleTree.of([list(m.terms.as_tuple()) for m in members], CERTIFICATE_LEAF)
    kept = [texts[i] for i in range(len(texts))] if keep_texts else []
    return PreparedBatch(members[0].terms.origin, members, tree, layout, targets, member_paths, kept)


def prepare_members(members: Sequence[Member], *, layout: Layout = "bundle") -> PreparedBatch:
    """A batch of members whose terms were validated already (e.g. built in Python by the
    demo): the batch's own rules are checked, no files are planned."""
    problems = membership_problems(members)
    if problems:
        raise BatchRefused(problems)
    tree = StandardMerkleTree.of([list(m.terms.as_tuple()) for m in members], CERTIFICATE_LEAF)
    return PreparedBatch(members[0].terms.origin, list(members), tree, layout)


def anchor_prepared(ledger: Ledger, prepared: PreparedBatch) -> AnchoredBatch:
    """Anchor the batch's root (the ledger's signer must be an authority of its origin)."""
    receipt = ledger.anchor_batch(prepared.origin, prepared.root, len(prepared.members))
    return AnchoredBatch(prepared, receipt, ledger.deployment.chain_id, ledger.deployment.ledger)


def write_holder_files(anchored: AnchoredBatch, *, progress: Progress | None = None) -> list[Path]:
    """Write each member's bundle or proof file, creating each file exclusively (an
    existing file is left alone and reported in :class:`HolderFileError`)."""
    prepared = anchored.prepared
    written: list[Path] = []
    clashes: list[str] = []
    for index, (target, proof) in enumerate(zip(prepared.targets, anchored.proof_documents(), strict=True)):
        if index == 0:
            for folder in {t.parent for t in prepared.targets}:
                folder.mkdir(parents=True, exist_ok=True)
        if prepared.layout == "bundle":
            source = prepared.sources[index] if prepared.sources else None
            document = source.read_text(encoding="utf-8") if source is not None else prepared.texts[index]
            text = bundle_text(document, proof)
        else:
            text = json.dumps(proof, indent=2) + "\n"
        try:
            with target.open("x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            clashes.append(str(target))
            continue
        written.append(target)
        if progress is not None and (index % 1024 == 1023 or index == len(prepared.targets) - 1):
            progress("writing holder files", index + 1, len(prepared.targets))
    anchored.files = written
    if clashes:
        raise HolderFileError(
            f"{len(clashes)} holder file(s) appeared while the batch was anchored and were left alone,"
            f" e.g. {clashes[0]}: write those members' proofs elsewhere with the proof documents"
        )
    return written


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
        write_holder_files(anchored, progress=progress)
    return anchored


# ---------------------------------------------------------------------- helpers


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
    problems: list[BatchProblem] = []
    seen: dict[Path, str] = {}
    for member, target in zip(members, targets, strict=True):
        other = seen.setdefault(target, member.source)
        if other != member.source:
            problems.append(
                BatchProblem(member.source, "$", "batch.file_clash",
                             f"its holder file {target} would also be {other}'s; rename one of them")
            )  # fmt: skip
        for existing in (target, *_sibling_holder_files(target)):
            if existing.exists():
                problems.append(
                    BatchProblem(
                        member.source, "$", "batch.already_batched",
                        f"{existing} exists: the certificate may already be in a batch, and that file"
                        " is never overwritten; move it away only if it is stale",
                    )
                )  # fmt: skip
                break
    return problems


def _sibling_holder_files(target: Path) -> tuple[Path, ...]:
    name = target.name
    stem = name.removesuffix(BUNDLE_SUFFIX).removesuffix(PROOF_SUFFIX)
    names = (stem + suffix for suffix in (BUNDLE_SUFFIX, PROOF_SUFFIX))
    return tuple(target.with_name(other) for other in names if other != name)


def _snake(anchor: dict[str, Any]) -> dict[str, Any]:
    return {"chain_id": anchor["chainId"], "ledger": anchor["ledger"], "anchor_tx": anchor["anchorTx"]}
