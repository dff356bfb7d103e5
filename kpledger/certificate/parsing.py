"""Strict loading of certificate documents: one reading of the bytes, or none.

The ledger stores a hash of the document's canonical form (RFC 8785), so every
party that reads a file must end up with the *same* JSON value, whatever parser it
uses. Everything that lets two parsers disagree is therefore refused here, before
any other rule is looked at:

* more than 1 MiB (``json.too_large``) — a bound on work for a public endpoint;
* a UTF-8 byte order mark (``json.bom``). RFC 8259 §8.1 forbids producers to add one
  and only *allows* parsers to ignore it; we refuse it so that a file has exactly one
  reading and the user hears about it instead of a silent strip. Save the file as
  "UTF-8" (without BOM);
* bytes that are not UTF-8 (``json.not_utf8``);
* nesting deeper than 32 arrays/objects (``json.too_deep``), checked on the raw text
  before parsing so that a hostile file cannot exhaust the parser's stack;
* anything that is not JSON (``json.invalid``), or is JSON but not one object
  (``json.not_object``);
* a key repeated in an object at any depth (``json.duplicate_key``): parsers
  disagree on which of the values wins, so the hash would depend on the parser;
* ``NaN``/``Infinity`` (``json.non_finite``): not JSON, though Python accepts them;
* escaped lone surrogates such as ``"\\ud800"`` (``json.surrogate``): RFC 8785
  §3.2.2.2 requires canonicalisation to fail on them;
* numbers that an IEEE 754 double cannot hold exactly enough to survive a round
  trip (``json.number_precision``) or at all (``json.number_range``). RFC 8785
  models every number as a double, like JavaScript's ``JSON.parse``: the text
  ``9007199254740993`` canonicalises as ``9007199254740992`` and
  ``1152921504606846976`` (2**60, exact in binary!) as ``1152921504606847000``.
  Two different documents would then share one hash, and a browser would show a
  value the hash does not cover. A number is accepted when its decimal value equals
  the shortest decimal of the nearest double, which holds for every number written
  with at most 15 significant digits. I-JSON (RFC 7493 §2.2), which RFC 8785
  builds on, says the same: no more magnitude or precision than a double provides.

Two implementations, one behaviour. :func:`load_document` first tries a fast path: the
C JSON scanner with no Python callback but one per non-integer number, then one lean walk
that counts object members against the keys written in the text (fewer members than keys
means a key was repeated), checks the depth and every number. Only a document that passes
every rule is returned from there; anything else — a problem, an escaped surrogate, a
doubt — goes through :func:`load_document_reference`, the original loader, which finds
and words every problem. So the fast path cannot change an answer, only its speed; the
property tests hold the two equal over the malformed corpus and random documents.

Numbers come back exact: integer literals as :class:`int`, every other literal as
:class:`decimal.Decimal` (``"12.50"`` stays ``Decimal("12.50")``), so the model can
convert carats and dollars to hundredths without binary rounding, and hashing
(:mod:`kpledger.certificate.hashing`) converts them to doubles exactly as
JavaScript would.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NoReturn

from kpledger.errors import DocumentError, Problem

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "JSONObject",
    "check_json_value",
    "json_path",
    "load_document",
    "load_document_reference",
]

#: Largest accepted document, in bytes (1 MiB).
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
#: Deepest accepted nesting; the top-level object is level 1.
MAX_DEPTH: Final = 32

#: A parsed document: a JSON object whose numbers are ``int`` or ``Decimal``.
JSONObject = dict[str, Any]

_BOM: Final = b"\xef\xbb\xbf"
# A JSON string (escapes included), or a run of characters that are not brackets. The
# closing quote is optional so that an unterminated string is consumed in one match:
# every character is looked at once, and a file of escaped quotes cannot make the scan
# quadratic.
_NOT_BRACKETS: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[^"\[\]{}]+', re.DOTALL)
# Longer integer literals overflow a double (max ~1.8e308) — and would also hit
# Python's 4300-digit limit on int(); they are kept as Decimal and refused later.
_MAX_INT_DIGITS: Final = 400


class _Constant:
    """Stands in for ``NaN``/``Infinity`` while parsing, so the walk can say where it was."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _OutOfRange:
    """Stands in for a number whose exponent even :class:`Decimal` cannot hold."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _DuplicateKeys(dict[str, Any]):
    """An object in which some key appeared more than once (marked for the walk)."""

    duplicates: list[str]


def json_path(parent: str, key: str | int) -> str:
    """Dotted path of a child: ``$`` is the document, ``exporter.name``, ``origin.1``.

    A lone surrogate in a key is written as ``\\udXXX`` so that the path itself can
    always be encoded (in an HTTP response, a log line).
    """
    name = key if isinstance(key, int) else key.encode("utf-8", "backslashreplace").decode("utf-8")
    return str(name) if parent == "$" else f"{parent}.{name}"


def load_document(data: bytes | bytearray | memoryview) -> JSONObject:
    """Parse certificate bytes strictly into a JSON object (see the module doc).

    Raises :class:`DocumentError` — and nothing else, whatever the bytes — naming
    every problem found. The fast path answers for documents that break no rule; the
    reference loader for everything else.
    """
    raw = bytes(data)
    value = _fast_load(raw)
    return value if value is not None else load_document_reference(raw)


def load_document_reference(data: bytes | bytearray | memoryview) -> JSONObject:
    """The strict loader in its first, plainer form: the oracle the fast path is held
    to, and the path that words every problem.

    Raises :class:`DocumentError` — and nothing else, whatever the bytes — naming
    every problem found; the file-level checks stop at the first failure because
    later checks would only produce noise.
    """
    raw = bytes(data)
    if len(raw) > MAX_DOCUMENT_BYTES:
        _fail(
            "json.too_large",
            f"the document is {len(raw):,} bytes; the limit is {MAX_DOCUMENT_BYTES:,} bytes (1 MiB)",
        )
    if raw.startswith(_BOM):
        _fail(
            "json.bom",
            "the document starts with a UTF-8 byte order mark; save it as UTF-8 without BOM",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail("json.not_utf8", f"the document is not valid UTF-8 (bad byte at offset {exc.start})")
    if _too_deep(text):
        _fail("json.too_deep", f"the document nests arrays/objects more than {MAX_DEPTH} levels deep")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_from_pairs,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_Constant,
        )
    except json.JSONDecodeError as exc:
        _fail(
            "json.invalid",
            f"the document is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        )
    except (ValueError, RecursionError) as exc:  # pragma: no cover - guarded by the checks above
        _fail("json.invalid", f"the document is not valid JSON: {exc}")
    if not isinstance(value, dict):
        _fail("json.not_object", f"the document must be one JSON object, not {_kind(value)}")
    problems = check_json_value(value)
    if problems:
        raise DocumentError(problems)
    return value


def check_json_value(value: Any, path: str = "$") -> list[Problem]:
    """Problems that keep ``value`` (a Python JSON value) from having one canonical form.

    Used on parsed files and on documents handed over as Python dicts, so both paths
    obey the same rules: depth, finite numbers a double represents faithfully, strings
    without lone surrogates, string keys, JSON types only (``float`` is allowed here:
    a Python caller's float *is* a double already).
    """
    problems: list[_Found] = []
    _walk(value, path, 1, problems)
    return [Problem(_render(where), rule, message) for where, rule, message in problems]


# Where a value sits, built cheaply while walking and rendered only for a problem:
# the root path, or (parent, key).
_Where = str | tuple[Any, str | int]
_Found = tuple[_Where, str, str]
_SCALARS: Final = (int, float, Decimal, _Constant, _OutOfRange)


def _walk(value: Any, where: _Where, depth: int, problems: list[_Found]) -> None:
    """One pass over the value; a 1 MiB file can hold 300,000 nodes, so keep it lean."""
    kind = type(value)
    if kind is str or (kind is not bool and isinstance(value, str)):
        if not _is_scalar_text(value):
            problems.append((where, "json.surrogate", "the string contains a lone UTF-16 surrogate escape"))
    elif kind is dict or kind is list or isinstance(value, (dict, list, tuple)):
        if depth > MAX_DEPTH:
            problems.append(
                (where, "json.too_deep", f"arrays/objects nest deeper than {MAX_DEPTH} levels here")
            )
        elif isinstance(value, dict):
            _walk_object(value, where, depth, problems)
        else:
            for index, child in enumerate(value):
                _walk(child, (where, index), depth + 1, problems)
    elif value is None or kind is bool:
        pass
    elif isinstance(value, _SCALARS):
        problem = _number_problem(value)
        if problem is not None:
            problems.append((where, *problem))
    else:
        kinds = "object, array, string, number, true, false, null"
        problems.append((where, "json.type", f"{kind.__name__} is not a JSON type ({kinds})"))


def _walk_object(value: dict[Any, Any], where: _Where, depth: int, problems: list[_Found]) -> None:
    if isinstance(value, _DuplicateKeys):
        for key in value.duplicates:
            problems.append(
                (
                    (where, key),
                    "json.duplicate_key",
                    f"the key {_short(key)} appears more than once in the same object",
                )
            )
    for key, child in value.items():
        if type(key) is not str:
            problems.append((where, "json.type", f"object keys must be strings, not {type(key).__name__}"))
            continue
        if not _is_scalar_text(key):
            problems.append(
                ((where, key), "json.surrogate", "the key contains a lone UTF-16 surrogate escape")
            )
        _walk(child, (where, key), depth + 1, problems)


def _render(where: _Where) -> str:
    keys: list[str | int] = []
    while isinstance(where, tuple):
        where, key = where
        keys.append(key)
    path = where
    for key in reversed(keys):
        path = json_path(path, key)
    return path


def _number_problem(value: int | float | Decimal | _Constant | _OutOfRange) -> tuple[str, str] | None:
    """A number is fine when a double holds it and its shortest form has the same value."""
    if isinstance(value, _Constant):
        return "json.non_finite", f"{value.name} is not a JSON number"
    if isinstance(value, _OutOfRange):
        return _range_problem(value.text)
    if isinstance(value, float):
        return None if math.isfinite(value) else ("json.non_finite", f"{value} is not a JSON number")
    if isinstance(value, Decimal) and not value.is_finite():
        return "json.non_finite", f"{value} is not a JSON number"
    if type(value) is int and -(2**53) <= value <= 2**53:  # the common case: exact as a double
        return None
    try:
        nearest = float(value)
    except OverflowError:
        return _range_problem(_short_number(value))
    if math.isinf(nearest):
        return _range_problem(_short_number(value))
    if Decimal(repr(nearest)) != Decimal(value):
        return (
            "json.number_precision",
            f"the number {_short_number(value)} has more precision than an IEEE 754 double keeps "
            f"(JavaScript and RFC 8785 read it as {_js_number(nearest)}); "
            "write at most 15 significant digits",
        )
    return None


def _range_problem(text: str) -> tuple[str, str]:
    return "json.number_range", f"the number {text} is outside the range of an IEEE 754 double"


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    duplicates: list[str] = []
    for key, value in pairs:
        if key in result and key not in duplicates:
            duplicates.append(key)
        result[key] = value
    if not duplicates:
        return result
    marked = _DuplicateKeys(result)
    marked.duplicates = duplicates
    return marked


def _parse_int(text: str) -> int | Decimal:
    return Decimal(text) if len(text) > _MAX_INT_DIGITS else int(text)


def _parse_float(text: str) -> Decimal | _OutOfRange:
    try:
        return Decimal(text)
    except InvalidOperation:  # exponent beyond what Decimal holds: far outside a double
        return _OutOfRange(text if len(text) <= 40 else text[:20] + "...")


# ---------------------------------------------------------------------- the fast path

# Every string token, and whether a colon follows it (then it is a key). Applied to text
# the C scanner accepted, matches start at the quotes that open strings, never inside one.
_STRING_TOKEN: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"([ \t\n\r]*:)?')
# An escaped UTF-16 surrogate (lone or paired): left to the reference loader to judge.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_DOUBLE_SAFE_INT: Final = 2**53
_MAX_SAFE_DIGITS: Final = 15


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


_FAST_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)


def _fast_load(raw: bytes) -> JSONObject | None:
    """The document if it breaks no rule, decided quickly; None to let the reference
    loader decide (and word the problems)."""
    if len(raw) > MAX_DOCUMENT_BYTES or raw.startswith(_BOM):
        return None
    try:
        text = raw.decode("utf-8")
        if "\\u" in text and _SURROGATE_ESCAPE.search(text):
            return None
        # The C scanner recurses on the C stack: bound the nesting first (fewer than 33
        # brackets in all cannot nest deeper than 32, which spares the scan).
        if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(text):
            return None
        value = _FAST_DECODER.decode(text)
    except (ValueError, ArithmeticError, RecursionError):  # decode, JSON, Decimal errors
        return None
    if type(value) is not dict:
        return None
    members = _fast_members(value, 1)
    if members < 0:
        return None
    keys = _STRING_TOKEN.findall(text)
    if len(keys) - keys.count("") != members:  # a key written twice became one member
        return None
    return value


def _fast_members(value: dict[str, Any] | list[Any], depth: int) -> int:
    """Members of every object under ``value`` (itself included), or -1 at the first
    thing the reference loader must judge: depth, an integer or decimal a double does not
    hold exactly."""
    if depth > MAX_DEPTH:
        return -1
    if type(value) is dict:
        count = len(value)
        children: Any = value.values()
    else:
        count = 0
        children = value
    for child in children:
        kind = type(child)
        if kind is str or kind is bool or child is None:
            continue
        if kind is int:
            if not -_DOUBLE_SAFE_INT <= child <= _DOUBLE_SAFE_INT:
                return -1
        elif kind is Decimal:
            if not _safe_decimal(child):
                return -1
        else:
            inner = _fast_members(child, depth + 1)
            if inner < 0:
                return -1
            count += inner
    return count


def _safe_decimal(number: Decimal) -> bool:
    """At most 15 significant digits in the range of normal doubles: the shortest
    decimal of the nearest double then has the same value (the module doc's rule)."""
    _sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        return False
    if len(digits) <= _MAX_SAFE_DIGITS and -300 <= exponent + len(digits) <= 300:
        return True
    return _number_problem(number) is None


# ---------------------------------------------------------------------- the reference path


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than ``MAX_DEPTH``.

    Strings and everything but brackets are cut out by one regex pass (in C); the
    loop then only sees brackets, and stops at the first bracket too deep.
    """
    depth = 0
    for char in _NOT_BRACKETS.sub("", text):
        if char == "[" or char == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _is_scalar_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fail(rule: str, message: str) -> NoReturn:
    raise DocumentError([Problem("$", rule, message)])


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _short(text: str, limit: int = 40) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _short_number(value: int | Decimal) -> str:
    if isinstance(value, int) and value.bit_length() > 1000:  # str() of huge ints is slow or refused
        return f"of about {int(value.bit_length() * 0.30103)} digits"
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _js_number(value: float) -> str:
    # Local import: hashing imports this module.
    from kpledger.certificate.hashing import canonical_json

    return canonical_json(value).decode()
