"""Reading what people pass on the command line: certificate files, certificate
references (a file, a number or a document hash), batch proof files and accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kpledger.batch.holder_files import (
    BUNDLE_FORMAT,
    BUNDLE_SUFFIX,
    PROOF_SUFFIX,
    HolderFile,
    HolderFileError,
    read_proof,
    split_bundle,
)
from kpledger.certificate import (
    Certificate,
    hash_document_bytes,
    load_document,
    parse_certificate,
    parse_hash,
)
from kpledger.cli.errors import CLIError, UsageProblem
from kpledger.demo import ledger_terms
from kpledger.errors import DocumentError, KPLedgerError, MerkleError
from kpledger.ledger import BatchProof
from kpledger.types import ChainTerms

HASH_PATTERN = re.compile(r"0[xX][0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageProblem(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise UsageProblem(f"{path} is a directory, not a certificate file") from None
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror}") from None


def load_certificate(path: Path, *, validity_days: int | None = None) -> Certificate:
    """A validated certificate from a JSON file; a file that is not one says so."""
    data = read_file(path)
    try:
        return parse_certificate(data, validity_days=validity_days)
    except DocumentError as exc:
        first = exc.problems[0]
        more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        if first.rule.startswith("json."):
            raise CLIError(
                f"{path} is not a certificate file: {first.message}",
                hint="give a KP certificate JSON document (format version 1)",
            ) from None
        raise CLIError(
            f"{path} is not a valid certificate: {first}{more}",
            hint=f"run `kpledger cert check {path}` to list every problem",
        ) from None


def certificate_terms(path: Path) -> tuple[Certificate, ChainTerms]:
    certificate = load_certificate(path)
    return certificate, ledger_terms(certificate)


@dataclass(frozen=True)
class CertRef:
    """A certificate as the user named it: a document hash or a number, with the proof
    of a batched certificate when one was given or lies next to the file."""

    ref: bytes | str
    label: str
    proof: BatchProof | None = None


def cert_ref(text: str, proof_file: Path | None = None) -> CertRef:
    """``text`` is a certificate file, a bundle file, a document hash (``0x`` + 64 hex) or
    a number. A proof comes from ``proof_file`` (a proof or bundle file), from the bundle
    itself, or from ``NAME.proof.json`` / ``NAME.bundle.json`` next to the file."""
    path = Path(text)
    proof = load_proof(proof_file) if proof_file is not None else None
    if path.is_file():
        data = read_file(path)
        bundle = _bundle(data, path)
        if bundle is not None:
            assert bundle.document_hash is not None
            digest = bundle.document_hash
            return CertRef(digest, f"{path.name} (0x{digest.hex()[:12]}…)", proof or bundle.proof)
        try:
            digest, _ = hash_document_bytes(data)
        except DocumentError as exc:
            raise CLIError(
                f"{path} is not a certificate file: {exc.problems[0].message}",
                hint="give a certificate file, its number or its document hash",
            ) from None
        if proof is None:
            stem = path.name.removesuffix(".json")
            for sibling in (path.with_name(stem + PROOF_SUFFIX), path.with_name(stem + BUNDLE_SUFFIX)):
                if sibling.is_file():
                    proof = load_proof(sibling)
                    break
        return CertRef(digest, f"{path.name} (0x{digest.hex()[:12]}…)", proof)
    if HASH_PATTERN.fullmatch(text):
        return CertRef(parse_hash(text), text[:14] + "…", proof)
    if text.endswith(".json"):  # a certificate number never contains a dot
        raise UsageProblem(
            f"{text}: no such file", hint="give a certificate file, its number or its document hash"
        )
    return CertRef(text, text, proof)


#: What to say when a hash is unknown: a batched certificate is known by its proof only.
BATCH_HINT: Final = "anchored in a batch? pass --proof FILE (its .proof.json or .bundle.json)"


def verify_subject(path: Path, proof: BatchProof | None) -> tuple[Path | dict[str, Any], BatchProof | None]:
    """What ``verify`` is given for a file: a bundle's document and proof, or the file
    and its proof (``proof``, else a proof or bundle file next to it)."""
    bundle = _bundle(read_file(path), path)
    if bundle is not None:
        assert bundle.document is not None
        return bundle.document, proof or bundle.proof
    if proof is None:
        stem = path.name.removesuffix(".json")
        for sibling in (path.with_name(stem + PROOF_SUFFIX), path.with_name(stem + BUNDLE_SUFFIX)):
            if sibling.is_file():
                return path, load_proof(sibling)
    return path, proof


def _bundle(data: bytes, path: Path) -> HolderFile | None:
    """The bundle a file holds, or None for any other file (a certificate, a PDF)."""
    if BUNDLE_FORMAT.encode() not in data[:4096]:
        return None
    try:
        value = load_document(data)
    except DocumentError:
        return None
    if value.get("format") != BUNDLE_FORMAT:
        return None
    try:
        return split_bundle(value, where=str(path))
    except HolderFileError as exc:
        raise CLIError(str(exc), hint="the bundle was altered; ask its sender for the original") from None


def load_proof(path: Path) -> BatchProof:
    """A proof file or bundle file as the ledger's BatchProof, checked offline
    (:func:`kpledger.batch.read_proof`, with the CLI's messages)."""
    read_file(path)  # the CLI's own message for a missing or unreadable file
    try:
        return read_proof(path)
    except HolderFileError as exc:
        hint = "the file was altered" if "altered" in str(exc) else "give a .proof.json or .bundle.json file"
        raise CLIError(str(exc), hint=hint) from None


def account(text: str) -> str:
    """An address, or a DEV-ONLY demo role / index (``bw-exporter``, ``12``) resolved to
    its address (addresses are public; only keys are secret)."""
    if _ADDRESS.fullmatch(text):
        return text
    from kpledger.demo import dev_account_index
    from kpledger.devkeys import dev_only_addresses

    try:
        index = dev_account_index(text)
    except KPLedgerError:
        raise UsageProblem(
            f"{text!r} is not an account",
            hint="give a 0x address (40 hex digits) or a demo role such as bw-exporter",
        ) from None
    return dev_only_addresses(index + 1)[index]


__all__ = [
    "BUNDLE_SUFFIX",
    "PROOF_SUFFIX",
    "MerkleError",
    "account",
    "cert_ref",
    "certificate_terms",
    "load_certificate",
    "load_proof",
]
