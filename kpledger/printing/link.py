"""The verification permalink a printed certificate's QR code holds.

Format: ``<base>/v/<number>?h=<hash>``. ``<number>`` is the certificate number with
every character outside ``A-Z a-z 0-9 - _ . ~`` percent-encoded (space is ``%20``,
``/`` is ``%2F``), ``<hash>`` the document hash as ``0x`` and 64 lower-case hex digits.
The page looks the certificate up by the hash (the number is for people and for a
cross-check: a hash anchored under another number is shown as a mismatch).
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote, urlsplit

from kpledger.certificate.hashing import hash_hex, parse_hash
from kpledger.errors import ConfigurationError, DocumentError, Problem

__all__ = ["check_base_url", "parse_verification_link", "verification_link"]


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash, or ConfigurationError if it is not an
    http(s) URL without query or fragment."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"the verification page's base URL must look like https://verify.example.org, not {base_url!r}; "
            "set --base-url or KPLEDGER_PUBLIC_URL"
        )
    return base_url.rstrip("/")


def verification_link(base_url: str, number: str, document_hash: bytes) -> str:
    """The permalink of a certificate on the verification page at ``base_url``."""
    return f"{check_base_url(base_url)}/v/{quote(number, safe='')}?h={hash_hex(document_hash)}"


def parse_verification_link(link: str) -> tuple[str, bytes]:
    """The number and document hash a permalink names (DocumentError if it names none)."""
    parts = urlsplit(link)
    marker = "/v/"
    if marker not in parts.path:
        raise DocumentError(
            [Problem("link", "link.format", "a verification link has the form <base>/v/<number>?h=<hash>")]
        )
    number = unquote(parts.path.rsplit(marker, 1)[1])
    hashes = parse_qs(parts.query).get("h", [])
    if len(hashes) != 1:
        raise DocumentError(
            [Problem("link", "link.hash", "a verification link carries one document hash, as ?h=0x…")]
        )
    return number, parse_hash(hashes[0], field="link.h")
