"""Follow a deployment's head and remember what each new block touched.

Why: a verification at block N stays the same at block N+k unless an event of the
ledger or the registry in blocks N+1..N+k names its certificate or its exporting
participant (or its expiry time passes, which the cache checks itself). Reading the
logs of every new block once per process, instead of re-reading every certificate on
every request, is what lets :class:`~kpledger.verify_cache.VerificationCache` answer
repeated verifications from memory and still never miss a void, an amendment, a
receipt or a suspension.

What a block "touches":

- a certificate event of the ledger touches the document hash in its first topic
  (``CertificateSuperseded`` also its replacement, in the second);
- a ``Participant*`` or ``ValidityPeriodChanged`` event of the registry touches the
  participant code in its first topic;
- ``BatchAnchored`` and AccessControl's own role events touch nothing a verification
  reads (see :data:`_IGNORED_LEDGER_EVENTS`, :data:`_IGNORED_REGISTRY_EVENTS`);
- anything else (an event this client does not know, a log without topics) touches
  everything, which empties the cache: a change must never be missed because it was
  not anticipated.

Staleness: :meth:`ChainWatch.refresh` asks the node for its head at most every
``poll_interval`` seconds; between polls callers see the head of the last poll. A
cached answer can therefore describe the chain as it was up to ``poll_interval`` plus
one poll's round trip ago, and says which block it describes (``checked_at_block``).
``poll_interval=0`` polls on every call.

Reorganisations: the watch checks that each new range of blocks starts from the block
hash it saw last; a chain that went backwards or forked starts a new *epoch*, and
everything remembered from an older epoch is invalid. Deep reorgs are not a concern on
the chains kpledger targets (Besu QBFT has immediate finality; anvil has none).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hexbytes import HexBytes

from kpledger.chain import artifacts
from kpledger.chain.deployment import Deployment
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import ChainError

_PARTICIPANT_EVENTS: Final = (
    "ParticipantAdmitted",
    "ParticipantSuspended",
    "ParticipantReadmitted",
    "ValidityPeriodChanged",
    "ParticipantRoleGranted",
    "ParticipantRoleRevoked",
)
_IGNORED_LEDGER_EVENTS: Final = ("BatchAnchored",)
"""Events that change no record a verification by hash reads: a batch root alone makes
no certificate known (its certificates appear when revealed, with their own event)."""
_IGNORED_REGISTRY_EVENTS: Final = ("RoleGranted", "RoleRevoked", "RoleAdminChanged")
"""AccessControl's own events: the registry changes participant-scoped roles only through
functions that also emit ParticipantRoleGranted/Revoked with the code (``grantRole`` and
friends refuse scoped roles), and registry-wide roles play no part in a verification."""

DEFAULT_TOUCH_LIMIT: Final = 200_000


@dataclass(frozen=True)
class Head:
    """The block a caller should read at."""

    number: int
    timestamp: int
    hash: str
    epoch: int


class ChainWatch:
    """Head of the chain plus, per document hash and participant, the last block whose
    events touched it (see the module doc). Thread-safe; one poll at a time."""

    def __init__(
        self,
        rpc: Rpc,
        deployment: Deployment,
        *,
        poll_interval: float = 0.1,
        touch_limit: int = DEFAULT_TOUCH_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpc = rpc
        self.deployment = deployment
        self.poll_interval = poll_interval
        self.touch_limit = touch_limit
        self._clock = clock
        ledger_abi = artifacts.interface("CertificateLedger")
        registry_abi = artifacts.interface("ParticipantRegistry")
        self._certificate_topics = {
            e.topic for e in ledger_abi.events.values() if e.name not in _IGNORED_LEDGER_EVENTS
        }
        self._ignored_topics = {ledger_abi.events_by_name[n].topic for n in _IGNORED_LEDGER_EVENTS}
        self._ignored_registry_topics = {
            registry_abi.events_by_name[n].topic for n in _IGNORED_REGISTRY_EVENTS
        }
        self._superseded = ledger_abi.events_by_name["CertificateSuperseded"].topic
        self._participant_topics = {registry_abi.events_by_name[n].topic for n in _PARTICIPANT_EVENTS}
        self._addresses = {deployment.ledger.lower(): "ledger", deployment.registry.lower(): "registry"}
        self._poll_lock = threading.Lock()
        self._head: Head | None = None
        self._polled_at = float("-inf")
        self._epoch = 0
        self._floor = 0
        self._hashes: dict[bytes, int] = {}
        self._codes: dict[str, int] = {}
        self._everything = 0
        self.polls = 0

    # ------------------------------------------------------------------ reading

    @property
    def head(self) -> Head | None:
        """The head of the last poll (None before the first)."""
        return self._head

    def due(self) -> bool:
        """Whether the next :meth:`refresh` would ask the node."""
        return self._head is None or self._clock() - self._polled_at >= self.poll_interval

    def recent(self, slack: float) -> bool:
        """Whether the last poll is at most ``poll_interval + slack`` seconds old."""
        return self._head is not None and self._clock() - self._polled_at < self.poll_interval + slack

    def refresh(self) -> Head:
        """The current head, polling the node if the last poll is ``poll_interval`` old.
        While another thread polls, returns the previous head instead of waiting."""
        head = self._head
        if head is not None and not self.due():
            return head
        if head is not None and not self._poll_lock.acquire(blocking=False):
            return head
        if head is None:
            self._poll_lock.acquire()
        try:
            if self._head is None or self.due():
                self._poll()
            assert self._head is not None
            return self._head
        finally:
            self._poll_lock.release()

    def unchanged(self, since: int, epoch: int, document_hash: bytes, participant: str | None) -> bool:
        """True when nothing after block ``since`` (of ``epoch``) touched the certificate
        or the participant, as far as the last poll saw."""
        if epoch != self._epoch or since < self._floor or since < self._everything:
            return False
        if self._hashes.get(document_hash, 0) > since:
            return False
        return participant is None or self._codes.get(participant, 0) <= since

    # ------------------------------------------------------------------ polling

    def _poll(self) -> None:
        self.polls += 1
        latest = self.rpc.call("eth_getBlockByNumber", ["latest", False])
        if latest is None:
            raise ChainError("the node has no latest block")
        number, block_hash, timestamp = (
            _int(latest["number"]),
            _hex(latest["hash"]),
            _int(latest["timestamp"]),
        )
        previous = self._head
        if (
            previous is None
            or number < previous.number
            or (number == previous.number and block_hash != previous.hash)
        ):
            self._reset(number)
        elif number > previous.number:
            self._follow(previous, number, latest)
        current = self._head
        epoch = self._epoch
        if (
            current is None
            or current.number != number
            or current.hash != block_hash
            or current.epoch != epoch
        ):
            self._head = Head(number, timestamp, block_hash, epoch)
        self._polled_at = self._clock()

    def _follow(self, previous: Head, number: int, latest: dict[str, Any]) -> None:
        first = previous.number + 1
        requests: list[tuple[str, list[Any]]] = [
            (
                "eth_getLogs",
                [
                    {
                        "address": [self.deployment.ledger, self.deployment.registry],
                        "fromBlock": hex(first),
                        "toBlock": hex(number),
                    }
                ],
            )
        ]
        if first != number:
            requests.append(("eth_getBlockByNumber", [hex(first), False]))
        answers: list[Any] = []
        for answer in self.rpc.batch(requests):
            if isinstance(answer, RpcError):
                raise answer
            answers.append(answer)
        start = answers[1] if first != number else latest
        if start is None or _hex(start["parentHash"]) != previous.hash:
            self._reset(number)  # the chain forked under us
            return
        for log in answers[0]:
            self._touch(log)
        if len(self._hashes) + len(self._codes) > self.touch_limit:
            self._floor = number  # forget old touches; answers computed before now are stale
            self._hashes.clear()
            self._codes.clear()

    def _touch(self, log: dict[str, Any]) -> None:
        block = _int(log["blockNumber"])
        topics = [bytes(HexBytes(t)) for t in log.get("topics") or []]
        source = self._addresses.get(str(log.get("address", "")).lower())
        if not topics or source is None:
            self._everything = max(self._everything, block)
            return
        kind = topics[0]
        if source == "ledger" and kind in self._certificate_topics and len(topics) > 1:
            self._hashes[topics[1]] = block
            if kind == self._superseded and len(topics) > 2:
                self._hashes[topics[2]] = block
        elif source == "ledger" and kind in self._ignored_topics:
            return
        elif source == "registry" and kind in self._participant_topics and len(topics) > 1:
            self._codes[topics[1][:2].decode("ascii", "replace")] = block
        elif source == "registry" and kind in self._ignored_registry_topics:
            return
        else:
            self._everything = max(self._everything, block)

    def _reset(self, number: int) -> None:
        self._epoch += 1
        self._floor = number
        self._hashes.clear()
        self._codes.clear()
        self._everything = 0


def _hex(value: Any) -> str:
    """A hash as lower-case ``0x`` hex, whether the transport gave text or bytes."""
    return "0x" + bytes(HexBytes(value)).hex()


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else int(value)
