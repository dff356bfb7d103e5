"""Document hashes: RFC 8785's own test vectors, our number handling, and hash properties."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpledger.certificate import (
    canonical_json,
    document_hash,
    file_hash,
    hash_document_bytes,
    hash_hex,
    is_json_document,
    load_document,
    parse_hash,
    sample_certificate,
    sample_document_bytes,
)
from kpledger.errors import DocumentError
from tests.strategies import certificates, json_texts, json_values

# --- RFC 8785 test vectors (embedded verbatim from the RFC) ---------------------------

# Appendix B: IEEE 754 binary64 value (hex) -> JCS serialisation; NaN and Infinity must fail.
RFC8785_APPENDIX_B = [
    ("0000000000000000", "0"),  # zero
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),  # min pos number
    ("8000000000000001", "-5e-324"),  # min neg number
    ("7fefffffffffffff", "1.7976931348623157e+308"),  # max pos number
    ("ffefffffffffffff", "-1.7976931348623157e+308"),  # max neg number
    ("4340000000000000", "9007199254740992"),  # max pos int
    ("c340000000000000", "-9007199254740992"),  # max neg int
    ("4430000000000000", "295147905179352830000"),  # ~2**68
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),  # round to even
]
RFC8785_APPENDIX_B_INVALID = ["7fffffffffffffff", "7ff0000000000000"]  # NaN, Infinity

# Section 3.2.2 input, 3.2.3 canonical output, 3.2.4 UTF-8 hex of that output.
RFC8785_SAMPLE = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC8785_SAMPLE_CANONICAL = (
    r"""{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"""
    r""""string":"€$\u000f\nA'B\"\\\\\"/"}"""
)
RFC8785_SAMPLE_HEX = (
    "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d62657273223a5b33"
    "33333333333333332e333333333333332c31652b33302c342e352c302e3030322c31652d32375d2c2273"
    "7472696e67223a22e282ac245c75303030665c6e4127425c225c5c5c5c5c222f227d"
)

# Section 3.2.3: properties sorted by UTF-16 code units (the emoji sorts before U+FB33).
RFC8785_SORTING = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC8785_SORTED_VALUES = [
    "Carriage Return",
    "One",
    "Control",
    "Latin Small Letter O With Diaeresis",
    "Euro Sign",
    "Emoji: Grinning Face",
    "Hebrew Letter Dalet With Dagesh",
]


def _double(hex_bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(hex_bits))[0]
    return value


@pytest.mark.parametrize(("bits", "expected"), RFC8785_APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    assert canonical_json(_double(bits)) == expected.encode()


@pytest.mark.parametrize("bits", RFC8785_APPENDIX_B_INVALID)
def test_rfc8785_appendix_b_nan_and_infinity_fail(bits: str) -> None:
    with pytest.raises(DocumentError) as caught:
        canonical_json({"n": _double(bits)})
    assert [(p.field, p.rule) for p in caught.value.problems] == [("n", "json.non_finite")]


def test_rfc8785_sample_canonical_form_and_hex() -> None:
    # Parsed the way JSON.parse parses it: every number a double.
    canonical = canonical_json(json.loads(RFC8785_SAMPLE))
    assert canonical.decode() == RFC8785_SAMPLE_CANONICAL
    assert canonical.hex() == RFC8785_SAMPLE_HEX


def test_rfc8785_sample_is_refused_by_the_strict_loader_for_its_one_inexact_number() -> None:
    """333333333.33333329 reads as the double 333333333.3333333: two spellings, one hash."""
    with pytest.raises(DocumentError) as caught:
        load_document(RFC8785_SAMPLE.encode())
    assert [(p.field, p.rule) for p in caught.value.problems] == [("numbers.0", "json.number_precision")]
    assert "333333333.3333333" in caught.value.problems[0].message

    faithful = RFC8785_SAMPLE.replace("333333333.33333329", "333333333.3333333")
    assert canonical_json(load_document(faithful.encode())).decode() == RFC8785_SAMPLE_CANONICAL


def test_rfc8785_property_sorting() -> None:
    canonical = canonical_json(load_document(RFC8785_SORTING.encode())).decode()
    assert list(json.loads(canonical).values()) == RFC8785_SORTED_VALUES
    assert canonical.startswith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"')


# --- numbers: what rfc8785 alone gets wrong for us ------------------------------------


def test_rfc8785_library_alone_refuses_decimal_and_large_integers() -> None:
    """Why canonical_json converts numbers itself before calling rfc8785."""
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(Decimal("1.5"))  # type: ignore[arg-type]
    with pytest.raises(rfc8785.IntegerDomainError):
        rfc8785.dumps(2**53)
    assert rfc8785.dumps(1.0) == b"1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, b"1"),
        (1.0, b"1"),
        (Decimal("1.000"), b"1"),
        (Decimal("1E0"), b"1"),
        (Decimal("12.50"), b"12.5"),
        (Decimal("0.1"), b"0.1"),
        (-0.0, b"0"),
        (Decimal("-0"), b"0"),
        (2**53, b"9007199254740992"),
        (10**21, b"1e+21"),
        (10**20, b"100000000000000000000"),
        (Decimal("1E-7"), b"1e-7"),
        (Decimal("0.000001"), b"0.000001"),
        (152035, b"152035"),
        (Decimal("1520.35"), b"1520.35"),
        (0.1 + 0.2, b"0.30000000000000004"),
    ],
)
def test_numbers_canonicalise_as_javascript_doubles(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (2**53 + 1, "json.number_precision"),
        (2**60, "json.number_precision"),  # exact in binary, but JCS writes 1152921504606847000
        (Decimal("0.1000000000000000055511151231257827"), "json.number_precision"),
        (Decimal("1E-400"), "json.number_precision"),
        (Decimal("1E+400"), "json.number_range"),
        (10**400, "json.number_range"),
        (Decimal("NaN"), "json.non_finite"),
        (float("inf"), "json.non_finite"),
    ],
)
def test_numbers_a_double_cannot_carry_faithfully_are_refused(value: Any, rule: str) -> None:
    with pytest.raises(DocumentError) as caught:
        document_hash({"x": [value]})
    assert [(p.field, p.rule) for p in caught.value.problems] == [("x.0", rule)]


def test_non_json_python_values_are_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        document_hash({"a": {1, 2}, "b": b"x", 3: "c"})
    assert {p.rule for p in caught.value.problems} == {"json.type"}
    assert len(caught.value.problems) == 3


# --- hash helpers ---------------------------------------------------------------------


def test_document_hash_is_sha256_of_the_canonical_form() -> None:
    document = sample_certificate()
    assert document_hash(document) == hashlib.sha256(canonical_json(document)).digest()
    assert len(document_hash(document)) == 32


def test_hash_document_bytes_json_certificate() -> None:
    data = sample_document_bytes()
    digest, kind = hash_document_bytes(data)
    assert kind == "json"
    assert digest == document_hash(json.loads(data))
    assert digest != file_hash(data)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"",
        b"   ",
        b"[1, 2]",  # JSON, but not a certificate object: hashed as a file
        b"plain text",
    ],
)
def test_hash_document_bytes_other_files_are_hashed_raw(data: bytes) -> None:
    assert hash_document_bytes(data) == (hashlib.sha256(data).digest(), "raw")
    assert not is_json_document(data)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b'\n\t {"a": 1, "a": 2}', "json.duplicate_key"),
        (b'{"a": ', "json.invalid"),
        (b'\xef\xbb\xbf{"a": 1}', "json.bom"),
        (b'{"a": "\xff"}', "json.not_utf8"),
    ],
)
def test_hash_document_bytes_refuses_broken_json_rather_than_hashing_it_raw(data: bytes, rule: str) -> None:
    assert is_json_document(data)
    with pytest.raises(DocumentError) as caught:
        hash_document_bytes(data)
    assert caught.value.problems[0].rule == rule


def test_hash_hex_and_parse_hash_round_trip() -> None:
    digest = bytes(range(32))
    text = hash_hex(digest)
    assert text == "0x" + digest.hex()
    assert len(text) == 66
    assert parse_hash(text) == digest
    assert parse_hash(text.upper().replace("0X", "0x")) == digest
    assert parse_hash(digest.hex()) == digest
    assert parse_hash(f"  {text}\n") == digest
    assert parse_hash("0X" + digest.hex()) == digest


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("0x" + "g" * 64, "hash.format"),
        ("0x" + "ab" * 31, "hash.length"),
        ("0x" + "ab" * 33, "hash.length"),
        ("", "hash.length"),
        ("0x", "hash.length"),
        ("0x 12", "hash.format"),
        ("0x0x" + "ab" * 32, "hash.format"),
    ],
)
def test_parse_hash_refuses_bad_text(text: str, rule: str) -> None:
    with pytest.raises(DocumentError) as caught:
        parse_hash(text, field="document_hash")
    assert [(p.field, p.rule) for p in caught.value.problems] == [("document_hash", rule)]


def test_parse_hash_refuses_non_text() -> None:
    with pytest.raises(DocumentError):
        parse_hash(b"\x00" * 32)  # type: ignore[arg-type]


def test_hash_hex_refuses_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        hash_hex(b"\x00" * 31)


# --- properties -----------------------------------------------------------------------


_PINNED = sample_certificate(today=date(2024, 2, 29), number="BW 2024/000001", carats=12.5, value_usd=1000)


@given(certificates().flatmap(lambda doc: st.tuples(st.just(doc), json_texts(doc))))
@example(
    (
        _PINNED,
        json.dumps(_PINNED, indent=1)
        .replace('"carats": 12.5', '"carats": 1.250E1')
        .replace('"value_usd": 1000', '"value_usd": 1e+3')
        .replace('"parcels": 3', '"parcels": 3.000'),
    )
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_same_document_any_spelling_same_hash(case: tuple[dict[str, Any], str]) -> None:
    document, text = case
    expected = document_hash(document)
    assert document_hash(load_document(text.encode())) == expected
    assert hash_document_bytes(text.encode()) == (expected, "json")


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for key, child in value.items() for leaf in _leaves(child, (*path, key))] or [path]
    if isinstance(value, list):
        return [leaf for index, child in enumerate(value) for leaf in _leaves(child, (*path, index))] or [
            path
        ]
    return [path]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


@given(certificates(), st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_changing_any_field_changes_the_hash(document: dict[str, Any], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_leaves(document)), label="path")
    old = document
    for key in path:
        old = old[key]
    new = data.draw(
        json_values(4).filter(lambda candidate: canonical_json(candidate) != canonical_json(old)),
        label="new value",
    )
    assert document_hash(_replace(document, path, new)) != document_hash(document)


@given(certificates(), st.data())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_renaming_adding_or_removing_a_key_changes_the_hash(
    document: dict[str, Any], data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(document)))
    removed = {k: v for k, v in document.items() if k != key}
    renamed = {**removed, key + " ": document[key]}
    added = {**document, "extra": None}
    hashes = {document_hash(d) for d in (document, removed, renamed, added)}
    assert len(hashes) == 4


# --- the fast canonicaliser (orjson) against rfc8785 ----------------------------------


def _rfc8785_reference(value: Any) -> bytes:
    """The slow path written out independently: every check, every number as a double,
    then the ``rfc8785`` library."""
    from kpledger.certificate import check_json_value

    problems = check_json_value(value)
    if problems:
        raise DocumentError(problems)

    def doubles(item: Any) -> Any:
        if isinstance(item, bool) or item is None or isinstance(item, str):
            return item
        if isinstance(item, int | Decimal):
            return float(item)
        if isinstance(item, dict):
            return {key: doubles(child) for key, child in item.items()}
        if isinstance(item, list | tuple):
            return [doubles(child) for child in item]
        return item

    return rfc8785.dumps(doubles(value))


def _outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(value)
    except DocumentError as exc:
        return "refused", [(p.field, p.rule) for p in exc.problems]


# Keys that probe the UTF-16 order rule: BMP characters on both sides of the surrogate
# block, and supplementary characters (which RFC 8785 sorts as their surrogate pair).
_KEY_CHARS = st.sampled_from(
    [
        "a",
        "B",
        "\r",
        "\x7f",
        "\u0080",
        "\u00f6",
        "\u20ac",
        "\ud7ff",
        "\ue000",
        "\ufb33",
        "\uffff",
        "\U00010000",
        "\U0001f600",
        "\U0010ffff",
        "1",
        " ",
    ]
)
_EDGE_NUMBERS = st.sampled_from(
    [
        0,
        -0.0,
        1e-5,
        9.999999999999999e-06,
        1e-6,
        1e-7,
        2**53,
        -(2**53),
        2**53 + 1,
        2.0**53,
        2.0**53 + 2,
        1e16,
        1e21,
        1e20,
        10**20,
        10**21,
        9007199254740991.5,
        4503599627370495.5,
        0.1 + 0.2,
        5e-324,
        1.7976931348623157e308,
        Decimal("12.50"),
        Decimal("1E0"),
        Decimal("0.00001"),
        Decimal("1E-400"),
        Decimal("1E+400"),
        Decimal("NaN"),
        Decimal("0.1000000000000000055511151231257827"),
        float("nan"),
        float("inf"),
    ]
)
_STRINGS = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.text(
        st.sampled_from(
            [
                "\x00",
                "\x08",
                "\t",
                "\n",
                "\x0b",
                "\x0c",
                "\r",
                "\x1f",
                '"',
                "\\",
                "/",
                "\x7f",
                "\u2028",
                "\u2029",
                "\ud800",
                "\udc00",
                "\U0001f600",
                "é",
            ]
        ),
        max_size=6,
    ),
)
_ANY_NUMBER = st.one_of(
    st.integers(),
    st.floats(),
    st.floats(min_value=1e-7, max_value=2.0**54),
    st.decimals(places=2, allow_nan=False, allow_infinity=False),
    _EDGE_NUMBERS,
)


def _any_json(max_leaves: int = 16) -> st.SearchStrategy[Any]:
    """JSON-like values well beyond what documents hold: refused numbers, lone surrogates,
    tuples, non-BMP keys, so both the fast path and its exits are exercised."""
    keys = st.one_of(st.text(_KEY_CHARS, max_size=4), st.text(st.characters(codec="utf-8"), max_size=6))
    scalars = st.one_of(st.none(), st.booleans(), _ANY_NUMBER, _STRINGS)
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=3).map(tuple),
            st.dictionaries(keys, children, max_size=5),
        ),
        max_leaves=max_leaves,
    )


@given(_any_json())
@example({"\ue000": 1, "\U0001f600": 2, "\uffff": 3, "a": 4})  # U+1F600 sorts between
@example({"\ud800": "lone surrogate key"})
@example(["lone \udc00 surrogate"])
@example([1e-5, 9.999999999999999e-06, 1e16, -0.0, 2.0**53, 10**20])
@example({"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_canonical_json_equals_rfc8785_on_any_value(value: Any) -> None:
    assert _outcome(canonical_json, value) == _outcome(_rfc8785_reference, value)


@given(certificates())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_certificates_take_the_fast_path_and_match_rfc8785(document: dict[str, Any]) -> None:
    """Every Annex I field of any valid certificate stays on the fast path (free-form
    ``quality`` and ``extensions`` may hold anything, so they may leave it)."""
    from kpledger.certificate.hashing import _fast_canonical

    core = {k: v for k, v in document.items() if k not in ("quality", "extensions")}
    for value in (core, load_document(json.dumps(core).encode())):
        fast = _fast_canonical(value)
        assert fast is not None
        assert fast == _rfc8785_reference(value)
    for value in (document, load_document(json.dumps(document).encode())):
        assert canonical_json(value) == _rfc8785_reference(value)


@pytest.mark.parametrize(("bits", "expected"), RFC8785_APPENDIX_B)
def test_rfc8785_appendix_b_numbers_inside_objects(bits: str, expected: str) -> None:
    """The Appendix B numbers inside a document, where the fast path runs on the rest."""
    value = {"n": _double(bits), "m": [_double(bits)], "z": "x"}
    assert canonical_json(value) == f'{{"m":[{expected}],"n":{expected},"z":"x"}}'.encode()


def test_the_fast_path_gives_way_to_rfc8785_for_supplementary_keys() -> None:
    """RFC 8785 sorts by UTF-16 code units: U+1F600 (D83D DE00) before U+E000, although
    its code point is higher. Code-point order (orjson's) would put it last."""
    from kpledger.certificate.hashing import _fast_canonical

    value = {"\ue000": 1, "\U0001f600": 2}
    assert _fast_canonical(value) is None
    assert canonical_json(value) == '{"\U0001f600":2,"\ue000":1}'.encode()
    assert _fast_canonical({"\ue000": 1, "\u0080": 2}) == '{"\u0080":2,"\ue000":1}'.encode()
