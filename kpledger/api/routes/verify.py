"""``POST /v1/verify``: a document hash, a certificate JSON body or a file upload in, the
library's verification out."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

import orjson
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
from kpledger.verify import Code, Verification, verify_document

router = APIRouter(prefix="/v1", tags=["verification"])

Subject = tuple[Literal["hash"], bytes] | tuple[Literal["document"], bytes]

_PLAIN_HASH: Final = re.compile(
    rb'[ \t\r\n]*\{[ \t\r\n]*"hash"[ \t\r\n]*:[ \t\r\n]*"(?:0[xX])?([0-9a-fA-F]{64})"[ \t\r\n]*\}[ \t\r\n]*'
)
"""``{"hash": "0x…"}`` and nothing else: what the page sends. Such a body passes every rule of
the general path (one member, a well-formed hash), so it skips the JSON parser and pydantic."""

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
    # The library's own dict, as documented by VerificationOut (the schema tests hold the two
    # together): re-validating it through pydantic would only cost time on the hot path.
    if subject[0] == "hash":
        # From memory when nothing changed it (no I/O, so no thread hop); else read the chain.
        body = source.cached_json(subject[1])
        if body is None:
            body = await run_in_threadpool(_verify_hash, source, subject[1])
        return Response(body, media_type="application/json")
    verification = await run_in_threadpool(_verify_document, source, subject[1])
    return Response(orjson.dumps(verification.to_dict()), media_type="application/json")


async def _subject(request: Request) -> Subject:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        body = await request.body()
        digest = plain_hash(body)
        return ("hash", digest) if digest is not None else _json_subject(body)
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


def plain_hash(body: bytes) -> bytes | None:
    """The digest of a ``{"hash": "0x…"}`` body, or None for any other body."""
    plain = _PLAIN_HASH.fullmatch(body) if len(body) < 256 else None
    return bytes.fromhex(plain.group(1).decode("ascii")) if plain is not None else None


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


def _verify_hash(source: LedgerSource, digest: bytes) -> bytes:
    verification, body = source.verify_hash_json(digest)
    if verification.code is Code.CHAIN_UNAVAILABLE:
        source.mark_suspect()
        raise ChainUnavailable(verification.message)
    return body


def _verify_document(source: LedgerSource, document: bytes) -> Verification:
    with source.session() as (ledger, head):
        verification = verify_document(ledger, document, block=head)
    if verification.code is Code.CHAIN_UNAVAILABLE:
        source.mark_suspect()
        raise ChainUnavailable(verification.message)
    return verification
