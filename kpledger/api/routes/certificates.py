"""``GET /v1/certificates/…``: a certificate's on-chain record and timeline."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path

from kpledger.api.deps import ledger_source
from kpledger.api.errors import ApiError
from kpledger.api.models import (
    HASH_PATTERN,
    NUMBER_PATTERN,
    CertificateDetailOut,
    CertificateRecordOut,
    ErrorOut,
    TimelineEntryOut,
)
from kpledger.api.source import LedgerSource
from kpledger.certificate import parse_hash
from kpledger.errors import DocumentError, NotFound, Problem
from kpledger.ledger import CertificateRef, Ledger

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])

_NUMBER: Final = re.compile(NUMBER_PATTERN.strip("^$"))
_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ErrorOut, "description": "no such certificate on the ledger"},
    422: {"model": ErrorOut, "description": "the hash or number is malformed"},
    503: {"model": ErrorOut, "description": "the ledger cannot be read right now"},
}


# Declared before /{number}: a number never starts with "by-hash" (it starts with two capitals).
@router.get(
    "/by-hash/{document_hash}",
    response_model=CertificateDetailOut,
    responses=_ERRORS,
    summary="A certificate by document hash",
)
def by_hash(
    document_hash: Annotated[
        str,
        Path(
            description="the document hash, 0x and 64 hex digits", json_schema_extra={"pattern": HASH_PATTERN}
        ),
    ],
    source: Annotated[LedgerSource, Depends(ledger_source)],
) -> CertificateDetailOut:
    """The record and every transition of the certificate anchored under this hash."""
    if document_hash != document_hash.strip():
        raise ApiError(
            422,
            "invalid_hash",
            "the hash has spaces around it",
            [Problem("document_hash", "hash.format", "the hash has spaces around it")],
        )
    try:
        digest = parse_hash(document_hash, field="document_hash")
    except DocumentError as exc:
        raise ApiError(422, "invalid_hash", exc.problems[0].message, exc.problems) from None
    return source.read(
        lambda ledger, head: _detail(ledger, digest, head, f"with document hash 0x{digest.hex()}")
    )


@router.get(
    "/{number:path}",
    response_model=CertificateDetailOut,
    responses=_ERRORS,
    summary="A certificate by number",
)
def by_number(
    number: Annotated[
        str,
        Path(
            description="the certificate number, e.g. `BW 2026/000123` (URL-encode spaces and slashes)",
            json_schema_extra={"pattern": NUMBER_PATTERN},
        ),
    ],
    source: Annotated[LedgerSource, Depends(ledger_source)],
) -> CertificateDetailOut:
    """The record and every transition of the certificate with this number (any case,
    as participant codes: numbers are upper case, so a typed `bw 2026/1` finds `BW 2026/1`)."""
    number = number.upper()
    if not _NUMBER.fullmatch(number):
        raise ApiError(
            422,
            "invalid_number",
            f"{number[:60]!r} is not a certificate number",
            [
                Problem(
                    "number",
                    "number.format",
                    "a certificate number is the exporting participant's code (two capitals) followed by"
                    " 3 to 32 of A-Z, 0-9, '-', '/' and space",
                )
            ],
        )
    return source.read(lambda ledger, head: _detail(ledger, number, head, f"numbered {number!r}"))


def _detail(ledger: Ledger, ref: CertificateRef, head: int, described: str) -> CertificateDetailOut:
    record = ledger.certificate(ref, block=head)
    if record is None:
        raise NotFound(f"no certificate {described} on the ledger (checked at block {head})")
    timeline = ledger.timeline(record.document_hash)
    return CertificateDetailOut(
        certificate=CertificateRecordOut.of(record),
        timeline=[TimelineEntryOut.of(e) for e in timeline],
        checked_at_block=head,
    )
