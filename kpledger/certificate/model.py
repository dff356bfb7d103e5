"""The KP certificate document (format version 1, docs/format.md §1) as a strict pydantic model.

The format is an interchange contract: other KP systems produce and check it without
our code, so the model accepts exactly what the format says and reports *every*
broken rule at once, each as a :class:`~kpledger.errors.Problem` with a dotted field
path (``exporter.name``, ``origin.1``, ``$`` for the whole document) and a stable
rule id that programs can match on:

=========================  =====================================================
rule                       meaning
=========================  =====================================================
``field.missing``          a required field is absent
``field.unknown``          a field the format does not define (use ``extensions``)
``field.type``             wrong JSON type (no coercion: ``"5"`` and ``true`` are
                           not numbers, ``null`` is not an absent optional field)
``field.invalid``          any other structural error (should not happen)
``title.exact``            title is not exactly ``Kimberley Process Certificate``
``number.prefix``          number does not start with the exporting participant
``number.format``          not 2 letters + 3 to 32 of ``A-Z 0-9 - /`` and space
``issuing_authority.*``    ``empty``, ``too_long`` (> 200 characters)
``participant.code``       not an ISO 3166-1 alpha-2 code (upper case) or ``EU``
``participants.distinct``  exporting and importing participant are the same
``party.empty``            exporter/importer name, address or licence is blank
``origin.*``               ``empty`` list, bad ``code``, ``mixed`` with others
``carats.*``               ``positive``, ``decimals`` (> 2), ``range`` (> 2**40-1
                           hundredths, the contract's storage)
``value_usd.*``            ``negative``, ``decimals``, ``range`` (cents)
``parcels.*``              ``positive`` (< 1), ``integer``, ``range`` (> 65535)
``hs_code.scope``          not 7102.10, 7102.21 or 7102.31
``dates.*``                ``format`` (not YYYY-MM-DD), ``order`` (expiry not after
                           issue), ``validity`` (longer than the validity period)
=========================  =====================================================

File-level rules (``json.*``) come from :mod:`kpledger.certificate.parsing`.

Numbers are :class:`~decimal.Decimal` throughout: a document's ``0.3`` carats is 30
hundredths, never ``0.30000000000000004``. JSON has one number type, so an integral
number such as ``3.0`` is an integer (as in JSON Schema); a boolean or a string
never is a number.
"""

from __future__ import annotations

import calendar
import copy
import math
import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from kpledger.certificate.hashing import HASH_BYTES, canonical_json, document_hash
from kpledger.certificate.parsing import check_json_value, load_document
from kpledger.errors import DocumentError, Problem
from kpledger.types import ChainTerms

__all__ = [
    "COUNTRY_CODES",
    "DEFAULT_VALIDITY_DAYS",
    "HS_CODES",
    "MAX_CARATS",
    "MAX_PARCELS",
    "MAX_VALUE_USD",
    "MIXED_ORIGIN",
    "PARTICIPANT_CODES",
    "TITLE",
    "Certificate",
    "ChainTerms",
    "Party",
    "check_validity",
    "parse_certificate",
]

TITLE: Final = "Kimberley Process Certificate"
#: HS codes of rough diamonds in the Scheme's scope (Annex I).
HS_CODES: Final = frozenset({"7102.10", "7102.21", "7102.31"})
#: The single ``origin`` entry for parcels of mixed origin.
MIXED_ORIGIN: Final = "MIXED"
#: ISO 3166-1 alpha-2 codes (pycountry's list).
COUNTRY_CODES: Final = frozenset(country.alpha_2 for country in pycountry.countries)
#: Codes a participant may have: a country, or the European Union as one participant.
PARTICIPANT_CODES: Final = COUNTRY_CODES | {"EU"}
#: Validity period assumed when the exporting participant's own is not known (the
#: contract's ceiling); the ledger passes the real period.
DEFAULT_VALIDITY_DAYS: Final = 366

_UINT40_MAX: Final = 2**40 - 1
#: Largest carat weight the ledger stores (uint40 hundredths).
MAX_CARATS: Final = Decimal(_UINT40_MAX).scaleb(-2)
#: Largest value the ledger stores (uint40 cents).
MAX_VALUE_USD: Final = Decimal(_UINT40_MAX).scaleb(-2)
#: Largest parcel count the ledger stores (uint16).
MAX_PARCELS: Final = 2**16 - 1
_MAX_AUTHORITY_CHARS: Final = 200
_NUMBER: Final = re.compile(r"[A-Z]{2}[A-Z0-9/ -]{3,32}", re.ASCII)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_SECONDS_PER_DAY: Final = 86_400


