"""One place that turns errors into HTTP answers, each with an :class:`ErrorOut` body.

========================================  ====  ==========================
error                                     HTTP  ``error``
========================================  ====  ==========================
:class:`ApiError` (raised by the routes)  its   its own
DocumentError, JSON syntax / encoding     400   invalid_json
DocumentError, any other rule             422   invalid_document
request validation (FastAPI)              422   invalid_request
NotFound                                  404   not_found
ConfigurationError                        503   not_configured
ChainError (ConnectionFailed, RpcError)   503   chain_unavailable
other KPLedgerError                       400   invalid_request
HTTP errors (404 route, 405, 400 form)    same  not_found, method_not_allowed…
anything else                             500   internal_error (a bug)
========================================  ====  ==========================
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kpledger.api.models import ErrorOut, ProblemOut
from kpledger.errors import ChainError, ConfigurationError, DocumentError, KPLedgerError, NotFound, Problem

log = logging.getLogger("kpledger.api")

_SYNTAX_RULES: Final = frozenset({"json.invalid", "json.not_utf8", "json.bom"})
_HTTP_NAMES: Final = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An answer a route decided on: status, stable error kind, message, problems."""

    def __init__(self, status: int, error: str, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.problems = list(problems)


class ChainUnavailable(ChainError):
    """The chain could not be read while answering (the library reported it in its
    verification result rather than raising)."""


def error_response(
    status: int,
    error: str,
    message: str,
    problems: Sequence[Problem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorOut(error=error, message=message, problems=[ProblemOut.of(p) for p in problems])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DocumentError, _document_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(ConfigurationError, _not_configured)
    app.add_exception_handler(ChainError, _chain_error)
    app.add_exception_handler(KPLedgerError, _library_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def document_status(error: DocumentError) -> tuple[int, str]:
    """400 for a body that is not readable JSON at all, 422 for one that breaks a rule."""
    if error.problems and all(p.rule in _SYNTAX_RULES for p in error.problems):
        return 400, "invalid_json"
    return 422, "invalid_document"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.message, exc.problems)


async def _document_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DocumentError)
    status, error = document_status(exc)
    return error_response(status, error, str(exc), exc.problems)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "not_found", str(exc))


async def _not_configured(request: Request, exc: Exception) -> JSONResponse:
    log.error("service not configured: %s", exc)
    return error_response(
        503,
        "not_configured",
        f"the service cannot reach its ledger deployment: {exc}",
        headers={"Retry-After": "30"},
    )


async def _chain_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("chain unavailable: %s", exc)
    return error_response(
        503,
        "chain_unavailable",
        f"the ledger cannot be read right now; try again shortly ({exc})",
        headers={"Retry-After": "5"},
    )


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(400, "invalid_request", str(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_problem(e) for e in exc.errors()]
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return error_response(422, "invalid_request", f"the request is invalid: {summary}", problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = _HTTP_NAMES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; see /docs for the API"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, error, message, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


def _problem(error: Any) -> Problem:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
    return Problem(
        ".".join(location) or "$", str(error.get("type", "invalid")), str(error.get("msg", "invalid"))
    )
