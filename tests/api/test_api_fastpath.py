"""``POST /v1/verify`` by hash through the verification cache: the cached answer is the
uncached one, a change on the chain shows at the next block, and anything but a plain
hash body takes the normal route."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from kpledger.api import create_app
from tests.api.conftest import anchor, client_for, settings
from tests.conftest import World


def verify(client: TestClient, digest: str, **kwargs: Any) -> Any:
    answer = client.post("/v1/verify", json={"hash": digest}, **kwargs)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    return answer.json()


def test_a_cached_answer_equals_the_uncached_one(world: World) -> None:
    cert = anchor(world)
    cached = client_for(create_app(world.gov, settings()))
    uncached = client_for(create_app(world.gov, settings(verify_cache_entries=0)))
    source = cached.app.state.ledger_source  # type: ignore[attr-defined]
    first = verify(cached, cert.hash)
    again = verify(cached, cert.hash)
    assert source.cache.hits >= 1
    assert first == again == verify(uncached, cert.hash)
    assert first["verdict"] == "VALID" and first["checked_at_block"] == world.gov.block_number()
    spaced = cached.post(
        "/v1/verify",
        content=b'  {\n "hash" : "' + cert.hash.upper().replace("0X", "0x").encode() + b'"\n}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert spaced.json() == first


def test_a_void_shows_at_the_next_block(world: World) -> None:
    cert = anchor(world)
    client = client_for(create_app(world.gov, settings()))
    assert verify(client, cert.hash)["verdict"] == "VALID"
    world.bw_auth.void(cert.terms.document_hash, "stolen")
    voided = verify(client, cert.hash)
    assert voided["code"] == "VOIDED" and voided["checked_at_block"] == world.gov.block_number()
    assert [e["event"] for e in voided["timeline"]] == ["CertificateIssued", "CertificateVoided"]


def test_a_suspension_shows_at_the_next_block(world: World) -> None:
    cert = anchor(world)
    client = client_for(create_app(world.gov, settings()))
    assert verify(client, cert.hash)["verdict"] == "VALID"
    world.gov.suspend_participant("BW", "plenary decision")
    suspended = verify(client, cert.hash)
    assert suspended["code"] == "ORIGIN_SUSPENDED"
    identity = next(f for f in suspended["fragments"] if f["name"] == "identity")
    assert identity["details"]["status_now"] == "SUSPENDED"


def test_other_bodies_still_take_the_route(world: World) -> None:
    cert = anchor(world)
    client = client_for(create_app(world.gov, settings()))
    verify(client, cert.hash)  # cached now
    extra = client.post("/v1/verify", json={"hash": cert.hash, "more": 1})
    assert extra.status_code == 422 and extra.json()["error"] == "invalid_request"
    document = client.post("/v1/verify", content=cert.data, headers={"content-type": "application/json"})
    assert document.status_code == 200 and document.json()["verdict"] == "VALID"
    bad = client.post("/v1/verify", json={"hash": "0x12"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_hash"


def test_cross_origin_requests_keep_their_cors_headers(world: World) -> None:
    cert = anchor(world)
    origin = "https://bank.example"
    client = client_for(create_app(world.gov, settings(cors_origins=[origin])))
    verify(client, cert.hash)  # cached now
    answer = client.post("/v1/verify", json={"hash": cert.hash}, headers={"origin": origin})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == origin