def _err(rule: str, message: str) -> PydanticCustomError:
    """A pydantic error whose type is our rule id; the field path is added on conversion."""
    return PydanticCustomError(rule, "{message}", {"message": message})


# --- field rules ----------------------------------------------------------------------


def _title(value: str) -> str:
    if value != TITLE:
        raise _err("title.exact", f'must be exactly "{TITLE}", not {_show(value)}')
    return value


def _issuing_authority(value: str) -> str:
    if not value.strip():
        raise _err(
            "issuing_authority.empty", "must name the exporting authority that validates the certificate"
        )
    if len(value) > _MAX_AUTHORITY_CHARS:
        raise _err(
            "issuing_authority.too_long",
            f"must be at most {_MAX_AUTHORITY_CHARS} characters, not {len(value)}",
        )
    return value


def _participant(value: str) -> str:
    if value not in PARTICIPANT_CODES:
        raise _err(
            "participant.code",
            "must be an ISO 3166-1 alpha-2 country code in upper case (such as BW) or EU, "
            f"not {_show(value)}",
        )
    return value


def _party_text(value: str) -> str:
    if not value.strip():
        raise _err("party.empty", "must not be empty: the certificate must identify exporter and importer")
    return value


def _origin_code(value: str) -> str:
    if value != MIXED_ORIGIN and value not in COUNTRY_CODES:
        raise _err(
            "origin.code",
            f"must be an ISO 3166-1 alpha-2 country code in upper case (such as CD), not {_show(value)}",
        )
    return value


def _origin(value: list[str]) -> list[str]:
    if not value:
        raise _err("origin.empty", f'must list at least one country of origin, or be ["{MIXED_ORIGIN}"]')
    if MIXED_ORIGIN in value and len(value) > 1:
        raise _err(
            "origin.mixed",
            f'must be exactly ["{MIXED_ORIGIN}"] for parcels of mixed origin, without other codes',
        )
    return value


def _hs_code(value: str) -> str:
    if value not in HS_CODES:
        raise _err(
            "hs_code.scope",
            f"must be one of {', '.join(sorted(HS_CODES))} (rough diamonds in the Scheme), "
            f"not {_show(value)}",
        )
    return value


def _carats(value: object) -> Decimal:
    amount = _number(value)
    if amount <= 0:
        raise _err("carats.positive", f"must be greater than 0, not {_show_number(amount)}")
    if amount > MAX_CARATS:
        raise _err("carats.range", f"must be at most {MAX_CARATS} (the ledger stores hundredths in 40 bits)")
    hundredths = _scaled(amount, 2)
    if hundredths is None:
        raise _err(
            "carats.decimals",
            f"must have at most two decimals (the ledger stores hundredths of a carat), "
            f"not {_show_number(amount)}",
        )
    return Decimal(hundredths).scaleb(-2)


def _value_usd(value: object) -> Decimal:
    amount = _number(value)
    if amount < 0:
        raise _err("value_usd.negative", f"must not be negative, not {_show_number(amount)}")
    if amount > MAX_VALUE_USD:
        raise _err("value_usd.range", f"must be at most {MAX_VALUE_USD} (the ledger stores cents in 40 bits)")
    cents = _scaled(amount, 2)
    if cents is None:
        raise _err("value_usd.decimals", f"must be in whole cents (two decimals), not {_show_number(amount)}")
    return Decimal(cents).scaleb(-2)


def _parcels(value: object) -> int:
    amount = _number(value)
    if amount < 1:
        raise _err("parcels.positive", f"must be at least 1, not {_show_number(amount)}")
    if amount > MAX_PARCELS:
        raise _err("parcels.range", f"must be at most {MAX_PARCELS} (the ledger stores 16 bits)")
    count = _scaled(amount, 0)
    if count is None:
        raise _err("parcels.integer", f"must be a whole number, not {_show_number(amount)}")
    return count


