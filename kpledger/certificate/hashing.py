"""Document hashes: SHA-256 over the RFC 8785 (JCS) canonical form, or over raw bytes.

The hash is what the chain holds, and the verification page recomputes it inside
the browser (``JSON.parse`` + JCS + ``crypto.subtle.digest``), so this module must
give exactly the bytes JavaScript gives. The ``rfc8785`` library serialises Python
``float`` exactly like ECMAScript's ``Number::toString`` but refuses ``Decimal``
outright and refuses ``int`` beyond ±(2**53 - 1), whereas ``JSON.parse`` turns every
number into a double. So every number is converted to the nearest double first
(``int`` and ``Decimal`` conversions in Python are correctly rounded, as
``JSON.parse`` is): ``1`` and ``1.0`` and ``1E0`` all canonicalise as ``1``,
``10**21`` as ``1e+21``. :func:`kpledger.certificate.parsing.check_json_value` makes
sure that conversion never changes a value (it refuses ``9007199254740993``), so a
hash covers exactly the numbers the document shows.

The hash is taken over the document *as given*, never over a re-serialised model:
extension fields, number spellings and key order are the document's own business.

Speed. ``rfc8785`` is pure Python (~31,000 certificates/s on one core here), too slow
to hash a batch of 100,000 certificates in a few seconds. :func:`canonical_json`
therefore first tries a fast path: one walk that checks and converts the value, then
``orjson`` with sorted keys, which writes exactly RFC 8785's bytes for what the walk
lets through (measured ~7x faster). The walk lets through only what it can vouch for:

- objects whose keys are all BMP characters (RFC 8785 sorts keys by UTF-16 code
  units; orjson by code points; the two orders agree unless a key holds a character
  beyond U+FFFF, which is encoded as a surrogate pair in UTF-16);
- integers and integral numbers with magnitude at most 2**53, written as integers
  (JavaScript's form for them);
- other numbers with magnitude from 1e-5 to 2**53, where orjson's shortest
  round-trip digits and ECMAScript's ``Number::toString`` both use plain decimal
  notation (below 1e-5 orjson switches to exponents six powers of ten before
  JavaScript does);
- strings, ``true``, ``false``, ``null``; string escaping is the same in both (short
  escapes for ``\\b \\t \\n \\f \\r``, ``\\u00xx`` in lower case for other controls,
  everything else literal).

Anything else (a lone surrogate, a number out of those ranges or not faithful to a
double, a non-JSON type, nesting too deep) takes the original path, ``rfc8785`` after
:func:`~kpledger.certificate.parsing.check_json_value`, which also produces the
errors. ``tests/certificate/test_certificate_hashing.py`` holds the two paths equal
on RFC 8785's vectors and on generated values.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any, Final, Literal

import orjson
import rfc8785

from kpledger.certificate.parsing import MAX_DEPTH, check_json_value, load_document
from kpledger.errors import DocumentError, Problem

__all__ = [
    "HASH_BYTES",
    "HashKind",
    "canonical_json",
    "document_hash",
    "file_hash",
    "hash_document_bytes",
    "hash_hex",
    "is_json_document",
    "parse_hash",
]

#: Length of a document hash (SHA-256) in bytes.
HASH_BYTES: Final = 32

#: How :func:`hash_document_bytes` hashed a file: canonical JSON or raw bytes.
HashKind = Literal["json", "raw"]

_HEX_HASH: Final = re.compile(r"[0-9a-fA-F]*")
_JSON_START: Final = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\{")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value, numbers read as JavaScript reads them.

    ``value`` may hold ``int``, ``float`` or ``Decimal`` numbers (as
    :func:`~kpledger.certificate.parsing.load_document` returns them). Raises
    :class:`DocumentError` if the value has no faithful canonical form (see
    :func:`~kpledger.certificate.parsing.check_json_value`).
    """
    fast = _fast_canonical(value)
    if fast is not None:
        return fast
    problems = check_json_value(value)
    if problems:
        raise DocumentError(problems)
    return rfc8785.dumps(_as_doubles(value))


def document_hash(value: Any) -> bytes:
    """SHA-256 of the canonical form of a JSON value: the hash a certificate is anchored under."""
    return hashlib.sha256(canonical_json(value)).digest()


def file_hash(data: bytes | bytearray | memoryview) -> bytes:
    """SHA-256 of raw bytes, for documents that are not JSON (e.g. a scanned PDF certificate)."""
    return hashlib.sha256(data).digest()


def is_json_document(data: bytes | bytearray | memoryview) -> bool:
    """Whether a file is meant as a JSON certificate: its first non-blank byte is ``{``.

    A UTF-8 BOM is looked through, so that such a file gets the loader's clear
    refusal rather than a silent raw-bytes hash. PDF, images and other binaries never
    start that way.
    """
    return _JSON_START.match(data) is not None


