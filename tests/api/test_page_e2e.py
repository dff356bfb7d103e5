"""The verification page in real headless Chromium against the API on the test chain:
what a person sees for a valid, a tampered and an unknown certificate, and that the
document itself never leaves the browser."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kpledger.api import create_app
from kpledger.certificate import sample_document_bytes
from tests.api.conftest import NOWHERE, Anchored, LiveServer, anchor, chain_terms, settings
from tests.conftest import World

SCREENSHOTS = os.environ.get("KPLEDGER_SCREENSHOTS")  # a folder: keep a picture of each outcome


class Traffic:
    """Every request the page makes."""

    def __init__(self, page: Any) -> None:
        self.requests: list[Any] = []
        page.on("request", lambda request: self.requests.append(request))

    def urls(self) -> list[str]:
        return [r.url for r in self.requests]

    def bodies(self) -> list[str]:
        return [r.post_data or "" for r in self.requests if r.method == "POST"]


def open_page(page: Any, server: LiveServer) -> Traffic:
    traffic = Traffic(page)
    page.goto(server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    return traffic


def drop_file(page: Any, path: Path, run: int = 1) -> None:
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector(f"#result[data-run='{run}']")


def shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_only_the_hash_left(traffic: Traffic, server: LiveServer, cert_data: bytes) -> None:
    assert all(url.startswith(server.url) for url in traffic.urls()), traffic.urls()
    document = json.loads(cert_data)
    for body in traffic.bodies():
        assert set(json.loads(body)) == {"hash"}
        for secret in (
            document["exporter"]["name"],
            document["importer"]["address"],
            str(document["carats"]),
        ):
            assert secret not in body


# ---------------------------------------------------------------------- the three outcomes


def test_valid_certificate(world: World, live: LiveServer, page: Any, tmp_path: Path) -> None:
    cert = anchor(world)
    traffic = open_page(page, live)
    drop_file(page, write(tmp_path, "certificate.json", cert.data))
    shot(page, "valid")

    assert page.inner_text("#verdict-word") == "VALID"
    assert cert.number in page.inner_text("#verdict-reason")
    assert (
        page.locator("#verdict").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(232, 245, 238)"
    )
    assert page.inner_text("#route-origin") == "Botswana (BW)"
    assert page.inner_text("#route-destination") == "United Arab Emirates (AE)"
    assert page.inner_text("#status-badge") == "Issued"
    assert cert.hash in page.inner_text("#document-hash")
    assert "computed here from the JSON certificate" in page.inner_text("#document-hash")

    checks = page.locator("#checks li")
    assert checks.count() == 3
    assert all("VALID" in (checks.nth(i).get_attribute("class") or "") for i in range(3))

    entries = page.locator("#timeline li")
    assert entries.count() == 1
    first = entries.nth(0).inner_text()
    issued_block = world.gov.certificate(cert.terms.document_hash).issued_block  # type: ignore[union-attr]
    assert "Issued by the exporting authority" in first and f"block {issued_block}" in first
    assert "UTC" in first and world.bw_auth.address[:10] in first and "tx 0x" in first

    # Focus moves to the verdict, so a screen reader announces it.
    assert page.evaluate("document.activeElement.id") == "verdict"
    assert_only_the_hash_left(traffic, live, cert.data)


def test_used_certificate(world: World, live: LiveServer, page: Any, tmp_path: Path) -> None:
    """Once its receipt is confirmed a certificate is never VALID again (issue 13)."""
    cert = anchor(world)
    world.ae_auth.confirm_receipt(cert.terms.document_hash)
    open_page(page, live)
    drop_file(page, write(tmp_path, "certificate.json", cert.data))
    shot(page, "used")
    assert page.inner_text("#verdict-word") == "ALREADY USED"
    reason = page.inner_text("#verdict-reason")
    assert "Already used for an import into United Arab Emirates" in reason
    assert "not valid for another shipment" in reason
    assert page.inner_text("#status-badge") == "Received"
    assert page.locator("#timeline li").count() == 2


def test_tampered_certificate(world: World, live: LiveServer, page: Any, tmp_path: Path) -> None:
    cert = anchor(world)
    tampered = cert.data.replace(b"1520.35", b"1600")
    open_page(page, live)
    drop_file(page, write(tmp_path, "certificate.json", tampered))
    shot(page, "tampered")

    assert page.inner_text("#verdict-word") == "NOT VALID"
    reason = page.inner_text("#verdict-reason")
    assert f"differs from certificate {cert.number}" in reason and "altered" in reason
    assert (
        page.locator("#verdict").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(252, 235, 236)"
    )
    differences = page.inner_text("#differences")
    assert "carats: this document says 1,600.00 ct, the ledger holds 1,520.35 ct" in differences
    assert "0x" + chain_terms(tampered).document_hash.hex() in page.inner_text("#document-hash")
    # What the ledger holds is shown beside it.
    assert page.inner_text("#route-origin") == "Botswana (BW)"
    assert page.inner_text("#status-badge") == "Issued"
    assert page.locator("#timeline li").count() == 1


def test_unknown_certificate(live: LiveServer, page: Any, tmp_path: Path) -> None:
    data = sample_document_bytes()
    traffic = open_page(page, live)
    drop_file(page, write(tmp_path, "certificate.json", data))
    shot(page, "unknown")

    assert page.inner_text("#verdict-word") == "NOT VALID"
    number = json.loads(data)["number"]
    assert (
        page.inner_text("#verdict-reason")
        == f"Neither this document nor certificate number {number} is on the ledger."
    )
    assert page.locator("#timeline").count() == 0
    assert "NOT_ANCHORED" in page.inner_text("#checks")
    assert_only_the_hash_left(traffic, live, data)


# ---------------------------------------------------------------------- other ways in


def test_pasted_hash_with_the_keyboard(world: World, live: LiveServer, page: Any) -> None:
    cert = anchor(world)
    open_page(page, live)
    page.focus("#hash-input")
    page.keyboard.type("  " + cert.hash.upper().replace("0X", "0x") + " ")
    page.keyboard.press("Enter")
    page.wait_for_selector("#result[data-run='1']")
    assert page.inner_text("#verdict-word") == "VALID"
    assert "entered by hand" in page.inner_text("#document-hash")
    assert page.inner_text("#route-destination") == "United Arab Emirates (AE)"


def test_pasted_json_text(world: World, live: LiveServer, page: Any) -> None:
    cert = anchor(world)
    open_page(page, live)
    page.fill("#hash-input", cert.data.decode())
    page.click("#verify-button")
    page.wait_for_selector("#result[data-run='1']")
    assert page.inner_text("#verdict-word") == "VALID"
    assert cert.hash in page.inner_text("#document-hash")


def test_dropped_file(world: World, live: LiveServer, page: Any) -> None:
    cert = anchor(world)
    open_page(page, live)
    page.evaluate(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "certificate.json", {type: "application/json"}));
            const zone = document.getElementById("dropzone");
            const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
            zone.dispatchEvent(new DragEvent("dragover", init));
            zone.dispatchEvent(new DragEvent("drop", init));
        }""",
        cert.data.decode(),
    )
    page.wait_for_selector("#result[data-run='1']")
    assert page.inner_text("#verdict-word") == "VALID"


