"""The printed certificate: every Annex I element on A4, a QR code that an independent
decoder (zbar) reads as the verification permalink, and the hash in text."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from kpledger.certificate import hash_hex, parse_certificate, sample_certificate
from kpledger.errors import ConfigurationError, DocumentError
from kpledger.printing import certificate_pdf, parse_verification_link, verification_link
from tests.cli.conftest import Cli
from tests.printing.qr import decode_qr, pdf_text, render

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors" / "documents"


def printed(tmp_path: Path, document: dict[str, object], base: str = "https://verify.kp.example") -> Path:
    certificate = parse_certificate(document)
    path = tmp_path / "certificate.pdf"
    path.write_bytes(certificate_pdf(certificate, base_url=base))
    return path


def test_qr_code_decodes_to_the_permalink(tmp_path: Path) -> None:
    document = sample_certificate(today=date(2024, 3, 1), number="BW 2024/000123")
    pdf = printed(tmp_path, document)
    pages = render(pdf)
    assert len(pages) == 1  # a plain certificate fits one A4 page
    digest = parse_certificate(document).document_hash()
    link = "https://verify.kp.example/v/BW%202024%2F000123?h=" + hash_hex(digest)
    assert decode_qr(pages[0]) == [link]
    assert parse_verification_link(link) == ("BW 2024/000123", digest)


def test_every_annex_i_element_is_printed(tmp_path: Path) -> None:
    document = sample_certificate(
        today=date(2024, 3, 1),
        number="BW 2024 000777",
        origin=["BW", "ZA"],
        quality={"colour": "white", "sieve": "+9"},
    )
    text = pdf_text(printed(tmp_path, document))
    digest = hash_hex(parse_certificate(document).document_hash())
    for expected in (
        "Kimberley Process Certificate",
        "BW 2024 000777",
        "Ministry of Minerals and Energy, Government Diamond Valuator",
        "Botswana (BW)",
        "United Arab Emirates (AE)",
        "Kalahari Rough Exports (Pty) Ltd",
        "Licence: BW-DDL-0042",
        "Gulf Rough Trading DMCC",
        "Botswana (BW), South Africa (ZA)",
        "1,520.35 carats",
        "US$ 245,870.50",
        "7102.10 — Diamonds, unsorted",
        "2024-03-01",
        "2024-03-31 (valid until 23:59:59 UTC of this day)",
        "colour: white",
        "Validation by the exporting authority",
        "Name and signature of the authorised officer",
        digest,
    ):
        assert expected in text, expected
    assert "Number of parcels" in text and " 3\n" in text.replace("  ", " ")


def test_mixed_origin_eu_and_extensions_print(tmp_path: Path) -> None:
    document = json.loads((VECTORS / "mixed-origin-eu.json").read_text("utf-8"), parse_float=Decimal)
    pdf = printed(tmp_path, document, base="http://127.0.0.1:8123/")
    text = pdf_text(pdf)
    assert "European Union (EU)" in text and "Switzerland (CH)" in text
    assert "Mixed origin" in text and "Genève Diamants SA" in text
    assert "z: [1000, 0.07, -0.5, true, null]" in text
    codes = [code for page in render(pdf) for code in decode_qr(page)]
    assert codes == [
        verification_link(
            "http://127.0.0.1:8123", "EU/BE/2024/0042", parse_certificate(document).document_hash()
        )
    ]


def test_a_long_certificate_flows_onto_a_second_page(tmp_path: Path) -> None:
    document = sample_certificate(extensions={f"field{i}": "x" * 60 for i in range(40)})
    pdf = printed(tmp_path, document)
    pages = render(pdf, dpi=60)
    assert len(pages) == 2
    assert "shortened; the document holds it all" in pdf_text(pdf)


@pytest.mark.parametrize("base", ["ftp://verify.example", "verify.example", "https://x.example/?a=1", ""])
def test_bad_base_url_is_refused_with_what_to_do(base: str) -> None:
    with pytest.raises(ConfigurationError, match="--base-url or KPLEDGER_PUBLIC_URL"):
        certificate_pdf(parse_certificate(sample_certificate()), base_url=base)


def test_a_link_without_a_hash_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_verification_link("https://verify.example/v/BW%202024%20000123")
    assert caught.value.problems[0].rule == "link.hash"


def test_cli_prints_the_pdf_with_the_configured_base(offline: Cli, tmp_path: Path) -> None:
    source = tmp_path / "cert.json"
    document = sample_certificate()
    source.write_text(json.dumps(document), encoding="utf-8")
    result = offline(
        "cert",
        "pdf",
        str(source),
        "-o",
        str(tmp_path / "out.pdf"),
        env={"KPLEDGER_PUBLIC_URL": "https://kp.example/"},
    )
    assert result.exit_code == 0, result.output
    link = verification_link(
        "https://kp.example", document["number"], parse_certificate(document).document_hash()
    )
    assert link in " ".join(result.output.split())
    assert decode_qr(render(tmp_path / "out.pdf", dpi=120)[0]) == [link]
    default = offline("cert", "pdf", str(source))
    assert default.exit_code == 0 and (tmp_path / "cert.pdf").is_file()
    assert "http://127.0.0.1:8000/v/" in " ".join(default.output.split())


def test_cli_refuses_an_invalid_certificate(offline: Cli, tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(sample_certificate(hs_code="7103.10")), encoding="utf-8")
    result = offline("cert", "pdf", str(source), code=1)
    assert result.exit_code == 1 and "hs_code" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "bad.pdf").exists()
