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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coincurve import PrivateKey
from hexbytes import HexBytes

from kpledger.chain.outbox import (
    Outbox,
    OutboxEntry,
    RecoveryReport,
    Settlement,
    Signed,
    block_hash_of,
    surviving_block,
)
from kpledger.chain.revert import RevertDecoder, revert_data
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.chain.signing import address_of, load_private_key, sign_transaction
from kpledger.errors import (
    ChainIdMismatch,
    ChainStalled,
    ConfigurationError,
    ConnectionFailed,
    KPLedgerError,
    NonceError,
    RecoveryIncomplete,
    TransactionFailed,
    TransactionTimeout,
)
from kpledger.types import Receipt

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


class Signer:
    """A signing key. Its repr and str show the address only, so the key cannot leak
    into logs or error messages.

    Signs with libsecp256k1 directly (:mod:`kpledger.chain.signing`): the same bytes as
    eth-account, about ten times faster, which is what lets one sender keep up with a
    node."""

    __slots__ = ("_address", "_key")

    def __init__(self, key: bytes | str | LocalAccount) -> None:
        raw = key if isinstance(key, (bytes, str)) else bytes(key.key)  # eth-account's LocalAccount
        self._key: PrivateKey = load_private_key(raw)
        self._address = address_of(self._key)

    @property
    def address(self) -> str:
        return self._address

    def sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """Raw signed transaction and its hash."""
        return sign_transaction(self._key, tx)

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte recoverable signature ``r ‖ s ‖ recid`` (low s) of a 32-byte digest,
        for EIP-712 messages (:mod:`kpledger.exchange.eip712`)."""
        return bytes(self._key.sign_recoverable(digest, hasher=None))

    def __reduce__(self) -> Any:
        raise TypeError("a Signer is not picklable: pass the key to the other process explicitly")

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
    it get consecutive nonces.

    Before its first write (and again after the node failed to answer) it checks that
    the node serves the chain id it signs for, so a transaction signed for one chain
    never reaches another. With an ``outbox`` (:mod:`kpledger.chain.outbox`) every
    signed transaction is recorded before it is sent, settled at the confirmation
    depth, and put back on chain by :meth:`recover`, which also runs by itself before
    the next write once the node failed, a receipt timed out, the node forgot a
    transaction it had accepted, or the newest block a write settled in is gone."""

    GAS_MARGIN = 1.25
    SEND_ATTEMPTS = 3
    SEND_CHUNK = 200
    PRUNE_EVERY = 60.0
    RESEND_CHUNK = 64

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
        outbox: Outbox | None = None,
        labeler: Callable[[str | None, bytes], str] | None = None,
    ) -> None:
        self.rpc = rpc
        self.signer = signer
        self.decoder = decoder
        self.chain_id = chain_id if chain_id is not None else _int(rpc.call("eth_chainId", []))
        self.fees = fees or FeePolicy.detect(rpc)
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.confirmations = confirmations
        self.outbox = outbox
        self.labeler = labeler
        self._nonce: int | None = None
        self._lock = threading.Lock()
        self._chain_checked = chain_id is None  # read from the node just now
        self._needs_recovery = outbox is not None  # a previous run may have left entries
        self._watermark: tuple[int, bytes] | None = None
        self._recovery_lock = threading.RLock()
        self._local = threading.local()
        self._last_prune = 0.0
        self.recoveries: deque[RecoveryReport] = deque(maxlen=100)
        """The latest recoveries, automatic ones included, newest last."""

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
        """Sign every call with consecutive nonces and send them in JSON-RPC batches of
        :attr:`SEND_CHUNK` without waiting (the node works on one batch while the next is
        signed), then await all receipts in bulk. Raises the first failure (decoded) after
        all receipts are in; calls sent before a refused batch stay sent."""
        hashes: list[bytes] = []
        for at in range(0, len(calls), self.SEND_CHUNK):
            hashes += self.submit_many(calls[at : at + self.SEND_CHUNK])
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
        on the same nonces with the fees read afresh. With an outbox, what is signed is
        recorded (one SQLite transaction per attempt) before it is sent, and what the
        node refuses is deleted from it again."""
        try:
            return self._submit(calls)
        except ConnectionFailed:
            self._connection_lost()
            raise

    def _submit(self, calls: Sequence[Call]) -> list[bytes]:
        self._before_write()
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
            if self.outbox is not None:
                self.outbox.record(self.chain_id, self.address, self._entries(prepared, nonces, signed))
            results = self.rpc.batch([("eth_sendRawTransaction", [_hex(raw)]) for _, raw, _ in signed])
            refused: list[tuple[int, RpcError]] = []
            for (index, _, tx_hash), result in zip(signed, results, strict=True):
                sent = not isinstance(result, RpcError) or _already_known(result)
                if not sent and not self._mined_anyway(result, tx_hash):
                    refused.append((index, result))
                else:
                    hashes[index] = tx_hash
            if self.outbox is not None and refused:
                sent_now = {i for i, _, _ in signed} - {i for i, _ in refused}
                self.outbox.forget(h for i, _, h in signed if i not in sent_now)
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
            if "chain id" in error.message.lower() or "chainid" in error.message.lower():
                self._check_chain_id()  # another chain behind the URL: say so, clearly
            accepted = f" ({len(hashes)} of {len(prepared)} were sent)" if hashes else ""
            if _nonce_problem(error):
                raise NonceError(f"nonce out of step for {self.address}: {error.message}{accepted}")
            raise self._decoded(error)
        raise AssertionError("unreachable")

    def _head_number(self) -> int | None:
        try:
            return int(_int(self.rpc.call("eth_blockNumber", [])))
        except (RpcError, ValueError, TypeError):
            return None

    def _stalled_since(self, start_head: int | None) -> int | None:
        """The head block, when it is still the one seen when the wait began (no block
        came at all: the chain is stalled rather than slow)."""
        if start_head is None:
            return None
        try:
            now = self._head_number()
        except ConnectionFailed:
            return None
        return start_head if now == start_head else None

    def wait_many(self, hashes: Sequence[bytes], timeout: float | None = None) -> list[Receipt]:
        """Await every receipt (and the confirmation depth) or raise TransactionTimeout.
        With an outbox, the transactions are then settled in it; a transaction the node
        forgot while we waited (restart, pool eviction) is sent again, the same bytes."""
        try:
            return self._wait(hashes, timeout)
        except ConnectionFailed:
            self._connection_lost()
            raise

    def _wait(self, hashes: Sequence[bytes], timeout: float | None) -> list[Receipt]:
        deadline = time.monotonic() + (self.receipt_timeout if timeout is None else timeout)
        pending = {h: i for i, h in enumerate(hashes)}
        receipts: list[Receipt | None] = [None] * len(hashes)
        block_hashes: dict[bytes, bytes] = {}
        watch = self.outbox is not None and not self._recovering()
        start_head = self._head_number()
        rounds = 0
        while pending:
            order = list(pending)
            forgotten = False
            for chunk_start in range(0, len(order), 500):
                chunk = order[chunk_start : chunk_start + 500]
                requests = [("eth_getTransactionReceipt", [_hex(h)]) for h in chunk]
                probe = watch and rounds > 0 and chunk_start == 0
                if probe:  # does the node still know the oldest one we wait for?
                    requests.append(("eth_getTransactionByHash", [_hex(order[0])]))
                results = self.rpc.batch(requests)
                if probe:
                    forgotten = results.pop() is None
                for tx_hash, result in zip(chunk, results, strict=True):
                    if result is None or isinstance(result, RpcError):
                        continue
                    receipts[pending.pop(tx_hash)] = _receipt(result)
                    block_hashes[tx_hash] = bytes(HexBytes(result["blockHash"]))
            if not pending:
                break
            if forgotten and order[0] in pending:
                self._recover_or_raise()  # the same bytes again, in nonce order
            if time.monotonic() > deadline:
                # The node may yet mine them, or drop them (pool eviction, restart): re-read
                # the nonce before the next send, so a dropped one leaves no gap that would
                # hold back every later transaction.
                self.resync_nonce()
                self._needs_recovery = self.outbox is not None
                stalled = self._stalled_since(start_head)
                if stalled is not None:
                    raise ChainStalled(
                        f"the chain is stalled: no new block since block {stalled} while waiting for"
                        f" {len(pending)} of {len(hashes)} transactions from {self.address}; they are"
                        " signed and will land when blocks resume (too few validators online?)"
                    )
                raise TransactionTimeout(
                    f"{len(pending)} of {len(hashes)} transactions from {self.address} not mined in time"
                )
            time.sleep(self.poll_interval)
            rounds += 1
        done = [r for r in receipts if r is not None]
        if self.confirmations:
            self._await_depth(max(r.block_number for r in done), deadline)
        if self.outbox is not None and done:
            self._settle(done, block_hashes)
        return done

    # ------------------------------------------------------------------ crash safety

    def recover(self) -> RecoveryReport:
        """Put what the outbox holds for this account back on chain: settled entries
        whose block the chain lost and pending entries the node does not hold, the same
        signed bytes, in nonce order; then await their receipts. An entry whose nonce
        another transaction took is marked ``conflict`` and reported. Returns the
        report; raises only if the node cannot be reached or a receipt times out."""
        if self.outbox is None:
            raise ConfigurationError("this Transactor keeps no outbox: pass outbox= to recover writes")
        with self._recovery_lock:
            self._local.recovering = True
            try:
                self._check_chain_id()
                report = self._recover(self.outbox)
            except ConnectionFailed:
                self._connection_lost()
                raise
            finally:
                self._local.recovering = False
            self._needs_recovery = not report.ok
            self.recoveries.append(report)
            return report

    def _recover(self, outbox: Outbox) -> RecoveryReport:
        chain_id, sender = self.chain_id, self.address
        report = RecoveryReport(chain_id, sender)
        lost = []
        recorded = outbox.settled_blocks(chain_id, sender)
        if recorded:
            surviving = surviving_block(self.rpc, recorded)
            if surviving != recorded[0][0]:
                report.lost_above_block = surviving
                lost = outbox.settled_above(chain_id, sender, -1 if surviving is None else surviving)
        report.lost = lost
        before = {e.tx_hash: e.status for e in lost}
        candidates = sorted([*outbox.pending(chain_id, sender), *lost], key=lambda e: e.nonce)
        report.checked = len(candidates)
        if not candidates:
            self.resync_nonce()
            self._watermark = outbox.newest_block(chain_id, sender)
            return report
        # The mined nonce count first, then the receipts: the node may be mining what
        # its pool holds meanwhile, and a transaction mined after its receipt was asked
        # for must not pass for a nonce another transaction took.
        latest = _int(self.rpc.call("eth_getTransactionCount", [sender, "latest"]))
        mined = self._mined({e.tx_hash for e in candidates})
        report.found_mined = [e for e in candidates if e.tx_hash in mined]
        missing = [e for e in candidates if e.tx_hash not in mined]
        outbox.unsettle(e.tx_hash for e in lost if e.tx_hash not in mined)
        expected = _int(self.rpc.call("eth_getTransactionCount", [sender, "pending"]))
        report.conflicts = [e for e in missing if e.nonce < latest]
        resend = [e for e in missing if e.nonce >= latest]
        if resend and resend[0].nonce > expected:
            report.gap = (expected, resend[0].nonce)  # they would wait behind it forever
            resend = []
        if report.found_mined:
            self._wait([e.tx_hash for e in report.found_mined], None)  # settles them
        # In chunks, each awaited before the next: a node that mines only as
        # transactions arrive (anvil's automine) leaves what does not fit in a block
        # waiting in its pool, and a real chain takes a chunk per block anyway.
        for start in range(0, len(resend), self.RESEND_CHUNK):
            chunk = resend[start : start + self.RESEND_CHUNK]
            answers = self.rpc.batch([("eth_sendRawTransaction", [_hex(e.raw)]) for e in chunk])
            used = {
                e.tx_hash
                for e, a in zip(chunk, answers, strict=True)
                if isinstance(a, RpcError) and _nonce_problem(a) and "too high" not in a.message.lower()
            }
            mined_meanwhile = self._mined(used) if used else set()  # "nonce too low": it was ours
            sent: list[OutboxEntry] = []
            awaited: list[OutboxEntry] = []
            for entry, answer in zip(chunk, answers, strict=True):
                if not isinstance(answer, RpcError) or _already_known(answer):
                    sent.append(entry)
                    awaited.append(entry)
                elif entry.tx_hash in mined_meanwhile:
                    report.found_mined.append(entry)
                    awaited.append(entry)
                elif entry.tx_hash in used:
                    report.conflicts.append(entry)
                else:
                    report.refused.append((entry, answer.message))
            report.resent += sent
            for receipt in self._wait([e.tx_hash for e in awaited], None) if awaited else []:
                previous = before.get(receipt.tx_hash)
                if previous is not None and previous != receipt.status:
                    report.outcome_changed.append(next(e for e in lost if e.tx_hash == receipt.tx_hash))
            if report.refused:
                break  # what follows would wait behind the refused nonce
        outbox.mark_conflict(e.tx_hash for e in report.conflicts)
        self.resync_nonce()
        self._watermark = outbox.newest_block(chain_id, sender)
        return report

    def _mined(self, tx_hashes: set[bytes]) -> set[bytes]:
        """Those of ``tx_hashes`` the node holds a receipt for."""
        order = list(tx_hashes)
        mined: set[bytes] = set()
        for start in range(0, len(order), 500):
            chunk = order[start : start + 500]
            answers = self.rpc.batch([("eth_getTransactionReceipt", [_hex(h)]) for h in chunk])
            mined.update(h for h, a in zip(chunk, answers, strict=True) if isinstance(a, dict))
        return mined

    def _before_write(self) -> None:
        """The checks a write needs first: the chain id (once, and after the node was
        unreachable), then, with an outbox, recovery when due, or else one look at the
        newest block a write settled in (gone or another hash: the node lost blocks)."""
        if self._recovering():
            return
        if not self._chain_checked:
            self._check_chain_id()
        if self.outbox is None:
            return
        if self._needs_recovery:
            self._recover_or_raise()
            return
        mark = self._watermark
        if mark is None:
            return
        block = self.rpc.call("eth_getBlockByNumber", [hex(mark[0]), False])
        if block is None or block_hash_of(block) != mark[1]:
            self._recover_or_raise()
        elif time.monotonic() - self._last_prune > self.PRUNE_EVERY:
            self._last_prune = time.monotonic()  # settled entries are intact: old ones may go
            self.outbox.prune(self.chain_id, self.address)

    def _recover_or_raise(self) -> None:
        report = self.recover()
        if not report.ok:
            raise RecoveryIncomplete(report.summary(), report)

    def _check_chain_id(self) -> None:
        actual = _int(self.rpc.call("eth_chainId", []))
        if actual != self.chain_id:
            raise ChainIdMismatch(
                f"the node serves chain {actual} but {self.address} signs for chain {self.chain_id}:"
                " refusing to sign or send (wrong node URL, or a stale deployment record?)"
            )
        self._chain_checked = True

    def _connection_lost(self) -> None:
        """The node did not answer: it may come back restarted, with fewer blocks, or be
        another node altogether. Check everything again before the next write."""
        self._chain_checked = False
        self._needs_recovery = self.outbox is not None
        self.resync_nonce()

    def _recovering(self) -> bool:
        return bool(getattr(self._local, "recovering", False))

    def _entries(
        self,
        prepared: Sequence[tuple[Call, int]],
        nonces: dict[int, int],
        signed: Sequence[tuple[int, bytes, bytes]],
    ) -> list[Signed]:
        label = self.labeler
        out = []
        for index, raw, tx_hash in signed:
            call = prepared[index][0]
            text = label(call.to, call.data) if label is not None else _default_label(call)
            out.append(Signed(tx_hash, nonces[index], raw, text))
        return out

    def _settle(self, receipts: Sequence[Receipt], block_hashes: dict[bytes, bytes]) -> None:
        assert self.outbox is not None
        self.outbox.settle(
            [Settlement(r.tx_hash, r.block_number, block_hashes[r.tx_hash], r.status) for r in receipts]
        )
        newest = max(receipts, key=lambda r: r.block_number)
        with self._lock:
            if self._watermark is None or newest.block_number >= self._watermark[0]:
                self._watermark = (newest.block_number, block_hashes[newest.tx_hash])

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


def _default_label(call: Call) -> str:
    return "create" if call.to is None else "0x" + bytes(call.data[:4]).hex()


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
