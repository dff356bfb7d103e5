"""Malformed certificates are refused with the right field and rule, and nothing but
DocumentError ever escapes, whatever the bytes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpledger.certificate import (
    MAX_DOCUMENT_BYTES,
    hash_document_bytes,
    load_document,
    parse_certificate,
)
from kpledger.certificate.samples import OMIT, sample_certificate
from kpledger.errors import DocumentError
from tests.strategies import certificates, json_objects

TODAY = date(2024, 3, 1)


def doc(**overrides: Any) -> bytes:
    """A sample certificate file (fixed dates and number) with some fields overridden."""
    overrides.setdefault("number", "BW 2024 000123")
    return json.dumps(sample_certificate(today=TODAY, **overrides), indent=2).encode()


def replaced(old: str, new: str, **overrides: Any) -> bytes:
    """A sample file with a piece of its text replaced, for what json.dumps cannot write."""
    text = doc(**overrides).decode()
    assert old in text, old
    return text.replace(old, new, 1).encode()


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


GOOD = doc()
LONG = "x" * 201

# (id, file bytes, expected field, expected rule). Each must appear among the problems.
MALFORMED: list[tuple[str, bytes, str, str]] = [
    # --- refused before anything else: the file itself -------------------------------
    ("not utf-8", replaced("Gaborone", "Gab\xf6rone").decode().encode("latin-1"), "$", "json.not_utf8"),
    ("utf-16", GOOD.decode().encode("utf-16"), "$", "json.not_utf8"),
    ("utf-8 bom", b"\xef\xbb\xbf" + GOOD, "$", "json.bom"),
    ("array at top", b"[" + GOOD + b"]", "$", "json.not_object"),
    ("string at top", b'"Kimberley Process Certificate"', "$", "json.not_object"),
    ("null at top", b"null", "$", "json.not_object"),
    ("empty file", b"", "$", "json.invalid"),
    ("truncated", GOOD[:-3], "$", "json.invalid"),
    ("trailing comma", replaced('"AE",', '"AE",,'), "$", "json.invalid"),
    ("two documents", GOOD + GOOD, "$", "json.invalid"),
    ("comment", b"// KP certificate\n" + GOOD, "$", "json.invalid"),
    ("single quotes", replaced('"hs_code"', "'hs_code'"), "$", "json.invalid"),
    ("raw newline in string", replaced("Gaborone", "Gabo\nrone"), "$", "json.invalid"),
    ("huge file", GOOD[:-2] + b"," + b" " * MAX_DOCUMENT_BYTES + b"}", "$", "json.too_large"),
    ("deep nesting", doc(extensions=nested(40)), "$", "json.too_deep"),
    (
        "duplicate key",
        replaced('"parcels": 3', '"parcels": 3, "parcels": 4'),
        "parcels",
        "json.duplicate_key",
    ),
    (
        "duplicate nested key",
        replaced('"name": "Gulf', '"name": "Other", "name": "Gulf'),
        "importer.name",
        "json.duplicate_key",
    ),
    (
        "duplicate key deep in extensions",
        replaced('"k": 1', '"k": 1, "k": 1', extensions={"a": [{"k": 1}]}),
        "extensions.a.0.k",
        "json.duplicate_key",
    ),
    ("NaN carats", replaced('"carats": 1520.35', '"carats": NaN'), "carats", "json.non_finite"),
    (
        "Infinity value",
        replaced('"value_usd": 245870.5', '"value_usd": Infinity'),
        "value_usd",
        "json.non_finite",
    ),
    (
        "carats beyond a double",
        replaced('"carats": 1520.35', '"carats": 1e400'),
        "carats",
        "json.number_range",
    ),
    (
        "integer beyond a double's precision",
        replaced('"id": 1', '"id": 9007199254740993', extensions={"id": 1}),
        "extensions.id",
        "json.number_precision",
    ),
    ("lone surrogate", replaced("Gulf", "\\ud800Gulf"), "importer.name", "json.surrogate"),
    # --- structure ------------------------------------------------------------------
    ("missing title", doc(title=OMIT), "title", "field.missing"),
    ("missing carats", doc(carats=OMIT), "carats", "field.missing"),
    ("missing expiry", doc(expires_on=OMIT), "expires_on", "field.missing"),
    ("missing importer address", doc(importer={"name": "Gulf"}), "importer.address", "field.missing"),
    ("unknown top-level field", doc(colour="D"), "colour", "field.unknown"),
    ("field name in wrong case", doc(Title="Kimberley Process Certificate"), "Title", "field.unknown"),
    (
        "unknown party field",
        doc(exporter={"name": "A", "address": "B", "phone": "1"}),
        "exporter.phone",
        "field.unknown",
    ),
    ("party is a string", doc(exporter="Kalahari Rough Exports"), "exporter", "field.type"),
    (
        "licence is null",
        doc(exporter={"name": "A", "address": "B", "licence": None}),
        "exporter.licence",
        "field.type",
    ),
    ("quality is an array", doc(quality=["clean"]), "quality", "field.type"),
    ("extensions is null", doc(extensions=None), "extensions", "field.type"),
    ("number is a number", doc(number=123456), "number", "field.type"),
    # --- title, number, authority ------------------------------------------------------
    ("wrong title", doc(title="KP Certificate"), "title", "title.exact"),
    ("title in other case", doc(title="KIMBERLEY PROCESS CERTIFICATE"), "title", "title.exact"),
    ("title with trailing space", doc(title="Kimberley Process Certificate "), "title", "title.exact"),
    ("number of another participant", doc(number="ZA 2024 000123"), "number", "number.prefix"),
    ("number in lower case", doc(number="bw2024000123"), "number", "number.prefix"),
    ("number too short", doc(number="BW12"), "number", "number.format"),
    ("number too long", doc(number="BW" + "1" * 33), "number", "number.format"),
    ("number with a dot", doc(number="BW 2024.000123"), "number", "number.format"),
    ("number with lower-case letters", doc(number="BW 2024 abc"), "number", "number.format"),
    ("blank issuing authority", doc(issuing_authority="   "), "issuing_authority", "issuing_authority.empty"),
    (
        "long issuing authority",
        doc(issuing_authority=LONG),
        "issuing_authority",
        "issuing_authority.too_long",
    ),
    # --- participants and parties ----------------------------------------------------
    (
        "participant in lower case",
        doc(importing_participant="ae"),
        "importing_participant",
        "participant.code",
    ),
    (
        "participant not a country",
        doc(importing_participant="XX"),
        "importing_participant",
        "participant.code",
    ),
    (
        "UK is not ISO 3166 (GB is)",
        doc(importing_participant="UK"),
        "importing_participant",
        "participant.code",
    ),
    ("alpha-3 participant", doc(importing_participant="ARE"), "importing_participant", "participant.code"),
    ("same participants", doc(importing_participant="BW"), "importing_participant", "participants.distinct"),
    ("blank exporter name", doc(exporter={"name": "", "address": "B"}), "exporter.name", "party.empty"),
    (
        "blank importer address",
        doc(importer={"name": "A", "address": " \t"}),
        "importer.address",
        "party.empty",
    ),
    # --- origin ------------------------------------------------------------------------
    ("empty origin", doc(origin=[]), "origin", "origin.empty"),
    ("origin not a list", doc(origin="BW"), "origin", "field.type"),
    ("unknown origin code", doc(origin=["BW", "ZZ"]), "origin.1", "origin.code"),
    ("EU is not a country of origin", doc(origin=["EU"]), "origin.0", "origin.code"),
    ("MIXED with a country", doc(origin=["MIXED", "BW"]), "origin", "origin.mixed"),
    ("mixed in lower case", doc(origin=["mixed"]), "origin.0", "origin.code"),
    # --- quantities ----------------------------------------------------------------------
    ("negative carats", doc(carats=-5), "carats", "carats.positive"),
    ("zero carats", doc(carats=0), "carats", "carats.positive"),
    ("three decimals of carats", doc(carats=1.005), "carats", "carats.decimals"),
    ("0.1 + 0.2 carats", doc(carats=0.1 + 0.2), "carats", "carats.decimals"),
    ("carats as a string", doc(carats="1520.35"), "carats", "field.type"),
    ("carats as a boolean", doc(carats=True), "carats", "field.type"),
    ("carats beyond uint40 hundredths", doc(carats=10995116277.76), "carats", "carats.range"),
    ("negative value", doc(value_usd=-0.01), "value_usd", "value_usd.negative"),
    ("fractions of a cent", doc(value_usd=10.001), "value_usd", "value_usd.decimals"),
    ("value beyond uint40 cents", doc(value_usd=10995116277.76), "value_usd", "value_usd.range"),
    ("value is null", doc(value_usd=None), "value_usd", "field.type"),
    ("zero parcels", doc(parcels=0), "parcels", "parcels.positive"),
    ("half a parcel", doc(parcels=1.5), "parcels", "parcels.integer"),
    ("parcels beyond uint16", doc(parcels=65536), "parcels", "parcels.range"),
    ("parcels as a boolean", doc(parcels=True), "parcels", "field.type"),
    ("parcels as a string", doc(parcels="3"), "parcels", "field.type"),
    # --- HS code and dates ---------------------------------------------------------------
    ("polished diamonds", doc(hs_code="7102.39"), "hs_code", "hs_code.scope"),
    ("HS code without dot", doc(hs_code="710210"), "hs_code", "hs_code.scope"),
    ("HS code as a number", doc(hs_code=7102.1), "hs_code", "field.type"),
    ("date not ISO", doc(issued_on="01/03/2024"), "issued_on", "dates.format"),
    ("date with time", doc(issued_on="2024-03-01T10:00:00Z"), "issued_on", "dates.format"),
    ("not a calendar day", doc(expires_on="2024-02-30"), "expires_on", "dates.format"),
    ("date as a number", doc(issued_on=20240301), "issued_on", "field.type"),
    ("expiry before issue", doc(expires_on="2024-02-01"), "expires_on", "dates.order"),
    ("expiry on the issue day", doc(expires_on=TODAY.isoformat()), "expires_on", "dates.order"),
    (
        "validity longer than a year",
        doc(expires_on=(TODAY + timedelta(days=367)).isoformat()),
        "expires_on",
        "dates.validity",
    ),
]


def test_the_catalogue_is_large_and_distinct() -> None:
    assert len(MALFORMED) >= 40
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED)
    assert len({case[1] for case in MALFORMED}) == len(MALFORMED)


def test_the_base_document_is_valid() -> None:
    assert parse_certificate(GOOD).number == "BW 2024 000123"


@pytest.mark.parametrize(
    ("data", "field", "rule"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_malformed_certificate_is_refused(data: bytes, field: str, rule: str) -> None:
    with pytest.raises(DocumentError) as caught:
        parse_certificate(data)
    found = [(problem.field, problem.rule) for problem in caught.value.problems]
    assert (field, rule) in found
    for problem in caught.value.problems:
        assert len(problem.message) > 10
        problem.message.encode("utf-8")  # printable in any response or log


def test_every_problem_is_reported_together() -> None:
    data = doc(
        title="KP",
        number="ZA123",
        carats=1.001,
        parcels=0,
        hs_code="7103.10",
        origin=["BW", "bw"],
        importer={"name": "", "address": "x", "fax": "1"},
        expires_on="2023-01-01",
        colour="D",
    )
    with pytest.raises(DocumentError) as caught:
        parse_certificate(data)
    assert {(p.field, p.rule) for p in caught.value.problems} == {
        ("title", "title.exact"),
        ("number", "number.prefix"),
        ("importer.name", "party.empty"),
        ("importer.fax", "field.unknown"),
        ("origin.1", "origin.code"),
        ("carats", "carats.decimals"),
        ("parcels", "parcels.positive"),
        ("hs_code", "hs_code.scope"),
        ("expires_on", "dates.order"),
        ("colour", "field.unknown"),
    }


def test_all_duplicate_keys_are_reported_with_their_paths() -> None:
    data = (
        b'{"a": 1, "a": 2, "b": {"c": [1, {"d": 1, "d": 1, "d": 1}]}, "e": {"f": {"g": 1, "g": 2}}, "b": 0}'
    )
    with pytest.raises(DocumentError) as caught:
        load_document(data)
    # The first "b" is discarded by the parser, so the repeated "d" inside it is not seen.
    assert [(p.field, p.rule) for p in caught.value.problems] == [
        ("a", "json.duplicate_key"),
        ("b", "json.duplicate_key"),
        ("e.f.g", "json.duplicate_key"),
    ]


# --- fuzzing: arbitrary input never raises anything but DocumentError -------------------

PINNED_BYTES = [
    b"",
    b"{",
    b"}",
    b"\xef\xbb\xbf",
    b"\xef\xbb\xbf{}",
    b"{}",
    b"[" * 100_000,
    b'{"a":' * 100_000,
    b'{"a": "' + b'\\"' * 50_000,
    b'{"a": 1e999999999999999999999999}',
    b'{"a": -1e-999999999999999999999999}',
    b'{"a": ' + b"9" * 5000 + b"}",
    b'{"a": 0.' + b"0" * 5000 + b"1}",
    b'{"carats": 1.' + b"0" * 100_000 + b"}",
    b'{"a": "\\ud800"}',
    b'{"\\udfff": 1}',
    b'{"a": NaN}',
    b'{"a": -Infinity}',
    b"\xff\xfe{\x00}\x00",
    b'{"title": "\xc0\xaf"}',  # overlong UTF-8
    b'{"title": "\xed\xa0\x80"}',  # UTF-8-encoded surrogate
    b'{"a": 1}\x00',
]


def _never_anything_but_document_error(data: bytes) -> None:
    for step in (load_document, parse_certificate, hash_document_bytes):
        try:
            step(data)
        except DocumentError as error:
            assert error.problems
            for problem in error.problems:
                str(problem).encode("utf-8")


@pytest.mark.parametrize("data", PINNED_BYTES, ids=range(len(PINNED_BYTES)))
def test_pinned_hostile_bytes(data: bytes) -> None:
    _never_anything_but_document_error(data)


@given(st.binary(max_size=4096))
@settings(max_examples=300)
def test_arbitrary_bytes_raise_only_document_error(data: bytes) -> None:
    _never_anything_but_document_error(data)


@given(st.text(alphabet='{}[]":,0123456789.eE+-tfrunlasNIiyx\\ \n', max_size=200))
@settings(max_examples=300)
def test_json_shaped_noise_raises_only_document_error(text: str) -> None:
    _never_anything_but_document_error(text.encode())


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    data = bytearray(json.dumps(draw(certificates())).encode())
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = draw(st.integers(0, 255))
        if action == "insert" or position == len(data):
            data[position:position] = bytes([byte])
        elif action == "flip":
            data[position] = byte
        else:
            del data[position]
    return bytes(data)


@given(mutated_documents())
@example(GOOD.replace(b"1520.35", b"1520.35.1"))
@example(GOOD.replace(b'"BW"', b'"B\xffW"'))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_certificates_raise_only_document_error(data: bytes) -> None:
    _never_anything_but_document_error(data)


@given(json_objects(20))
@example({"title": None, "carats": {"a": []}, "origin": [[]], "exporter": []})
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_json_objects_raise_only_document_error(document: dict[str, Any]) -> None:
    for data in (document, json.dumps(document).encode()):
        try:
            parse_certificate(data)
        except DocumentError as error:
            assert error.problems
