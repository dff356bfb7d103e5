"""A national exchange node: sends envelopes from its outbox until a signed receipt comes
back, receives envelopes into its inbox under the acceptance rules, and relays for
participants without a reachable inbox.

Why the order of writes matters (nothing lost, nothing twice):

- sending: the sealed envelope is committed to the outbox *before* the first push; a push
  is retried (exponential backoff, capped) until a receipt signed by an authority of the
  recipient settles it as delivered or refused. A crash between push and settle only
  causes one more push of the same bytes;
- receiving: the envelope id is the inbox's key. A second push of the same envelope gets
  the stored receipt back (idempotent); another envelope for a certificate already
  received is a replay. The entry and its receipt are committed *before* the receipt
  is answered, so a receipt never names an envelope the recipient could lose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from kpledger.chain.sender import Signer
from kpledger.errors import KPLedgerError
from kpledger.exchange import eip712, receipt
from kpledger.exchange.acceptance import Acceptor
from kpledger.exchange.directory import Directory, ExchangeKey
from kpledger.exchange.envelope import Envelope, Payload, parse, seal
from kpledger.exchange.keys import Keyring
from kpledger.exchange.refusal import EnvelopeRefused, Refusal
from kpledger.exchange.store import ExchangeStore, InboxEntry, OutboxEntry
from kpledger.ledger import Ledger

log = logging.getLogger("kpledger.exchange")

BACKOFF_FIRST = 0.2
BACKOFF_CAP = 10.0
PULL_MAX_AGE = 300
PUSH_WORKERS = 16
KEY_TTL = 1.0


class ExchangeError(KPLedgerError):
    """The exchange node cannot do what was asked (no key in force, no route, ...)."""


@dataclass(frozen=True)
class Answer:
    """What ``POST /v1/exchange/envelopes`` answers: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]


@dataclass
class NodeConfig:
    relay: bool = False
    """Hold envelopes addressed to other participants (store and forward)."""
    relay_url: str = ""
    """Where to push envelopes whose recipient has no inbox URL."""
    webhooks: list[tuple[str, bytes]] = field(default_factory=list)
    """(URL, HMAC secret) pairs told of every accepted envelope."""
    timeout: float = 5.0


