"""Lay out a certificate on A4 with fpdf2, its QR code drawn as vector modules by segno.

The layout follows Annex I of the KP Certification Scheme: title, unique number,
issuing authority, exporter and importer, country of origin, carat weight, value in
US dollars, number of parcels, HS code, dates of issue and expiry, and a box for the
exporting authority's validation (signature and stamp). Optional quality
characteristics and other systems' data (``extensions``) follow when present. The
security features are the QR code (the verification permalink) and the document hash
printed in full, so the paper can be checked even without a phone.

Text uses DejaVu Sans (shipped inside matplotlib, already a dependency), which covers
Latin, Greek, Cyrillic and more; fpdf2's core fonts know only Latin-1.
"""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pycountry
import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from kpledger.certificate.hashing import hash_hex
from kpledger.certificate.model import MIXED_ORIGIN, Certificate
from kpledger.errors import ConfigurationError
from kpledger.printing.link import verification_link

__all__ = ["HS_DESCRIPTIONS", "certificate_pdf", "participant_label"]

#: Harmonized System headings of rough diamonds (HS 2022).
HS_DESCRIPTIONS: Final = {
    "7102.10": "Diamonds, unsorted",
    "7102.21": "Industrial diamonds, unworked or simply sawn, cleaved or bruted",
    "7102.31": "Non-industrial diamonds, unworked or simply sawn, cleaved or bruted",
}

_FONT: Final = "DejaVu"
_MONO: Final = "DejaVuMono"
_MARGIN: Final = 15.0
_LABEL_W: Final = 52.0
_QR_SIZE: Final = 44.0
_ROW_H: Final = 5.2
_INK: Final = (20, 20, 20)
_MUTED: Final = (90, 90, 90)
_RULE: Final = (170, 170, 170)
_BAND: Final = (236, 240, 244)
_EXTENSIONS_CHARS: Final = 900


def participant_label(code: str) -> str:
    """ "Botswana (BW)", "European Union (EU)"; the bare code when it has no country name."""
    if code == "EU":
        return "European Union (EU)"
    country = pycountry.countries.get(alpha_2=code)
    name = getattr(country, "common_name", None) or getattr(country, "name", None)
    return f"{name} ({code})" if name else code


def _origin_label(origin: list[str]) -> str:
    if origin == [MIXED_ORIGIN]:
        return "Mixed origin (parcels of more than one country of origin)"
    return ", ".join(participant_label(code) for code in origin)


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def _fonts_dir() -> Path:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("matplotlib (a kpledger dependency) is missing: reinstall kpledger")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