def _calendar_date(value: object) -> date:
    if isinstance(value, datetime):
        raise _err("field.type", "must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise _err("field.type", f"must be a string holding a date (YYYY-MM-DD), not {_json_type(value)}")
    if not _DATE.fullmatch(value):
        raise _err("dates.format", f"must be an ISO 8601 date written YYYY-MM-DD, not {_show(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _err("dates.format", f"must be a day of the calendar, which {_show(value)} is not") from None


def _number(value: object) -> Decimal:
    """A JSON number as an exact Decimal; floats from Python callers are read by their
    shortest repr (``0.1`` -> ``Decimal("0.1")``), as JavaScript would show them."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _err("field.type", f"must be a number, not {_json_type(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _err("field.type", "must be a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _err("field.type", "must be a finite number")
        return value
    return Decimal(value)


def _scaled(amount: Decimal, places: int) -> int | None:
    """``amount * 10**places`` as an exact int, or None if ``amount`` has more decimals.

    Works on the digit tuple, not through a decimal context (which rounds to 28
    digits), so ``1.000…0`` with a million zeros is neither rounded nor expensive.
    Callers bound the magnitude first, so the result is small.
    """
    if amount == 0:
        return 0
    sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - callers pass finite numbers
        return None
    shift = exponent + places
    if shift >= 0:
        magnitude = int("".join(map(str, digits))) * int(10**shift)
    else:
        keep = len(digits) + shift
        if keep <= 0 or any(digits[keep:]):
            return None
        magnitude = int("".join(map(str, digits[:keep])))
    return -magnitude if sign else magnitude


# --- model ----------------------------------------------------------------------------

_Text = Annotated[str, AfterValidator(_party_text)]
_Carats = Annotated[Decimal, PlainValidator(_carats, json_schema_input_type=float)]
_Value = Annotated[Decimal, PlainValidator(_value_usd, json_schema_input_type=float)]
_Parcels = Annotated[int, PlainValidator(_parcels, json_schema_input_type=int)]
_Date = Annotated[date, PlainValidator(_calendar_date, json_schema_input_type=date)]
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


def _no_null(value: Any) -> Any:
    if value is None:
        raise _err("field.type", "must be left out when it has no value, not null")
    return value


class Party(BaseModel):
    """An exporter or importer as the certificate identifies them (Annex I)."""

    model_config = _STRICT

    name: _Text
    address: _Text
    licence: _Text | None = None

    @field_validator("licence", mode="before")
    @classmethod
    def _licence_not_null(cls, value: Any) -> Any:
        return _no_null(value)

    def to_document(self) -> dict[str, str]:
        """The party as a JSON object, without ``licence`` when there is none."""
        document = {"name": self.name, "address": self.address}
        if self.licence is not None:
            document["licence"] = self.licence
        return document


class Certificate(BaseModel):
    """A KP certificate document (format version 1), validated.

    Build one with :func:`parse_certificate` or :meth:`from_file`; they also keep
    the document as given, which :meth:`document_hash` hashes. Fields are declared in
    the order cross-field rules need (a field's validator sees the earlier ones);
    :meth:`to_document` returns them in the format's order.
    """

    model_config = _STRICT

    title: Annotated[str, AfterValidator(_title)]
    exporting_participant: Annotated[str, AfterValidator(_participant)]
    importing_participant: Annotated[str, AfterValidator(_participant)]
    number: str
    issuing_authority: Annotated[str, AfterValidator(_issuing_authority)]
    exporter: Party
    importer: Party
    origin: Annotated[list[Annotated[str, AfterValidator(_origin_code)]], AfterValidator(_origin)]
    carats: _Carats
    value_usd: _Value
    parcels: _Parcels
    hs_code: Annotated[str, AfterValidator(_hs_code)]
    issued_on: _Date
    expires_on: _Date
    quality: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None

    _source: dict[str, Any] | None = PrivateAttr(default=None)

    @field_validator("quality", "extensions", mode="before")
    @classmethod
    def _optional_not_null(cls, value: Any) -> Any:
        return _no_null(value)

    @field_validator("importing_participant")
    @classmethod
    def _distinct_participants(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("exporting_participant") == value:
            raise _err(
                "participants.distinct",
                f"must differ from exporting_participant ({value}): a certificate moves goods between two "
                "participants",
            )
        return value

    @field_validator("number")
    @classmethod
    def _number_format(cls, value: str, info: ValidationInfo) -> str:
        code = info.data.get("exporting_participant")
        if code is not None and not value.startswith(code):
            raise _err(
                "number.prefix",
                f"must start with the exporting participant's code {code}, not {_show(value[:2])}",
            )
        if not _NUMBER.fullmatch(value):
            raise _err(
                "number.format",
                "must be the participant code followed by 3 to 32 characters from A-Z, 0-9, '-', '/' "
                f"and space, not {_show(value)}",
            )
        return value

    @field_validator("expires_on")
    @classmethod
    def _expiry(cls, value: date, info: ValidationInfo) -> date:
        issued = info.data.get("issued_on")
        if not isinstance(issued, date):
            return value
        if value <= issued:
            raise _err(
                "dates.order", f"must be after issued_on ({issued.isoformat()}), not {value.isoformat()}"
            )
        days = _validity_days(info.context)
        problem = _validity_problem(issued, value, days)
        if problem is not None:
            raise _err(problem.rule, problem.message)
        return value

    # --- reading --------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, validity_days: int | None = None) -> Certificate:
        """Read and validate a certificate file (``OSError`` if it cannot be read)."""
        with open(path, "rb") as handle:
            data = handle.read()
        return parse_certificate(data, validity_days=validity_days)

    # --- writing --------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        """The certificate as a plain JSON value (``json.dumps``-able), in the format's order.

        Numbers come out as ``int`` or ``float`` (exact: every accepted number
        survives a double). Its hash equals :meth:`document_hash` for any accepted
        document, but the anchored hash is always taken over the document as given.
        """
        document: dict[str, Any] = {
            "title": self.title,
            "number": self.number,
            "issuing_authority": self.issuing_authority,
            "exporting_participant": self.exporting_participant,
            "importing_participant": self.importing_participant,
            "exporter": self.exporter.to_document(),
            "importer": self.importer.to_document(),
            "origin": list(self.origin),
            "carats": _plain(self.carats),
            "value_usd": _plain(self.value_usd),
            "parcels": self.parcels,
            "hs_code": self.hs_code,
            "issued_on": self.issued_on.isoformat(),
            "expires_on": self.expires_on.isoformat(),
        }
        if self.quality is not None:
            document["quality"] = _plain(self.quality)
        if self.extensions is not None:
            document["extensions"] = _plain(self.extensions)
        return document

    def __eq__(self, other: object) -> bool:
        """Equal when they are the same JSON value, however each was written or given
        (pydantic's default would also compare the kept source document)."""
        if not isinstance(other, Certificate):
            return NotImplemented
        return self.to_document() == other.to_document()

    def __hash__(self) -> int:
        return hash(canonical_json(self.to_document()))

    def document_hash(self) -> bytes:
        """SHA-256 of the canonical form of the document this certificate was read from
        (of :meth:`to_document` if it was built in Python)."""
        return document_hash(self._source if self._source is not None else self.to_document())

    # --- chain ----------------------------------------------------------------------

    @property
    def carats_hundredths(self) -> int:
        """Carat weight in hundredths of a carat, as the ledger stores it."""
        return int(self.carats.scaleb(2))

    @property
    def value_cents(self) -> int:
        """Value in US cents, as the ledger stores it."""
        return int(self.value_usd.scaleb(2))

    @property
    def expires_at(self) -> int:
        """Unix time of the last second (23:59:59 UTC) of the expiry day."""
        return calendar.timegm(self.expires_on.timetuple()) + _SECONDS_PER_DAY - 1

    def chain_terms(self, document_hash: bytes | None = None) -> ChainTerms:
        """The terms the ledger stores for this certificate under ``document_hash``.

        Pass the hash of the file actually anchored (e.g. the raw hash of a PDF whose
        terms this JSON carries); by default it is :meth:`document_hash`. The result is
        :class:`kpledger.types.ChainTerms` (``origin``/``destination`` are the exporting
        and importing participants; ``as_tuple()`` gives the ABI struct).
        """
        digest = self.document_hash() if document_hash is None else document_hash
        if len(digest) != HASH_BYTES:
            raise ValueError(f"a document hash is {HASH_BYTES} bytes, got {len(digest)}")
        return ChainTerms(
            document_hash=digest,
            number=self.number,
            origin=self.exporting_participant,
            destination=self.importing_participant,
            carats=self.carats_hundredths,
            value_cents=self.value_cents,
            parcels=self.parcels,
            expires_at=self.expires_at,
        )


def parse_certificate(
    data: bytes | bytearray | memoryview | str | Mapping[str, Any], *, validity_days: int | None = None
) -> Certificate:
    """Validate a certificate document: file bytes, JSON text or an already-parsed object.

    Bytes and text go through the strict loader first (:func:`load_document`); a
    mapping goes through the same JSON-value checks. ``validity_days`` is the
    exporting participant's validity period (default :data:`DEFAULT_VALIDITY_DAYS`).
    Raises :class:`DocumentError` listing every problem; nothing else for bad input.
    """
    days = _validity_days({"validity_days": validity_days})
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise DocumentError(
                [Problem("$", "json.not_utf8", "the text contains lone surrogates and cannot be UTF-8")]
            ) from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        source = load_document(data)
    elif isinstance(data, Mapping):
        source = copy.deepcopy(dict(data))
        problems = check_json_value(source)
        if problems:
            raise DocumentError(problems)
    else:
        raise DocumentError(
            [Problem("$", "json.not_object", f"a certificate must be a JSON object, not {_json_type(data)}")]
        )
    try:
        certificate = Certificate.model_validate(source, context={"validity_days": days})
    except ValidationError as exc:
        raise DocumentError(_problems(exc)) from None
    certificate._source = source
    return certificate


def check_validity(certificate: Certificate, validity_days: int) -> list[Problem]:
    """Problems with the certificate's validity period against a participant's period.

    For a certificate validated before the exporting participant's period was known
    (:func:`parse_certificate` assumes :data:`DEFAULT_VALIDITY_DAYS`).
    """
    days = _validity_days({"validity_days": validity_days})
    problem = _validity_problem(certificate.issued_on, certificate.expires_on, days)
    if problem is None:
        return []
    return [Problem("expires_on", problem.rule, f"expires_on {problem.message}")]


# --- helpers --------------------------------------------------------------------------


def _validity_days(context: object) -> int:
    days = context.get("validity_days") if isinstance(context, dict) else None
    if days is None:
        return DEFAULT_VALIDITY_DAYS
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"validity_days must be a positive number of days, not {days!r}")
    return days


def _validity_problem(issued: date, expires: date, days: int) -> Problem | None:
    """The rule the contract applies at anchoring, on dates: expiry at most ``days`` after issue."""
    if (expires - issued).days <= days:
        return None
    return Problem(
        "expires_on",
        "dates.validity",
        f"must be at most {days} days after issued_on (the exporting participant's validity period), "
        f"not {(expires - issued).days}",
    )


_BUILTIN: Final = {
    "missing": ("field.missing", "is required"),
    "string_type": ("field.type", "must be a string, not {input}"),
    "dict_type": ("field.type", "must be an object, not {input}"),
    "model_type": ("field.type", "must be an object, not {input}"),
    "model_attributes_type": ("field.type", "must be an object, not {input}"),
    "list_type": ("field.type", "must be an array, not {input}"),
}


def _problems(error: ValidationError) -> list[Problem]:
    """One :class:`Problem` per pydantic error, the message starting with the field path."""
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "$"
        subject = "the document" if field == "$" else field
        kind = item["type"]
        if "." in kind:  # one of our rules: the type is the rule id
            rule, message = kind, item["msg"]
        elif kind == "extra_forbidden":
            rule = "field.unknown"
            if len(item["loc"]) == 1:
                message = (
                    "is not a field of a KP certificate (format version 1); put other data under extensions"
                )
            else:
                message = "is not a field here: a party has name, address and an optional licence"
        elif kind in _BUILTIN:
            rule, template = _BUILTIN[kind]
            message = template.format(input=_json_type(item.get("input")))
        else:  # pragma: no cover - every field has a rule above
            rule, message = "field.invalid", item["msg"]
        problems.append(Problem(field, rule, f"{subject} {message}"))
    return problems


def _plain(value: Any) -> Any:
    """A JSON value with Decimals as int (integral, safe) or float, for ``json.dumps``."""
    if isinstance(value, Decimal):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) <= 2**53 else number
    if isinstance(value, dict):
        return {key: _plain(child) for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(child) for child in value]
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _show(text: str, limit: int = 40) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _show_number(amount: Decimal) -> str:
    text = str(amount)
    return text if len(text) <= 30 else text[:27] + "..."
