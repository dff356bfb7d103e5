"""Bad input gets a 4xx with a JSON body naming the problem, never a 500; an unreachable
chain or a missing deployment gets a 503 with a clear message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kpledger.api import create_app
from kpledger.certificate import MAX_DOCUMENT_BYTES, sample_certificate
from tests.api.conftest import NOWHERE, client_for, settings
from tests.conftest import World

JSON = {"Content-Type": "application/json"}


def error_of(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "problems"}
    assert body["error"] == error, body
    assert body["message"]
    return body


def rules(body: dict[str, Any]) -> list[str]:
    return [p["rule"] for p in body["problems"]]


# ---------------------------------------------------------------------- hashes


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("0x12", "hash.length"),
        ("", "hash.length"),
        ("0x" + "g" * 64, "hash.format"),
        ("0x" + "ab" * 33, "hash.length"),
        (" 0x" + "ab" * 32, "hash.format"),
        (5, "string_type"),
        (None, "string_type"),
    ],
)
def test_malformed_hash(client: TestClient, value: Any, rule: str) -> None:
    body = error_of(client.post("/v1/verify", json={"hash": value}), 422, "invalid_hash")
    assert rules(body) == [rule]
    assert body["problems"][0]["field"] == "hash"


def test_hash_request_with_unknown_member(client: TestClient) -> None:
    body = error_of(
        client.post("/v1/verify", json={"hash": "0x" + "ab" * 32, "number": "X"}), 422, "invalid_request"
    )
    assert rules(body) == ["extra_forbidden"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/certificates/by-hash/0x1234",
        "/v1/certificates/by-hash/xyz",
        "/v1/certificates/by-hash/%200x" + "a" * 64,
    ],
)
def test_malformed_hash_in_path(client: TestClient, path: str) -> None:
    body = error_of(client.get(path), 422, "invalid_hash")
    assert rules(body)[0].startswith("hash.")


# ---------------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize(
    ("data", "status", "error", "rule"),
    [
        (b'{"hash": "0x12"', 400, "invalid_json", "json.invalid"),
        (b"", 400, "invalid_json", "json.invalid"),
        (b"\xff\xfe{}", 400, "invalid_json", "json.not_utf8"),
        (b'\xef\xbb\xbf{"hash": "0x00"}', 400, "invalid_json", "json.bom"),
        (b'["not", "an", "object"]', 422, "invalid_document", "json.not_object"),
        (b'{"title": 1, "title": 2}', 422, "invalid_document", "json.duplicate_key"),
        (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", 422, "invalid_document", "json.too_deep"),
        (b'{"carats": 9007199254740993}', 422, "invalid_document", "json.number_precision"),
        (b'{"carats": 1e400}', 422, "invalid_document", "json.number_range"),
        (b'{"carats": NaN}', 422, "invalid_document", "json.non_finite"),
        (b'{"name": "\\ud800"}', 422, "invalid_document", "json.surrogate"),
    ],
)
def test_bad_json_bodies(client: TestClient, data: bytes, status: int, error: str, rule: str) -> None:
    body = error_of(client.post("/v1/verify", content=data, headers=JSON), status, error)
    assert rule in rules(body)


def test_json_certificate_over_one_mebibyte(client: TestClient) -> None:
    document = sample_certificate(extensions={"padding": "x" * MAX_DOCUMENT_BYTES})
    body = error_of(
        client.post("/v1/verify", content=json.dumps(document).encode(), headers=JSON),
        422,
        "invalid_document",
    )
    assert rules(body) == ["json.too_large"]


def test_an_invalid_certificate_is_still_looked_up_by_its_hash(client: TestClient) -> None:
    """A JSON object that breaks the certificate rules can still have been anchored
    (the ledger holds hashes): the answer is a verification, not an error."""
    response = client.post("/v1/verify", json={"title": "not a KP certificate"})
    assert response.status_code == 200
    assert response.json()["code"] == "NOT_ANCHORED"


# ---------------------------------------------------------------------- content types, sizes


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", None]
)
def test_wrong_content_type(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = error_of(
        client.post("/v1/verify", content=b'{"hash": "x"}', headers=headers), 415, "unsupported_media_type"
    )
    assert "multipart/form-data" in body["message"]


@pytest.fixture
def small(world: World) -> Iterator[TestClient]:
    with client_for(create_app(world.gov, settings(max_upload_bytes=4096))) as small_client:
        yield small_client


def test_oversized_upload_by_content_length(small: TestClient) -> None:
    body = error_of(
        small.post("/v1/verify", files={"file": ("scan.pdf", b"%PDF" + b"x" * 5000)}),
        413,
        "payload_too_large",
    )
    assert "4,096" in body["message"]


def test_oversized_chunked_upload_is_cut_off_while_reading(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = small.post("/v1/verify", content=chunks(), headers=JSON)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    error_of(response, 413, "payload_too_large")


def test_upload_under_the_limit_is_accepted(small: TestClient) -> None:
    assert small.post("/v1/verify", files={"file": ("scan.pdf", b"%PDF" + b"x" * 2000)}).status_code == 200


def test_invalid_content_length(client: TestClient) -> None:
    response = client.post("/v1/verify", content=b"{}", headers={**JSON, "Content-Length": "abc"})
    assert response.status_code == 400


def test_multipart_without_a_file(client: TestClient) -> None:
    body = error_of(
        client.post("/v1/verify", data={"hash": "0x" + "ab" * 32}, files={"other": ("a", b"b")}),
        422,
        "invalid_request",
    )
    assert body["problems"][0]["field"] == "file"


def test_malformed_multipart(client: TestClient) -> None:
    response = client.post(
        "/v1/verify",
        content=b"--nope\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"] in ("invalid_request", "invalid_json")


def test_broken_json_looking_upload_is_refused_not_hashed_raw(client: TestClient) -> None:
    body = error_of(
        client.post("/v1/verify", files={"file": ("c.json", b'{"a": 1, "a": 2}')}), 422, "invalid_document"
    )
    assert rules(body) == ["json.duplicate_key"]


# ---------------------------------------------------------------------- paths


@pytest.mark.parametrize("number", ["B", "BW12", "BW 2026 1.5", "BW " + "1" * 40, "12 3456"])
def test_malformed_certificate_number(client: TestClient, number: str) -> None:
    body = error_of(client.get(f"/v1/certificates/{number}"), 422, "invalid_number")
    assert rules(body) == ["number.format"]


@pytest.mark.parametrize("code", ["B", "BWA", "B1", "é"])
def test_malformed_participant_code(client: TestClient, code: str) -> None:
    error_of(client.get(f"/v1/participants/{code}"), 422, "invalid_code")


def test_unknown_participant(client: TestClient) -> None:
    body = error_of(client.get("/v1/participants/ZZ"), 404, "not_found")
    assert "ZZ" in body["message"]


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    error_of(client.get("/v2/verify"), 404, "not_found")
    error_of(client.get("/v1/verify"), 405, "method_not_allowed")
    error_of(client.put("/v1/participants"), 405, "method_not_allowed")


def test_an_unexpected_error_is_a_json_500(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import kpledger.api.routes.verify as route

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(route, "_verify_hash", broken)
    client = client_for(create_app(world.gov, settings()))
    body = error_of(client.post("/v1/verify", json={"hash": "0x" + "ab" * 32}), 500, "internal_error")
    assert "a bug" not in body["message"]  # internals stay in the log


# ---------------------------------------------------------------------- chain and deployment


@pytest.fixture
def deployment_file(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "deployment.json"
    world.gov.deployment.save(path)
    return path


def test_chain_unreachable_is_503_everywhere(deployment_file: Path) -> None:
    client = client_for(create_app(None, settings(rpc=NOWHERE, deployment=deployment_file, rpc_timeout=2)))
    for response in (
        client.get("/health"),
        client.post("/v1/verify", json={"hash": "0x" + "ab" * 32}),
        client.get("/v1/certificates/BW 2026 000001"),
        client.get("/v1/participants"),
    ):
        body = error_of(response, 503, "chain_unavailable")
        assert "cannot be read" in body["message"] and "127.0.0.1:9" in body["message"]
        assert response.headers["retry-after"] == "5"
    # Bad input is still refused as bad input, and the page is still served.
    error_of(client.post("/v1/verify", json={"hash": "0x12"}), 422, "invalid_hash")
    assert client.get("/").status_code == 200


def test_missing_deployment_record_is_503(tmp_path: Path) -> None:
    client = client_for(create_app(None, settings(deployment=tmp_path / "nope.json")))
    body = error_of(client.get("/health"), 503, "not_configured")
    assert "nope.json" in body["message"]
