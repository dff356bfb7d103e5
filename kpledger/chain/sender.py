"""Sign locally, manage nonces, send, and await receipts.

Why not ``contract.functions.f().transact()``: a KP authority's node may be a Besu
QBFT validator with free gas, a custom chain id and real block times; several
processes may write at once; and throughput matters. So the chain id and fee policy
are read once, nonces are counted locally (re-read only when the node disagrees),
gas limits are explicit, and receipts are awaited with a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from kpledger.chain.revert import RevertDecoder, revert_data
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.errors import KPLedgerError, NonceError, TransactionFailed, TransactionTimeout
from kpledger.types import Receipt


class Signer:
    """A signing key. Its repr and str show the address only, so the key cannot leak
    into logs or error messages."""

    __slots__ = ("_account",)

    def __init__(self, key: bytes | str | LocalAccount) -> None:
        self._account: LocalAccount = key if isinstance(key, LocalAccount) else Account.from_key(key)

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """Raw signed transaction and its hash."""
        signed = self._account.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__


@dataclass(frozen=True)
class FeePolicy:
    """How this chain prices gas, read once. ``gas_price`` set means legacy
    transactions (chains without a base fee); otherwise EIP-1559 fees, all zero on a
    free-gas network."""

    max_fee: int = 0
    priority_fee: int = 0
    gas_price: int | None = None

    @classmethod
    def detect(cls, rpc: Rpc) -> FeePolicy:
        block = rpc.call("eth_getBlockByNumber", ["latest", False])
        base = block.get("baseFeePerGas")
        if base is None:
            return cls(gas_price=_int(rpc.call("eth_gasPrice", [])))
        base = _int(base)
        if base == 0:
            return cls()
        try:
            tip = _int(rpc.call("eth_maxPriorityFeePerGas", []))
        except RpcError:
            tip = 0
        return cls(max_fee=2 * base + tip, priority_fee=tip)

    def fields(self) -> dict[str, int]:
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        return {"maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.priority_fee, "type": 2}


@dataclass(frozen=True)
class Call:
    """A contract call to send: target, calldata and explicit gas limit (``None`` means
    estimate it, which also surfaces a revert before anything is signed)."""

    to: str | None
    data: bytes
    gas: int | None = None


class Transactor:
    """Sends calls from one :class:`Signer`. Thread-safe: concurrent senders sharing
    it get consecutive nonces."""

    GAS_MARGIN = 1.25

    def __init__(
        self,
        rpc: Rpc,
        signer: Signer,
        decoder: RevertDecoder,
        *,
        chain_id: int | None = None,
        fees: FeePolicy | None = None,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.05,
        confirmations: int = 0,
    ) -> None:
        self.rpc = rpc
        self.signer = signer
        self.decoder = decoder
        self.chain_id = chain_id if chain_id is not None else _int(rpc.call("eth_chainId", []))
        self.fees = fees or FeePolicy.detect(rpc)
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.confirmations = confirmations
        self._nonce: int | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return self.signer.address

    # ------------------------------------------------------------------ reads

    def call(self, to: str | None, data: bytes, block: int | str = "latest") -> bytes:
        """``eth_call``; a revert raises its decoded contract error."""
        tag = hex(block) if isinstance(block, int) else block
        try:
            result = self.rpc.call("eth_call", [{"from": self.address, "to": to, "data": _hex(data)}, tag])
        except RpcError as exc:
            raise self._decoded(exc) from None
        return bytes(HexBytes(result))

    def estimate(self, call: Call) -> int:
        """Gas limit for ``call`` with a margin; a revert raises its contract error."""
        try:
            request = {"from": self.address, "data": _hex(call.data)}
            if call.to is not None:
                request["to"] = call.to
            gas = self.rpc.call("eth_estimateGas", [request])
        except RpcError as exc:
            raise self._decoded(exc) from None
        return int(_int(gas) * self.GAS_MARGIN) + 10_000

    # ------------------------------------------------------------------ writes

    def send(self, call: Call) -> Receipt:
        """Simulate (unless a gas limit is given), sign, send, await the receipt."""
        return self.send_many([call])[0]

    def send_many(self, calls: Sequence[Call]) -> list[Receipt]:
        """Sign every call with consecutive nonces, send them in one batch, await all
        receipts. Raises the first failure (decoded) after all receipts are in."""
        hashes = self.submit_many(calls)
        receipts = self.wait_many(hashes)
        for call, receipt in zip(calls, receipts, strict=True):
            if receipt.status != 1:
                raise self._explain_failure(call, receipt)
        return receipts

    def submit_many(self, calls: Sequence[Call]) -> list[bytes]:
        """Sign and send without waiting; returns transaction hashes in order."""
        prepared = [(c, c.gas if c.gas is not None else self.estimate(c)) for c in calls]
        for attempt in range(2):
            with self._lock:
                if self._nonce is None:
                    self._nonce = self._chain_nonce()
                first = self._nonce
                raws: list[bytes] = []
                hashes: list[bytes] = []
                for offset, (call, gas) in enumerate(prepared):
                    raw, tx_hash = self.signer.sign(self._tx(call, gas, first + offset))
                    raws.append(raw)
                    hashes.append(tx_hash)
                self._nonce = first + len(prepared)
            results = self.rpc.batch([("eth_sendRawTransaction", [_hex(raw)]) for raw in raws])
            errors = [r for r in results if isinstance(r, RpcError) and not _already_known(r)]
            if not errors:
                return hashes
            with self._lock:
                self._nonce = None  # re-read from the node on the next attempt
            first_error = errors[0]
            if attempt == 0 and _nonce_problem(first_error) and len(errors) == len(results):
                continue  # another sender used our nonces: nothing of ours went out, retry
            if _nonce_problem(first_error):
                raise NonceError(f"nonce out of step for {self.address}: {first_error.message}")
            if _fee_problem(first_error) and attempt == 0 and len(errors) == len(results):
                self.fees = FeePolicy.detect(self.rpc)
                continue
            raise first_error
        raise NonceError(f"could not obtain a usable nonce for {self.address}")

    def wait_many(self, hashes: Sequence[bytes], timeout: float | None = None) -> list[Receipt]:
        """Await every receipt (and the confirmation depth) or raise TransactionTimeout."""
        deadline = time.monotonic() + (self.receipt_timeout if timeout is None else timeout)
        pending = {h: i for i, h in enumerate(hashes)}
        receipts: list[Receipt | None] = [None] * len(hashes)
        while pending:
            order = list(pending)
            for chunk_start in range(0, len(order), 500):
                chunk = order[chunk_start : chunk_start + 500]
                results = self.rpc.batch([("eth_getTransactionReceipt", [_hex(h)]) for h in chunk])
                for tx_hash, result in zip(chunk, results, strict=True):
                    if result is None or isinstance(result, RpcError):
                        continue
                    receipts[pending.pop(tx_hash)] = _receipt(result)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TransactionTimeout(
                    f"{len(pending)} of {len(hashes)} transactions from {self.address} not mined in time"
                )
            time.sleep(self.poll_interval)
        done = [r for r in receipts if r is not None]
        if self.confirmations:
            self._await_depth(max(r.block_number for r in done), deadline)
        return done

    # ------------------------------------------------------------------ internals

    def _await_depth(self, block_number: int, deadline: float) -> None:
        while _int(self.rpc.call("eth_blockNumber", [])) < block_number + self.confirmations:
            if time.monotonic() > deadline:
                raise TransactionTimeout(f"block {block_number} not {self.confirmations} deep in time")
            time.sleep(self.poll_interval)

    def _tx(self, call: Call, gas: int, nonce: int) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "data": call.data,
            "gas": gas,
            "nonce": nonce,
            "chainId": self.chain_id,
            "value": 0,
            **self.fees.fields(),
        }
        if call.to is not None:
            tx["to"] = call.to
        return tx

    def _chain_nonce(self) -> int:
        return _int(self.rpc.call("eth_getTransactionCount", [self.address, "pending"]))

    def resync_nonce(self) -> None:
        """Forget the local nonce; the next send re-reads it from the node."""
        with self._lock:
            self._nonce = None

    def _decoded(self, exc: RpcError) -> KPLedgerError:
        data = revert_data(exc)
        if data is None:
            return exc
        return self.decoder.decode(data)

    def _explain_failure(self, call: Call, receipt: Receipt) -> KPLedgerError:
        """Replay a reverted transaction as a call on the state before its block to
        recover the contract error the receipt does not carry."""
        try:
            self.call(call.to, call.data, block=max(receipt.block_number - 1, 0))
        except KPLedgerError as exc:
            return exc
        return TransactionFailed(
            f"transaction 0x{receipt.tx_hash.hex()} reverted in block {receipt.block_number}"
            f" (gas used {receipt.gas_used}); the state it met has changed since"
        )


def _receipt(raw: Any) -> Receipt:
    return Receipt(
        tx_hash=bytes(HexBytes(raw["transactionHash"])),
        block_number=_int(raw["blockNumber"]),
        gas_used=_int(raw["gasUsed"]),
        status=_int(raw["status"]),
        contract_address=str(raw["contractAddress"]) if raw.get("contractAddress") else None,
    )


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith("0x") else int(value)
    return int(value)


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _already_known(error: RpcError) -> bool:
    text = error.message.lower()
    return "already known" in text or "known transaction" in text or "already imported" in text


def _nonce_problem(error: RpcError) -> bool:
    text = error.message.lower()
    return "nonce" in text


def _fee_problem(error: RpcError) -> bool:
    text = error.message.lower()
    return "fee" in text or "underpriced" in text or "gas price" in text
