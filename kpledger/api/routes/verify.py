"""``POST /v1/verify``: a document hash, a certificate JSON body or a file upload in, the
library's verification out. A batched certificate not yet revealed comes with its proof:
beside the hash or the document, as a bundle, or as a multipart part ``proof``."""

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
from kpledger.batch.holder_files import BUNDLE_FORMAT, HolderFileError, proof_from_document, split_bundle
from kpledger.certificate import document_hash, hash_document_bytes, load_document
from kpledger.errors import DocumentError, Problem
from kpledger.ledger import BatchProof
from kpledger.verify import Code, Verification, verify_document, verify_hash

router = APIRouter(prefix="/v1", tags=["verification"])

Subject = (
    tuple[Literal["hash"], bytes]
    | tuple[Literal["document"], bytes]
    | tuple[Literal["proved"], bytes | dict[str, Any], BatchProof]
)
"""What to verify: a hash; document bytes; or a hash (``bytes``) or document (``dict``) with
the proof of its batch."""

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

_HASH_PROPERTY: Final = {
    "type": "string",
    "pattern": HASH_PATTERN,
    "description": HashRequest.model_fields["hash"].description,
}
_HASH_SCHEMA: Final = {
    "title": "HashRequest",
    "description": HashRequest.__doc__,
    "type": "object",
    "required": ["hash"],
    "properties": {"hash": _HASH_PROPERTY},
    "additionalProperties": False,
}
_DOCUMENT_SCHEMA: Final = {
    "title": "CertificateDocument",
    "description": CertificateDocument.__doc__,
    "type": "object",
    "not": {"anyOf": [{"required": ["hash"]}, {"required": ["document"]}, {"required": ["format"]}]},
    "additionalProperties": True,
    "examples": CertificateDocument.model_config.get("json_schema_extra", {}).get("examples", []),  # type: ignore[union-attr]
}
_PROOF_SCHEMA: Final = {
    "type": "object",
    "description": "a `kpledger-batch-proof-v1` object (docs/batch.md): the proof of a batched certificate",
    "required": ["format", "leafEncoding", "leaf", "root", "proof"],
}
_HASH_PROOF_SCHEMA: Final = {
    "title": "HashWithProof",
    "description": "Verify a batched certificate by hash: the hash and its batch proof.",
    "type": "object",
    "required": ["hash", "proof"],
    "properties": {"hash": _HASH_PROPERTY, "proof": _PROOF_SCHEMA},
    "additionalProperties": False,
}
_DOCUMENT_PROOF_SCHEMA: Final = {
    "title": "DocumentWithProof",
    "description": "A batched certificate's document and its batch proof.",
    "type": "object",
    "required": ["document", "proof"],
    "properties": {"document": {"type": "object"}, "proof": _PROOF_SCHEMA},
    "additionalProperties": False,
}
_BUNDLE_SCHEMA: Final = {
    "title": "Bundle",
    "description": "A `kpledger-bundle-v1` file's object: document and proof in one (docs/batch.md).",
    "type": "object",
    "required": ["format", "document", "proof"],
    "properties": {
        "format": {"const": BUNDLE_FORMAT},
        "document": {"type": "object"},
        "proof": _PROOF_SCHEMA,
    },
    "additionalProperties": False,
}
_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": 'One of: a JSON object `{"hash": "0x…"}`, optionally with `"proof"` (a batched'
        " certificate's proof); a certificate document as the JSON body (any object without a `hash`,"
        ' `document` or `format` member); `{"document": …, "proof": …}`; a bundle object; a file as'
        " multipart/form-data field `file` (a certificate, any file, or a bundle) with an optional"
        " field `proof` (a proof file).",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _HASH_SCHEMA,
                        _HASH_PROOF_SCHEMA,
                        _DOCUMENT_SCHEMA,
                        _DOCUMENT_PROOF_SCHEMA,
                        _BUNDLE_SCHEMA,
                    ]
                }
            },
            "multipart/form-data": {
                "schema": {
                    "title": "FileUpload",
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the document, or a bundle file",
                        },
                        "proof": {
                            "type": "string",
                            "format": "binary",
                            "description": "optional: the batch proof file of a batched certificate",
                        },
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
    if subject[0] == "proved":
        verification = await run_in_threadpool(_verify_proved, source, subject[1], subject[2])
    else:
        verification = await run_in_threadpool(_verify_document, source, subject[1])
    return Response(orjson.dumps(verification.to_dict()), media_type="application/json")


async def _subject(request: Request) -> Subject:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        body = await request.body()
        digest = plain_hash(body)
        return ("hash", digest) if digest is not None else _json_subject(body)
    if media == "multipart/form-data":
        async with request.form(max_files=2, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(
                    422,
                    "invalid_request",
                    "the multipart body has no file in field `file`",
                    [Problem("file", "missing", "attach the certificate file as form field `file`")],
                )
            part = form.get("proof")
            proof_data = await part.read() if isinstance(part, UploadFile) else part
            return _file_subject(
                await upload.read(), proof_data.encode() if isinstance(proof_data, str) else proof_data
            )
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
    if "format" in document:
        if document["format"] != BUNDLE_FORMAT:
            raise _proof_error(
                "format",
                f"a body with `format` must be a {BUNDLE_FORMAT} bundle; a proof alone is not enough:"
                ' send {"hash": …, "proof": …} or {"document": …, "proof": …}',
            )
        return ("proved", *_bundle_parts(document, "$"))
    if "document" in document:
        return _document_with_proof(document)
    if "hash" not in document:
        return ("document", body)
    proof = document.pop("proof", None) if "proof" in document else None
    try:
        request = HashRequest.model_validate(document)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]) or "$", e["type"], e["msg"]) for e in exc.errors()
        ]
        kind = "invalid_hash" if all(p.field == "hash" for p in problems) else "invalid_request"
        raise ApiError(422, kind, "; ".join(f"{p.field}: {p.message}" for p in problems), problems) from None
    if proof is None:
        return ("hash", request.digest)
    return ("proved", request.digest, _proof_for(proof, request.digest, "proof"))


