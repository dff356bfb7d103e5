"""The client exporters, authorities, importers and auditors program against.

A :class:`Ledger` is one connection (in-process EVM, local node or any JSON-RPC URL),
one deployment (the two contract addresses) and optionally one signing account. Every
contract operation is a method with Python types; every revert raises the typed
exception of :mod:`kpledger.contract_errors`; writes are simulated first, so a call
that would revert raises before anything is signed and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from kpledger.chain import artifacts, identity
from kpledger.chain.abi import ContractInterface
from kpledger.chain.deployment import Deployment
from kpledger.chain.failover import FailoverRpc, split_urls
from kpledger.chain.http_rpc import HttpRpc
from kpledger.chain.outbox import CallLabeler, Outbox, RecoveryReport
from kpledger.chain.records import (
    checksum,
    decode_bytes_array,
    decode_certificate_view,
    encode_bytes_array,
    optional_day,
)
from kpledger.chain.revert import RevertDecoder
from kpledger.chain.rpc import Rpc, RpcError
from kpledger.chain.sender import Call, FeePolicy, Signer, Transactor
from kpledger.compiler import SOLC_VERSION
from kpledger.errors import ConfigurationError, ContractError, KPLedgerError, NotFound
from kpledger.types import (
    SECONDS_PER_DAY,
    STATUS_AFTER_EVENT,
    Batch,
    CertificateRecord,
    CertificateStatus,
    ChainTerms,
    Participant,
    ParticipantStatus,
    Receipt,
    StatusChange,
    TimelineEntry,
    day_date,
    day_number,
)

if TYPE_CHECKING:  # web3 is imported only for in-process chains and Web3 targets
    from web3 import Web3

    from kpledger.chain.connection import InProcessChain

CertificateRef = bytes | str
"""A certificate is named by its document hash (32 bytes or ``0x`` hex) or its number."""

ZERO_HASH = b"\0" * 32
MULTICALL_READS = 200
"""Records read in one ``multicall`` ``eth_call`` (~3.4 million gas of views, far below
the call gas caps nodes apply)."""
LOG_QUERIES = 256
"""Most ``eth_getLogs`` requests in one batch of timeline reads."""
ZERO_ADDRESS = "0x" + "00" * 20

# Explicit gas limits for pipelined writes (no estimate round trip); generous against
# the measured costs (direct issue ~134k) so a busy block never runs them out.
GAS = {
    "anchor": 250_000,
    "issue": 250_000,
    "validate": 120_000,
    "confirmReceipt": 120_000,
    "recordDiscrepancy": 150_000,
    "resolveDispute": 150_000,
    "voidCertificate": 150_000,
    "amend": 400_000,
    "anchorBatch": 150_000,
}

#: Transactions per JSON-RPC batch on the pipelined write path (``anchor_many``,
#: ``issue_many``): large enough that a round trip is cheap per transaction, small
#: enough that the node starts executing while the client signs the next chunk.



@dataclass(frozen=True)
class OriginFacts:
    """What a verification's identity check needs of the exporting participant."""

    participant: Participant | None
    status_then: ParticipantStatus
    authority_still_appointed: bool | None


@dataclass(frozen=True)
class BatchProof:
    """What proves a batched certificate: its terms, the batch root and the proof."""

    terms: ChainTerms
    root: bytes
    proof: tuple[bytes, ...]


