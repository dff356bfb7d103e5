"""Turn revert data into typed exceptions.

Why here: eth-tester, anvil, Hardhat's EDR and Besu each wrap revert data differently
(in ``data``, in ``data.data``, in the message); the Ledger must raise the same
:mod:`kpledger.contract_errors` class whichever node it talks to.
"""

from __future__ import annotations

import re
from typing import Any

from eth_abi.abi import decode as abi_decode

from kpledger import contract_errors
from kpledger.chain.abi import ContractInterface
from kpledger.chain.rpc import RpcError
from kpledger.errors import ContractError, TransactionFailed

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")
_HEX = re.compile(r"0x[0-9a-fA-F]{8,}")


class RevertDecoder:
    """Knows every custom error of the given interfaces."""

    def __init__(self, *interfaces: ContractInterface) -> None:
        self._errors = {}
        for interface in interfaces:
            self._errors.update(interface.errors)

    def decode(self, data: bytes) -> KPLedgerRevert:
        """An exception for revert ``data`` (always returns one, never raises)."""
        selector = data[:4]
        known = self._errors.get(selector)
        if known is not None:
            try:
                args = known.decode(data)
            except Exception:  # malformed arguments: report the raw data below
                args = None
            if args is not None:
                cls = contract_errors.BY_NAME.get(known.name, ContractError)
                error = cls(args)
                notice = getattr(cls, "notice", "")
                if notice:
                    error.add_note(notice)
                return error
        if selector == _ERROR_STRING:
            (reason,) = abi_decode(["string"], data[4:])
            return TransactionFailed(f"reverted: {reason}")
        if selector == _PANIC:
            (code,) = abi_decode(["uint256"], data[4:])
            return TransactionFailed(f"reverted with panic code 0x{code:02x}")
        if not data:
            return TransactionFailed("reverted without reason (out of gas or invalid call?)")
        return TransactionFailed(f"reverted with unknown error data 0x{data.hex()}")


KPLedgerRevert = ContractError | TransactionFailed


def revert_data(error: RpcError) -> bytes | None:
    """Revert bytes of a failed ``eth_call``/``eth_estimateGas``; None if the error is
    not a revert (e.g. the node is overloaded or the request is malformed)."""
    data: Any = error.data
    if isinstance(data, dict):  # Hardhat/EDR nest it
        data = data.get("data")
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if "revert" in error.message.lower():
        match = _HEX.search(error.message)
        return bytes.fromhex(match.group(0)[2:]) if match and len(match.group(0)) % 2 == 0 else b""
    return None