class ExchangeNode:
    def __init__(
        self,
        ledger: Ledger,
        participant: str,
        authority_key: bytes | str | Signer,
        keyring: Keyring,
        store: ExchangeStore,
        config: NodeConfig | None = None,
    ) -> None:
        self.ledger = ledger
        self.participant = participant.upper()
        self._authority_key = authority_key
        self.authority = ledger.signer.address if ledger.signer is not None else ""
        self.keyring = keyring
        self.store = store
        self.config = config or NodeConfig()
        self.directory = Directory(ledger)
        self.acceptor = Acceptor(ledger, self.participant, keyring)
        self._listeners: list[Callable[[InboxEntry], None]] = []
        self._keys: dict[str, tuple[float, int, ExchangeKey]] = {}
        self._lock = threading.Lock()
        limits = httpx.Limits(max_connections=PUSH_WORKERS * 2, max_keepalive_connections=PUSH_WORKERS * 2)
        self._http = httpx.Client(timeout=self.config.timeout, limits=limits)
        self._stop = threading.Event()
        self._wake = threading.Event()

    # ------------------------------------------------------------------ sending

    def publish_own_key(self) -> None:
        """Publish the keyring's newest key unless it is already the one in force."""
        current = self.directory.current_key(self.participant)
        if current is None or current.key_id != self.keyring.newest.key_id:
            self.directory.publish_key(self.participant, self.keyring.newest.public_key)

    def send(self, payload: Payload, recipient: str) -> Envelope:
        """Seal ``payload`` for ``recipient``'s key in force and commit it to the outbox."""
        recipient = recipient.upper()
        head, key = self._recipient_key(recipient)
        deployment = self.ledger.deployment
        envelope = seal(
            payload,
            sender=self.participant,
            recipient=recipient,
            chain_id=deployment.chain_id,
            ledger=deployment.ledger,
            key_id=key.key_id,
            recipient_public_key=key.public_key,
            key_block=head,
            signing_key=self._authority_key,
            signer=self.authority,
        )
        self.store.enqueue(
            envelope.id_hex,
            recipient,
            envelope.number,
            "0x" + envelope.document_hash.hex(),
            envelope.to_bytes(),
        )
        self._wake.set()
        return envelope

    def _recipient_key(self, recipient: str) -> tuple[int, ExchangeKey]:
        """The recipient's key in force and a block it was in force at, reused for
        ``KEY_TTL`` seconds (a rotation is picked up within that time; an envelope
        sealed for the previous key in the meantime is still accepted, see
        docs/exchange.md)."""
        now = time.monotonic()
        cached = self._keys.get(recipient)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        head = self.ledger.block_number()
        key = self.directory.current_key(recipient, block=head)
        if key is None:
            raise ExchangeError(f"{recipient} has no exchange key in force: it must publish one first")
        self._keys[recipient] = (now + KEY_TTL, head, key)
        return head, key

    def route(self, recipient: str) -> str:
        url = self.directory.inbox_url(recipient)
        if url:
            return url
        if self.config.relay_url:
            return self.config.relay_url.rstrip("/") + "/v1/exchange/envelopes"
        raise ExchangeError(f"{recipient} has no inbox URL and this node has no relay configured")

    def deliver_due(self) -> int:
        """One pass over the outbox: push what is due, ``PUSH_WORKERS`` at a time
        (a recipient answers each push after chain reads: pushing one by one would leave
        both nodes idle); return how many settled."""
        entries = self.store.due(time.time())
        if not entries:
            return 0
        routes: dict[str, str | ExchangeError] = {}
        for recipient in {e.recipient for e in entries}:
            try:
                routes[recipient] = self.route(recipient)
            except ExchangeError as exc:
                routes[recipient] = exc
        with ThreadPoolExecutor(max_workers=PUSH_WORKERS) as pool:
            return sum(pool.map(lambda e: self._push(e, routes[e.recipient]), entries))

    def _push(self, entry: OutboxEntry, url: str | ExchangeError) -> int:
        if isinstance(url, ExchangeError):
            self._retry(entry.id, entry.attempts, str(url))
            return 0
        try:
            response = self._http.post(url, content=entry.body, headers={"content-type": "application/json"})
            is_json = response.headers.get("content-type", "").startswith("application/json")
            body = response.json() if is_json else {}
        except (httpx.HTTPError, ValueError) as exc:
            self._retry(entry.id, entry.attempts, f"push failed: {type(exc).__name__}: {exc}")
            return 0
        answer = body.get("receipt") if isinstance(body, dict) else None
        if isinstance(answer, dict) and receipt.is_valid(answer, self.ledger, entry.id, entry.recipient):
            state = "delivered" if answer["outcome"] == "delivered" else "refused"
            reason = None if state == "delivered" else str(answer.get("reason"))
            self.store.settle(entry.id, state, answer, reason, str(answer.get("detail", "")))
            return 1
        self._retry(entry.id, entry.attempts, f"no valid receipt yet (HTTP {response.status_code})")
        return 0

    def _retry(self, envelope_id: str, attempts: int, detail: str) -> None:
        delay = min(BACKOFF_FIRST * 2**attempts, BACKOFF_CAP)
        self.store.retry_later(envelope_id, attempts + 1, int((time.time() + delay) * 1000), detail)

    def run_sender(self, interval: float = 0.05) -> None:
        """Deliver until :meth:`stop`; woken at once by :meth:`send`."""
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # a chain or database hiccup: log and go on
                log.exception("delivery pass failed")
            self._wake.wait(interval)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # ------------------------------------------------------------------ receiving

    def on_delivery(self, listener: Callable[[InboxEntry], None]) -> None:
        """Call ``listener`` with each envelope accepted from now on (the SSE stream)."""
        self._listeners.append(listener)

    def off_delivery(self, listener: Callable[[InboxEntry], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def receive(self, raw: bytes) -> Answer:
        try:
            envelope = parse(raw)
        except EnvelopeRefused as refused:
            return self._refuse(None, refused)
        if envelope.recipient != self.participant and self.config.relay:
            return self._hold(envelope, raw)
        previous = self.store.inbox_by_id(envelope.id_hex)
        if previous is not None:
            if previous.digest == "0x" + envelope.digest.hex():
                return Answer(200, {"receipt": previous.receipt, "duplicate": True})
            return self._refuse(envelope, EnvelopeRefused(Refusal.REPLAY, "this id came with other contents"))
        try:
            accepted = self.acceptor.accept(envelope)
        except EnvelopeRefused as refused:
            return self._refuse(envelope, refused)
        earlier = self.store.inbox_by_hash("0x" + envelope.document_hash.hex())
        if earlier is not None and earlier.id != envelope.id_hex:
            detail = f"certificate {envelope.number} was delivered before in envelope {earlier.id}"
            return self._refuse(envelope, EnvelopeRefused(Refusal.REPLAY, detail))
        signed = self._receipt(envelope.id_hex, "0x" + envelope.document_hash.hex(), "delivered", "", "")
        entry = self.store.deliver(
            {
                "id": envelope.id_hex,
                "sender": envelope.sender,
                "number": envelope.number,
                "document_hash": "0x" + envelope.document_hash.hex(),
                "digest": "0x" + envelope.digest.hex(),
                "body": envelope.to_bytes(),
                "document": json.dumps(accepted.payload.document),
                "proof": None if accepted.payload.proof is None else json.dumps(accepted.payload.proof),
                "receipt": json.dumps(signed),
                "state": "received",
                "received_at": int(time.time()),
            }
        )
        if entry.id != envelope.id_hex:  # another envelope for this certificate won a race
            detail = f"certificate {envelope.number} was delivered before in envelope {entry.id}"
            return self._refuse(envelope, EnvelopeRefused(Refusal.REPLAY, detail))
        self._notify(entry)
        return Answer(200, {"receipt": entry.receipt, "duplicate": False})

    def _refuse(self, envelope: Envelope | None, refused: EnvelopeRefused) -> Answer:
        envelope_id = envelope.id_hex if envelope is not None else None
        document = "0x" + envelope.document_hash.hex() if envelope is not None else None
        self.store.log_refusal(envelope_id, refused.reason.value, refused.detail)
        signed = self._receipt(envelope_id, document, "refused", refused.reason.value, refused.detail)
        return Answer(422, {"receipt": signed, "reason": refused.reason.value, "detail": refused.detail})

    def _receipt(
        self, envelope_id: str | None, document: str | None, outcome: str, reason: str, detail: str
    ) -> dict[str, Any]:
        deployment = self.ledger.deployment
        return receipt.make(
            envelope_id=envelope_id,
            document_hash=document,
            recipient=self.participant,
            outcome=outcome,
            reason=reason,
            detail=detail,
            chain_id=deployment.chain_id,
            ledger=deployment.ledger,
            signing_key=self._authority_key,
            signer=self.authority,
        )

    def _notify(self, entry: InboxEntry) -> None:
        for listener in list(self._listeners):
            try:
                listener(entry)
            except Exception:
                log.exception("delivery listener failed")
        for url, secret in self.config.webhooks:
            body = json.dumps({"event": "envelope.delivered", **entry.summary()}).encode()
            signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
            try:
                self._http.post(
                    url,
                    content=body,
                    headers={"content-type": "application/json", "x-kpledger-signature": signature},
                )
            except httpx.HTTPError:
                log.warning("webhook %s unreachable", url)

    # ------------------------------------------------------------------ relay

    def _hold(self, envelope: Envelope, raw: bytes) -> Answer:
        stored = self.store.relay_receipt(envelope.id_hex)
        if stored is not None:
            return Answer(200 if stored.get("outcome") == "delivered" else 422, {"receipt": stored})
        self.store.hold(envelope.id_hex, envelope.recipient, envelope.to_bytes())
        return Answer(202, {"relayed": True, "recipient": envelope.recipient})

    def relay_receipt(self, signed: dict[str, Any]) -> bool:
        """A recipient hands back the receipt for an envelope it pulled from this relay."""
        envelope_id, recipient = str(signed.get("envelope_id")), str(signed.get("recipient"))
        if not receipt.is_valid(signed, self.ledger, envelope_id, recipient):
            return False
        self.store.relay_receipt(envelope_id, signed)
        return True

    def pull_request(self, after: int) -> dict[str, str]:
        """Headers of a pull signed by this node's authority key."""
        issued = int(time.time())
        values = {"participant": self.participant, "after": after, "issuedAt": issued}
        deployment = self.ledger.deployment
        message = eip712.digest(deployment.chain_id, deployment.ledger, "Pull", eip712.PULL_TYPE, values)
        return {
            "x-kpledger-participant": self.participant,
            "x-kpledger-issued-at": str(issued),
            "x-kpledger-signer": self.authority,
            "x-kpledger-signature": "0x" + eip712.sign(self._authority_key, message).hex(),
        }

    def check_pull(self, participant: str, after: int, headers: dict[str, str]) -> bool:
        """Whether a pull for ``participant`` is signed by one of its authorities, recently."""
        try:
            issued = int(headers["x-kpledger-issued-at"])
            signature = bytes.fromhex(headers["x-kpledger-signature"][2:])
        except (KeyError, ValueError):
            return False
        if abs(time.time() - issued) > PULL_MAX_AGE or headers.get("x-kpledger-participant") != participant:
            return False
        deployment = self.ledger.deployment
        values = {"participant": participant, "after": after, "issuedAt": issued}
        message = eip712.digest(deployment.chain_id, deployment.ledger, "Pull", eip712.PULL_TYPE, values)
        signer = eip712.recover(message, signature)
        return (
            signer is not None
            and signer == headers.get("x-kpledger-signer")
            and self.ledger.is_authority(participant, signer)
        )

    def pull_from(self, relay_url: str) -> int:
        """Fetch what a relay holds for this participant, receive it, hand receipts back."""
        base = relay_url.rstrip("/")
        received = 0
        after = 0
        while True:
            response = self._http.get(
                f"{base}/v1/exchange/relay/{self.participant}",
                params={"after": after},
                headers=self.pull_request(after),
            )
            response.raise_for_status()
            held = response.json()["envelopes"]
            if not held:
                return received
            for item in held:
                answer = self.receive(item["envelope"].encode())
                self._http.post(f"{base}/v1/exchange/relay/receipts", json=answer.body["receipt"])
                after = max(after, int(item["seq"]))
                received += 1

    def close(self) -> None:
        self.stop()
        self._http.close()
