"""Test vectors for independent implementations of the interchange format (docs/vectors/).

Each vector document is written *as a file would be handed over* (indentation, key
order and number spellings such as ``1.5e2`` or ``2.0`` are part of the test), and
comes with what a verifier must compute from it: the RFC 8785 canonical bytes, the
SHA-256 document hash, the chain terms (amounts scaled exactly from the decimal
text), the Merkle leaf and its hash; the documents together form one batch whose root
and proofs are given too, and each has a bundle file. Everything is computed by the
library here; tests re-check the committed files against the library and against
independent npm implementations (``canonicalize``, ``@openzeppelin/merkle-tree``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from kpledger.certificate.hashing import canonical_json, file_hash, hash_hex
from kpledger.certificate.model import _scaled, parse_certificate
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree, batch_proof_documents

__all__ = ["BUNDLE_FORMAT", "VECTORS_FORMAT", "VectorFile", "build_vectors", "decimal_scaled"]

VECTORS_FORMAT: Final = "kpledger-vectors-v1"
BUNDLE_FORMAT: Final = "kpledger-bundle-v1"


@dataclass(frozen=True)
class VectorFile:
    """One file of docs/vectors/: its path below that folder and its exact bytes."""

    path: str
    data: bytes


def decimal_scaled(text: str, places: int) -> int | None:
    """``text`` (a JSON number's decimal text) times ``10**places`` as an exact integer,
    or None when it has more decimals than ``places``. The reference rule of
    docs/format.md: scale the decimal text, never a binary float."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {text!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return _scaled(amount, places)


# Name -> document text exactly as handed over. Dates are fixed so the vectors never change.
_DOCUMENTS: Final[dict[str, str]] = {
    "basic": """{
  "title": "Kimberley Process Certificate",
  "number": "BW 2024 000123",
  "issuing_authority": "Ministry of Minerals and Energy, Government Diamond Valuator",
  "exporting_participant": "BW",
  "importing_participant": "AE",
  "exporter": {
    "name": "Kalahari Rough Exports (Pty) Ltd",
    "address": "Plot 1234, Fairgrounds Office Park, Gaborone, Botswana",
    "licence": "BW-DDL-0042"
  },
  "importer": {
    "name": "Gulf Rough Trading DMCC",
    "address": "Unit 801, Almas Tower, Jumeirah Lakes Towers, Dubai, United Arab Emirates"
  },
  "origin": ["BW"],
  "carats": 1520.35,
  "value_usd": 245870.5,
  "parcels": 3,
  "hs_code": "7102.10",
  "issued_on": "2024-03-01",
  "expires_on": "2024-03-31"
}
""",
    # 884.46 * 100 is 88445.99999999999 in binary floating point: scale the text instead.
    "float-trap": (
        '{"parcels":1,"value_usd":1234567.89,"carats":884.46,"title":"Kimberley Process Certificate",'
        '"number":"AE-DMCC/2024/7781","issuing_authority":"UAE Kimberley Process Office",'
        '"exporting_participant":"AE","importing_participant":"IN",'
        '"exporter":{"name":"Almas Rough FZE","address":"Almas Tower, Dubai"},'
        '"importer":{"name":"Surat Diamond Imports Pvt Ltd","address":"Varachha Road, Surat, Gujarat"},'
        '"origin":["CD","AO","ZA"],"hs_code":"7102.31","issued_on":"2024-06-15","expires_on":"2024-08-14"}\n'
    ),
    # EU as one participant, mixed origin, integral numbers spelled oddly, keys beyond
    # ASCII and beyond the BMP (RFC 8785 sorts keys by UTF-16 code units).
    "mixed-origin-eu": """{
  "title": "Kimberley Process Certificate",
  "number": "EU/BE/2024/0042",
  "issuing_authority": "FPS Economy, Diamond Office, Antwerp",
  "exporting_participant": "EU",
  "importing_participant": "CH",
  "exporter": {"name": "Antwerp Rough Traders NV", "address": "Hoveniersstraat 22, 2018 Antwerpen",
               "licence": "BE-DO-1187"},
  "importer": {"name": "Genève Diamants SA", "address": "Rue du Rhône 5, 1204 Genève"},
  "origin": ["MIXED"],
  "carats": 1.5e2,
  "value_usd": 0,
  "parcels": 2.0,
  "hs_code": "7102.21",
  "issued_on": "2024-02-28",
  "expires_on": "2024-04-28",
  "quality": {"colour": "mixed", "size_grade": "+11"},
  "extensions": {
    "\\uff5e": "U+FF5E sorts after U+1F48E in UTF-16",
    "\\ud83d\\udc8e": "non-BMP key",
    "\\u00e9": "é",
    "z": [1E3, 0.07, -0.5, true, null],
    "a": "first"
  }
}
""",
    "limits": """{
  "title": "Kimberley Process Certificate",
  "number": "ZA12345678901234567890123456789012",
  "issuing_authority": "South African Diamond and Precious Metals Regulator",
  "exporting_participant": "ZA",
  "importing_participant": "US",
  "exporter": {"name": "Z", "address": "Johannesburg"},
  "importer": {"name": "U", "address": "New York"},
  "origin": ["ZA"],
  "carats": 10995116277.75,
  "value_usd": 10995116277.75,
  "parcels": 65535,
  "hs_code": "7102.10",
  "issued_on": "2024-12-31",
  "expires_on": "2025-12-31"
}
""",
}

# Files that are not JSON certificates: hashed as raw bytes.
_RAW_FILES: Final[dict[str, bytes]] = {
    "scanned-certificate.pdf": b"%PDF-1.4\n% kpledger vector: any file that is not a JSON certificate "
    b"is hashed as its raw bytes\n%%EOF\n",
}

# Decimal texts and their exact scaling to hundredths (None: more than two decimals).
_SCALING: Final = [
    "884.46",
    "0.07",
    "1520.35",
    "1.5e2",
    "2.0",
    "0",
    "1E-2",
    "10995116277.75",
    "1.005",
    "0.001",
]
_EXPIRY_DATES: Final = ["2024-03-31", "2024-02-29", "2024-12-31", "2038-01-19"]


def _terms_json(terms: Any) -> dict[str, Any]:
    return {
        "documentHash": hash_hex(terms.document_hash),
        "number": terms.number,
        "origin": terms.origin,
        "originBytes2": "0x" + terms.origin.encode("ascii").hex(),
        "destination": terms.destination,
        "destinationBytes2": "0x" + terms.destination.encode("ascii").hex(),
        "carats": str(terms.carats),
        "valueCents": str(terms.value_cents),
        "parcels": str(terms.parcels),
        "expiresAt": str(terms.expires_at),
    }


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build_vectors() -> list[VectorFile]:
    """Every file of docs/vectors/, computed from the library (deterministic)."""
    files: list[VectorFile] = []
    entries: list[dict[str, Any]] = []
    leaves: list[list[Any]] = []
    for name, text in _DOCUMENTS.items():
        data = text.encode("utf-8")
        certificate = parse_certificate(data)
        canonical = canonical_json(json.loads(data, parse_float=Decimal))
        terms = certificate.chain_terms()
        leaf = list(terms.as_tuple())
        leaves.append(leaf)
        files.append(VectorFile(f"documents/{name}.json", data))
        files.append(VectorFile(f"documents/{name}.canonical.json", canonical))
        entries.append(
            {
                "name": name,
                "file": f"documents/{name}.json",
                "canonicalFile": f"documents/{name}.canonical.json",
                "canonical": canonical.decode("utf-8"),
                "documentHash": hash_hex(certificate.document_hash()),
                "chainTerms": _terms_json(terms),
            }
        )
    tree = StandardMerkleTree.of(leaves, CERTIFICATE_LEAF)
    proofs = batch_proof_documents(tree)
    for entry, leaf, proof in zip(entries, leaves, proofs, strict=True):
        index = tree.index_of(leaf)
        entry["leaf"] = tree.at(index)
        entry["leafHash"] = tree.leaf_hash(index)
        bundle_text = (
            f'{{"format": "{BUNDLE_FORMAT}",\n "document": '
            + _DOCUMENTS[entry["name"]].strip()
            + ',\n "proof": '
            + json.dumps(proof, ensure_ascii=False)
            + "}\n"
        )
        bundle_path = f"bundles/{entry['name']}.bundle.json"
        files.append(VectorFile(bundle_path, bundle_text.encode("utf-8")))
        entry["bundleFile"] = bundle_path
    raw = []
    for name, data in _RAW_FILES.items():
        files.append(VectorFile(f"raw/{name}", data))
        raw.append({"file": f"raw/{name}", "documentHash": hash_hex(file_hash(data))})
    scaling = [
        {"decimal": text, "places": 2, "scaled": _maybe_str(decimal_scaled(text, 2))} for text in _SCALING
    ]
    expiry = []
    for day in _EXPIRY_DATES:
        probe = parse_certificate(
            json.loads(_DOCUMENTS["basic"]) | {"issued_on": _day_before(day), "expires_on": day}
        )
        expiry.append({"expires_on": day, "expiresAt": str(probe.expires_at)})
    summary = {
        "format": VECTORS_FORMAT,
        "description": "Test vectors of the kpledger interchange format; see docs/format.md.",
        "documents": entries,
        "rawFiles": raw,
        "batch": {
            "leafEncoding": list(CERTIFICATE_LEAF),
            "values": [entry["leaf"] for entry in entries],
            "root": tree.root,
            "dump": tree.dump(),
            "proofs": proofs,
        },
        "scaling": scaling,
        "expiry": expiry,
    }
    files.append(VectorFile("vectors.json", _pretty(summary)))
    return sorted(files, key=lambda item: item.path)


def _maybe_str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()
