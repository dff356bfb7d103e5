"""``POST /v1/verify``: a document hash, a certificate JSON body or a file upload in, the
library's verification out."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kpledger.api.deps import ledger_source
from kpledger.api.errors import ApiError, ChainUnavailable
from kpledger.api.models import (
    HASH_PATTERN,
    CertificateDocument,
    ErrorOut,
    HashRequest,
    VerificationOut,
)
from kpledger.api.source import LedgerSource
from kpledger.certificate import load_document
from kpledger.errors import Problem
from kpledger.verify import Code, Verification, verify_document, verify_hash

router = APIRouter(prefix="/v1", tags=["verification"])

Subject = tuple[Literal["hash"], bytes] | tuple[Literal["document"], bytes]

_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {
        "model": ErrorOut,
        "description": "the body is not JSON (or not UTF-8), or the upload is malformed",
    },
    413: {"model": ErrorOut, "description": "the body is larger than the service's limit"},
    415: {
        "model": ErrorOut,
        "description": "the content type is neither application/json nor multipart/form-data",
    },
    422: {"model": ErrorOut, "description": "the hash or the document breaks a rule; `problems` lists them"},
    503: {"model": ErrorOut, "description": "the ledger cannot be read right now"},
}

_HASH_SCHEMA: Final = {
    "title": "HashRequest",
    "description": HashRequest.__doc__,
    "type": "object",
    "required": ["hash"],
    "properties": {
        "hash": {
            "type": "string",
            "pattern": HASH_PATTERN,
            "description": HashRequest.model_fields["hash"].description,
        }
    },
    "additionalProperties": False,
}
_DOCUMENT_SCHEMA: Final = {
    "title": "CertificateDocument",
    "description": CertificateDocument.__doc__,
    "type": "object",
    "not": {"required": ["hash"]},
    "additionalProperties": True,
    "examples": CertificateDocument.model_config.get("json_schema_extra", {}).get("examples", []),  # type: ignore[union-attr]
}
_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": 'One of: a JSON object `{"hash": "0x…"}`; a certificate document as the JSON body (any'
        " object without a `hash` member); a file as multipart/form-data field `file`.",
        "content": {
            "application/json": {"schema": {"oneOf": [_HASH_SCHEMA, _DOCUMENT_SCHEMA]}},
            "multipart/form-data": {
                "schema": {
                    "title": "FileUpload",
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the document"}
                    },
                }
            },
        },
    }
}


@router.post(
    "/verify",
    response_model=VerificationOut,
    responses=_ERRORS,
    openapi_extra=_BODY,
    summary="Verify a certificate by hash, JSON body or file",
)
async def verify(request: Request, source: Annotated[LedgerSource, Depends(ledger_source)]) -> Response:
    """Is this certificate anchored, in force, and issued by an active participant?

    The answer is 200 whatever the verdict (VALID, INVALID): read `verdict`, `code` and
    the three `fragments`. A JSON document is hashed with RFC 8785 and its stated terms
    are compared with the anchored ones (a document with altered carats is TAMPERED or
    TERMS_MISMATCH); by hash alone, a changed document is simply NOT_ANCHORED.
    """
    subject = await _subject(request)
    verification = await run_in_threadpool(_verify, source, subject)
    # The library's own dict, as documented by VerificationOut (the schema tests hold the two
    # together): re-validating it through pydantic would only cost time on the hot path.
    return Response(json.dumps(verification.to_dict(), separators=(",", ":")), media_type="application/json")


async def _subject(request: Request) -> Subject:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return _json_subject(await request.body())
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(
                    422,
                    "invalid_request",
                    "the multipart body has no file in field `file`",
                    [Problem("file", "missing", "attach the certificate file as form field `file`")],
                )
            return ("document", await upload.read())
    shown = media or "none"
    raise ApiError(
        415,
        "unsupported_media_type",
        f'content type {shown!r} is not accepted: send application/json ({{"hash": "0x…"}} or a certificate'
        " document) or multipart/form-data with a field `file`",
    )


def _json_subject(body: bytes) -> Subject:
    document = load_document(body)  # the library's strict rules; DocumentError -> 400/422
    if "hash" not in document:
        return ("document", body)
    try:
        request = HashRequest.model_validate(document)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]) or "$", e["type"], e["msg"]) for e in exc.errors()
        ]
        kind = "invalid_hash" if all(p.field == "hash" for p in problems) else "invalid_request"
        raise ApiError(422, kind, "; ".join(f"{p.field}: {p.message}" for p in problems), problems) from None
    return ("hash", request.digest)


def _verify(source: LedgerSource, subject: Subject) -> Verification:
    with source.session() as (ledger, _):
        kind, value = subject
        verification = verify_hash(ledger, value) if kind == "hash" else verify_document(ledger, value)
    if verification.code is Code.CHAIN_UNAVAILABLE:
        source.mark_suspect()
        raise ChainUnavailable(verification.message)
    return verification
