"""Which members the ledger already holds: by document hash or by number.

One ``eth_call`` of the ledger's ``multicall`` asks both questions for a chunk of members
(the node's per-call set-up dominates single reads), and the chunks go to the node in
JSON-RPC batches, so 50,000 members cost a few dozen round trips, all at one block.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any, Final

from kpledger.batch.problems import Member
from kpledger.chain.records import decode_bytes_array, decode_certificate_view, encode_bytes_array
from kpledger.ledger import Ledger

__all__ = ["MEMBERS_PER_CALL", "BackgroundCheck", "taken_on_chain"]

#: Members per ``multicall`` (two reads each): ~6M gas of views, under any node's call cap.
MEMBERS_PER_CALL: Final = 200
#: ``eth_call`` requests per JSON-RPC batch.
CALLS_PER_BATCH: Final = 8
_WORD: Final = 32
_ZERO: Final = bytes(32)


def taken_on_chain(
    ledger: Ledger, members: Sequence[Member], *, block: int | str = "latest"
) -> tuple[list[bool], list[bool]]:
    """``(hash_taken, number_taken)``, one flag per member, read at ``block``. The default
    is each chunk's latest block: a node that prunes old states (anvil ``--prune-history``)
    may no longer answer for the block the check began at, and a certificate anchored
    between the check and the batch is refused by the contract when it is revealed."""
    view = ledger.ledger_abi.fn("certificate").selector
    by_number = ledger.ledger_abi.fn("documentHashOf").selector
    multicall = ledger.ledger_abi.fn("multicall").selector
    requests: list[tuple[str, list[Any]]] = []
    for at in range(0, len(members), MEMBERS_PER_CALL):
        calls: list[bytes] = []
        for member in members[at : at + MEMBERS_PER_CALL]:
            calls.append(view + member.terms.document_hash)
            calls.append(by_number + _string_argument(member.terms.number))
        data = multicall + encode_bytes_array(calls)
        call = {"to": ledger.deployment.ledger, "data": "0x" + data.hex()}
        requests.append(("eth_call", [call, hex(block) if isinstance(block, int) else block]))
    hash_taken: list[bool] = []
    number_taken: list[bool] = []
    for at in range(0, len(requests), CALLS_PER_BATCH):
        chunk = requests[at : at + CALLS_PER_BATCH]
        answers = ledger.rpc.batch(chunk) if len(chunk) > 1 else [ledger.rpc.call(*chunk[0])]
        for index, answer in enumerate(answers):
            start = (at + index) * MEMBERS_PER_CALL
            count = len(members[start : start + MEMBERS_PER_CALL])
            results = decode_bytes_array(ledger._raw_result(answer), 2 * count)
            hash_taken += [decode_certificate_view(r) is not None for r in results[0::2]]
            number_taken += [r[:_WORD] != _ZERO for r in results[1::2]]
    return hash_taken, number_taken


def _string_argument(text: str) -> bytes:
    """``abi.encode(string)`` of one argument, by hand (eth_abi costs ~30 µs a call)."""
    raw = text.encode("utf-8")
    return _WORD.to_bytes(_WORD, "big") + len(raw).to_bytes(_WORD, "big") + raw + bytes(-len(raw) % _WORD)


class BackgroundCheck:
    """:func:`taken_on_chain` on chunks of members while later chunks are still being
    validated: the node answers while the workers parse, so the check costs little wall
    time. Flags come back in the order the chunks were added."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._chunks: queue.Queue[list[Member] | None] = queue.Queue()
        self._hash_taken: list[bool] = []
        self._number_taken: list[bool] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kpledger-batch-chain-check", daemon=True)
        self._thread.start()

    def add(self, members: list[Member]) -> None:
        self._chunks.put(members)

    def result(self) -> tuple[list[bool], list[bool]]:
        """Wait for every chunk's answer; a failed read is raised here."""
        self._chunks.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hash_taken, self._number_taken

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is not None:
                continue  # drain: the error is raised by result()
            try:
                by_hash, by_number = taken_on_chain(self._ledger, chunk)
            except BaseException as exc:  # handed to the caller's thread by result()
                self._error = exc
                continue
            self._hash_taken += by_hash
            self._number_taken += by_number
