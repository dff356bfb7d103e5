"""The FastAPI application: versioned read-only routes, the verification page, OpenAPI
docs at ``/docs`` (served from the package, no CDN).

Run it with ``uvicorn --factory kpledger.api.app:create_app`` (settings from
``KPLEDGER_*``, see :class:`~kpledger.api.settings.ApiSettings`), or build it in Python
with a :class:`~kpledger.ledger.Ledger` of your own: ``create_app(ledger)``.

The service never holds anyone's keys and has no write route: anchoring and every other
transition are signed by their authors with the library or the CLI.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpledger.api import errors
from kpledger.api.fastpath import CachedVerifications
from kpledger.api.routes import certificates, health, participants, verify
from kpledger.api.settings import ApiSettings
from kpledger.api.source import LedgerSource
from kpledger.ledger import Ledger

STATIC: Final = resources.files("kpledger.api") / "static"

PAGE_HEADERS: Final = {
    # The page loads nothing from elsewhere and talks only to this service.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

DESCRIPTION: Final = """\
Verify Kimberley Process certificates against the kpledger ledger.

* `POST /v1/verify` takes a document hash, a certificate JSON body or a file, and answers
  with the verdict (VALID / INVALID), three fragments (integrity, status, identity) with
  stable codes, the anchored terms and the certificate's timeline.
* `GET /v1/certificates/{number}` and `/v1/certificates/by-hash/{hash}`: a record and its
  timeline. `GET /v1/participants[/{code}]`: participants and their status history.

Read-only: the service holds no keys. Errors always have a JSON body
`{"error", "message", "problems"}`; 503 means the ledger cannot be read right now.
The web page at `/` hashes a document in the browser and sends only the hash.
"""


def create_app(ledger: Ledger | None = None, settings: ApiSettings | None = None) -> FastAPI:
    """The service. Without ``ledger``, it connects to ``settings.rpc`` with the deployment
    record at ``settings.deployment_path`` on first use (and again after the node is lost)."""
    settings = settings or ApiSettings()  # type: ignore[call-arg]  # fields come from KPLEDGER_*
    app = _fastapi()
    app.state.settings = settings
    app.state.ledger_source = LedgerSource(settings, ledger)

    errors.install(app)
    for router in (health.router, verify.router, certificates.router, participants.router):
        app.include_router(router)
    _page(app)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
        )
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    # Outermost: cached verifications by hash skip the framework (see kpledger.api.fastpath).
    app.add_middleware(CachedVerifications, source=app.state.ledger_source, cors=bool(settings.cors_origins))
    return app


def _fastapi() -> FastAPI:
    options: dict[str, Any] = {
        "title": "kpledger verification API",
        "version": health.VERSION,
        "description": DESCRIPTION,
        "openapi_tags": [
            {"name": "verification", "description": "Is this certificate genuine and in force?"},
            {"name": "certificates", "description": "On-chain records and timelines"},
            {"name": "participants", "description": "KP participants and their status history"},
            {"name": "service", "description": "Health"},
        ],
    }
    try:  # Swagger UI and ReDoc from the package rather than a CDN (offline sites, strict networks)
        from fastapi_offline import FastAPIOffline
    except ImportError:  # pragma: no cover - fall back to FastAPI's CDN-hosted docs
        return FastAPI(**options)
    return FastAPIOffline(**options)


def _page(app: FastAPI) -> None:
    index = (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(index, headers=PAGE_HEADERS)

    # The permalink a printed certificate's QR code holds: /v/<number>?h=<hash> (see
    # kpledger.printing.link). The same page opens on that certificate's verdict; the
    # number may hold '/', hence the path converter.
    @app.get("/v/{number:path}", include_in_schema=False)
    def permalink(number: str) -> HTMLResponse:
        return HTMLResponse(index, headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(packages=[("kpledger.api", "static")]), name="static")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413: by ``Content-Length`` before
    reading, and while reading for chunked bodies."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(send, 400, "invalid_request", "the Content-Length header is not a number")
            return
        if declared is not None and declared > self.limit:
            await _refuse(send, 413, "payload_too_large", self._too_large(declared))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise errors.ApiError(413, "payload_too_large", self._too_large(received))
            return message

        await self.app(scope, limited, send)

    def _too_large(self, size: int) -> str:
        return (
            f"the request body is {'at least ' if size else ''}{size:,} bytes; this service accepts at most"
            f" {self.limit:,} bytes (a JSON certificate may have at most 1 MiB)"
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


async def _refuse(send: Send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message, "problems": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
