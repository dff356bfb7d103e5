"""KP certificate documents: strict loading, the validated model, and the document hash.

Typical use::

    from kpledger.certificate import parse_certificate

    certificate = parse_certificate(data)          # bytes of a .json file; DocumentError if bad
    terms = certificate.chain_terms()              # what the ledger stores, hash included

Non-JSON files (a scanned certificate) are hashed raw: :func:`hash_document_bytes`
decides which applies.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpledger.certificate.hashing import (
        HASH_BYTES,
        HashKind,
        canonical_json,
        document_hash,
        file_hash,
        hash_document_bytes,
        hash_hex,
        is_json_document,
        parse_hash,
    )
    from kpledger.certificate.model import (
        COUNTRY_CODES,
        DEFAULT_VALIDITY_DAYS,
        HS_CODES,
        MAX_CARATS,
        MAX_PARCELS,
        MAX_VALUE_USD,
        MIXED_ORIGIN,
        PARTICIPANT_CODES,
        TITLE,
        Certificate,
        ChainTerms,
        Party,
        check_validity,
        parse_certificate,
    )
    from kpledger.certificate.parsing import (
        MAX_DEPTH,
        MAX_DOCUMENT_BYTES,
        JSONObject,
        check_json_value,
        load_document,
    )
    from kpledger.certificate.samples import sample_certificate, sample_document_bytes

# Names resolve on first use (PEP 562): ``kpledger hash`` needs the hashing module, not
# the pydantic model, and the CLI's start-up budget has no room for importing both.
_HOMES: dict[str, str] = {
    "COUNTRY_CODES": "model",
    "Certificate": "model",
    "ChainTerms": "model",
    "DEFAULT_VALIDITY_DAYS": "model",
    "HASH_BYTES": "hashing",
    "HS_CODES": "model",
    "HashKind": "hashing",
    "JSONObject": "parsing",
    "MAX_CARATS": "model",
    "MAX_DEPTH": "parsing",
    "MAX_DOCUMENT_BYTES": "parsing",
    "MAX_PARCELS": "model",
    "MAX_VALUE_USD": "model",
    "MIXED_ORIGIN": "model",
    "PARTICIPANT_CODES": "model",
    "Party": "model",
    "TITLE": "model",
    "canonical_json": "hashing",
    "check_json_value": "parsing",
    "check_validity": "model",
    "document_hash": "hashing",
    "file_hash": "hashing",
    "hash_document_bytes": "hashing",
    "hash_hex": "hashing",
    "is_json_document": "hashing",
    "load_document": "parsing",
    "parse_certificate": "model",
    "parse_hash": "hashing",
    "sample_certificate": "samples",
    "sample_document_bytes": "samples",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "COUNTRY_CODES",
    "DEFAULT_VALIDITY_DAYS",
    "HASH_BYTES",
    "HS_CODES",
    "MAX_CARATS",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_PARCELS",
    "MAX_VALUE_USD",
    "MIXED_ORIGIN",
    "PARTICIPANT_CODES",
    "TITLE",
    "Certificate",
    "ChainTerms",
    "HashKind",
    "JSONObject",
    "Party",
    "canonical_json",
    "check_json_value",
    "check_validity",
    "document_hash",
    "file_hash",
    "hash_document_bytes",
    "hash_hex",
    "is_json_document",
    "load_document",
    "parse_certificate",
    "parse_hash",
    "sample_certificate",
    "sample_document_bytes",
]
