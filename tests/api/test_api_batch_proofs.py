"""POST /v1/verify with a batch member's proof, over real HTTP against the in-process
chain: unrevealed members verify VALID with their proof (JSON or multipart) and with a
bundle; a wrong or altered proof is refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kpledger.batch import AnchoredBatch, run_batch
from kpledger.certificate import sample_certificate
from tests.api.conftest import LiveServer
from tests.conftest import World


@pytest.fixture
def batch(world: World, tmp_path: Path) -> AnchoredBatch:
    folder = tmp_path / "day"
    folder.mkdir()
    paths = []
    for index in range(3):
        document = sample_certificate(number=f"BW-2026-API{index:03d}{tmp_path.name[-4:].upper()}")
        path = folder / f"cert-{index}.json"
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        paths.append(path)
    return run_batch(world.bw_auth, paths)


def _post(live: LiveServer, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{live.url}/v1/verify", timeout=30, **kwargs)


def _bundle(batch: AnchoredBatch, index: int) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(batch.files[index].read_text(encoding="utf-8"))
    return value


def test_unrevealed_members_verify_valid_with_their_proof(live: LiveServer, batch: AnchoredBatch) -> None:
    bundle = _bundle(batch, 0)
    digest = "0x" + batch.prepared.members[0].terms.document_hash.hex()
    # without the proof the ledger does not know the hash
    assert _post(live, json={"hash": digest}).json()["code"] == "NOT_ANCHORED"
    answers = {
        "hash+proof": _post(live, json={"hash": digest, "proof": bundle["proof"]}),
        "document+proof": _post(live, json={"document": bundle["document"], "proof": bundle["proof"]}),
        "bundle body": _post(live, json=bundle),
        "multipart file+proof": _post(
            live,
            files={
                "file": ("cert-0.json", batch.prepared.sources[0].read_bytes(), "application/json"),  # type: ignore[union-attr]
                "proof": ("cert-0.proof.json", json.dumps(bundle["proof"]).encode(), "application/json"),
            },
        ),
        "multipart bundle": _post(
            live, files={"file": ("cert-0.bundle.json", batch.files[0].read_bytes(), "application/json")}
        ),
    }
    for how, response in answers.items():
        assert response.status_code == 200, (how, response.text)
        body = response.json()
        assert body["verdict"] == "VALID", (how, body)
        assert body["fragments"][0]["code"] == "BATCH_PROOF", how
        assert body["document_hash"] == digest, how


def test_a_proof_of_another_member_or_an_altered_one_is_refused(
    live: LiveServer, batch: AnchoredBatch
) -> None:
    first, second = _bundle(batch, 0), _bundle(batch, 1)
    digest = "0x" + batch.prepared.members[0].terms.document_hash.hex()
    wrong = _post(live, json={"hash": digest, "proof": second["proof"]})
    assert wrong.status_code == 422 and wrong.json()["error"] == "invalid_proof"
    assert "another document" in wrong.json()["message"]
    assert wrong.json()["problems"][0]["field"] == "proof"
    altered = dict(first["proof"], leaf=[*first["proof"]["leaf"][:4], "1", *first["proof"]["leaf"][5:]])
    response = _post(live, json={"hash": digest, "proof": altered})
    assert response.status_code == 422 and "altered" in response.json()["message"]
    swapped = _post(
        live, json={"format": first["format"], "document": second["document"], "proof": first["proof"]}
    )
    assert swapped.status_code == 422 and "hash" in swapped.json()["message"]
    proof_only = _post(live, json=first["proof"])
    assert proof_only.status_code == 422 and "a proof alone is not enough" in proof_only.json()["message"]
    shape = _post(live, json={"document": first["document"]})
    assert shape.status_code == 422 and shape.json()["problems"][0]["field"] == "document"
    bad_part = _post(
        live,
        files={
            "file": ("c.json", json.dumps(first["document"]).encode(), "application/json"),
            "proof": ("p.json", b"not json", "application/json"),
        },
    )
    assert bad_part.status_code == 422 and bad_part.json()["problems"][0]["field"] == "proof"
