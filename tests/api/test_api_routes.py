"""The API's routes with FastAPI's test client, on a real EVM (the in-process chain with
the contracts deployed): what an importer, a customs officer or a bank gets back."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from importlib import resources
from urllib.parse import quote

from fastapi.testclient import TestClient

from kpledger.api import create_app
from kpledger.api.models import VerificationOut
from kpledger.certificate import file_hash, parse_certificate, sample_document_bytes
from kpledger.types import ChainTerms
from tests.api.conftest import anchor, chain_terms, client_for, settings
from tests.conftest import World


def fragments(body: dict) -> dict[str, tuple[str, str]]:
    return {f["name"]: (f["result"], f["code"]) for f in body["fragments"]}


# ---------------------------------------------------------------------- health


def test_health_reports_chain_block_and_contracts(world: World, client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    deployment = world.gov.deployment
    assert body["status"] == "ok"
    assert body["chain_id"] == deployment.chain_id
    assert body["latest_block"] == world.gov.block_number()
    assert body["contracts"] == {"registry": deployment.registry, "ledger": deployment.ledger}
    assert body["deployment_block"] == deployment.block


# ---------------------------------------------------------------------- verify


def test_verify_by_hash_valid(world: World, client: TestClient) -> None:
    cert = anchor(world)
    response = client.post("/v1/verify", json={"hash": cert.hash})
    assert response.status_code == 200
    body = response.json()
    assert body["verdict"] == "VALID" and body["code"] == "VALID"
    assert body["document_hash"] == cert.hash
    assert fragments(body) == {
        "integrity": ("VALID", "ANCHORED"),
        "status": ("VALID", "ISSUED"),
        "identity": ("VALID", "ORIGIN_ACTIVE"),
    }
    certificate = body["certificate"]
    assert certificate["number"] == cert.number
    assert (certificate["origin"], certificate["destination"], certificate["status"]) == (
        "BW",
        "AE",
        "ISSUED",
    )
    assert certificate["carats"] == 1520.35 and certificate["value_usd"] == 245870.5
    assert (certificate["carats_hundredths"], certificate["value_cents"]) == (152035, 24587050)
    assert (certificate["carats_text"], certificate["value_usd_text"]) == ("1520.35", "245870.50")
    assert [e["event"] for e in body["timeline"]] == ["CertificateIssued"]
    assert body["timeline"][0]["actor"] == world.bw_auth.address
    assert body["checked_at_block"] == world.gov.block_number()


def test_verify_hash_without_0x_and_in_capitals(world: World, client: TestClient) -> None:
    cert = anchor(world)
    response = client.post("/v1/verify", json={"hash": cert.hash[2:].upper()})
    assert response.status_code == 200 and response.json()["verdict"] == "VALID"


def test_verify_json_body_and_file_upload_agree_with_the_library(world: World, client: TestClient) -> None:
    cert = anchor(world)
    by_body = client.post("/v1/verify", content=cert.data, headers={"Content-Type": "application/json"})
    by_file = client.post("/v1/verify", files={"file": ("certificate.json", cert.data, "application/json")})
    for response in (by_body, by_file):
        assert response.status_code == 200
        assert response.json()["verdict"] == "VALID"
        assert response.json()["document_hash"] == cert.hash


def test_verify_scanned_pdf_is_hashed_raw(world: World, client: TestClient) -> None:
    pdf = b"%PDF-1.7\n% a scanned KP certificate\n" + bytes(range(256)) * 40
    terms = parse_certificate(sample_document_bytes()).chain_terms(document_hash=file_hash(pdf))
    world.bw_auth.issue(ChainTerms(**asdict(terms)), world.bw_exporter.address)
    response = client.post("/v1/verify", files={"file": ("scan.pdf", pdf, "application/pdf")})
    assert response.status_code == 200
    assert response.json()["verdict"] == "VALID"
    assert response.json()["document_hash"] == "0x" + file_hash(pdf).hex()


def test_verify_tampered_document(world: World, client: TestClient) -> None:
    cert = anchor(world)
    tampered = cert.data.replace(b"1520.35", b"1620.35")
    body = client.post("/v1/verify", content=tampered, headers={"Content-Type": "application/json"}).json()
    assert body["verdict"] == "INVALID" and body["code"] == "TAMPERED"
    assert cert.number in body["message"]
    # By hash alone the service cannot know which certificate was meant.
    by_hash = client.post(
        "/v1/verify", json={"hash": "0x" + chain_terms(tampered).document_hash.hex()}
    ).json()
    assert by_hash["verdict"] == "INVALID" and by_hash["code"] == "NOT_ANCHORED"
    assert by_hash["certificate"] is None and by_hash["timeline"] == []


def test_verify_answers_match_the_documented_model(world: World, client: TestClient) -> None:
    cert = anchor(world)
    world.ae_auth.confirm_receipt(cert.terms.document_hash)
    tampered = cert.data.replace(b"1520.35", b"1620.35")
    for response in (
        client.post("/v1/verify", json={"hash": cert.hash}),
        client.post("/v1/verify", content=tampered, headers={"Content-Type": "application/json"}),
        client.post("/v1/verify", json={"hash": "0x" + "cd" * 32}),
    ):
        assert response.headers["content-type"] == "application/json"
        VerificationOut.model_validate(response.json())


def test_verify_unknown_hash_is_an_answer_not_an_error(client: TestClient) -> None:
    response = client.post("/v1/verify", json={"hash": "0x" + "ab" * 32})
    assert response.status_code == 200
    body = response.json()
    assert body["verdict"] == "INVALID" and body["code"] == "NOT_ANCHORED"
    assert fragments(body)["status"] == ("INVALID", "NOT_CHECKED")


def test_verify_received_certificate_has_its_whole_timeline(world: World, client: TestClient) -> None:
    cert = anchor(world)
    world.ae_auth.confirm_receipt(cert.terms.document_hash)
    body = client.post("/v1/verify", json={"hash": cert.hash}).json()
    assert body["verdict"] == "VALID"
    assert body["certificate"]["status"] == "RECEIVED"
    assert [e["event"] for e in body["timeline"]] == ["CertificateIssued", "CertificateReceived"]
    assert body["timeline"][1]["actor"] == world.ae_auth.address
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", e["tx_hash"]) for e in body["timeline"])


def test_verify_voided_certificate(world: World, client: TestClient) -> None:
    cert = anchor(world)
    world.bw_auth.void(cert.terms.document_hash, "issued in error")
    body = client.post("/v1/verify", json={"hash": cert.hash}).json()
    assert body["verdict"] == "INVALID" and body["code"] == "VOIDED"
    assert body["timeline"][-1]["detail"] == "issued in error"


def test_verify_after_the_origin_is_suspended(world: World, client: TestClient) -> None:
    cert = anchor(world)
    world.gov.suspend_participant("BW", "review mission findings")
    body = client.post("/v1/verify", json={"hash": cert.hash}).json()
    assert body["verdict"] == "INVALID" and body["code"] == "ORIGIN_SUSPENDED"
    assert fragments(body)["identity"] == ("INVALID", "ORIGIN_SUSPENDED")


def test_each_answer_reads_the_chain_as_it_is_now(world: World, client: TestClient) -> None:
    """The read cache is per block: a new block (a receipt) shows at once."""
    cert = anchor(world)
    assert client.post("/v1/verify", json={"hash": cert.hash}).json()["certificate"]["status"] == "ISSUED"
    world.ae_auth.confirm_receipt(cert.terms.document_hash)
    assert client.post("/v1/verify", json={"hash": cert.hash}).json()["certificate"]["status"] == "RECEIVED"


def test_repeated_reads_come_from_the_cache(world: World, app: object, client: TestClient) -> None:
    cert = anchor(world)
    reads = app.state.ledger_source.get()[1]  # type: ignore[attr-defined]
    client.post("/v1/verify", json={"hash": cert.hash})
    misses = reads.misses
    client.post("/v1/verify", json={"hash": cert.hash})
    assert reads.misses == misses  # same block, same question: no chain read at all
    assert reads.hits > 0


# ---------------------------------------------------------------------- certificates


def test_certificate_by_number_with_spaces_and_slashes(world: World, client: TestClient) -> None:
    cert = anchor(world, number="BW 2026/API-0001")
    world.ae_auth.confirm_receipt(cert.terms.document_hash)
    response = client.get("/v1/certificates/" + quote(cert.number, safe=""))
    assert response.status_code == 200
    body = response.json()
    record = body["certificate"]
    assert record["number"] == "BW 2026/API-0001"
    assert record["document_hash"] == cert.hash
    assert record["status"] == record["stored_status"] == "RECEIVED"
    assert record["issued_block"] < (record["responded_block"] or record["closed_block"])
    assert record["exporter"] == world.bw_exporter.address
    assert (record["carats_hundredths"], record["carats_text"]) == (cert.terms.carats, "1520.35")
    assert (record["value_cents"], record["value_usd_text"]) == (cert.terms.value_cents, "245870.50")
    assert [e["event"] for e in body["timeline"]] == ["CertificateIssued", "CertificateReceived"]
    # A raw slash in the path works too.
    assert client.get("/v1/certificates/BW 2026/API-0001").json() == body


def test_certificate_by_hash(world: World, client: TestClient) -> None:
    cert = anchor(world)
    response = client.get(f"/v1/certificates/by-hash/{cert.hash}")
    assert response.status_code == 200
    assert response.json()["certificate"]["number"] == cert.number
    assert client.get(f"/v1/certificates/by-hash/{cert.hash[2:].upper()}").json() == response.json()


def test_unknown_certificates_are_404(client: TestClient) -> None:
    for path in ("/v1/certificates/BW 2099 NOPE", f"/v1/certificates/by-hash/0x{'00' * 32}"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert "no certificate" in response.json()["message"]


# ---------------------------------------------------------------------- participants


def test_participants_with_status_history(world: World, client: TestClient) -> None:
    body = client.get("/v1/participants").json()
    by_code = {p["code"]: p for p in body["participants"]}
    assert set(by_code) == {"BW", "AE", "BE", "VE"}
    assert by_code["BW"]["name"] == "Botswana" and by_code["BW"]["status"] == "ACTIVE"
    assert [c["status"] for c in by_code["VE"]["history"]] == ["ACTIVE", "SUSPENDED"]
    assert body["checked_at_block"] == world.gov.block_number()


def test_one_participant_any_case(client: TestClient) -> None:
    body = client.get("/v1/participants/ve").json()
    participant = body["participant"]
    assert participant["code"] == "VE" and participant["status"] == "SUSPENDED"
    assert participant["history"][0]["block_number"] < participant["history"][1]["block_number"]
    assert participant["validity_days"] == 60


def test_participant_history_follows_readmission(world: World, client: TestClient) -> None:
    world.gov.readmit_participant("VE", "plenary decision")
    participant = client.get("/v1/participants/VE").json()["participant"]
    assert participant["status"] == "ACTIVE"
    assert [c["status"] for c in participant["history"]] == ["ACTIVE", "SUSPENDED", "ACTIVE"]


# ---------------------------------------------------------------------- read-only, page, docs


def test_the_service_is_read_only(app: object) -> None:
    schema = app.openapi()  # type: ignore[attr-defined]
    writes = [(path, method) for path, item in schema["paths"].items() for method in item if method != "get"]
    assert writes == [("/v1/verify", "post")]


def test_page_and_static_files_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (
        ("kpledger.js", "javascript"),
        ("kpledger.css", "text/css"),
        ("vendor/jsQR.js", "javascript"),
    ):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_page_uses_no_external_resource() -> None:
    static = resources.files("kpledger.api") / "static"
    names = sorted(entry.name for entry in static.iterdir() if entry.is_file())
    assert {"index.html", "kpledger.css", "kpledger.js"} <= set(names)
    for name in names:
        text = (static / name).read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text, flags=re.I))
        assert urls <= {"http://www.w3.org/2000/svg"}, (name, urls)
        assert "@import" not in text and "fonts.googleapis" not in text
    # The vendored QR decoder (jsQR) loads nothing either; a comment cites one web page.
    decoder = (static / "vendor" / "jsQR.js").read_text(encoding="utf-8")
    assert not re.search(r"fetch\(|XMLHttpRequest|importScripts|WebSocket|<script", decoder)
    cited = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", decoder, flags=re.I))
    assert cited <= {"http://en.wikipedia.org/wiki/Bresenham"}, cited


def test_openapi_docs_are_served_without_a_cdn(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn.jsdelivr.net" not in docs.text
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    verify = schema["paths"]["/v1/verify"]["post"]
    assert set(verify["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"200", "400", "413", "415", "422", "503"} <= set(verify["responses"])


def test_cors_is_off_by_default_and_can_be_enabled(world: World) -> None:
    preflight = {"Origin": "https://bank.example", "Access-Control-Request-Method": "POST"}
    closed = client_for(create_app(world.gov, settings()))
    assert "access-control-allow-origin" not in closed.options("/v1/verify", headers=preflight).headers
    opened = client_for(create_app(world.gov, settings(cors_origins=["https://bank.example"])))
    response = opened.options("/v1/verify", headers=preflight)
    assert response.headers["access-control-allow-origin"] == "https://bank.example"


def test_settings_come_from_kpledger_environment_variables(monkeypatch: object) -> None:
    from kpledger.api import ApiSettings

    env = {
        "KPLEDGER_RPC": "http://10.0.0.5:8545",
        "KPLEDGER_DATA_DIR": "/srv/kp",
        "KPLEDGER_MAX_UPLOAD_BYTES": "2048",
        "KPLEDGER_CORS_ORIGINS": json.dumps(["https://customs.example"]),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # type: ignore[attr-defined]
    loaded = ApiSettings()
    assert loaded.rpc == "http://10.0.0.5:8545"
    assert str(loaded.deployment_path) == "/srv/kp/deployment.json"
    assert loaded.max_upload_bytes == 2048
    assert loaded.cors_origins == ["https://customs.example"]
