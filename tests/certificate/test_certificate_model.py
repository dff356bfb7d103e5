"""The certificate model: valid documents, exact chain terms, validity periods, round trips."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kpledger.certificate import (
    DEFAULT_VALIDITY_DAYS,
    Certificate,
    ChainTerms,
    check_validity,
    document_hash,
    hash_document_bytes,
    parse_certificate,
    sample_certificate,
    sample_document_bytes,
)
from kpledger.certificate.samples import OMIT
from kpledger.errors import DocumentError, KPLedgerError
from kpledger.types import ChainTerms as LedgerChainTerms
from tests.strategies import certificates, json_texts

TODAY = date(2024, 3, 1)


def cert(**overrides: Any) -> Certificate:
    return parse_certificate(json.dumps(sample_certificate(today=TODAY, **overrides)).encode())


def cert_from_text(**raw_numbers: str) -> Certificate:
    """A certificate whose numbers are written exactly as given (``carats="1.10"``)."""
    document = sample_certificate(today=TODAY, **{key: 0 for key in raw_numbers})
    text = json.dumps(document)
    for key, literal in raw_numbers.items():
        text = text.replace(f'"{key}": 0', f'"{key}": {literal}')
    return parse_certificate(text.encode())


def test_sample_certificate_is_valid_and_issued_today() -> None:
    document = sample_certificate()
    certificate = parse_certificate(document)
    today = datetime.now(UTC).date()
    assert certificate.issued_on == today
    assert certificate.expires_on == today + timedelta(days=30)
    assert certificate.number.startswith("BW ")
    assert sample_certificate()["number"] != document["number"]  # unique within the process


def test_sample_certificate_overrides() -> None:
    document = sample_certificate(exporting_participant="RU", importing_participant="BE")
    assert document["number"].startswith("RU ")
    assert parse_certificate(document).chain_terms().origin == "RU"
    assert "quality" not in sample_certificate(quality=OMIT)
    assert "title" not in sample_certificate(title=OMIT)
    assert json.loads(sample_document_bytes(parcels=7))["parcels"] == 7


@given(certificates())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_certificates_are_valid(document: dict[str, Any]) -> None:
    certificate = parse_certificate(json.dumps(document).encode())
    terms = certificate.chain_terms()
    assert terms.carats == round(Decimal(repr(document["carats"])) * 100)
    assert terms.value_cents == round(Decimal(repr(document["value_usd"])) * 100)
    assert terms.parcels == document["parcels"]
    assert terms.number == document["number"]
    assert (terms.origin, terms.destination) == (
        document["exporting_participant"],
        document["importing_participant"],
    )
    assert 0 < terms.carats < 2**40 and 0 <= terms.value_cents < 2**40 and 0 < terms.parcels < 2**16


@given(certificates().flatmap(lambda doc: json_texts(doc)))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hash_of_a_certificate_is_the_hash_of_its_file(text: str) -> None:
    data = text.encode()
    certificate = parse_certificate(data)
    assert certificate.document_hash() == hash_document_bytes(data)[0]
    assert certificate.chain_terms().document_hash == hash_document_bytes(data)[0]
    # The re-serialised model hashes the same (but the ledger never relies on it).
    assert document_hash(certificate.to_document()) == certificate.document_hash()
    assert json.loads(json.dumps(certificate.to_document())) == certificate.to_document()
    assert parse_certificate(certificate.to_document()) == certificate


@pytest.mark.parametrize(
    ("literal", "hundredths"),
    [
        ("0.1", 10),
        ("0.2", 20),
        ("0.3", 30),
        ("0.30", 30),
        ("1.10", 110),
        ("1520.35", 152035),
        ("1e2", 10000),
        ("1E-2", 1),
        ("1.5E+1", 1500),
        ("12.500000", 1250),
        ("4.35", 435),  # 4.35 * 100 == 434.99999999999994 in floating point
        ("1.15", 115),  # 1.15 * 100 == 114.99999999999999
        ("10995116277.75", 2**40 - 1),
        ("1" + "." + "0" * 100_000, 100),  # a million-digit-free zero tail: exact, and fast
    ],
)
def test_carats_are_converted_exactly(literal: str, hundredths: int) -> None:
    assert cert_from_text(carats=literal).chain_terms().carats == hundredths
    assert cert_from_text(value_usd=literal).chain_terms().value_cents == hundredths


def test_value_may_be_zero() -> None:
    assert cert(value_usd=0).chain_terms().value_cents == 0
    assert cert_from_text(value_usd="0.00").value_usd == Decimal("0.00")


@pytest.mark.parametrize(
    ("literal", "parcels"), [("3", 3), ("3.0", 3), ("3E0", 3), ("65535", 65535), ("1", 1)]
)
def test_integral_numbers_are_parcel_counts(literal: str, parcels: int) -> None:
    assert cert_from_text(parcels=literal).parcels == parcels


def test_python_callers_floats_are_read_by_their_shortest_repr() -> None:
    assert parse_certificate(sample_certificate(carats=0.1)).chain_terms().carats == 10
    assert parse_certificate(sample_certificate(carats=Decimal("0.10"))).carats == Decimal("0.10")
    with pytest.raises(DocumentError) as caught:
        parse_certificate(sample_certificate(carats=0.1 + 0.2))
    assert caught.value.problems[0].rule == "carats.decimals"


def test_expiry_is_the_last_second_of_the_day_utc() -> None:
    certificate = cert(expires_on="2024-03-31")
    expected = datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert certificate.expires_at == int(expected)
    assert certificate.chain_terms().expires_at == int(expected)


def test_chain_terms_with_an_explicit_hash() -> None:
    certificate = cert()
    scan_hash = bytes(range(32))
    terms = certificate.chain_terms(scan_hash)
    assert terms.document_hash == scan_hash
    assert terms.as_tuple() == (
        scan_hash,
        certificate.number,
        b"BW",
        b"AE",
        152035,
        24587050,
        3,
        terms.expires_at,
    )
    with pytest.raises(ValueError, match="32 bytes"):
        certificate.chain_terms(b"\x00" * 31)


def test_chain_terms_is_the_ledgers_frozen_dataclass() -> None:
    terms = cert().chain_terms()
    assert isinstance(terms, ChainTerms)
    assert ChainTerms is LedgerChainTerms
    with pytest.raises(AttributeError):
        terms.carats = 1  # type: ignore[misc]


@given(st.integers(1, 366), st.integers(1, 400))
@example(60, 60)
@example(60, 61)
@example(366, 366)
@example(366, 367)
def test_validity_period(validity_days: int, days: int) -> None:
    overrides = {"expires_on": (TODAY + timedelta(days=days)).isoformat()}
    document = sample_certificate(today=TODAY, **overrides)
    if days <= validity_days:
        certificate = parse_certificate(document, validity_days=validity_days)
        assert check_validity(certificate, validity_days) == []
    else:
        with pytest.raises(DocumentError) as caught:
            parse_certificate(document, validity_days=validity_days)
        assert [(p.field, p.rule) for p in caught.value.problems] == [("expires_on", "dates.validity")]
        if days <= DEFAULT_VALIDITY_DAYS:
            problems = check_validity(parse_certificate(document), validity_days)
            assert [(p.field, p.rule) for p in problems] == [("expires_on", "dates.validity")]
            assert str(validity_days) in problems[0].message


def test_default_validity_is_366_days() -> None:
    assert DEFAULT_VALIDITY_DAYS == 366
    cert(expires_on=(TODAY + timedelta(days=366)).isoformat())


@pytest.mark.parametrize("days", [0, -1, True, 1.5, "60"])
def test_validity_days_must_be_a_positive_integer(days: Any) -> None:
    with pytest.raises(ValueError, match="validity_days"):
        parse_certificate(sample_certificate(), validity_days=days)
    with pytest.raises(ValueError, match="validity_days"):
        check_validity(cert(), days)


def test_validation_context_works_on_the_model_directly() -> None:
    document = sample_certificate(today=TODAY, expires_on=(TODAY + timedelta(days=61)).isoformat())
    Certificate.model_validate(document)
    with pytest.raises(ValidationError):
        Certificate.model_validate(document, context={"validity_days": 60})


def test_eu_and_mixed_origin() -> None:
    certificate = cert(
        exporting_participant="EU", importing_participant="IN", origin=["MIXED"], number="EU/BE/2024/0001"
    )
    assert certificate.chain_terms().origin == "EU"
    assert certificate.origin == ["MIXED"]


def test_optional_fields() -> None:
    certificate = cert(
        quality={"colour": "D-H", "sizes": [1, 2.5], "note": None},
        extensions={"org.example.seal": "A-1", "weights": {"gross": 1521.1}},
        exporter={"name": "A", "address": "B"},
    )
    assert certificate.exporter.licence is None
    document = certificate.to_document()
    assert document["quality"] == {"colour": "D-H", "sizes": [1, 2.5], "note": None}
    assert document["extensions"]["weights"] == {"gross": 1521.1}
    assert "licence" not in document["exporter"]
    assert list(document)[:3] == ["title", "number", "issuing_authority"]


def test_inputs_bytes_text_and_mapping_agree(tmp_path: Path) -> None:
    data = sample_document_bytes(today=TODAY, number="BW 2024 000777")
    path = tmp_path / "certificate.json"
    path.write_bytes(data)
    from_bytes = parse_certificate(data)
    assert parse_certificate(data.decode()) == from_bytes
    assert parse_certificate(bytearray(data)) == from_bytes
    assert parse_certificate(json.loads(data)) == from_bytes
    assert Certificate.from_file(path) == from_bytes
    assert Certificate.from_file(str(path)).document_hash() == hash_document_bytes(data)[0]


def test_from_file_reports_validity_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(sample_document_bytes(today=TODAY, expires_on="2024-05-01"))
    with pytest.raises(DocumentError):
        Certificate.from_file(path, validity_days=60)
    with pytest.raises(OSError):
        Certificate.from_file(tmp_path / "missing.json")


def test_the_hash_covers_the_document_as_given_not_the_model() -> None:
    text = sample_document_bytes(today=TODAY, number="BW 2024 000001").decode()
    spelled = text.replace('"parcels": 3', '"parcels": 3.0')
    certificate = parse_certificate(spelled)
    # Same JSON value for JCS, so the same hash; and the model normalises to an int.
    assert certificate.document_hash() == hash_document_bytes(text.encode())[0]
    assert certificate.to_document()["parcels"] == 3


def test_mapping_input_is_copied() -> None:
    document = sample_certificate(today=TODAY)
    certificate = parse_certificate(document)
    before = certificate.document_hash()
    document["extensions"] = {"changed": True}
    assert certificate.document_hash() == before


def test_non_json_python_input_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_certificate(sample_certificate(extensions={"when": date(2024, 1, 1)}))
    assert [(p.field, p.rule) for p in caught.value.problems] == [("extensions.when", "json.type")]
    with pytest.raises(DocumentError) as caught:
        parse_certificate(42)  # type: ignore[arg-type]
    assert caught.value.problems[0].rule == "json.not_object"
    with pytest.raises(DocumentError) as caught:
        parse_certificate('{"title": "\udc00"}')
    assert caught.value.problems[0].rule == "json.not_utf8"


def test_model_is_strict_and_frozen() -> None:
    certificate = cert()
    with pytest.raises(ValidationError):
        certificate.title = "x"
    with pytest.raises(ValidationError):
        Certificate.model_validate(sample_certificate(parcels="3"))
    built = Certificate(
        **{**sample_certificate(today=TODAY), "issued_on": TODAY, "expires_on": TODAY + timedelta(days=30)}
    )
    assert built.document_hash() == document_hash(built.to_document())


def test_document_error_is_a_kpledger_error() -> None:
    with pytest.raises(KPLedgerError, match=r"title: title must be exactly"):
        cert(title="x")


def test_json_schema_is_available_for_api_docs() -> None:
    schema = Certificate.model_json_schema()
    assert schema["properties"]["carats"]["type"] == "number"
    assert schema["properties"]["issued_on"]["format"] == "date"
    assert schema["properties"]["parcels"]["type"] == "integer"
    assert schema["additionalProperties"] is False


def test_equality_is_by_json_value() -> None:
    text = sample_document_bytes(today=TODAY, number="BW 2024 000001", quality={"x": 0.1}).decode()
    a = parse_certificate(text)
    b = parse_certificate(json.loads(text))
    c = parse_certificate(text.replace('"parcels": 3', '"parcels": 3.00'))
    assert a == b == c
    assert len({a, b, c}) == 1
    assert a != parse_certificate(text.replace('"x": 0.1', '"x": 0.2'))
    assert a != "certificate"
