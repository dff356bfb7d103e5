"""The exchange routes of a national node (issue 15): the public envelope drop, the relay,
and the private inbox/outbox routes of the node's own participant.

Private routes need either ``Authorization: Bearer <token>`` (tokens are stored as
SHA-256 digests, never in clear) or a request signed by an authority key of the node's
participant (the ``x-kpledger-*`` pull headers, EIP-712 ``Pull``); nothing is anonymous.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kpledger.exchange.envelope import MAX_ENVELOPE_BYTES
from kpledger.exchange.node import ExchangeNode
from kpledger.exchange.store import InboxEntry


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def router(node: ExchangeNode) -> APIRouter:
    api = APIRouter(prefix="/v1/exchange", tags=["exchange"])

    def private(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and node.store.has_token(token_digest(header[7:].strip())):
            return
        if "x-kpledger-signature" in request.headers and node.check_pull(
            node.participant, 0, dict(request.headers)
        ):
            return
        raise HTTPException(401, "private route: send a bearer token or a request signed by an authority key")

    @api.post("/envelopes")
    async def drop(request: Request) -> JSONResponse:
        """Deliver an envelope (idempotent by envelope id). 200 + delivery receipt,
        422 + refusal receipt (with the typed reason), 202 when held by this relay."""
        raw = await request.body()
        if len(raw) > MAX_ENVELOPE_BYTES:
            raw = raw[: MAX_ENVELOPE_BYTES + 1]
        answer = await asyncio.to_thread(node.receive, raw)
        return JSONResponse(answer.body, status_code=answer.status)

    @api.get("/relay/{participant}")
    async def held(participant: str, request: Request, after: int = 0) -> dict[str, Any]:
        """Envelopes held for ``participant``: a pull signed by one of its authorities."""
        participant = participant.upper()
        if not await asyncio.to_thread(node.check_pull, participant, after, dict(request.headers)):
            raise HTTPException(401, f"a pull needs a fresh request signed by an authority of {participant}")
        items = node.store.held_for(participant, after)
        return {"envelopes": [{"seq": seq, "id": i, "envelope": body.decode()} for seq, i, body in items]}

    @api.post("/relay/receipts")
    async def hand_back(request: Request) -> dict[str, bool]:
        signed = await request.json()
        if not isinstance(signed, dict) or not await asyncio.to_thread(node.relay_receipt, signed):
            raise HTTPException(422, "not a receipt signed by an authority of its recipient")
        return {"stored": True}

    @api.get("/outbox", dependencies=[Depends(private)])
    def outbox_list(state: str | None = None) -> dict[str, Any]:
        entries = node.store.outbox_entries(state)
        return {"counts": node.store.outbox_counts(), "envelopes": [_outbox(e) for e in entries]}

    @api.get("/outbox/{envelope_id}", dependencies=[Depends(private)])
    def outbox_one(envelope_id: str) -> dict[str, Any]:
        entry = node.store.outbox_entry(envelope_id)
        if entry is None:
            raise HTTPException(404, f"no envelope {envelope_id} in the outbox")
        return _outbox(entry) | {"receipt": entry.receipt}

    @api.get("/inbox", dependencies=[Depends(private)])
    def inbox_list(after: int = 0, state: str | None = None) -> dict[str, Any]:
        return {"envelopes": [e.summary() for e in node.store.inbox_entries(after=after, state=state)]}

    @api.get("/inbox/stream", dependencies=[Depends(private)])
    async def inbox_stream(request: Request, after: int = 0) -> StreamingResponse:
        """Server-sent events: one ``delivered`` event per inbox entry after ``after``
        (or ``Last-Event-ID``), then each new one the moment it is stored."""
        start = int(request.headers.get("last-event-id", after))
        queue: asyncio.Queue[InboxEntry] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def listener(entry: InboxEntry) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, entry)

        node.on_delivery(listener)

        async def events() -> AsyncIterator[bytes]:
            last = start
            try:
                for entry in node.store.inbox_entries(after=start):
                    last = entry.seq
                    yield _event(entry)
                while not await request.is_disconnected():
                    try:
                        entry = await asyncio.wait_for(queue.get(), timeout=5)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if entry.seq > last:
                        last = entry.seq
                        yield _event(entry)
            finally:
                node.off_delivery(listener)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    @api.get("/inbox/{envelope_id}", dependencies=[Depends(private)])
    def inbox_one(envelope_id: str) -> dict[str, Any]:
        entry = node.store.inbox_by_id(envelope_id)
        if entry is None:
            raise HTTPException(404, f"no envelope {envelope_id} in the inbox")
        return entry.summary() | {"document": entry.document, "proof": entry.proof, "receipt": entry.receipt}

    return api


def _event(entry: InboxEntry) -> bytes:
    return f"id: {entry.seq}\nevent: delivered\ndata: {json.dumps(entry.summary())}\n\n".encode()


def _outbox(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "recipient": entry.recipient,
        "number": entry.number,
        "document_hash": entry.document_hash,
        "state": entry.state,
        "reason": entry.reason,
        "detail": entry.detail,
        "attempts": entry.attempts,
    }
