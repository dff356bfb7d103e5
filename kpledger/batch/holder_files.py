"""The files a batch member's holder carries, written once and read back strictly.

Two layouts (docs/batch.md):

* a **bundle**, one self-contained file: ``{"format": "kpledger-bundle-v1", "document":
  <the certificate>, "proof": <kpledger-batch-proof-v1>}``. The document hash is the
  RFC 8785 + SHA-256 hash of ``document``; it must equal the proof leaf's first field;
* a **proof file** beside the certificate: the ``kpledger-batch-proof-v1`` object alone.

A file that already exists is never overwritten: it may be the only proof of an earlier
batch, and a holder who loses it can no longer show that the certificate was anchored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from kpledger.certificate import document_hash, load_document
from kpledger.errors import DocumentError, KPLedgerError, MerkleError
from kpledger.ledger import BatchProof
from kpledger.merkle import PROOF_DOCUMENT_FORMAT, verify_proof_document
from kpledger.types import ChainTerms

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_SUFFIX",
    "PROOF_SUFFIX",
    "HolderFile",
    "HolderFileError",
    "Layout",
    "anchor_json",
    "bundle_name",
    "bundle_text",
    "is_holder_file_name",
    "proof_from_document",
    "proof_json",
    "read_holder_file",
    "read_proof",
    "split_bundle",
]

BUNDLE_FORMAT: Final = "kpledger-bundle-v1"
PROOF_SUFFIX: Final = ".proof.json"
BUNDLE_SUFFIX: Final = ".bundle.json"
#: Which files a batch writes for its holders.
Layout = Literal["bundle", "proof"]
_UNSAFE: Final = re.compile(r"[/ \\]")


class HolderFileError(KPLedgerError):
    """A proof or bundle file that cannot be used: the message names the file and why."""


@dataclass(frozen=True)
class HolderFile:
    """What a proof or bundle file gives: the proof, and the document if it is a bundle."""

    proof: BatchProof
    document: dict[str, Any] | None = None
    document_hash: bytes | None = None


def is_holder_file_name(name: str) -> bool:
    """Whether a file name is one a batch writes (so a directory scan skips it)."""
    return name.endswith((PROOF_SUFFIX, BUNDLE_SUFFIX))


def bundle_name(number: str) -> str:
    """The suggested file name of a bundle: the number with ``/``, ``\\`` and spaces as ``_``."""
    return _UNSAFE.sub("_", number) + BUNDLE_SUFFIX


def bundle_text(document_json: str, proof: Mapping[str, Any] | str) -> str:
    """A bundle file's text around a certificate's JSON text, kept verbatim (so the
    document keeps its hash without being parsed and written again). ``proof`` is the
    proof object or its JSON text (:func:`proof_json`)."""
    proof_text = proof if isinstance(proof, str) else json.dumps(proof, separators=(",", ":"))
    return f'{{"format":"{BUNDLE_FORMAT}","document":{document_json.strip()},\n"proof":{proof_text}}}\n'


def proof_json(
    leaf_encoding: Sequence[str],
    leaf: Sequence[str],
    leaf_hash: str,
    root: str,
    proof: Sequence[str],
    anchor: str,
) -> str:
    """The compact JSON text of a ``kpledger-batch-proof-v1`` object, assembled from its
    parts (hex strings need no escaping; the leaf's strings are escaped by ``json``):
    a third of ``json.dumps`` of the whole object, which a batch pays once a member.
    ``anchor`` is ``"chainId":…,"ledger":…,"anchorTx":…`` (see :func:`anchor_json`)."""
    nodes = '"' + '","'.join(proof) + '"' if proof else ""
    return (
        f'{{"format":"{PROOF_DOCUMENT_FORMAT}","leafEncoding":{json.dumps(list(leaf_encoding))},'
        f'"leaf":{json.dumps(list(leaf))},"leafHash":"{leaf_hash}","root":"{root}",'
        f'"proof":[{nodes}],{anchor}}}'
    )


def anchor_json(chain_id: int | None, ledger: str | None, anchor_tx: str | None) -> str:
    """The anchoring members of a proof object, as JSON text without braces."""
    return json.dumps({"chainId": chain_id, "ledger": ledger, "anchorTx": anchor_tx})[1:-1]


def proof_from_document(document: Any, *, where: str = "proof") -> BatchProof:
    """A ``kpledger-batch-proof-v1`` object as the ledger's :class:`BatchProof`, checked
    offline (the leaf leads to the root). :class:`HolderFileError` names ``where``."""
    try:
        if not isinstance(document, Mapping) or document.get("format") != PROOF_DOCUMENT_FORMAT:
            raise HolderFileError(f"{where} is not a batch proof (format {PROOF_DOCUMENT_FORMAT!r})")
        if not verify_proof_document(document):
            raise HolderFileError(
                f"{where}: the proof does not lead from its leaf to its root (the file was altered)"
            )
        leaf = document["leaf"]
        terms = ChainTerms(
            document_hash=bytes.fromhex(str(leaf[0])[2:]),
            number=str(leaf[1]),
            origin=bytes.fromhex(str(leaf[2])[2:]).decode("ascii"),
            destination=bytes.fromhex(str(leaf[3])[2:]).decode("ascii"),
            carats=int(leaf[4]),
            value_cents=int(leaf[5]),
            parcels=int(leaf[6]),
            expires_at=int(leaf[7]),
        )
        return BatchProof(
            terms, bytes.fromhex(document["root"][2:]), tuple(bytes.fromhex(p[2:]) for p in document["proof"])
        )
    except HolderFileError:
        raise
    except MerkleError as exc:
        raise HolderFileError(f"{where} is not a valid batch proof: {exc}") from None
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise HolderFileError(f"{where} is not a valid batch proof: {type(exc).__name__}: {exc}") from None


def split_bundle(bundle: Mapping[str, Any], *, where: str = "bundle") -> HolderFile:
    """The document and the proof of a bundle object, the document's hash held to the leaf's."""
    extra = sorted(set(bundle) - {"format", "document", "proof"})
    if bundle.get("format") != BUNDLE_FORMAT or extra:
        detail = f"unexpected members {', '.join(extra)}" if extra else f"format is not {BUNDLE_FORMAT!r}"
        raise HolderFileError(f"{where} is not a bundle: {detail}")
    document = bundle.get("document")
    if not isinstance(document, dict):
        raise HolderFileError(f"{where}: `document` must be the certificate JSON object")
    proof = proof_from_document(bundle.get("proof"), where=f"{where}: `proof`")
    digest = document_hash(document)
    if digest != proof.terms.document_hash:
        raise HolderFileError(
            f"{where}: the document's hash 0x{digest.hex()[:12]}… is not the proof's"
            f" 0x{proof.terms.document_hash.hex()[:12]}… (the document or the proof was changed)"
        )
    return HolderFile(proof, document, digest)


def read_holder_file(data: bytes, *, where: str) -> HolderFile:
    """A proof file or a bundle file from its bytes, strictly loaded (the bundle's
    document obeys the certificate file rules: one reading of the bytes, or none)."""
    try:
        value = load_document(data)
    except DocumentError as exc:
        raise HolderFileError(f"{where} is not a proof or bundle file: {exc.problems[0].message}") from None
    if value.get("format") == BUNDLE_FORMAT:
        return split_bundle(value, where=where)
    return HolderFile(proof_from_document(value, where=where))


def read_proof(path: Path) -> BatchProof:
    """The proof of a proof file or of a bundle file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HolderFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return read_holder_file(data, where=str(path)).proof
