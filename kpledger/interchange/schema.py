"""The certificate document (format version 1) as a JSON Schema (draft 2020-12).

As strict as JSON Schema can say it: required fields, types, the exact title, the
number's pattern *and* its prefix (one ``if``/``then`` per participant code), distinct
participants, the code lists, the HS codes, dates, amounts in hundredths
(``multipleOf: 0.01``), the ledger's ranges, no unknown fields. What a schema cannot
say (listed in :data:`NOT_EXPRESSIBLE` and in docs/format.md) stays the library's
job: file-level rules (UTF-8, duplicate keys, size, depth, numbers a double cannot
hold), that ``expires_on`` follows ``issued_on`` within the validity period, and that
a date exists in the calendar (``2024-02-30`` matches the pattern).
"""

from __future__ import annotations

from typing import Any, Final

from kpledger.certificate.model import (
    COUNTRY_CODES,
    HS_CODES,
    MAX_CARATS,
    MAX_PARCELS,
    MAX_VALUE_USD,
    MIXED_ORIGIN,
    PARTICIPANT_CODES,
    TITLE,
)

__all__ = ["NOT_EXPRESSIBLE", "SCHEMA_ID", "certificate_schema"]

SCHEMA_ID: Final = "https://kpledger.org/schema/certificate-v1.schema.json"

#: Rule ids of :mod:`kpledger.certificate.model` (and ``json.*`` of the loader) that
#: JSON Schema cannot express; a document breaking only these passes the schema.
NOT_EXPRESSIBLE: Final = frozenset(
    {
        "json.not_utf8",
        "json.bom",
        "json.invalid",
        "json.too_large",
        "json.too_deep",
        "json.duplicate_key",
        "json.non_finite",
        "json.number_range",
        "json.number_precision",
        "json.surrogate",
        "json.not_object",
        "dates.order",
        "dates.validity",
    }
)

# At least one character that is not white space as Python's str.strip() sees it (the
# library's rule), spelled out because \S differs between Python and ECMAScript.
_NOT_BLANK: Final = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_DATE: Final = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _text(description: str, *, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": _NOT_BLANK}
    if max_length is not None:
        schema["maxLength"] = max_length
    schema["description"] = description
    return schema


def _number_prefix_rules() -> list[dict[str, Any]]:
    """One rule per participant: its certificates' numbers start with its code, and it
    cannot be its own importing participant."""
    rules = []
    for code in sorted(PARTICIPANT_CODES):
        rules.append(
            {
                "if": {"properties": {"exporting_participant": {"const": code}}},
                "then": {
                    "properties": {
                        "number": {"type": "string", "pattern": f"^{code}"},
                        "importing_participant": {"not": {"const": code}},
                    }
                },
            }
        )
    return rules


def certificate_schema() -> dict[str, Any]:
    """The schema as a JSON value (what docs/schema/certificate-v1.schema.json holds)."""
    party = {
        "type": "object",
        "description": "An exporter or importer as the certificate identifies them (Annex I).",
        "required": ["name", "address"],
        "additionalProperties": False,
        "properties": {
            "name": _text("Legal name."),
            "address": _text("Postal address."),
            "licence": _text("Licence or registration number; leave the field out when there is none."),
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Kimberley Process certificate document, format version 1",
        "description": (
            "The document an exporter anchors on kpledger and an importer verifies. Its hash is SHA-256 "
            "over the RFC 8785 canonical form (docs/format.md). Rules a schema cannot express (dates in "
            "order and within the validity period, calendar dates, duplicate keys, UTF-8) are listed there."
        ),
        "type": "object",
        "required": [
            "title",
            "number",
            "issuing_authority",
            "exporting_participant",
            "importing_participant",
            "exporter",
            "importer",
            "origin",
            "carats",
            "value_usd",
            "parcels",
            "hs_code",
            "issued_on",
            "expires_on",
        ],
        "additionalProperties": False,
        "properties": {
            "title": {"const": TITLE, "description": "Exactly this text."},
            "number": {
                "type": "string",
                "pattern": "^[A-Z]{2}[A-Z0-9/ -]{3,32}$",
                "description": (
                    "Unique certificate number: the exporting participant's code, then 3 to 32 of "
                    "A-Z 0-9 - / and space."
                ),
            },
            "issuing_authority": _text(
                "The exporting authority that validates the certificate.", max_length=200
            ),
            "exporting_participant": {"$ref": "#/$defs/participant"},
            "importing_participant": {"$ref": "#/$defs/participant"},
            "exporter": {"$ref": "#/$defs/party"},
            "importer": {"$ref": "#/$defs/party"},
            "origin": {
                "description": f'Countries of origin, or exactly ["{MIXED_ORIGIN}"] for mixed parcels.',
                "oneOf": [
                    {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/country"}},
                    {"const": [MIXED_ORIGIN]},
                ],
            },
            "carats": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": float(MAX_CARATS),
                "multipleOf": 0.01,
                "description": "Carat weight, at most two decimals (the ledger stores hundredths, uint40).",
            },
            "value_usd": {
                "type": "number",
                "minimum": 0,
                "maximum": float(MAX_VALUE_USD),
                "multipleOf": 0.01,
                "description": "Value in US dollars, whole cents (the ledger stores cents, uint40).",
            },
            "parcels": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PARCELS,
                "description": "Number of parcels (the ledger stores uint16).",
            },
            "hs_code": {"enum": sorted(HS_CODES), "description": "Harmonized System code of rough diamonds."},
            "issued_on": {"$ref": "#/$defs/date", "description": "Date of issue (UTC)."},
            "expires_on": {
                "$ref": "#/$defs/date",
                "description": (
                    "Date of expiry, after issued_on and within the exporting participant's validity period; "
                    "the certificate expires at 23:59:59 UTC of this day."
                ),
            },
            "quality": {"type": "object", "description": "Optional quality characteristics, free form."},
            "extensions": {"type": "object", "description": "Optional data of other systems, free form."},
        },
        "allOf": _number_prefix_rules(),
        "$defs": {
            "participant": {
                "description": "ISO 3166-1 alpha-2 country code in upper case, or EU.",
                "enum": sorted(PARTICIPANT_CODES),
            },
            "country": {
                "description": "ISO 3166-1 alpha-2 country code in upper case.",
                "enum": sorted(COUNTRY_CODES),
            },
            "party": party,
            "date": {"type": "string", "pattern": _DATE, "format": "date"},
        },
    }
