"""The page at the border, in headless Chromium against the API on the test chain: the
printed certificate's QR code opened as a permalink, a photo of it dropped on the page,
a batch bundle dropped, the document's details, actors in words, "superseded by" links,
the print layout and a 360 px phone screen. The document never leaves the browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kpledger.certificate import parse_certificate, sample_document_bytes
from kpledger.printing import certificate_pdf, verification_link
from tests.api.conftest import LiveServer, anchor, chain_terms
from tests.api.test_page_e2e import Traffic, drop_file, open_page, shot, write
from tests.conftest import World
from tests.printing.qr import decode_qr, render

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors"


def open_link(page: Any, link: str) -> Traffic:
    traffic = Traffic(page)
    page.goto(link)
    page.wait_for_selector("#result[data-run='1']")
    return traffic


def secrets_of(data: bytes) -> list[str]:
    document = json.loads(data)
    return [document["exporter"]["name"], document["importer"]["address"], document["issuing_authority"]]


def test_printed_qr_code_opens_the_verdict_in_the_browser(
    world: World, live: LiveServer, page: Any, tmp_path: Path
) -> None:
    cert = anchor(world, number="BW 2026/QR-0001")
    pdf = tmp_path / "printed.pdf"
    pdf.write_bytes(certificate_pdf(parse_certificate(cert.data), base_url=live.url))
    [link] = decode_qr(render(pdf)[0])  # an independent decoder reads the paper
    assert link == f"{live.url}/v/{quote(cert.number, safe='')}?h={cert.hash}"
    traffic = open_link(page, link)
    shot(page, "permalink")
    assert page.inner_text("#verdict-word") == "VALID"
    terms = page.inner_text("#anchored-terms")
    assert "Compare with the paper in your hands" in terms
    assert cert.number in terms and "1,520.35 ct" in terms and "US$ 245,870.50" in terms
    assert "Botswana (BW)" in terms and "United Arab Emirates (AE)" in terms
    assert "from the verification link" in page.inner_text("#document-hash")
    assert page.locator("#link-mismatch").count() == 0
    assert [json.loads(body) for body in traffic.bodies()] == [{"hash": cert.hash}]


def test_permalink_under_another_number_is_flagged(world: World, live: LiveServer, page: Any) -> None:
    cert = anchor(world)
    open_link(page, f"{live.url}/v/BW%202026%20FORGED?h={cert.hash}")
    assert "BW 2026 FORGED" in page.inner_text("#link-mismatch")
    assert cert.number in page.inner_text("#link-mismatch")


def test_permalink_with_a_broken_hash_says_what_to_do(live: LiveServer, page: Any) -> None:
    traffic = Traffic(page)
    page.goto(f"{live.url}/v/BW%201?h=0x1234")
    page.wait_for_selector("#form-error:not([hidden])")
    assert "64 hex digits" in page.inner_text("#form-error")
    assert traffic.bodies() == []


def test_photo_of_the_qr_code_is_decoded_in_the_browser(
    world: World, live: LiveServer, page: Any, tmp_path: Path
) -> None:
    cert = anchor(world)
    pdf = tmp_path / "printed.pdf"
    # Printed for another site: the page reads the number and hash, and asks its own service.
    pdf.write_bytes(certificate_pdf(parse_certificate(cert.data), base_url="https://verify.kp.example"))
    photo = render(pdf, dpi=110)[0]
    traffic = open_page(page, live)
    drop_file(page, photo)
    shot(page, "qr-photo")
    assert page.inner_text("#verdict-word") == "VALID"
    assert "read here from the QR code" in page.inner_text("#document-hash")
    assert (
        page.evaluate("location.pathname + location.search")
        == f"/v/{quote(cert.number, safe='')}?h={cert.hash}"
    )
    assert [json.loads(body) for body in traffic.bodies()] == [{"hash": cert.hash}]
    assert all(url.startswith(live.url) for url in traffic.urls())


def test_image_without_a_qr_code_is_hashed_as_a_file(live: LiveServer, page: Any, tmp_path: Path) -> None:
    import hashlib
    import struct
    import zlib

    raw = b"".join(b"\x00" + bytes([200, 200, 200]) * 8 for _ in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open_page(page, live)
    drop_file(page, write(tmp_path, "scan.png", png))
    assert "0x" + hashlib.sha256(png).hexdigest() in page.inner_text("#document-hash")


def test_document_details_and_actors_in_words(
    world: World, live: LiveServer, page: Any, tmp_path: Path
) -> None:
    data = sample_document_bytes(origin=["BW", "ZA"], quality={"colour": "white"})
    terms = chain_terms(data)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    world.ae_auth.confirm_receipt(terms.document_hash)
    traffic = open_page(page, live)
    drop_file(page, write(tmp_path, "certificate.json", data))
    shot(page, "details")
    details = page.inner_text("#document-details")
    for expected in (
        "Ministry of Minerals and Energy",
        "Kalahari Rough Exports (Pty) Ltd",
        "Licence: BW-DDL-0042",
        "Gulf Rough Trading DMCC",
        "Botswana (BW), South Africa (ZA)",
        "7102.10 — Diamonds, unsorted",
        "colour: white",
    ):
        assert expected in details, expected
    timeline = page.inner_text("#timeline")
    assert f"Botswana\u2019s exporting authority ({world.bw_auth.address[:10]}" in timeline
    assert f"United Arab Emirates\u2019s importing authority ({world.ae_auth.address[:10]}" in timeline
    for body in traffic.bodies():
        assert set(json.loads(body)) == {"hash"}
        assert not any(secret in body for secret in secrets_of(data))


def test_superseded_certificate_links_to_its_replacement(world: World, live: LiveServer, page: Any) -> None:
    old = anchor(world)
    new_data = sample_document_bytes(carats=1500)
    new_terms = chain_terms(new_data)
    world.bw_auth.amend(old.terms.document_hash, new_terms, "carats re-weighed")
    open_link(page, f"{live.url}/v/{quote(old.number, safe='')}?h={old.hash}")
    assert page.inner_text("#verdict-word") != "VALID"
    link = page.locator("#superseded-by")
    new_hash = "0x" + new_terms.document_hash.hex()
    assert link.get_attribute("href") == f"/?h={new_hash}"
    link.click()
    page.wait_for_selector("#result[data-run='1']")
    assert page.inner_text("#verdict-word") == "VALID"
    assert page.get_attribute("#supersedes", "href") == f"/?h={old.hash}"


def test_bundle_is_hashed_here_and_sent_with_its_proof_only(live: LiveServer, page: Any) -> None:
    vectors = json.loads((VECTORS / "vectors.json").read_text("utf-8"))
    entry = vectors["documents"][0]
    bundle_path = VECTORS / entry["bundleFile"]
    bundle = json.loads(bundle_path.read_bytes())
    traffic = open_page(page, live)
    drop_file(page, bundle_path)
    shot(page, "bundle")
    [body] = [json.loads(b) for b in traffic.bodies()]
    assert body == {"hash": entry["documentHash"], "proof": bundle["proof"]}
    assert not any(
        secret in json.dumps(body) for secret in secrets_of(json.dumps(bundle["document"]).encode())
    )
    assert "bundle's certificate" in page.inner_text("#document-hash")
    assert "Kalahari Rough Exports" in page.inner_text("#document-details")
    assert page.inner_text("#verdict-word")  # whatever the service answers, the page shows it


def test_print_layout_keeps_the_verdict_and_drops_the_form(world: World, live: LiveServer, page: Any) -> None:
    cert = anchor(world)
    open_link(page, f"{live.url}/v/{quote(cert.number, safe='')}?h={cert.hash}")
    page.emulate_media(media="print")
    shot(page, "print")
    hidden = "e => getComputedStyle(e).display"
    assert (
        page.locator("#verify-form").evaluate(hidden) == "none"
        or page.locator(".card").evaluate(hidden) == "none"
    )
    assert page.locator(".card").evaluate(hidden) == "none"
    assert page.locator(".privacy").evaluate(hidden) == "none"
    assert page.locator("#verdict").evaluate(hidden) != "none"
    assert page.locator("#anchored-terms").evaluate(hidden) != "none"
    printed = page.pdf(format="A4")
    assert printed.startswith(b"%PDF")


def test_no_sideways_scrolling_at_360_px(
    world: World, live: LiveServer, browser: Any, tmp_path: Path
) -> None:
    data = sample_document_bytes(number="BW 2026/A-VERY-LONG-NUMBER-0001", extensions={"note": "x" * 300})
    terms = chain_terms(data)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-US", timezone_id="UTC")
    try:
        phone = context.new_page()
        phone.set_default_timeout(15_000)
        open_page(phone, live)
        widths = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        before = phone.evaluate(widths)
        assert before[0] <= before[1], before
        drop_file(phone, write(tmp_path, "certificate.json", data))
        shot(phone, "phone-360")
        assert phone.inner_text("#verdict-word") == "VALID"
        wide = phone.evaluate(
            "[...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right + window.scrollX > 360.5)"
            ".map(e => e.tagName + '.' + e.className).slice(-6)"
        )
        assert wide == []
        after = phone.evaluate(widths)
        assert after[0] <= after[1], after
    finally:
        context.close()


def test_vendored_qr_decoder_is_the_npm_package() -> None:
    root = Path(__file__).resolve().parents[2]
    vendored = root / "kpledger" / "api" / "static" / "vendor"
    assert (vendored / "jsQR.js").read_bytes() == (
        root / "node_modules" / "jsqr" / "dist" / "jsQR.js"
    ).read_bytes()
    assert "Apache License" in (vendored / "jsQR.LICENSE").read_text("utf-8")


def test_the_permalink_is_the_printing_library_link(world: World, live: LiveServer) -> None:
    cert = anchor(world)
    assert verification_link(live.url, cert.number, cert.terms.document_hash).startswith(live.url + "/v/")