class _Sheet(FPDF):
    """The page: footer with the hash and page numbers on every page."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text
        fonts = _fonts_dir()
        self.add_font(_FONT, "", fonts / "DejaVuSans.ttf")
        self.add_font(_FONT, "B", fonts / "DejaVuSans-Bold.ttf")
        self.add_font(_MONO, "", fonts / "DejaVuSansMono.ttf")
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(_FONT, "", 7)
        self.set_text_color(*_MUTED)
        self.cell(0, 4, self._footer_text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 3.5, f"Page {self.page_no()} of {{nb}}", align="R")


def certificate_pdf(certificate: Certificate, *, base_url: str, document_hash: bytes | None = None) -> bytes:
    """The printed certificate as PDF bytes.

    ``base_url`` is the verification page's address (the QR code links to
    ``<base_url>/v/<number>?h=<hash>``); ``document_hash`` is the anchored hash, by
    default the certificate document's own (RFC 8785 + SHA-256).
    """
    digest = certificate.document_hash() if document_hash is None else document_hash
    link = verification_link(base_url, certificate.number, digest)
    pdf = _Sheet(f"Kimberley Process Certificate {certificate.number} · document hash {hash_hex(digest)}")
    pdf.set_title(f"Kimberley Process Certificate {certificate.number}")
    pdf.set_subject("Kimberley Process Certificate, anchored on kpledger")
    pdf.set_creator("kpledger")
    pdf.alias_nb_pages()
    pdf.add_page()
    _header(pdf, certificate, link)
    _section(pdf, "Certificate")
    _row(pdf, "Certificate number", certificate.number, mono=True)
    _row(pdf, "Issuing authority", certificate.issuing_authority)
    _row(pdf, "Exporting participant", participant_label(certificate.exporting_participant))
    _row(pdf, "Importing participant", participant_label(certificate.importing_participant))
    _row(pdf, "Date of issue", certificate.issued_on.isoformat())
    _row(
        pdf, "Date of expiry", f"{certificate.expires_on.isoformat()} (valid until 23:59:59 UTC of this day)"
    )
    _section(pdf, "Exporter and importer")
    _row(
        pdf,
        "Exporter",
        _party(certificate.exporter.name, certificate.exporter.address, certificate.exporter.licence),
    )
    _row(
        pdf,
        "Importer",
        _party(certificate.importer.name, certificate.importer.address, certificate.importer.licence),
    )
    _section(pdf, "The shipment")
    _row(pdf, "Country of origin", _origin_label(list(certificate.origin)))
    _row(pdf, "HS code", f"{certificate.hs_code} — {HS_DESCRIPTIONS.get(certificate.hs_code, '')}")
    _row(pdf, "Carat weight", f"{_amount(certificate.carats)} carats")
    _row(pdf, "Value", f"US$ {_amount(certificate.value_usd)}")
    _row(pdf, "Number of parcels", f"{certificate.parcels:,}")
    if certificate.quality:
        _row(pdf, "Quality characteristics", _mapping_text(certificate.quality))
    if certificate.extensions:
        _row(pdf, "Other data (extensions)", _mapping_text(certificate.extensions))
    _validation_box(pdf)
    _verification(pdf, digest, link)
    return bytes(pdf.output())


def _header(pdf: FPDF, certificate: Certificate, link: str) -> None:
    top = pdf.get_y()
    width = pdf.epw - _QR_SIZE - 6
    pdf.set_text_color(*_INK)
    pdf.set_font(_FONT, "B", 20)
    pdf.multi_cell(width, 9, "Kimberley Process Certificate", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, "", 12)
    pdf.multi_cell(width, 6.5, f"No. {certificate.number}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, "", 9)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(
        width,
        4.5,
        f"Rough diamonds from {participant_label(certificate.exporting_participant)} to "
        f"{participant_label(certificate.importing_participant)}. Issued under the Kimberley Process "
        "Certification Scheme; its terms are anchored on the kpledger ledger.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    _qr(pdf, link, pdf.w - _MARGIN - _QR_SIZE, top)
    pdf.set_font(_FONT, "", 7)
    pdf.set_xy(pdf.w - _MARGIN - _QR_SIZE, top + _QR_SIZE + 0.5)
    pdf.cell(_QR_SIZE, 3.5, "Scan to verify on the ledger", align="C")
    pdf.set_y(max(pdf.get_y(), top + _QR_SIZE + 6))


def _qr(pdf: FPDF, link: str, x: float, y: float) -> None:
    """The QR code as filled squares (crisp at any print resolution), with its quiet zone."""
    code = segno.make_qr(link, error="m")
    matrix = code.matrix
    modules = len(matrix) + 8  # 4 light modules of quiet zone on each side
    size = _QR_SIZE / modules
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, _QR_SIZE, _QR_SIZE, style="F")
    pdf.set_fill_color(0, 0, 0)
    for row, line in enumerate(matrix):
        column = 0
        while column < len(line):
            if not line[column]:
                column += 1
                continue
            start = column
            while column < len(line) and line[column]:
                column += 1
            # One rectangle per run of dark modules: fewer objects, no hairline seams.
            pdf.rect(x + (start + 4) * size, y + (row + 4) * size, (column - start) * size, size, style="F")


def _section(pdf: FPDF, title: str) -> None:
    pdf.ln(2.5)
    pdf.set_fill_color(*_BAND)
    pdf.set_text_color(*_INK)
    pdf.set_font(_FONT, "B", 10)
    pdf.cell(0, 6.5, f"  {title}", fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _row(pdf: FPDF, label: str, value: str, *, mono: bool = False) -> None:
    value_w = pdf.epw - _LABEL_W
    pdf.set_font(_MONO if mono else _FONT, "", 10)
    lines = pdf.multi_cell(value_w, _ROW_H, value, dry_run=True, output="LINES")
    count = len(lines) if isinstance(lines, list) else 1
    height = _ROW_H * max(1, count) + 1.6
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_font(_FONT, "", 8.5)
    pdf.set_text_color(*_MUTED)
    pdf.set_xy(pdf.l_margin + 2, top + 0.8)
    pdf.multi_cell(_LABEL_W - 2, _ROW_H, label)
    pdf.set_text_color(*_INK)
    pdf.set_font(_MONO if mono else _FONT, "", 10)
    pdf.set_xy(pdf.l_margin + _LABEL_W, top + 0.8)
    pdf.multi_cell(value_w, _ROW_H, value, align="L")
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    pdf.line(pdf.l_margin, top + height, pdf.w - pdf.r_margin, top + height)
    pdf.set_xy(pdf.l_margin, top + height)


def _party(name: str, address: str, licence: str | None) -> str:
    text = f"{name}\n{address}"
    return f"{text}\nLicence: {licence}" if licence else text


def _mapping_text(value: dict[str, Any]) -> str:
    lines = []
    for key, item in value.items():
        shown = item if isinstance(item, str) else json.dumps(_plain(item), ensure_ascii=False)
        lines.append(f"{key}: {shown}")
    text = "\n".join(lines)
    if len(text) > _EXTENSIONS_CHARS:
        text = text[: _EXTENSIONS_CHARS - 1] + "… (shortened; the document holds it all)"
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_plain(child) for child in value]
    return value


def _validation_box(pdf: FPDF) -> None:
    height = 24.0
    pdf.ln(1)
    if pdf.get_y() + height + 8 > pdf.page_break_trigger:
        pdf.add_page()
    _section(pdf, "Validation by the exporting authority")
    top = pdf.get_y() + 1
    pdf.set_draw_color(*_RULE)
    pdf.rect(pdf.l_margin, top, pdf.epw, height)
    half = pdf.epw / 2
    pdf.set_font(_FONT, "", 8)
    pdf.set_text_color(*_MUTED)
    for index, caption in enumerate(
        ("Name and signature of the authorised officer", "Official stamp and date")
    ):
        x = pdf.l_margin + index * half
        pdf.line(x + 4, top + height - 8, x + half - 4, top + height - 8)
        pdf.set_xy(x + 4, top + height - 7)
        pdf.cell(half - 8, 4, caption)
    pdf.set_xy(pdf.l_margin, top + height + 1)


def _verification(pdf: FPDF, digest: bytes, link: str) -> None:
    if pdf.get_y() + 30 > pdf.page_break_trigger:
        pdf.add_page()
    _section(pdf, "Verify this certificate")
    pdf.set_text_color(*_INK)
    pdf.set_font(_FONT, "", 9)
    pdf.multi_cell(
        0,
        4.6,
        "Scan the QR code or open the link, and compare the terms the ledger shows with this paper. The "
        "hash identifies the certificate's JSON document (SHA-256 of its RFC 8785 canonical form).",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(_FONT, "", 8.5)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 4.5, "Document hash (SHA-256, RFC 8785)", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    pdf.set_font(_MONO, "", 9.5)
    pdf.multi_cell(0, 5, hash_hex(digest), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, "", 8.5)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 4.5, "Verification link", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    pdf.set_font(_MONO, "", 8)
    pdf.multi_cell(0, 4.2, link, link=link, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
