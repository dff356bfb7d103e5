"""The fast strict loader equals the reference loader on every input: the same JSON value
(number types and spellings included) or the same problems, in the same order.

The fast path only ever answers for documents that break no rule; these properties are
what keeps a faster parser from becoming a second reading of the same bytes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpledger.certificate.parsing import _fast_load, load_document, load_document_reference
from kpledger.errors import DocumentError
from tests.certificate.test_certificate_malformed import GOOD, MALFORMED, PINNED_BYTES, mutated_documents
from tests.strategies import certificates, json_objects, json_texts


def _typed(value: Any) -> Any:
    """A value with every scalar's type and spelling made part of it, so ``1`` ≠ ``1.0``
    and ``Decimal("12.50")`` ≠ ``Decimal("12.5")`` compare unequal, and key order counts."""
    if isinstance(value, dict):
        return ("object", [(key, _typed(child)) for key, child in value.items()])
    if isinstance(value, list):
        return ("array", [_typed(child) for child in value])
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    return (type(value).__name__, value)


def _outcome(load: Any, data: bytes) -> Any:
    try:
        return ("ok", _typed(load(data)))
    except DocumentError as exc:
        return ("refused", [(p.field, p.rule, p.message) for p in exc.problems])


def _same(data: bytes) -> None:
    expected = _outcome(load_document_reference, data)
    assert _outcome(load_document, data) == expected
    fast = _fast_load(data)
    if fast is not None:  # the fast path answers only what the reference accepts, and the same
        assert expected == ("ok", _typed(fast))


@pytest.mark.parametrize("data", [case[1] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_equal_on_the_malformed_corpus(data: bytes) -> None:
    _same(data)


@pytest.mark.parametrize("data", PINNED_BYTES, ids=range(len(PINNED_BYTES)))
def test_equal_on_hostile_bytes(data: bytes) -> None:
    _same(data)


_EDGES = [
    b'{"a": 1, "a": 1}',
    b'{"a": {"b": 1, "b": 2}}',
    b'{"a": [{"k": 1}, {"k": 1, "k": 2}]}',
    b'{"a\\u0022": 1, "a\\"": 2}',  # the same key, spelled twice
    b'{"a": "x\\":", "b": 1}',  # a colon inside a string
    b'{"a": "\\ud83d\\ude00"}',  # a valid surrogate pair: the reference decides
    b'{"a": "\\\\ud800"}',  # an escaped backslash, then text: no surrogate at all
    b'{"n": 9007199254740993}',
    b'{"n": 9007199254740992}',
    b'{"n": -9007199254740992}',
    b'{"n": 1152921504606846976}',
    b'{"n": 0.1000000000000000055511151231257827}',
    b'{"n": 123456789012345.6}',
    b'{"n": 1234567890123456.7}',
    b'{"n": 1e308}',
    b'{"n": 1e309}',
    b'{"n": 1e-310}',
    b'{"n": 12.50, "m": 1.25E1, "o": 125e-1, "p": -0.0, "q": -0}',
    b'{"d": ' + b"[" * 31 + b"]" * 31 + b"}",
    b'{"d": ' + b"[" * 32 + b"]" * 32 + b"}",
    b'{"d": ' + b"{" * 31 + b"}" * 31 + b"}",
    b'{"a": 1}  \n',
    b'{"a": 1} x',
]


@pytest.mark.parametrize("data", _EDGES, ids=range(len(_EDGES)))
def test_equal_on_the_edges_of_each_rule(data: bytes) -> None:
    _same(data)


def test_the_fast_path_takes_the_usual_certificate() -> None:
    assert _fast_load(GOOD) is not None
    assert _fast_load(b'{"a": 1, "a": 1}') is None


@given(certificates().flatmap(json_texts))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_equal_on_random_certificates_in_random_spellings(text: str) -> None:
    _same(text.encode("utf-8"))


@given(json_objects(30).flatmap(json_texts))
@example('{"a": "\\ud800"}')
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_equal_on_random_json_objects(text: str) -> None:
    _same(text.encode("utf-8", "surrogatepass"))


@given(mutated_documents())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_equal_on_mutated_certificates(data: bytes) -> None:
    _same(data)


@given(st.text(alphabet='{}[]":,0123456789.eE+-tfrunlasNIiyx\\ \nud8', max_size=200))
@settings(max_examples=300)
def test_equal_on_json_shaped_noise(text: str) -> None:
    _same(text.encode())


@given(st.binary(max_size=2048))
@settings(max_examples=200)
def test_equal_on_arbitrary_bytes(data: bytes) -> None:
    _same(data)


@given(json_objects(12), st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_equal_when_a_key_is_repeated_anywhere(document: dict[str, Any], data: st.DataObject) -> None:
    text = json.dumps(document)
    # repeat the first key of a random object: insert `"k": 0, ` right after its brace
    braces = [i for i, char in enumerate(text) if char == "{" and text[i + 1 : i + 2] == '"']
    if not braces:
        return
    at = data.draw(st.sampled_from(braces))
    key_end = text.index('":', at) + 1
    repeated = text[: at + 1] + text[at + 1 : key_end] + ": 0, " + text[at + 1 :]
    _same(repeated.encode("utf-8", "surrogatepass"))
    assert _outcome(load_document, repeated.encode("utf-8", "surrogatepass"))[0] == "refused"
