"""Read a printed PDF the way a person and a phone would: render it with poppler
(pdftoppm), decode its QR code with zbar (zbarimg), read its text with pdftotext."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `make chromium` installs zbar-tools and poppler-utils")
    return path


def render(pdf: Path, dpi: int = 150) -> list[Path]:
    """Each page as a PNG next to the PDF."""
    prefix = pdf.with_suffix("")
    subprocess.run([tool("pdftoppm"), "-r", str(dpi), "-png", str(pdf), str(prefix)], check=True, timeout=60)
    return sorted(pdf.parent.glob(prefix.name + "-*.png"))


def decode_qr(image: Path) -> list[str]:
    """Every QR code zbar finds in an image, as text."""
    done = subprocess.run(
        [tool("zbarimg"), "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 4), done.stderr.decode()  # 4: no symbol found
    return [line for line in done.stdout.decode("utf-8").splitlines() if line]


def pdf_text(pdf: Path) -> str:
    done = subprocess.run(
        [tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode("utf-8")
