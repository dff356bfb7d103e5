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
    SEND_ATTEMPTS = 3

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
        """Sign and send without waiting; returns transaction hashes in call order.

        Nonces are handed out locally, under a lock, so threads sharing this Transactor
        never collide. When the node refuses some transactions because their nonce is
        taken (another client signs with this account, e.g. the CLI beside the API),
        only those calls are signed again, on nonces after every one handed out here:
        what was accepted is never sent twice, and a refusal is never reported for a
        batch that in fact went through. Calls refused for their fee are signed again
        on the same nonces with the fees read afresh."""
        prepared = [(c, c.gas if c.gas is not None else self.estimate(c)) for c in calls]
        nonces: dict[int, int] = {}
        hashes: dict[int, bytes] = {}
        todo = list(range(len(prepared)))
        for attempt in range(self.SEND_ATTEMPTS):
            with self._lock:
                fresh = [i for i in todo if i not in nonces]
                if fresh:
                    if self._nonce is None:
                        self._nonce = self._chain_nonce()
                    for offset, index in enumerate(fresh):
                        nonces[index] = self._nonce + offset
                    self._nonce += len(fresh)
            signed = [(i, *self.signer.sign(self._tx(*prepared[i], nonces[i]))) for i in todo]
            results = self.rpc.batch([("eth_sendRawTransaction", [_hex(raw)]) for _, raw, _ in signed])
            refused: list[tuple[int, RpcError]] = []
            for (index, _, tx_hash), result in zip(signed, results, strict=True):
                sent = not isinstance(result, RpcError) or _already_known(result)
                if not sent and not self._mined_anyway(result, tx_hash):
                    refused.append((index, result))
                else:
                    hashes[index] = tx_hash
            if not refused:
                return [hashes[i] for i in range(len(prepared))]
            taken = [i for i, error in refused if _nonce_problem(error)]
            priced = [i for i, error in refused if _fee_problem(error) and not _nonce_problem(error)]
            if attempt + 1 < self.SEND_ATTEMPTS and len(taken) + len(priced) == len(refused):
                if taken:
                    with self._lock:  # past what the node has seen and what we handed out
                        self._nonce = max(self._chain_nonce(), self._nonce or 0)
                    for index in taken:
                        del nonces[index]
                if priced:
                    self.fees = FeePolicy.detect(self.rpc)
                todo = [index for index, _ in refused]
                continue
            with self._lock:
                self._nonce = None  # the refused nonces leave a gap: re-read before the next send
            error = refused[0][1]
            accepted = f" ({len(hashes)} of {len(prepared)} were sent)" if hashes else ""
            if _nonce_problem(error):
                raise NonceError(f"nonce out of step for {self.address}: {error.message}{accepted}")
            raise self._decoded(error)
        raise AssertionError("unreachable")

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
                # The node may yet mine them, or drop them (pool eviction, restart): re-read
                # the nonce before the next send, so a dropped one leaves no gap that would
                # hold back every later transaction.
                self.resync_nonce()
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

    def _mined_anyway(self, error: RpcError, tx_hash: bytes) -> bool:
        """Whether a send answered with a revert was mined all the same. Hardhat's
        automine executes a transaction on arrival, mines it even when it reverts and
        answers ``eth_sendRawTransaction`` with the revert: its receipt exists, so it is
        awaited and explained like any other failed transaction."""
        if revert_data(error) is None:
            return False
        try:
            return self.rpc.call("eth_getTransactionReceipt", [_hex(tx_hash)]) is not None
        except RpcError:
            return False

    def _explain_failure(self, call: Call, receipt: Receipt) -> KPLedgerError:
        """Replay a reverted transaction as a call to recover the contract error the
        receipt does not carry: on the state after its block first (which holds any
        transaction that beat it within that block, e.g. a rival anchoring the same
        hash on a chain with real block times), then on the state before its block."""
        for block in (receipt.block_number, max(receipt.block_number - 1, 0)):
            try:
                self.call(call.to, call.data, block=block)
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
    """The nonce is used or taken by a pending transaction ("replacement transaction
    underpriced": another transaction with this nonce waits in the pool)."""
    text = error.message.lower()
    return "nonce" in text or "replacement transaction" in text


def _fee_problem(error: RpcError) -> bool:
    text = error.message.lower()
    return "fee" in text or "underpriced" in text or "gas price" in text