def _file_subject(data: bytes, proof_data: bytes | None) -> Subject:
    """A multipart upload: the file (a certificate, any file, or a bundle) and an
    optional proof file."""
    bundle = _as_bundle(data)
    if bundle is not None:
        document, proof = _bundle_parts(bundle, "file")
        if proof_data is not None:  # an explicit proof part wins over the bundle's own
            proof = _proof_file(proof_data, document_hash(document))
        return ("proved", document, proof)
    if proof_data is None:
        return ("document", data)
    try:
        digest, kind = hash_document_bytes(data)
    except DocumentError:
        return ("document", data)  # the document path reports what is wrong with it
    proof = _proof_file(proof_data, digest)
    if kind == "json":
        return ("proved", load_document(data), proof)
    return ("proved", digest, proof)


def _as_bundle(data: bytes) -> dict[str, Any] | None:
    if BUNDLE_FORMAT.encode() not in data[:4096]:
        return None
    try:
        value = load_document(data)
    except DocumentError:
        return None
    return value if value.get("format") == BUNDLE_FORMAT else None


def _bundle_parts(bundle: dict[str, Any], where: str) -> tuple[dict[str, Any], BatchProof]:
    try:
        holder = split_bundle(bundle, where="the bundle" if where == "$" else f"the bundle in `{where}`")
    except HolderFileError as exc:
        raise _proof_error(where, str(exc)) from None
    assert holder.document is not None
    return holder.document, holder.proof


def _document_with_proof(body: dict[str, Any]) -> Subject:
    extra = sorted(set(body) - {"document", "proof"})
    if extra or "proof" not in body or not isinstance(body["document"], dict):
        raise ApiError(
            422,
            "invalid_request",
            'a body with `document` is {"document": <certificate object>, "proof": <batch proof>}'
            + (f"; unexpected members: {', '.join(extra)}" if extra else ""),
            [
                Problem(
                    "document", "request.shape", "send the certificate as `document` and its proof as `proof`"
                )
            ],
        )
    document: dict[str, Any] = body["document"]
    return ("proved", document, _proof_for(body["proof"], document_hash(document), "proof"))


def _proof_file(data: bytes, digest: bytes) -> BatchProof:
    try:
        value = load_document(data)
    except DocumentError as exc:
        raise _proof_error("proof", f"the proof file is not JSON: {exc.problems[0].message}") from None
    if value.get("format") == BUNDLE_FORMAT:
        return _same_document(_bundle_parts(value, "proof")[1], digest, "proof")
    return _proof_for(value, digest, "proof")


def _proof_for(value: Any, digest: bytes, where: str) -> BatchProof:
    try:
        proof = proof_from_document(value, where=f"`{where}`")
    except HolderFileError as exc:
        raise _proof_error(where, str(exc)) from None
    return _same_document(proof, digest, where)


def _same_document(proof: BatchProof, digest: bytes, where: str) -> BatchProof:
    if proof.terms.document_hash != digest:
        raise _proof_error(
            where,
            f"the proof is for another document (0x{proof.terms.document_hash.hex()[:12]}…, certificate"
            f" {proof.terms.number}), not 0x{digest.hex()[:12]}…: send the proof of this certificate",
        )
    return proof


def _proof_error(where: str, message: str) -> ApiError:
    return ApiError(422, "invalid_proof", message, [Problem(where, "proof.invalid", message)])


def _verify_hash(source: LedgerSource, digest: bytes) -> bytes:
    verification, body = source.verify_hash_json(digest)
    if verification.code is Code.CHAIN_UNAVAILABLE:
        source.mark_suspect()
        raise ChainUnavailable(verification.message)
    return body


def _verify_proved(source: LedgerSource, subject: bytes | dict[str, Any], proof: BatchProof) -> Verification:
    with source.session() as (ledger, head):
        if isinstance(subject, bytes):
            verification = verify_hash(ledger, subject, batch_proof=proof, block=head)
        else:
            verification = verify_document(ledger, subject, batch_proof=proof, block=head)
    if verification.code is Code.CHAIN_UNAVAILABLE:
        source.mark_suspect()
        raise ChainUnavailable(verification.message)
    return verification


def _verify_document(source: LedgerSource, document: bytes) -> Verification:
    with source.session() as (ledger, head):
        verification = verify_document(ledger, document, block=head)
    if verification.code is Code.CHAIN_UNAVAILABLE:
        source.mark_suspect()
        raise ChainUnavailable(verification.message)
    return verification
