"""docs/schema/certificate-v1.schema.json accepts every valid document of the project's
corpora and refuses every malformed one whose rule JSON Schema can express, in Python
(jsonschema) and in JavaScript (ajv)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings

from kpledger.certificate import load_document, sample_document_bytes
from kpledger.errors import DocumentError
from kpledger.interchange import certificate_schema
from kpledger.interchange.schema import NOT_EXPRESSIBLE
from tests.certificate.test_certificate_malformed import MALFORMED
from tests.interchange.conftest import SCHEMA, VECTORS
from tests.strategies import certificates


def _integer(checker: Any, instance: object) -> bool:
    """JSON Schema's integer: any number with a zero fractional part, 2.0 included, also as a Decimal."""
    if isinstance(instance, Decimal):
        return instance.is_finite() and instance == instance.to_integral_value()
    return bool(jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(instance, "integer"))


# Instances and schema read with exact decimals, as the library reads documents, so that
# multipleOf 0.01 is exact arithmetic rather than binary floating point.
_Exact = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _integer),
)
VALIDATOR = _Exact(json.loads(SCHEMA.read_text("utf-8"), parse_float=Decimal))
# ajv checks multipleOf on doubles with a tolerance (multipleOfPrecision), so a double a
# hair away from whole hundredths passes it; a JavaScript verifier applies the decimal-text
# rule of docs/format.md for these.
AJV_TOLERATED = {"0.1 + 0.2 carats"}
# A valid-looking date the calendar does not have: a pattern cannot know February.
CALENDAR_ONLY = {"not a calendar day"}


def errors(text: bytes | str) -> list[str]:
    instance = json.loads(text, parse_float=Decimal)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in VALIDATOR.iter_errors(instance)
    ]


def expressible() -> list[tuple[str, bytes, str]]:
    """MALFORMED cases the schema must refuse: they load as JSON and break a rule it can say."""
    cases = []
    for name, data, _field, rule in MALFORMED:
        try:
            load_document(data)
        except DocumentError:
            continue
        if rule in NOT_EXPRESSIBLE or name in CALENDAR_ONLY:
            continue
        cases.append((name, data, rule))
    return cases


VALID_FILES = [
    sample_document_bytes(today=date(2024, 3, 1)),
    sample_document_bytes(today=date(2024, 3, 1), exporting_participant="EU", importing_participant="BW"),
    sample_document_bytes(
        today=date(2024, 3, 1), origin=["MIXED"], quality={"colour": "white"}, extensions={}
    ),
    *[
        path.read_bytes()
        for path in sorted((VECTORS / "documents").glob("*.json"))
        if "canonical" not in path.name
    ],
]


def test_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA.read_text("utf-8")))
    assert json.loads(SCHEMA.read_text("utf-8")) == json.loads(json.dumps(certificate_schema()))


def test_the_malformed_corpus_is_mostly_expressible() -> None:
    assert len(expressible()) >= 40


@pytest.mark.parametrize("data", VALID_FILES)
def test_valid_documents_pass(data: bytes) -> None:
    assert errors(data) == []


@settings(max_examples=150, deadline=None)
@given(document=certificates())
def test_generated_valid_documents_pass(document: dict[str, Any]) -> None:
    assert errors(json.dumps(document)) == []


@pytest.mark.parametrize(("name", "data", "rule"), expressible(), ids=[case[0] for case in expressible()])
def test_malformed_documents_are_refused(name: str, data: bytes, rule: str) -> None:
    assert errors(data), f"{name} ({rule}) passed the schema"


def test_rules_beyond_json_schema_pass_the_schema_and_are_documented() -> None:
    doc = (VECTORS.parent / "format.md").read_text("utf-8")
    for rule in ("dates.order", "dates.validity", "json.duplicate_key"):
        assert rule in doc
    later = [data for name, data, _f, rule in MALFORMED if rule in {"dates.order", "dates.validity"}]
    assert later and all(errors(data) == [] for data in later)


def test_ajv_agrees_with_python_on_both_corpora(npm_check: Callable[[list[str]], dict[str, Any]]) -> None:
    bad = expressible()
    result = npm_check(
        [data.decode("utf-8") for data in VALID_FILES] + [data.decode("utf-8") for _, data, _ in bad]
    )
    verdicts = result["instances"]
    assert [v["errors"] for v in verdicts[: len(VALID_FILES)]] == [[]] * len(VALID_FILES)
    refused = [case[0] for case, v in zip(bad, verdicts[len(VALID_FILES) :], strict=True) if not v["valid"]]
    assert refused == [case[0] for case in bad if case[0] not in AJV_TOLERATED]
