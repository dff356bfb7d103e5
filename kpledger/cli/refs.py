"""Reading what people pass on the command line: certificate files, certificate
references (a file, a number or a document hash), batch proof files and accounts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpledger.certificate import hash_document_bytes, parse_hash
from kpledger.cli.errors import CLIError, UsageProblem
from kpledger.errors import DocumentError, KPLedgerError, MerkleError
from kpledger.types import ChainTerms

if TYPE_CHECKING:
    from kpledger.certificate import Certificate
    from kpledger.ledger import BatchProof

HASH_PATTERN = re.compile(r"0[xX][0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
PROOF_SUFFIX = ".proof.json"


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
        from kpledger.certificate import parse_certificate

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
    return certificate, certificate.chain_terms()


@dataclass(frozen=True)
class CertRef:
    """A certificate as the user named it: a document hash or a number, with the proof
    of a batched certificate when one was given or lies next to the file."""

    ref: bytes | str
    label: str
    proof: BatchProof | None = None


def cert_ref(text: str, proof_file: Path | None = None) -> CertRef:
    """``text`` is a certificate file, a document hash (``0x`` + 64 hex) or a number."""
    path = Path(text)
    proof = load_proof(proof_file) if proof_file is not None else None
    if path.is_file():
        try:
            digest, _ = hash_document_bytes(read_file(path))
        except DocumentError as exc:
            raise CLIError(
                f"{path} is not a certificate file: {exc.problems[0].message}",
                hint="give a certificate file, its number or its document hash",
            ) from None
        sibling = path.with_name(path.name.removesuffix(".json") + PROOF_SUFFIX)
        if proof is None and sibling.is_file():
            proof = load_proof(sibling)
        return CertRef(digest, f"{path.name} (0x{digest.hex()[:12]}…)", proof)
    if HASH_PATTERN.fullmatch(text):
        return CertRef(parse_hash(text), text[:14] + "…", proof)
    if text.endswith(".json"):  # a certificate number never contains a dot
        raise UsageProblem(
            f"{text}: no such file", hint="give a certificate file, its number or its document hash"
        )
    return CertRef(text, text, proof)


def load_proof(path: Path) -> BatchProof:
    """A ``kpledger-batch-proof-v1`` document as the ledger's BatchProof, checked offline."""
    from kpledger.ledger import BatchProof
    from kpledger.merkle import verify_proof_document

    try:
        document: Any = json.loads(read_file(path))
        if not verify_proof_document(document):
            raise CLIError(
                f"{path}: the proof does not lead from its leaf to its root", hint="the file was altered"
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
    except KPLedgerError as exc:
        if isinstance(exc, CLIError):
            raise
        raise UsageProblem(f"{path} is not a batch proof file: {exc}") from None
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise UsageProblem(f"{path} is not a batch proof file: {type(exc).__name__}: {exc}") from None


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


__all__ = ["MerkleError", "account", "cert_ref", "certificate_terms", "load_certificate", "load_proof"]