def hash_document_bytes(data: bytes | bytearray | memoryview) -> tuple[bytes, HashKind]:
    """Hash a file the way the ledger does: a JSON certificate canonically, anything else raw.

    A file that looks like JSON (:func:`is_json_document`) but breaks a loader rule
    raises :class:`DocumentError` instead of falling back to a raw hash: a raw hash
    of a broken certificate could never match what an exporter anchored, and would
    hide the reason. Only structural loading happens here; certificate rules are
    :func:`~kpledger.certificate.model.parse_certificate`'s job.
    """
    if is_json_document(data):
        return document_hash(load_document(data)), "json"
    return file_hash(data), "raw"


def hash_hex(digest: bytes) -> str:
    """``0x`` followed by 64 lower-case hex digits, the form used in the CLI, API and events."""
    if len(digest) != HASH_BYTES:
        raise ValueError(f"a document hash is {HASH_BYTES} bytes, got {len(digest)}")
    return "0x" + digest.hex()


def parse_hash(text: str, *, field: str = "hash") -> bytes:
    """Read a hash typed or pasted by a person: optional ``0x``, 64 hex digits, any case.

    Raises :class:`DocumentError` with rule ``hash.format`` (not hex) or ``hash.length``
    (wrong number of digits); ``field`` names the input in the problem.
    """
    if not isinstance(text, str):
        raise DocumentError([Problem(field, "hash.format", "a hash must be given as text")])
    digits = text.strip()
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    if not _HEX_HASH.fullmatch(digits):
        raise DocumentError(
            [Problem(field, "hash.format", "a hash must be hex digits (0-9, a-f), optionally after 0x")]
        )
    if len(digits) != 2 * HASH_BYTES:
        raise DocumentError(
            [
                Problem(
                    field,
                    "hash.length",
                    f"a SHA-256 hash has {2 * HASH_BYTES} hex digits, this one has {len(digits)}",
                )
            ]
        )
    return bytes.fromhex(digits)


def _as_doubles(value: Any) -> Any:
    """The value with every number turned into the double ``JSON.parse`` would produce."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)):
        return float(value)
    if isinstance(value, dict):
        return {key: _as_doubles(child) for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_doubles(child) for child in value]
    return value


# ---------------------------------------------------------------------- the fast path


class _Slow(Exception):
    """The value leaves the fast path (see the module doc); never escapes this module."""


_MAX_EXACT: Final = 2**53
_MIN_PLAIN: Final = 1e-5  # orjson writes smaller magnitudes with an exponent, JavaScript from 1e-7
# A key character that is a surrogate (lone, so not UTF-8 either) or beyond the BMP.
_NON_BMP: Final = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")
_SORTED: Final = orjson.OPT_SORT_KEYS


def _fast_canonical(value: Any) -> bytes | None:
    """RFC 8785 bytes through orjson, or None when the value leaves the fast path."""
    try:
        return orjson.dumps(_plain(value, 1), option=_SORTED)
    except (_Slow, orjson.JSONEncodeError):  # orjson refuses lone surrogates in strings
        return None


def _plain(value: Any, depth: int) -> Any:
    """The value with numbers in the form whose orjson text is JavaScript's; raises
    _Slow for anything the fast path cannot vouch for."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        if depth > MAX_DEPTH:
            raise _Slow
        out = {}
        for key, child in value.items():
            if type(key) is not str or (not key.isascii() and _NON_BMP.search(key)):
                raise _Slow
            out[key] = _plain(child, depth + 1)
        return out
    if kind is list or kind is tuple:
        if depth > MAX_DEPTH:
            raise _Slow
        return [_plain(child, depth + 1) for child in value]
    if kind is int:
        if -_MAX_EXACT <= value <= _MAX_EXACT:
            return value
        raise _Slow
    if kind is float:
        return _plain_double(value)
    if kind is Decimal:
        if not value.is_finite():
            raise _Slow
        _sign, digits, exponent = value.as_tuple()
        if len(digits) <= 15 and -300 <= exponent + len(digits) <= 300:
            # At most 15 significant digits of a normal double: faithful (parsing's rule),
            # so the round-trip check below would only confirm it.
            return _plain_double(float(value))
        nearest = float(value)
        if nearest != nearest or nearest in (float("inf"), float("-inf")):
            raise _Slow
        if Decimal(repr(nearest)) != value:  # not faithful to a double: the slow path refuses it
            raise _Slow
        return _plain_double(nearest)
    raise _Slow


def _plain_double(number: float) -> int | float:
    magnitude = abs(number)
    if number.is_integer():  # also -0.0, which JavaScript writes as 0
        if magnitude <= _MAX_EXACT:
            return int(number)
        raise _Slow
    if _MIN_PLAIN <= magnitude < _MAX_EXACT:  # NaN fails both comparisons
        return number
    raise _Slow
