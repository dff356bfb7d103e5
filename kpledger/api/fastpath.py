"""Answer ``POST /v1/verify {"hash": …}`` from the verification cache before the framework.

Why: once a verification is in memory (:mod:`kpledger.verify_cache`) the answer is a
dictionary lookup and a few bytes, yet routing, dependency injection, the request object
and the middleware stack cost several times that per request. This ASGI middleware sits
outermost and handles exactly one shape of request: ``POST /v1/verify`` with
``Content-Type: application/json``, a body of one small message that is
``{"hash": "0x…"}`` and nothing else, and a cached answer that still holds. The answer is
byte for byte the one the route would give (the route builds it with the same
:meth:`~kpledger.api.source.LedgerSource.cached_json`). Anything else — another route, a
document, a hash not cached, a cross-origin request while CORS is on — goes to the app
unchanged, with the body it was sent.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpledger.api.routes.verify import plain_hash
from kpledger.api.source import LedgerSource

_PATH: Final = "/v1/verify"
_MAX_BODY: Final = 255


class CachedVerifications:
    """The middleware; ``cors`` says whether CORS headers may be needed (then requests
    carrying an ``Origin`` take the normal path, where CORSMiddleware adds them)."""

    def __init__(self, app: ASGIApp, source: LedgerSource, *, cors: bool) -> None:
        self.app = app
        self.source = source
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != _PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        json_body = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
            elif name == b"origin" and self.cors:
                json_body = False
                break
        if not json_body:
            await self.app(scope, receive, send)
            return
        first = await receive()
        body = first.get("body", b"")
        if not first.get("more_body", False) and len(body) <= _MAX_BODY:
            digest = plain_hash(body)
            answer = self.source.cached_json(digest) if digest is not None else None
            if answer is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(answer)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": answer})
                return
        await self.app(scope, _replay(first, receive), send)


def _replay(first: Message, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read first message again."""
    pending: list[Message] = [first]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
