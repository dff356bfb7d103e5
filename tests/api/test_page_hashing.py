"""The page's JavaScript hashes a document exactly as the library does, and refuses what
the library refuses, run in real headless Chromium on the page as served.

Generated certificates (and free-form JSON objects) are written out in many equivalent
spellings (key order, whitespace, escapes, number forms) and hashed on both sides; broken
documents must be refused on both sides with the same rules.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpledger.certificate import MAX_DOCUMENT_BYTES, hash_document_bytes, is_json_document
from kpledger.errors import DocumentError
from tests.strategies import certificates, json_objects, json_texts

HASH_IN_BROWSER = """async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    try {
        const r = await window.kpledger.hashDocument(bytes);
        return {hash: r.hash, kind: r.kind};
    } catch (e) {
        const rules = e.problems ? e.problems.map(p => p.rule).sort() : null;
        return {refused: rules, error: String(e && e.message)};
    }
}"""

BROWSER_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def library(data: bytes) -> dict[str, Any]:
    try:
        digest, kind = hash_document_bytes(data)
    except DocumentError as exc:
        return {"refused": sorted({p.rule for p in exc.problems})}
    return {"hash": "0x" + digest.hex(), "kind": kind}


def browser(page: Any, data: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = page.evaluate(HASH_IN_BROWSER, base64.b64encode(data).decode("ascii"))
    if "refused" in answer:
        assert answer["refused"] is not None, answer["error"]  # a JS exception is a bug, not a refusal
        return {"refused": sorted(set(answer["refused"]))}
    return answer


def assert_same(page: Any, data: bytes) -> dict[str, Any]:
    expected = library(data)
    assert browser(page, data) == expected, data[:300]
    return expected


# ---------------------------------------------------------------------- properties


@given(document=certificates(), data=st.data())
@BROWSER_SETTINGS
def test_certificates_hash_the_same_in_the_browser(
    hashing_page: Any, document: dict[str, Any], data: Any
) -> None:
    text = data.draw(json_texts(document))
    result = assert_same(hashing_page, text.encode("utf-8"))
    assert result["kind"] == "json"


@given(document=json_objects(), data=st.data())
@BROWSER_SETTINGS
def test_any_json_object_hashes_the_same_in_the_browser(
    hashing_page: Any, document: dict[str, Any], data: Any
) -> None:
    text = data.draw(json_texts(document))
    leading = data.draw(st.sampled_from(["", " ", "\n\t ", "\r\n"]))
    assert_same(hashing_page, (leading + text + leading).encode("utf-8"))


MUTATIONS = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b"\\",
        b",",
        b":",
        b"e",
        b"-",
        b"0",
        b"9",
        b".",
        b" ",
        b"\xff",
        b"\xed\xa0\x80",
        b"\\ud800",
        b"\\u0041",
        b"1e400",
        b"9007199254740993",
        b'"a":1',
        b"\x00",
        b"NaN",
        b"\xef\xbb\xbf",
    ]
)


@given(document=certificates(), data=st.data())
@BROWSER_SETTINGS
def test_damaged_documents_are_refused_or_hashed_alike(
    hashing_page: Any, document: dict[str, Any], data: Any
) -> None:
    """Random damage to a certificate file: both sides refuse it (with the same rules)
    or both hash it to the same value."""
    raw = bytearray(json.dumps(document, ensure_ascii=False).encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        cut = data.draw(st.integers(0, 2))
        raw[at : at + cut] = data.draw(MUTATIONS)
    assert_same(hashing_page, bytes(raw))


# ---------------------------------------------------------------------- pinned cases

RFC_8785_SORTING = (
    '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
    ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
    ' "\\u00f6": "Latin Small Letter O With Diaeresis"}'
)


@pytest.mark.parametrize(
    "text",
    [
        RFC_8785_SORTING,
        '{"numbers": [1e21, 1e-7, 123456789012345680000, 0.000001, 1E30, 4.50, 2e-3, -0, 0.0, -0.0]}',
        '{"edges": [9007199254740991, -9007199254740991, 5e-324, 1.7976931348623157e308,'
        " 2.2250738585072014e-308]}",
        '{"shortest": [0.1, 0.2, 0.30000000000000004, 1.5e300, 100, 1e2, 1E+2, 123e-2, 0.000123]}',
        '{"strings": "\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\\\/ \\u007f \\u2028 \\u00e9 é 😀 \\ud83d\\ude00"}',
        '{"__proto__": {"constructor": 1}, "toString": [], "": null, "a": {"b": {"c": true}}}',
        '{"deep": ' + "[" * 31 + "]" * 31 + "}",
        "  \n{}\n  ",
        " " * 5000 + "{}",
    ],
)
def test_pinned_documents_hash_the_same(hashing_page: Any, text: str) -> None:
    assert assert_same(hashing_page, text.encode("utf-8"))["kind"] == "json"


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b'{"a": 1, "b": {"c": 2, "c": 3}}', "json.duplicate_key"),
        (b'{"a": ' + b"[" * 32 + b"]" * 32 + b"}", "json.too_deep"),
        (b"\xef\xbb\xbf{}", "json.bom"),
        (b'{"a": "\xc0\xaf"}', "json.not_utf8"),
        (b'{"a": "\xed\xa0\x80"}', "json.not_utf8"),
        (b'{"a": 9007199254740993}', "json.number_precision"),
        (b'{"a": 1152921504606846976}', "json.number_precision"),
        (b'{"a": 0.1000000000000000055511151231257827}', "json.number_precision"),
        (b'{"a": 1e-400}', "json.number_precision"),
        (b'{"a": 1e400}', "json.number_range"),
        (b'{"a": -' + b"9" * 320 + b"}", "json.number_range"),
        (b'{"a": "\\udc00"}', "json.surrogate"),
        (b'{"\\ud800": 1}', "json.surrogate"),
        (b'{"a": 1,}', "json.invalid"),
        (b'{"a": 01}', "json.invalid"),
        (b'{"a": "tab\there"}', "json.invalid"),
        (b'{"a": NaN}', "json.non_finite"),
        (b'{"a": [-Infinity, Infinity]}', "json.non_finite"),
        (b"{} {}", "json.invalid"),
        (b"{" + b" " * MAX_DOCUMENT_BYTES + b"}", "json.too_large"),
    ],
)
def test_refusals_match_the_library(hashing_page: Any, data: bytes, rule: str) -> None:
    expected = library(data)
    assert "refused" in expected
    got = browser(hashing_page, data)
    assert "refused" in got, got
    assert rule in got["refused"]
    assert got == expected


@example(b"")
@example(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3")
@example(b"[1, 2, 3]")
@example(b"\xef\xbb\xbf[1]")
@given(st.binary(max_size=300).filter(lambda b: not is_json_document(b)))
@BROWSER_SETTINGS
def test_other_files_are_hashed_raw_alike(hashing_page: Any, data: bytes) -> None:
    result = assert_same(hashing_page, data)
    assert result["kind"] == "raw"