def test_scanned_pdf_is_hashed_raw(live: LiveServer, page: Any, tmp_path: Path) -> None:
    import hashlib

    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 20
    open_page(page, live)
    drop_file(page, write(tmp_path, "scan.pdf", pdf))
    assert page.inner_text("#verdict-word") == "NOT VALID"
    hashed = page.inner_text("#document-hash")
    assert "0x" + hashlib.sha256(pdf).hexdigest() in hashed and "file's bytes" in hashed


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0x1234", "A SHA-256 hash has 64 hex digits; this one has 4."),
        ("hello", "A hash is made of hex digits"),
        ("", "Enter a document hash"),
    ],
)
def test_malformed_hash_is_explained_without_asking_the_server(
    live: LiveServer, page: Any, typed: str, message: str
) -> None:
    traffic = open_page(page, live)
    page.fill("#hash-input", typed)
    page.click("#verify-button")
    page.wait_for_selector("#form-error:not([hidden])")
    assert message in page.inner_text("#form-error")
    assert page.get_attribute("#hash-input", "aria-invalid") == "true"
    assert traffic.bodies() == []


def test_a_file_the_library_refuses_is_not_hashed(live: LiveServer, page: Any, tmp_path: Path) -> None:
    traffic = open_page(page, live)
    drop_file(page, write(tmp_path, "twice.json", b'{"number": "BW 1", "carats": 1, "carats": 2}'))
    shot(page, "refused")
    assert page.inner_text("#verdict-word") == "NOT CHECKED"
    assert "appears more than once" in page.inner_text("#verdict-reason")
    assert "json.duplicate_key" in page.inner_text("#verdict")
    assert traffic.bodies() == []


def test_chain_down_is_shown_as_a_temporary_problem(world: World, page: Any, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    world.gov.deployment.save(deployment)
    app = create_app(None, settings(rpc=NOWHERE, deployment=deployment, rpc_timeout=2))
    with LiveServer(app) as server:
        open_page(page, server)
        page.fill("#hash-input", "0x" + "ab" * 32)
        page.click("#verify-button")
        page.wait_for_selector("#result[data-run='1']")
        shot(page, "chain-down")
        assert page.inner_text("#verdict-word") == "CANNOT CHECK NOW"
        assert "try again" in page.inner_text("#verdict")


def test_page_is_usable_with_the_keyboard_and_labelled(live: LiveServer, page: Any) -> None:
    open_page(page, live)
    for control in ("#file-input", "#hash-input"):
        labelled = page.evaluate(f"document.querySelector('{control}').labels.length")
        assert labelled == 1
    page.keyboard.press("Tab")  # skip link first
    assert page.evaluate("document.activeElement.className") == "skip-link"
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert order[:3] == ["A", "file-input", "hash-input"] or order[:2] == ["file-input", "hash-input"], order
    assert "verify-button" in order
    assert page.get_attribute("#result", "aria-live") == "polite"
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")


def test_the_anchored_document_and_the_fixture_agree(world: World) -> None:
    """The sample the browser tests drop is what the chain holds (guards the fixtures)."""
    cert: Anchored = anchor(world)
    assert world.gov.certificate(cert.terms.document_hash) is not None