class Ledger:
    """Client of one kpledger deployment."""

    def __init__(
        self,
        rpc: Rpc,
        deployment: Deployment,
        signer: Signer | None = None,
        *,
        fees: FeePolicy | None = None,
        confirmations: int = 0,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.05,
        outbox: Outbox | str | Path | None = None,
    ) -> None:
        self.rpc = rpc
        self.deployment = deployment
        self.registry_abi: ContractInterface = artifacts.interface("ParticipantRegistry")
        self.ledger_abi: ContractInterface = artifacts.interface("CertificateLedger")
        directory_abi = artifacts.interface("ExchangeDirectory")
        self.decoder = RevertDecoder(self.registry_abi, self.ledger_abi, directory_abi)
        self.outbox = _outbox(outbox)
        """Where signed transactions are recorded before they are sent (crash safety,
        :mod:`kpledger.chain.outbox`); None keeps no record."""
        self.confirmations = confirmations
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self._fees = fees
        self.signer = signer
        self._transactor: Transactor | None = None
        self._transactor_lock = threading.Lock()
        self._block_times: dict[int, int] = {}

    # ------------------------------------------------------------------ construction

    @classmethod
    def connect(
        cls,
        target: str | Web3 | InProcessChain | Rpc,
        deployment: Deployment,
        signer: Signer | bytes | None = None,
        **options: Any,
    ) -> Ledger:
        """Connect to ``target`` (a JSON-RPC URL, a ``Web3`` or an in-process chain) and
        check that the deployment's chain id and contract code are there. Pass
        ``outbox=`` (an :class:`~kpledger.chain.outbox.Outbox` or a SQLite file path) to
        make writes crash-safe."""
        ledger = cls(_rpc(target), deployment, _signer(signer), **options)
        ledger.check_deployment()
        return ledger

    @classmethod
    def deploy(
        cls,
        target: str | Web3 | InProcessChain | Rpc,
        signer: Signer | bytes,
        *,
        governance: str | None = None,
        **options: Any,
    ) -> Ledger:
        """Deploy a registry (governed by ``governance``, default the deployer) and a
        ledger, and return a client bound to the deployer."""
        rpc = _rpc(target)
        deployer = _signer(signer)
        assert deployer is not None
        outbox = options["outbox"] = _outbox(options.get("outbox"))
        transactor = Transactor(
            rpc,
            deployer,
            RevertDecoder(),
            receipt_timeout=options.get("receipt_timeout", 120.0),
            outbox=outbox,
        )
        registry_art = artifacts.contract("ParticipantRegistry")
        ledger_art = artifacts.contract("CertificateLedger")
        from eth_abi.abi import encode as abi_encode

        governor = to_checksum_address(governance or deployer.address)
        registry_receipt = transactor.send(
            Call(None, bytes(HexBytes(registry_art["bytecode"])) + abi_encode(["address"], [governor]))
        )
        registry = registry_receipt.contract_address
        assert registry is not None
        ledger_receipt = transactor.send(
            Call(None, bytes(HexBytes(ledger_art["bytecode"])) + abi_encode(["address"], [registry]))
        )
        assert ledger_receipt.contract_address is not None
        directory_code = bytes(HexBytes(artifacts.contract("ExchangeDirectory")["bytecode"]))
        directory_receipt = transactor.send(Call(None, directory_code + abi_encode(["address"], [registry])))
        assert directory_receipt.contract_address is not None
        facts = identity.read_facts(rpc, registry_receipt.block_number)
        deployment = Deployment(
            chain_id=transactor.chain_id,
            registry=to_checksum_address(registry),
            ledger=to_checksum_address(ledger_receipt.contract_address),
            block=registry_receipt.block_number,
            deployer=deployer.address,
            compiler=SOLC_VERSION,
            genesis_hash=facts.genesis_hash,
            block_hash=facts.block_hash or "",
            registry_tx="0x" + registry_receipt.tx_hash.hex(),
            ledger_tx="0x" + ledger_receipt.tx_hash.hex(),
            directory=to_checksum_address(directory_receipt.contract_address),
        )
        options.setdefault("fees", transactor.fees)
        return cls(rpc, deployment, deployer, **options)

    def as_signer(self, signer: Signer | bytes) -> Ledger:
        """The same connection and deployment, acting as another account."""
        other = Ledger(
            self.rpc,
            self.deployment,
            _signer(signer),
            fees=self._fees,
            confirmations=self.confirmations,
            receipt_timeout=self.receipt_timeout,
            poll_interval=self.poll_interval,
            outbox=self.outbox,
        )
        other._block_times = self._block_times
        return other

    def check_deployment(self) -> None:
        """Raise ConfigurationError unless this is the deployment's chain (its chain id,
        genesis hash and deployment block hash, :mod:`kpledger.chain.identity`) and both
        contracts have code: a write must never land on another chain that happens to
        have contracts at the same addresses, nor go into the void."""
        facts = identity.read_facts(self.rpc, self.deployment.block)
        chain_id = facts.chain_id
        why = identity.mismatch(self.deployment, facts)
        if why is not None:
            raise identity.ChainMismatch(f"the node is not the deployment's chain: {why}")
        contracts = [("registry", self.deployment.registry), ("ledger", self.deployment.ledger)]
        if self.deployment.directory:
            contracts.append(("exchange directory", self.deployment.directory))
        for name, address in contracts:
            code = self.rpc.call("eth_getCode", [address, "latest"])
            if len(HexBytes(code)) == 0:
                raise ConfigurationError(f"no {name} contract at {address} on chain {chain_id}")

    def forget_local_state(self) -> None:
        """Drop the local nonce and block-time cache. Needed after a chain reorg or a
        snapshot revert, when block numbers and nonces are reused."""
        if self._transactor is not None:
            self._transactor.resync_nonce()
        self._block_times.clear()

    @property
    def transactor(self) -> Transactor:
        if self.signer is None:
            raise ConfigurationError("this Ledger has no signing account: pass signer= to write")
        with self._transactor_lock:  # threads sharing this Ledger must share one nonce counter
            if self._transactor is None:
                self._transactor = Transactor(
                    self.rpc,
                    self.signer,
                    self.decoder,
                    chain_id=self.deployment.chain_id,
                    fees=self._fees,
                    receipt_timeout=self.receipt_timeout,
                    poll_interval=self.poll_interval,
                    confirmations=self.confirmations,
                    outbox=self.outbox,
                    labeler=None if self.outbox is None else CallLabeler(self.registry_abi, self.ledger_abi),
                )
                self._fees = self._transactor.fees
            return self._transactor

    def resubmit_pending(self) -> RecoveryReport:
        """After a node restart (or a restart of this program): put every write of this
        account that the outbox holds but the chain lost or never got back on chain,
        the same signed bytes in nonce order, and await the receipts. Writes recover by
        themselves before the next write too; call this to recover *now*, e.g. before
        deciding whether a write that raised needs signing again. A write whose nonce
        another transaction took is reported (``report.conflicts``), never dropped."""
        if self.outbox is None:
            raise ConfigurationError("this Ledger keeps no outbox: connect with outbox= to recover writes")
        return self.transactor.recover()

    @property
    def address(self) -> str:
        """Address of the signing account."""
        return self.transactor.address

    # ------------------------------------------------------------------ governance

    def admit_participant(self, code: str, name: str, validity_days: int = 60) -> Receipt:
        return self._registry_tx("admitParticipant", _code(code), name, validity_days)

    def suspend_participant(self, code: str, reason: str) -> Receipt:
        return self._registry_tx("suspendParticipant", _code(code), reason)

    def readmit_participant(self, code: str, reason: str) -> Receipt:
        return self._registry_tx("readmitParticipant", _code(code), reason)

    def set_validity_period(self, code: str, validity_days: int) -> Receipt:
        return self._registry_tx("setValidityPeriod", _code(code), validity_days)

    def appoint_authority(self, code: str, account: str) -> Receipt:
        return self._registry_tx("appointAuthority", _code(code), _address(account))

    def revoke_authority(self, code: str, account: str) -> Receipt:
        return self._registry_tx("revokeAuthority", _code(code), _address(account))

    def grant_auditor(self, account: str) -> Receipt:
        return self.grant_role(keccak(text="AUDITOR_ROLE"), account)

    def grant_role(self, role: bytes, account: str) -> Receipt:
        """AccessControl ``grantRole`` for the registry-wide roles (admin, governance,
        auditor); participant-scoped roles have their own methods."""
        return self._registry_tx("grantRole", role, _address(account))

    def revoke_role(self, role: bytes, account: str) -> Receipt:
        return self._registry_tx("revokeRole", role, _address(account))

    def renounce_role(self, role: bytes) -> Receipt:
        return self._registry_tx("renounceRole", role, self.address)

    # ------------------------------------------------------------------ authorities

    def license_exporter(self, code: str, account: str) -> Receipt:
        return self._registry_tx("licenseExporter", _code(code), _address(account))

    def delist_exporter(self, code: str, account: str) -> Receipt:
        return self._registry_tx("delistExporter", _code(code), _address(account))

    def license_importer(self, code: str, account: str) -> Receipt:
        return self._registry_tx("licenseImporter", _code(code), _address(account))

    def delist_importer(self, code: str, account: str) -> Receipt:
        return self._registry_tx("delistImporter", _code(code), _address(account))

    # ------------------------------------------------------------------ certificates

    def anchor(self, terms: ChainTerms) -> Receipt:
        """Exporter: anchor a certificate for validation (REQUESTED)."""
        return self._ledger_tx("anchor", terms.as_tuple())

    def issue(self, terms: ChainTerms, exporter: str) -> Receipt:
        """Exporting authority: issue a certificate directly (ISSUED)."""
        return self._ledger_tx("issue", terms.as_tuple(), _address(exporter))

    def validate(self, ref: CertificateRef) -> Receipt:
        """Exporting authority: validate a requested certificate (ISSUED)."""
        return self._ledger_tx("validate", self.resolve(ref))

    def void(self, ref: CertificateRef, reason: str, *, batch_proof: BatchProof | None = None) -> Receipt:
        """Exporting authority: void a certificate (VOIDED)."""
        return self._ledger_tx(
            "voidCertificate", self._hash_for(ref, batch_proof), reason, batch_proof=batch_proof
        )

    def amend(
        self,
        ref: CertificateRef,
        replacement: ChainTerms,
        reason: str,
        *,
        batch_proof: BatchProof | None = None,
    ) -> Receipt:
        """Exporting authority: replace a certificate (old SUPERSEDED, new ISSUED)."""
        return self._ledger_tx(
            "amend", self._hash_for(ref, batch_proof), replacement.as_tuple(), reason, batch_proof=batch_proof
        )

    def confirm_receipt(
        self,
        ref: CertificateRef,
        *,
        imported_on: date | None = None,
        batch_proof: BatchProof | None = None,
    ) -> Receipt:
        """Importing authority: confirm the shipment arrived (RECEIVED) on ``imported_on``
        (default: today by the chain's clock). The contract refuses a date before issue,
        after the certificate's expiry day or after today."""
        day = self._import_day(imported_on)
        return self._ledger_tx(
            "confirmReceipt", self._hash_for(ref, batch_proof), day, batch_proof=batch_proof
        )

    def record_discrepancy(
        self, ref: CertificateRef, reason: str, *, batch_proof: BatchProof | None = None
    ) -> Receipt:
        """Importing authority: record a discrepancy (DISPUTED)."""
        return self._ledger_tx(
            "recordDiscrepancy", self._hash_for(ref, batch_proof), reason, batch_proof=batch_proof
        )

    def resolve_dispute(
        self, ref: CertificateRef, note: str = "", *, imported_on: date | None = None
    ) -> Receipt:
        """Importing authority: accept a disputed shipment (RECEIVED), imported on
        ``imported_on`` (default: today by the chain's clock; checked as for
        :meth:`confirm_receipt`)."""
        return self._ledger_tx("resolveDispute", self.resolve(ref), self._import_day(imported_on), note)

    def chain_today(self) -> date:
        """Today by the chain's clock: the UTC day of the latest block. The next block is
        never earlier, so this day is never "in the future" for the contract."""
        latest = self.rpc.call("eth_getBlockByNumber", ["latest", False])
        return day_date(_int(latest["timestamp"]) // SECONDS_PER_DAY)

    def _import_day(self, imported_on: date | None) -> int:
        return day_number(imported_on if imported_on is not None else self.chain_today())

    def anchor_batch(self, origin: str, root: bytes, count: int) -> Receipt:
        """Exporting authority: anchor a Merkle root of ``count`` issued certificates."""
        return self._ledger_tx("anchorBatch", _code(origin), root, count)

    def reveal(self, batch_proof: BatchProof) -> Receipt:
        """Anyone: materialise a batched certificate from its proof."""
        return self._ledger_tx("revealBatchCertificate", *_reveal_args(batch_proof))

    def issue_many(self, items: Sequence[tuple[ChainTerms, str]]) -> list[Receipt]:
        """Issue many certificates pipelined (see :meth:`anchor_many`)."""
        encode = self.ledger_abi.fn("issue").encode
        ledger, gas = self.deployment.ledger, GAS["issue"]
        calls = [Call(ledger, encode([t.as_tuple(), _address(e)]), gas) for t, e in items]
        return self.transactor.send_many(calls)

    def anchor_many(self, items: Sequence[ChainTerms]) -> list[Receipt]:
        """Anchor many certificates pipelined: explicit gas limits (nothing is simulated),
        consecutive local nonces, chunks of ``Transactor.SEND_CHUNK`` signed and sent as
        JSON-RPC batches without waiting for the node to mine them, then every receipt
        awaited in bulk. A failure is decoded from its receipt and raised once all are
        mined; calls sent before a refused chunk stay sent."""
        encode = self.ledger_abi.fn("anchor").encode
        ledger, gas = self.deployment.ledger, GAS["anchor"]
        return self.transactor.send_many([Call(ledger, encode([t.as_tuple()]), gas) for t in items])

    # ------------------------------------------------------------------ reads

    def resolve(self, ref: CertificateRef) -> bytes:
        """Document hash of a certificate given by hash or number; NotFound if unknown."""
        if isinstance(ref, bytes):
            if len(ref) != 32:
                raise ValueError("a document hash has 32 bytes")
            return ref
        if ref.startswith("0x") and len(ref) == 66:
            return bytes.fromhex(ref[2:])
        (document_hash,) = self._read(self.ledger_abi, self.deployment.ledger, "documentHashOf", ref)
        if bytes(document_hash) == ZERO_HASH:
            raise NotFound(f"no certificate numbered {ref!r} on the ledger")
        return bytes(document_hash)

    def certificate(self, ref: CertificateRef, *, block: int | str = "latest") -> CertificateRecord | None:
        """The certificate's record, or None if the ledger does not hold it."""
        if isinstance(ref, str) and not (ref.startswith("0x") and len(ref) == 66):
            request = self._certificate_request("certificateByNumber", ref, block)
        else:
            request = self._certificate_request("certificate", self.resolve(ref), block)
        return decode_certificate_view(self._raw_read(*request))

    def certificates(
        self, document_hashes: Sequence[bytes], *, block: int | str = "latest"
    ) -> list[CertificateRecord | None]:
        """Many records (None where the ledger holds none), ``MULTICALL_READS`` to an
        ``eth_call``: the node's per-request cost dominates single reads, so bulk
        verification asks once per chunk."""
        out: list[CertificateRecord | None] = []
        for at in range(0, len(document_hashes), MULTICALL_READS):
            out += self._certificates_at_once(document_hashes[at : at + MULTICALL_READS], block)
        return out

    def _certificates_at_once(
        self, document_hashes: Sequence[bytes], block: int | str
    ) -> list[CertificateRecord | None]:
        """One ``eth_call`` of the ledger's ``multicall`` over the ``certificate`` views:
        the node sets up one EVM call instead of one per record (measured on anvil: 0.04
        instead of 0.13 ms of node CPU a record). A node that refuses it (e.g. a gas cap
        for calls below what the chunk needs) gets the views one by one in a batch."""
        if len(document_hashes) == 1:
            return [
                decode_certificate_view(
                    self._raw_read(*self._certificate_request("certificate", document_hashes[0], block))
                )
            ]
        if all(len(h) == 32 for h in document_hashes):
            view = self.ledger_abi.fn("certificate").selector
            multicall = self.ledger_abi.fn("multicall").selector
            data = multicall + encode_bytes_array([view + bytes(h) for h in document_hashes])
            tag = hex(block) if isinstance(block, int) else block
            try:
                answer = self.rpc.call(
                    "eth_call", [{"to": self.deployment.ledger, "data": "0x" + data.hex()}, tag]
                )
            except RpcError:
                pass
            else:
                views = decode_bytes_array(_bytes(answer), len(document_hashes))
                return [decode_certificate_view(v) for v in views]
        requests = [self._certificate_request("certificate", h, block) for h in document_hashes]
        return [decode_certificate_view(self._raw_result(r)) for r in self.rpc.batch(requests)]

    def participant(
        self, code: str, *, with_history: bool = True, block: int | str = "latest"
    ) -> Participant | None:
        (raw,) = self._read(
            self.registry_abi, self.deployment.registry, "participant", _code(code), block=block
        )
        if raw[1] == ParticipantStatus.UNKNOWN:
            return None
        return _participant(raw, self.status_history(code) if with_history else ())

    def participants(self) -> list[Participant]:
        (codes,) = self._read(self.registry_abi, self.deployment.registry, "participantCodes")
        found = [self.participant(bytes(c).decode("ascii")) for c in codes]
        return [p for p in found if p is not None]

    def status_at(self, code: str, block_number: int) -> ParticipantStatus:
        """A participant's status in force at the end of ``block_number``."""
        (status,) = self._read(
            self.registry_abi, self.deployment.registry, "statusAt", _code(code), block_number
        )
        return ParticipantStatus(status)

    def origin_facts(
        self, questions: Sequence[tuple[str, int, str | None]], *, block: int | str = "latest"
    ) -> list[OriginFacts]:
        """For each (participant code, block, account): the participant at ``block``
        (None if unknown), its status at the given block, and whether the account is
        still one of its authorities (None without an account). One JSON-RPC batch: the
        identity check of a verification asks all three together."""
        registry = self.deployment.registry
        requests: list[tuple[str, list[Any]]] = []
        for code, at_block, account in questions:
            requests.append(
                self._call_request(self.registry_abi, registry, "participant", [_code(code)], block)
            )
            requests.append(
                self._call_request(self.registry_abi, registry, "statusAt", [_code(code), at_block], block)
            )
            if account is not None:
                requests.append(
                    self._call_request(
                        self.registry_abi, registry, "isAuthority", [_code(code), account], block
                    )
                )
        answers = iter(self.rpc.batch(requests))
        out: list[OriginFacts] = []
        for _, _, account in questions:
            (raw,) = self.registry_abi.fn("participant").decode(self._raw_result(next(answers)))
            (status,) = self.registry_abi.fn("statusAt").decode(self._raw_result(next(answers)))
            appointed = None
            if account is not None:
                (flag,) = self.registry_abi.fn("isAuthority").decode(self._raw_result(next(answers)))
                appointed = bool(flag)
            out.append(OriginFacts(_participant(raw, ()), ParticipantStatus(status), appointed))
        return out

    def status_history(self, code: str) -> list[StatusChange]:
        (raw,) = self._read(self.registry_abi, self.deployment.registry, "statusHistory", _code(code))
        return [StatusChange(ParticipantStatus(s), b, t) for s, b, t in raw]

    def is_participant_code(self, code: str) -> bool:
        """Whether the registry would admit a participant under ``code`` (assigned ISO
        3166-1 alpha-2 or EU; the certificate model's rule)."""
        answer = self._read(self.registry_abi, self.deployment.registry, "isParticipantCode", _code(code))
        return bool(answer[0])

    def status_reasons(self, code: str) -> dict[int, str]:
        """Why each suspension or readmission of ``code`` happened, by block. From the
        events: the registry's ``statusHistory`` view keeps no reasons."""
        wanted = ("ParticipantSuspended", "ParticipantReadmitted")
        # Every registry log, filtered here: the registry logs little (admissions, roles,
        # status changes), and not every provider filters on topics alike.
        query = {
            "address": self.deployment.registry,
            "fromBlock": hex(self.deployment.block),
            "toBlock": "latest",
        }
        reasons: dict[int, str] = {}
        for log in self.rpc.call("eth_getLogs", [query]):
            decoded = self._decode_log(log)
            if decoded is None or decoded[0] not in wanted:
                continue
            if bytes(decoded[1]["code"]) == _code(code):
                reasons[_int(log["blockNumber"])] = str(decoded[1].get("reason", ""))
        return reasons

    def is_authority(self, code: str, account: str, *, block: int | str = "latest") -> bool:
        return bool(
            self._read(
                self.registry_abi, self.deployment.registry, "isAuthority", _code(code), account, block=block
            )[0]
        )

    def is_exporter(self, code: str, account: str) -> bool:
        return bool(
            self._read(self.registry_abi, self.deployment.registry, "isExporter", _code(code), account)[0]
        )

    def is_importer(self, code: str, account: str) -> bool:
        return bool(
            self._read(self.registry_abi, self.deployment.registry, "isImporter", _code(code), account)[0]
        )

    def batch(self, root: bytes, *, block: int | str = "latest") -> Batch | None:
        (raw,) = self._read(self.ledger_abi, self.deployment.ledger, "batch", root, block=block)
        origin, issuer, anchored_block, anchored_at, validity_days = raw
        if anchored_block == 0:
            return None
        return Batch(
            root,
            bytes(origin).decode("ascii"),
            to_checksum_address(issuer),
            anchored_block,
            anchored_at,
            validity_days,
        )

    def leaf_of(self, terms: ChainTerms) -> bytes:
        """The contract's own Merkle leaf of ``terms`` (to cross-check off-chain trees)."""
        return bytes(self._read(self.ledger_abi, self.deployment.ledger, "leafOf", terms.as_tuple())[0])

    def verify_batch_certificate(self, batch_proof: BatchProof) -> bool:
        args = _reveal_args(batch_proof)
        return bool(self._read(self.ledger_abi, self.deployment.ledger, "verifyBatchCertificate", *args)[0])

    def block_number(self) -> int:
        return _int(self.rpc.call("eth_blockNumber", []))

    def block_time(self, block_number: int) -> int:
        """Timestamp of a block (cached: a mined block's time never changes)."""
        cached = self._block_times.get(block_number)
        if cached is None:
            block = self.rpc.call("eth_getBlockByNumber", [hex(block_number), False])
            if block is None:
                raise NotFound(f"block {block_number} is not on this chain")
            cached = self._block_times[block_number] = _int(block["timestamp"])
        return cached

    def timeline(
        self,
        ref: CertificateRef,
        *,
        record: CertificateRecord | None = None,
        block: int | str = "latest",
    ) -> list[TimelineEntry]:
        """Every transition of a certificate up to ``block``, oldest first, from the
        contract's events (pass ``record`` when already read, to save a round trip)."""
        document_hash = self.resolve(ref)
        record = record if record is not None and record.document_hash == document_hash else None
        record = record or self.certificate(document_hash, block=block)
        if record is None:
            return []
        logs: list[Any] = []
        for result in self.rpc.batch(self._timeline_queries([record], block)):
            if isinstance(result, RpcError):
                raise result
            logs.extend(result)
        return self._timeline_of(record, logs, block)

    def timelines(
        self, records: Sequence[CertificateRecord], *, block: int | str = "latest"
    ) -> dict[bytes, list[TimelineEntry]]:
        """Timelines of many certificates (by document hash) from one ``eth_getLogs``
        over the blocks their records name, filtered on all their hashes at once."""
        if not records:
            return {}
        results = self.rpc.batch(self._timeline_queries(records, block))
        logs: list[Any] = []
        for result in results:
            if isinstance(result, RpcError):
                raise result
            logs.extend(result)
        by_hash: dict[bytes, list[Any]] = {r.document_hash: [] for r in records}
        for log in logs:
            for topic in log["topics"][1:3]:
                bucket = by_hash.get(_bytes(topic))
                if bucket is not None:
                    bucket.append(log)
        return {r.document_hash: self._timeline_of(r, by_hash[r.document_hash], block) for r in records}

    def _timeline_queries(
        self, records: Sequence[CertificateRecord], block: int | str
    ) -> list[tuple[str, list[Any]]]:
        """Every transition is emitted in a block its record keeps (requested, issued,
        responded, closed): ask for those blocks only instead of scanning to the head
        (anvil scans every log of a range). A batched certificate is revealed in a block
        the record does not keep: scan from its batch's block. Only a replacement (its
        record ``supersedes`` another) can be the second topic of CertificateSuperseded."""
        tip = hex(block) if isinstance(block, int) else block
        ledger = [self.deployment.ledger]
        superseded = "0x" + self.ledger_abi.events_by_name["CertificateSuperseded"].topic.hex()
        queries = []
        for low, high, group in _block_ranges(records):
            span = {"address": ledger, "fromBlock": hex(low), "toBlock": tip if high is None else hex(high)}
            queries.append(
                ("eth_getLogs", [{**span, "topics": [None, ["0x" + r.document_hash.hex() for r in group]]}])
            )
            replacements = ["0x" + r.document_hash.hex() for r in group if r.supersedes]
            if replacements:
                queries.append(("eth_getLogs", [{**span, "topics": [superseded, None, replacements]}]))
        return queries

    def _timeline_of(
        self, record: CertificateRecord, logs: list[Any], block: int | str
    ) -> list[TimelineEntry]:
        document_hash = record.document_hash
        entries = [self._timeline_entry(log, document_hash) for log in logs]
        unique = {(e.block_number, e.tx_hash, e.event): e for e in entries if e is not None}
        if record.batch_root is not None and record.issued_block is not None:
            batch = self.batch(record.batch_root, block=block)
            if batch is not None:
                unique[(batch.anchored_block, b"", "BatchAnchored")] = TimelineEntry(
                    event="BatchAnchored",
                    status=CertificateStatus.ISSUED,
                    block_number=batch.anchored_block,
                    timestamp=batch.anchored_at,
                    tx_hash=b"",
                    actor=batch.issuer,
                    detail="0x" + record.batch_root.hex(),
                )
        return sorted(unique.values(), key=lambda e: (e.block_number, e.event != "BatchAnchored"))

    def events(self, from_block: int, to_block: int) -> list[tuple[str, dict[str, Any], Any]]:
        """Decoded events of both contracts in a block range: (name, args, raw log)."""
        raw = self.rpc.call(
            "eth_getLogs",
            [
                {
                    "address": [self.deployment.registry, self.deployment.ledger],
                    "fromBlock": hex(from_block),
                    "toBlock": hex(to_block),
                }
            ],
        )
        out: list[tuple[str, dict[str, Any], Any]] = []
        for log in raw:
            decoded = self._decode_log(log)
            if decoded is not None:
                out.append((decoded[0], decoded[1], log))
        return out

    # ------------------------------------------------------------------ internals

    def _registry_tx(self, name: str, *args: Any) -> Receipt:
        data = self.registry_abi.fn(name).encode(args)
        with _refusal_of(name):
            return self.transactor.send(Call(self.deployment.registry, data))

    def _ledger_tx(self, name: str, *args: Any, batch_proof: BatchProof | None = None) -> Receipt:
        data = self.ledger_abi.fn(name).encode(args)
        if batch_proof is not None and self.certificate(batch_proof.terms.document_hash) is None:
            reveal = self.ledger_abi.fn("revealBatchCertificate").encode(_reveal_args(batch_proof))
            data = self.ledger_abi.fn("multicall").encode([[reveal, data]])
        with _refusal_of(name):
            return self.transactor.send(Call(self.deployment.ledger, data))

    def _hash_for(self, ref: CertificateRef, batch_proof: BatchProof | None) -> bytes:
        if batch_proof is not None:
            return batch_proof.terms.document_hash
        return self.resolve(ref)

    def _read(
        self, interface: ContractInterface, to: str, name: str, *args: Any, block: int | str = "latest"
    ) -> Any:
        fn = interface.fn(name)
        tag = hex(block) if isinstance(block, int) else block
        return fn.decode(self._raw_read("eth_call", [{"to": to, "data": "0x" + fn.encode(args).hex()}, tag]))

    def _raw_read(self, method: str, params: list[Any]) -> bytes:
        try:
            result = self.rpc.call(method, params)
        except RpcError as exc:
            result = exc
        return self._raw_result(result)

    def _raw_result(self, result: Any) -> bytes:
        """An ``eth_call`` answer as bytes; a revert raises its typed exception."""
        if isinstance(result, RpcError):
            from kpledger.chain.revert import revert_data

            data = revert_data(result)
            raise (self.decoder.decode(data) if data is not None else result) from None
        return _bytes(result)

    @staticmethod
    def _call_request(
        interface: ContractInterface, to: str, name: str, args: list[Any], block: int | str
    ) -> tuple[str, list[Any]]:
        data = interface.fn(name).encode(args)
        return (
            "eth_call",
            [{"to": to, "data": "0x" + data.hex()}, hex(block) if isinstance(block, int) else block],
        )

    def _certificate_request(self, view: str, key: bytes | str, block: int | str) -> tuple[str, list[Any]]:
        fn = self.ledger_abi.fn(view)
        # A bytes32 argument is its own encoding: skip eth_abi on the hot path.
        data = fn.selector + key if isinstance(key, bytes) and len(key) == 32 else fn.encode([key])
        tag = hex(block) if isinstance(block, int) else block
        return ("eth_call", [{"to": self.deployment.ledger, "data": "0x" + data.hex()}, tag])

    def _decode_log(self, log: Any) -> tuple[str, dict[str, Any]] | None:
        topics = [_bytes(t) for t in log["topics"]]
        if not topics:
            return None
        address = checksum(log["address"])
        interface = self.ledger_abi if address == self.deployment.ledger else self.registry_abi
        event = interface.events.get(topics[0])
        if event is None:
            return None
        return event.name, event.decode(topics, _bytes(log["data"]))

    def _timeline_entry(self, log: Any, document_hash: bytes) -> TimelineEntry | None:
        decoded = self._decode_log(log)
        if decoded is None:
            return None
        name, args = decoded
        status = STATUS_AFTER_EVENT.get(name)
        if status is None:
            return None
        if name == "CertificateSuperseded" and bytes(args["replacement"]) == document_hash:
            name, status = "Supersedes", CertificateStatus.ISSUED
        actor = args.get("by") or args.get("issuer") or args.get("exporter")
        detail = args.get("reason") or args.get("note")
        if name == "CertificateSuperseded":
            detail = f"replaced by 0x{bytes(args['replacement']).hex()}: {args['reason']}"
        elif name == "Supersedes":
            detail = f"replaces 0x{bytes(args['documentHash']).hex()}: {args['reason']}"
        block_number = _int(log["blockNumber"])
        stamp = log.get("blockTimestamp")  # in logs of newer nodes (anvil, geth): no header to fetch
        if stamp is not None and block_number not in self._block_times:
            self._block_times[block_number] = _int(stamp)
        return TimelineEntry(
            event=name,
            status=status,
            block_number=block_number,
            timestamp=self.block_time(block_number),
            tx_hash=_bytes(log["transactionHash"]),
            actor=checksum(actor) if actor and actor != ZERO_ADDRESS else None,
            detail=detail or None,
        )


# ---------------------------------------------------------------------- helpers


@contextmanager
def _refusal_of(function: str) -> Iterator[None]:
    """Record on a contract refusal which function was called, so that
    :func:`kpledger.chain.explain.explain` can say what the caller may not do."""
    try:
        yield
    except ContractError as error:
        if getattr(error, "function", None) is None:
            error.function = function  # type: ignore[attr-defined]
        raise


def _rpc(target: str | Web3 | InProcessChain | Rpc) -> Rpc:
    """Plain HTTP JSON-RPC for a URL (fast); several URLs separated by commas fail over
    between the nodes (:class:`FailoverRpc`); web3's provider for in-process chains."""
    if isinstance(target, Rpc):
        return target
    if isinstance(target, str):
        urls = split_urls(target)
        return FailoverRpc(urls) if len(urls) > 1 else HttpRpc(urls[0])
    from kpledger.chain.connection import InProcessChain

    if isinstance(target, InProcessChain):
        return Rpc(target.w3)
    return Rpc(target)  # a Web3


def _outbox(outbox: Outbox | str | Path | None) -> Outbox | None:
    if outbox is None or isinstance(outbox, Outbox):
        return outbox
    return Outbox(outbox)


def _signer(signer: Signer | bytes | None) -> Signer | None:
    if signer is None or isinstance(signer, Signer):
        return signer
    return Signer(signer)


@lru_cache(maxsize=512)
def _code(code: str) -> bytes:
    if len(code) != 2 or not code.isascii():
        raise KPLedgerError(
            f"participant code {code!r}: must be two ASCII letters (ISO 3166-1 alpha-2 or EU)"
        )
    return code.upper().encode("ascii")


def _address(account: str) -> str:
    try:
        return str(to_checksum_address(account))
    except ValueError:
        raise KPLedgerError(f"account {account!r}: not an Ethereum address (0x + 40 hex digits)") from None


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else int(value)


def _reveal_args(proof: BatchProof) -> tuple[Any, ...]:
    return (proof.terms.as_tuple(), proof.root, list(proof.proof))


def _participant(raw: Sequence[Any], history: Iterable[StatusChange]) -> Participant | None:
    """A ``participant(bytes2)`` view, decoded; None if the registry does not know it."""
    if raw[1] == ParticipantStatus.UNKNOWN:
        return None
    return Participant(
        code=bytes(raw[0]).decode("ascii"),
        status=ParticipantStatus(raw[1]),
        validity_days=raw[2],
        admitted_block=raw[3],
        name=raw[4],
        history=tuple(history),
    )


def _block_ranges(
    records: Sequence[CertificateRecord],
) -> list[tuple[int, int | None, list[CertificateRecord]]]:
    """(first block, last block or None for the tip, records to ask about) for the log
    queries of many timelines. Only the blocks the records name are read, never the
    blocks between them: anvil reads every log of every block in a range, so one span
    over a day's certificates scanned all the day's other transactions too (measured:
    ~0.1 ms of node CPU a certificate). Batched certificates, revealed in a block their
    record does not keep, need their batch's block up to the tip. Blocks are merged into
    ranges across the smallest gaps once there would be more than ``LOG_QUERIES`` of
    them, which keeps a batch within what nodes accept (Besu: 1,024 requests)."""
    by_block: dict[int, list[CertificateRecord]] = {}
    batched: list[CertificateRecord] = []
    for record in records:
        if record.batch_root is not None:
            batched.append(record)
            continue
        for number in _kept_blocks(record):
            by_block.setdefault(number, []).append(record)
    blocks = sorted(by_block)
    if len(blocks) > LOG_QUERIES:
        gaps = sorted(range(1, len(blocks)), key=lambda i: blocks[i] - blocks[i - 1])
        starts = [0, *sorted(gaps[len(blocks) - LOG_QUERIES :])]
    else:
        starts = list(range(len(blocks)))
    ranges: list[tuple[int, int | None, list[CertificateRecord]]] = []
    for at, start in enumerate(starts):
        end = starts[at + 1] if at + 1 < len(starts) else len(blocks)
        group = {r.document_hash: r for b in blocks[start:end] for r in by_block[b]}
        ranges.append((blocks[start], blocks[end - 1], list(group.values())))
    if batched:
        ranges.append((min(_kept_blocks(r)[0] for r in batched), None, batched))
    return ranges


def _bytes(value: Any) -> bytes:
    """JSON-RPC hex (plain HTTP) or bytes-like (web3) as bytes; ``HexBytes`` costs ~7 µs
    a value, which adds up over the logs of a bulk verification."""
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    return bytes(HexBytes(value))


def _kept_blocks(record: CertificateRecord) -> list[int]:
    kept = (record.requested_block, record.issued_block, record.responded_block, record.closed_block)
    return sorted({b for b in kept if b is not None})


def _optional_hash(value: bytes) -> bytes | None:
    value = bytes(value)
    return None if value == ZERO_HASH else value


def _optional_block(value: int) -> int | None:
    return value or None


def record_from_view(raw: Iterable[Any]) -> CertificateRecord | None:
    """A ``certificate(...)`` view as the contract returns it, decoded; None if unknown."""
    (
        document_hash,
        number,
        origin,
        destination,
        status,
        stored_status,
        carats,
        value_cents,
        parcels,
        expires_at,
        exporter,
        requested_block,
        issued_block,
        responded_block,
        closed_block,
        supersedes,
        superseded_by,
        batch_root,
        issued_day,
        imported_day,
    ) = raw
    if stored_status == CertificateStatus.NONE:
        return None
    return CertificateRecord(
        document_hash=bytes(document_hash),
        number=number,
        origin=bytes(origin).decode("ascii"),
        destination=bytes(destination).decode("ascii"),
        status=CertificateStatus(status),
        stored_status=CertificateStatus(stored_status),
        carats=carats,
        value_cents=value_cents,
        parcels=parcels,
        expires_at=expires_at,
        exporter=None if exporter == ZERO_ADDRESS else to_checksum_address(exporter),
        requested_block=_optional_block(requested_block),
        issued_block=_optional_block(issued_block),
        responded_block=_optional_block(responded_block),
        closed_block=_optional_block(closed_block),
        supersedes=_optional_hash(supersedes),
        superseded_by=_optional_hash(superseded_by),
        batch_root=_optional_hash(batch_root),
        issued_on=optional_day(issued_day),
        imported_on=optional_day(imported_day),
    )
