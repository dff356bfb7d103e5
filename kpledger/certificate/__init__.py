"""KP certificate documents: strict loading, the validated model, and the document hash.

Typical use::

    from kpledger.certificate import parse_certificate

    certificate = parse_certificate(data)          # bytes of a .json file; DocumentError if bad
    terms = certificate.chain_terms()              # what the ledger stores, hash included

Non-JSON files (a scanned certificate) are hashed raw: :func:`hash_document_bytes`
decides which applies.
"""

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
