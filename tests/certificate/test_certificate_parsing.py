"""The strict loader: what it accepts, exactly, and where its limits are."""

from __future__ import annotations

import contextlib
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from kpledger.certificate import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    canonical_json,
    check_json_value,
    load_document,
)
from kpledger.certificate.parsing import json_path
from kpledger.errors import DocumentError
from tests.strategies import json_objects, json_texts


def rules(data: bytes) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as caught:
        load_document(data)
    return [(p.field, p.rule) for p in caught.value.problems]


def test_numbers_come_back_exact() -> None:
    value = load_document(b'{"a": 12.50, "b": 1E2, "c": 10, "d": -0.0, "e": 0.1, "f": 1}')
    assert value == {
        "a": Decimal("12.50"),
        "b": Decimal("1E+2"),
        "c": 10,
        "d": Decimal("-0.0"),
        "e": Decimal("0.1"),
        "f": 1,
    }
    assert isinstance(value["c"], int)
    assert str(value["a"]) == "12.50"


def test_integers_written_exactly_at_double_precision_are_kept() -> None:
    assert load_document(b'{"a": 9007199254740992, "b": 1000000000000000000000}') == {
        "a": 2**53,
        "b": 10**21,
    }


def test_unicode_is_kept() -> None:
    text = '{"name": "Société Minière de Bakwanga — 💎", "escaped": "\\u00e9\\ud83d\\udc8e"}'
    assert load_document(text.encode()) == {"name": "Société Minière de Bakwanga — 💎", "escaped": "é💎"}


def test_size_limit_is_inclusive() -> None:
    body = b'{"a": 1}'
    exactly = body[:-1] + b" " * (MAX_DOCUMENT_BYTES - len(body)) + b"}"
    assert len(exactly) == MAX_DOCUMENT_BYTES
    assert load_document(exactly) == {"a": 1}
    assert rules(exactly + b" ") == [("$", "json.too_large")]


def test_size_is_checked_before_anything_else() -> None:
    assert rules(b"\xff" * (MAX_DOCUMENT_BYTES + 1)) == [("$", "json.too_large")]


def _nested_text(levels: int) -> bytes:
    return b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)


def test_depth_limit_is_inclusive() -> None:
    assert load_document(_nested_text(MAX_DEPTH))
    assert rules(_nested_text(MAX_DEPTH + 1)) == [("$", "json.too_deep")]
    arrays = b'{"a":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert load_document(arrays)
    assert rules(arrays.replace(b"[", b"[[", 1).replace(b"]", b"]]", 1)) == [("$", "json.too_deep")]


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    value = {"a": "[[[[{{{{" * 100, "b": '\\"[[[[' * 20}
    assert load_document(json.dumps(value).encode()) == value


def test_bom_is_refused_but_named() -> None:
    assert rules(b'\xef\xbb\xbf{"a": 1}') == [("$", "json.bom")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": NaN}', [("a", "json.non_finite")]),
        (b'{"a": [Infinity, -Infinity]}', [("a.0", "json.non_finite"), ("a.1", "json.non_finite")]),
        (b'{"a": 1e309}', [("a", "json.number_range")]),
        (b'{"a": -1e309}', [("a", "json.number_range")]),
        (b'{"a": 1e-400}', [("a", "json.number_precision")]),
        (b'{"a": 0.1000000000000000055511151231257827}', [("a", "json.number_precision")]),
        (b'{"a": 1' + b"0" * 500 + b"}", [("a", "json.number_range")]),
        (b'{"a": "\\udc00x"}', [("a", "json.surrogate")]),
        (b'{"a\\ud800": 1}', [("a\\ud800", "json.surrogate")]),
        (b'{"a": {"b": "\\ud83d"}}', [("a.b", "json.surrogate")]),
    ],
)
def test_values_without_one_canonical_form_are_refused(data: bytes, expected: list[tuple[str, str]]) -> None:
    assert rules(data) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0.1",
        "1.5e300",
        "5e-324",
        "1.7976931348623157e308",
        "123456789012345",
        "0.000001",
        "333333333.3333333",
        "1E21",
        "-0",
        "1e-7",
    ],
)
def test_numbers_a_double_carries_are_accepted(text: str) -> None:
    assert load_document(f'{{"a": {text}}}'.encode())["a"] == Decimal(text)


def test_hostile_inputs_are_refused_quickly() -> None:
    cases = [
        b'{"a": "' + b'x\\"' * 300_000,  # unterminated string of escaped quotes
        b"[" * MAX_DOCUMENT_BYTES,
        b'{"a": [' + b"[]," * 340_000 + b"[]]}",  # valid, wide
        b'{"a": 1.' + b"0" * (MAX_DOCUMENT_BYTES - 20) + b"}",
    ]
    for data in cases:
        started = time.process_time()  # CPU time: other processes on the machine do not count
        with contextlib.suppress(DocumentError):
            load_document(data)
        assert time.process_time() - started < 5  # catches quadratic blow-ups


def test_json_path() -> None:
    assert json_path("$", "exporter") == "exporter"
    assert json_path("exporter", "name") == "exporter.name"
    assert json_path("origin", 1) == "origin.1"
    assert json_path("$", "\udc00") == "\\udc00"


def test_check_json_value_on_python_values() -> None:
    assert check_json_value({"a": [1, 2.5, Decimal("0.1"), None, True, "x", (1, 2)]}) == []
    deep: Any = 1
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    problems = check_json_value({"a": deep})
    assert [p.rule for p in problems] == ["json.too_deep"]


@given(json_objects().flatmap(lambda value: json_texts(value).map(lambda text: (value, text))))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_spelling_loads_to_the_same_value(case: tuple[dict[str, Any], str]) -> None:
    value, text = case
    loaded = load_document(text.encode())
    assert canonical_json(loaded) == canonical_json(value)
