"""Hypothesis strategies shared by the test modules: valid certificate documents, free-form
JSON values, JSON texts that spell one value in many equivalent ways, and values of
elementary ABI types (for the event decoders).

Import as ``from tests.strategies import certificates`` (the repository root must be on
``sys.path``, as it is under ``python -m pytest``).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from kpledger.certificate import COUNTRY_CODES, DEFAULT_VALIDITY_DAYS, HS_CODES, PARTICIPANT_CODES, TITLE

__all__ = [
    "abi_values",
    "certificates",
    "json_objects",
    "json_texts",
    "json_values",
    "texts",
]

_PARTICIPANTS = sorted(PARTICIPANT_CODES)
_COUNTRIES = sorted(COUNTRY_CODES)
_NUMBER_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/ "


def texts(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Any Unicode text that UTF-8 can carry (no lone surrogates)."""
    return st.text(st.characters(codec="utf-8"), min_size=min_size, max_size=max_size)


def _non_blank(max_size: int) -> st.SearchStrategy[str]:
    return texts(1, max_size).filter(lambda text: text.strip() != "")


def _numbers() -> st.SearchStrategy[int | float]:
    """Numbers a document may hold: safe integers and any finite double."""
    return st.one_of(
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """JSON values whose numbers survive a double (see kpledger.certificate.parsing)."""
    scalars = st.one_of(st.none(), st.booleans(), _numbers(), texts())
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(texts(max_size=12), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def json_objects(max_leaves: int = 12) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(texts(max_size=12), json_values(max_leaves), max_size=5)


def _amount(hundredths: int) -> int | float:
    """A JSON number for an amount given in hundredths, written as a producer would."""
    value = Decimal(hundredths).scaleb(-2)
    return int(value) if hundredths % 100 == 0 else float(value)


def _party() -> st.SearchStrategy[dict[str, str]]:
    required = st.fixed_dictionaries({"name": _non_blank(40), "address": _non_blank(80)})
    optional = st.fixed_dictionaries({}, optional={"licence": _non_blank(30)})
    return st.tuples(required, optional).map(lambda parts: {**parts[0], **parts[1]})


@st.composite
def certificates(
    draw: st.DrawFn,
    *,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    issued_between: tuple[date, date] = (date(2000, 1, 1), date(2099, 12, 31)),
) -> dict[str, Any]:
    """Valid certificate documents (as parsed JSON values), spanning every rule's range."""
    exporting = draw(st.sampled_from(_PARTICIPANTS))
    importing = draw(st.sampled_from(_PARTICIPANTS).filter(lambda code: code != exporting))
    suffix = draw(st.text(_NUMBER_ALPHABET, min_size=3, max_size=32))
    issued = draw(st.dates(*issued_between))
    expires = issued + timedelta(days=draw(st.integers(1, validity_days)))
    origin = draw(
        st.one_of(
            st.just(["MIXED"]),
            st.lists(st.sampled_from(_COUNTRIES), min_size=1, max_size=6),
        )
    )
    document: dict[str, Any] = {
        "title": TITLE,
        "number": exporting + suffix,
        "issuing_authority": draw(st.one_of(_non_blank(30), _non_blank(200))),
        "exporting_participant": exporting,
        "importing_participant": importing,
        "exporter": draw(_party()),
        "importer": draw(_party()),
        "origin": origin,
        "carats": _amount(draw(st.integers(1, 2**40 - 1))),
        "value_usd": _amount(draw(st.integers(0, 2**40 - 1))),
        "parcels": draw(st.integers(1, 2**16 - 1)),
        "hs_code": draw(st.sampled_from(sorted(HS_CODES))),
        "issued_on": issued.isoformat(),
        "expires_on": expires.isoformat(),
    }
    if draw(st.booleans()):
        document["quality"] = draw(json_objects(8))
    if draw(st.booleans()):
        document["extensions"] = draw(json_objects(8))
    return document


# --- one value, many spellings --------------------------------------------------------

_WHITESPACE = " \t\r\n"
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_texts(value: Any) -> st.SearchStrategy[str]:
    """JSON texts of ``value`` with random key order, whitespace, string escapes and number
    spellings (``12.5``, ``12.50``, ``1.25E1``, ``125e-1`` …): all the same JSON value."""
    return st.randoms(use_true_random=False).map(lambda rnd: _render(value, rnd))


def _render(value: Any, rnd: random.Random) -> str:
    def gap() -> str:
        return "".join(rnd.choice(_WHITESPACE) for _ in range(rnd.choice((0, 0, 0, 1, 2))))

    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float, Decimal)):
        return _spell_number(value, rnd)
    if isinstance(value, str):
        return _spell_string(value, rnd)
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        members = [f"{gap()}{_spell_string(k, rnd)}{gap()}:{gap()}{_render(v, rnd)}{gap()}" for k, v in items]
        return "{" + ",".join(members) + gap() + "}"
    if isinstance(value, list):
        return "[" + ",".join(f"{gap()}{_render(v, rnd)}{gap()}" for v in value) + gap() + "]"
    raise TypeError(type(value))


def _spell_string(text: str, rnd: random.Random) -> str:
    out = []
    for char in text:
        code = ord(char)
        choice = rnd.random()
        if char in _SHORT_ESCAPES and choice < 0.5:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or char in '"\\' or choice < 0.15:
            if code > 0xFFFF:  # astral: escaped as a surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04x}" if rnd.random() < 0.5 else f"\\u{code:04X}")
        elif char == "/" and choice < 0.5:
            out.append("\\/")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _spell_number(number: int | float | Decimal, rnd: random.Random) -> str:
    """Another decimal spelling of exactly the same value (a float by its shortest repr)."""
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    sign, digit_tuple, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    padding = rnd.choice((0, 0, 1, 3))  # trailing zeros: 12.5 -> 12.50
    digits += "0" * padding
    exponent -= padding
    shown_exponent = rnd.choice((0, 0, 0, rnd.randint(-5, 5), exponent + len(digits) - 1))
    point = exponent - shown_exponent  # digits * 10**point * 10**shown_exponent
    if point >= 0:
        body = digits + "0" * point
    else:
        digits = digits.rjust(-point + 1, "0")
        body = digits[:point] + "." + digits[point:]
    integer, _, fraction = body.partition(".")
    integer = integer.lstrip("0") or "0"
    body = integer + ("." + fraction if fraction else "")
    text = ("-" if sign else "") + body
    if shown_exponent or rnd.random() < 0.1:
        marker = rnd.choice("eE")
        plus = "+" if shown_exponent >= 0 and rnd.random() < 0.5 else ""
        text += f"{marker}{plus}{shown_exponent}"
    return text


def abi_values(kind: str) -> st.SearchStrategy[Any]:
    """Values eth_abi encodes for an elementary ABI type; a ``bytes2`` is mostly a
    participant code, sometimes any two bytes."""
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if kind == "bool":
        return st.booleans()
    if kind == "string":
        return st.text(max_size=80)
    if kind == "bytes":
        return st.binary(max_size=80)
    if kind.startswith("uint"):
        return st.integers(0, 2 ** int(kind[4:] or 256) - 1)
    if kind.startswith("int"):
        bits = int(kind[3:] or 256)
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if kind.startswith("bytes"):
        size = int(kind[5:])
        if size == 2:
            return st.one_of(st.sampled_from([b"BW", b"AE", b"EU"]), st.binary(min_size=2, max_size=2))
        return st.binary(min_size=size, max_size=size)
    raise AssertionError(f"no strategy for {kind}")
