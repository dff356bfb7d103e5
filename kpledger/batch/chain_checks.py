"""Which members the ledger already holds: by document hash or by number.

One ``eth_call`` of the ledger's ``multicall`` asks both questions for a chunk of members
(the node's per-call set-up dominates single reads), and the chunks go to the node in
JSON-RPC batches, so 50,000 members cost a few dozen round trips, all at one block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from kpledger.batch.problems import Member
from kpledger.chain.records import decode_bytes_array, decode_certificate_view, encode_bytes_array
from kpledger.ledger import Ledger

__all__ = ["MEMBERS_PER_CALL", "taken_on_chain"]

#: Members per ``multicall`` (two reads each): ~6M gas of views, under any node's call cap.
MEMBERS_PER_CALL: Final = 200
#: ``eth_call`` requests per JSON-RPC batch.
CALLS_PER_BATCH: Final = 8
_WORD: Final = 32
_ZERO: Final = bytes(32)


def taken_on_chain(ledger: Ledger, members: Sequence[Member], *, block: int) -> tuple[list[bool], list[bool]]:
    """``(hash_taken, number_taken)``, one flag per member, read at ``block``."""
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
        requests.append(("eth_call", [call, hex(block)]))
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
