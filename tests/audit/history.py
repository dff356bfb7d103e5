"""Generated histories for the audit tests: a plan of operations, a driver that runs it
on a real chain, and an independent Python model of what should have happened.

The model is deliberately naive (dicts and loops, no shared code with the audit
package), so that statistics computed from it check the report rather than repeat it.
A plan's operations name participants and certificates by indices taken modulo what
exists, so every generated plan is executable: an operation the contracts would refuse
(a validation after expiry, an issue from a suspended participant) is skipped by the
driver, never sent.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from kpledger.chain.connection import InProcessChain, account_address
from kpledger.chain.node import AnvilNode
from kpledger.chain.sender import Call
from kpledger.errors import TransactionTimeout
from kpledger.ledger import GAS, BatchProof, Ledger
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree
from kpledger.types import ChainTerms, Receipt, day_number

DAY = 86_400
CODES = ("BW", "AE", "BE", "ZA", "IN", "RU", "CN", "CA")
_serial = itertools.count(1)

ISSUED, RECEIVED, DISPUTED = "issued", "received", "disputed"
VOIDED, SUPERSEDED, REQUESTED = "voided", "superseded", "requested"

# ---------------------------------------------------------------------- plans

Op = tuple[Any, ...]

_code = st.integers(0, len(CODES) - 1)


def plan_strategy(max_certs: int = 30, max_ops: int = 22, max_batch: int = 8) -> st.SearchStrategy[list[Op]]:
    """Plans of up to ``max_ops`` operations; ``certs`` operations of up to ``max_certs``."""
    ops = st.one_of(
        st.tuples(st.just("admit"), _code, st.integers(20, 120)),
        st.tuples(st.just("suspend"), _code),
        st.tuples(st.just("readmit"), _code),
        st.tuples(st.just("validity"), _code, st.integers(15, 120)),
        st.tuples(st.just("rotate"), _code),
        st.tuples(st.just("license"), _code),
        st.tuples(
            st.just("certs"), _code, _code, st.integers(3, max_certs), st.booleans(), st.integers(0, 2**16)
        ),
        st.tuples(
            st.just("act"),
            st.sampled_from(["validate", "confirm", "dispute", "resolve", "void", "amend"]),
            st.integers(1, 100),
            st.integers(0, 2**16),
        ),
        st.tuples(st.just("batch"), _code, _code, st.integers(2, max_batch), st.integers(0, 2**16)),
        st.tuples(st.just("advance"), st.integers(1, 75)),
    )
    return st.lists(ops, min_size=max_ops // 2, max_size=max_ops)


# Plans that walk every transition at least once, pinned as @examples: a small one for
# the in-process chain (eth-tester reads logs slowly), a rich one for anvil.
SMALL_PLAN: list[Op] = [
    ("admit", 2, 45),
    ("certs", 0, 2, 6, True, 2),
    ("act", "validate", 60, 4),
    ("act", "confirm", 40, 5),
    ("act", "dispute", 60, 6),
    ("batch", 1, 2, 3, 7),
    ("suspend", 2),
    ("act", "amend", 30, 9),
    ("advance", 40),
    ("act", "resolve", 50, 10),
    ("act", "void", 30, 11),
    ("readmit", 2),
    ("validity", 0, 30),
    ("rotate", 0),
    ("license", 1),
    ("advance", 70),
    ("act", "confirm", 50, 13),
    ("rotate", 0),
]
RICH_PLAN: list[Op] = [
    ("admit", 0, 60),
    ("admit", 1, 60),
    ("admit", 2, 45),
    ("certs", 0, 1, 30, False, 1),
    ("certs", 0, 2, 20, True, 2),
    ("certs", 1, 0, 25, False, 3),
    ("act", "validate", 100, 4),
    ("act", "confirm", 40, 5),
    ("act", "dispute", 40, 6),
    ("batch", 1, 2, 6, 7),
    ("suspend", 2),
    ("certs", 0, 2, 10, False, 8),
    ("act", "amend", 30, 9),
    ("advance", 40),
    ("act", "resolve", 50, 10),
    ("act", "void", 30, 11),
    ("readmit", 2),
    ("validity", 0, 30),
    ("rotate", 0),
    ("license", 1),
    ("certs", 2, 0, 15, False, 12),
    ("advance", 70),
    ("act", "confirm", 50, 13),
    ("act", "dispute", 30, 14),
    ("advance", 50),
    ("rotate", 0),
]


# ---------------------------------------------------------------------- model


@dataclass
class ModelParticipant:
    code: str
    validity: int
    status: str = "active"
    exporter_licensed: bool = True
    second_authority: bool = False


@dataclass
class ModelCert:
    terms: ChainTerms
    status: str
    issued_at: int | None = None
    received_at: int | None = None
    exporter: str | None = None
    batch: bool = False


@dataclass
class Model:
    participants: dict[str, ModelParticipant] = field(default_factory=dict)
    certs: dict[bytes, ModelCert] = field(default_factory=dict)
    skipped: int = 0

    def active(self, code: str) -> bool:
        p = self.participants.get(code)
        return p is not None and p.status == "active"

    def expected_trade(self) -> dict[tuple[str, str, str], dict[str, int]]:
        """(quarter, origin, destination) -> exported/imported count, carats, cents."""
        out: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for cert in self.certs.values():
            t = cert.terms
            if cert.issued_at is not None and cert.status not in (VOIDED, SUPERSEDED):
                row = out[(_quarter(cert.issued_at), t.origin, t.destination)]
                row["exported_count"] += 1
                row["exported_carats"] += t.carats
                row["exported_cents"] += t.value_cents
            if cert.status == RECEIVED:
                assert cert.received_at is not None
                row = out[(_quarter(cert.received_at), t.origin, t.destination)]
                row["imported_count"] += 1
                row["imported_carats"] += t.carats
                row["imported_cents"] += t.value_cents
        return {k: dict(v) for k, v in out.items()}


def _quarter(stamp: int) -> str:
    moment = datetime.fromtimestamp(stamp, UTC)
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


# ---------------------------------------------------------------------- the cast


@dataclass
class Cast:
    """A fresh deployment with a governance account and, per code, an authority, a
    second authority (appointed and revoked by ``rotate``) and an exporter. ``target``
    is what the auditor reads from (the in-process chain, or an anvil URL)."""

    target: Any
    gov: Ledger
    authority: dict[str, Ledger]
    second: dict[str, str]
    exporter: dict[str, Ledger]
    time_travel: Callable[[int], None]
    take_snapshot: Callable[[], Any]
    revert_to: Callable[[Any], None]
    flush: Callable[[], None] = lambda: None
    """Mine what a node left pending (anvil's automine sometimes leaves pipelined
    transactions in its pool until the next one arrives)."""

    def ledgers(self) -> list[Ledger]:
        return [self.gov, *self.authority.values(), *self.exporter.values()]

    def forget(self) -> None:
        for ledger in self.ledgers():
            ledger.forget_local_state()


ACCOUNTS = 1 + 3 * len(CODES)


def _cast(target: Any, keys: Sequence[bytes], **hooks: Any) -> Cast:
    gov = Ledger.deploy(target, keys[0])
    authority = {code: gov.as_signer(keys[1 + i]) for i, code in enumerate(CODES)}
    second = {code: account_address(keys[1 + len(CODES) + i]) for i, code in enumerate(CODES)}
    exporter = {code: gov.as_signer(keys[1 + 2 * len(CODES) + i]) for i, code in enumerate(CODES)}
    return Cast(target, gov, authority, second, exporter, **hooks)


def build_cast() -> Cast:
    """On the in-process chain (eth-tester)."""
    chain = InProcessChain.start(accounts=ACCOUNTS)
    return _cast(
        chain, chain.keys, time_travel=chain.time_travel, take_snapshot=chain.snapshot, revert_to=chain.revert
    )


def build_anvil_cast(node: AnvilNode) -> Cast:
    """On an anvil node started with at least ``ACCOUNTS`` accounts."""

    def time_travel(stamp: int) -> None:
        node.request("evm_setNextBlockTimestamp", [stamp])
        node.mine()

    def revert_to(snapshot: Any) -> None:
        node.revert(snapshot)
        node.request("anvil_dropAllTransactions")  # nothing of this example may leak into the next

    return _cast(
        node.url,
        node.dev_only_keys(ACCOUNTS),
        time_travel=time_travel,
        take_snapshot=node.snapshot,
        revert_to=revert_to,
        flush=node.mine,
    )


# ---------------------------------------------------------------------- the driver


class Driver:
    """Runs a plan on the cast's chain and keeps the model in step."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self.model = Model()
        self.rng = random.Random(0)

    # ------------------------------------------------------------------ helpers

    def now(self) -> int:
        gov = self.cast.gov
        return gov.block_time(gov.block_number())

    def _import_day(self, document_hash: bytes) -> int:
        """Imported today by the chain's clock, or on the expiry day if that came first."""
        today = day_number(self.cast.gov.chain_today())
        return min(today, self.model.certs[document_hash].terms.expires_at // 86_400)

    def time_of(self, receipt: Receipt) -> int:
        return self.cast.gov.block_time(receipt.block_number)

    def _send(self, ledger: Ledger, name: str, args: Sequence[Sequence[Any]]) -> list[Receipt]:
        """Pipelined calls of one signer: consecutive nonces, one batch, all receipts."""
        if not args:
            return []
        fn = ledger.ledger_abi.fn(name)
        calls = [Call(ledger.deployment.ledger, fn.encode(list(a)), GAS.get(name, 400_000)) for a in args]
        transactor = ledger.transactor
        hashes = transactor.submit_many(calls)
        for attempt in range(6):
            try:
                receipts = transactor.wait_many(hashes, timeout=10.0)
                break
            except TransactionTimeout:
                if attempt == 5:
                    raise
                self.cast.flush()
        failed = [r for r in receipts if r.status != 1]
        assert not failed, f"{len(failed)} {name} transactions reverted: the model let through an invalid one"
        return receipts

    def _terms(self, origin: str, destination: str, days: int, rng: random.Random, now: int) -> ChainTerms:
        serial = next(_serial)
        number = f"{origin} H{serial:07d}"
        digest = hashlib.sha256(f"hist-{serial}-{number}".encode()).digest()
        carats = rng.randint(50, 5_000_000)  # hundredths
        base = {"BW": 180, "AE": 250, "BE": 400, "ZA": 150, "IN": 60, "RU": 120, "CN": 90, "CA": 300}[origin]
        price = base * rng.uniform(0.7, 1.4) if rng.random() > 0.05 else base * rng.choice([0.05, 12.0])
        value_cents = int(carats * price)  # cents per hundredth carat == USD per carat
        parcels = rng.randint(1, 20)
        return ChainTerms(digest, number, origin, destination, carats, value_cents, parcels, now + days * DAY)

    def _certs(self, status: str) -> list[bytes]:
        return [h for h, c in self.model.certs.items() if c.status == status]

    # ------------------------------------------------------------------ operations

    def run(self, plan: Sequence[Op]) -> Model:
        for op in plan:
            getattr(self, f"op_{op[0]}")(*op[1:])
        return self.model

    def op_admit(self, index: int, validity: int) -> None:
        code = CODES[index]
        if code in self.model.participants:
            self.model.skipped += 1
            return
        gov, auth, exporter = self.cast.gov, self.cast.authority[code], self.cast.exporter[code]
        gov.admit_participant(code, f"Participant {code}", validity)
        gov.appoint_authority(code, auth.address)
        auth.license_exporter(code, exporter.address)
        auth.license_importer(code, exporter.address)
        self.model.participants[code] = ModelParticipant(code, validity)

    def op_suspend(self, index: int) -> None:
        code = CODES[index]
        if not self.model.active(code):
            self.model.skipped += 1
            return
        self.cast.gov.suspend_participant(code, "plenary decision")
        self.model.participants[code].status = "suspended"

    def op_readmit(self, index: int) -> None:
        p = self.model.participants.get(CODES[index])
        if p is None or p.status != "suspended":
            self.model.skipped += 1
            return
        self.cast.gov.readmit_participant(p.code, "compliant again")
        p.status = "active"

    def op_validity(self, index: int, days: int) -> None:
        p = self.model.participants.get(CODES[index])
        if p is None:
            self.model.skipped += 1
            return
        self.cast.gov.set_validity_period(p.code, days)
        p.validity = days

    def op_rotate(self, index: int) -> None:
        p = self.model.participants.get(CODES[index])
        if p is None:
            self.model.skipped += 1
            return
        if p.second_authority:
            self.cast.gov.revoke_authority(p.code, self.cast.second[p.code])
        else:
            self.cast.gov.appoint_authority(p.code, self.cast.second[p.code])
        p.second_authority = not p.second_authority

    def op_license(self, index: int) -> None:
        p = self.model.participants.get(CODES[index])
        if p is None:
            self.model.skipped += 1
            return
        auth, exporter = self.cast.authority[p.code], self.cast.exporter[p.code]
        if p.exporter_licensed:
            auth.delist_exporter(p.code, exporter.address)
        else:
            auth.license_exporter(p.code, exporter.address)
        p.exporter_licensed = not p.exporter_licensed

    def op_certs(self, o: int, d: int, count: int, anchored: bool, seed: int) -> None:
        origin, destination = CODES[o], CODES[d]
        if origin == destination or not (self.model.active(origin) and self.model.active(destination)):
            self.model.skipped += 1
            return
        p = self.model.participants[origin]
        if anchored and not p.exporter_licensed:
            self.model.skipped += 1
            return
        rng = random.Random(seed)
        now = self.now()
        terms = [self._terms(origin, destination, rng.randint(1, p.validity), rng, now) for _ in range(count)]
        exporter = self.cast.exporter[origin]
        if anchored:
            self._send(exporter, "anchor", [[t.as_tuple()] for t in terms])
            for t in terms:
                self.model.certs[t.document_hash] = ModelCert(t, REQUESTED, exporter=exporter.address)
        else:
            receipts = self._send(
                self.cast.authority[origin], "issue", [[t.as_tuple(), exporter.address] for t in terms]
            )
            for t, r in zip(terms, receipts, strict=True):
                self.model.certs[t.document_hash] = ModelCert(
                    t, ISSUED, self.time_of(r), exporter=exporter.address
                )

    def op_batch(self, o: int, d: int, count: int, seed: int) -> None:
        origin, destination = CODES[o], CODES[d]
        if origin == destination or not (self.model.active(origin) and self.model.active(destination)):
            self.model.skipped += 1
            return
        rng = random.Random(seed)
        validity = self.model.participants[origin].validity
        now = self.now()
        terms = [self._terms(origin, destination, rng.randint(1, validity), rng, now) for _ in range(count)]
        tree = StandardMerkleTree.of([list(t.as_tuple()) for t in terms], CERTIFICATE_LEAF)
        root = bytes.fromhex(tree.root[2:])
        receipt = self.cast.authority[origin].anchor_batch(origin, root, count)
        anchored_at = self.time_of(receipt)
        for i, t in enumerate(terms[: max(1, count - 1)]):  # one stays unrevealed
            proof = tuple(bytes.fromhex(p[2:]) for p in tree.proof(i))
            self.cast.gov.reveal(BatchProof(t, root, proof))
            self.model.certs[t.document_hash] = ModelCert(t, ISSUED, anchored_at, batch=True)

    def op_advance(self, days: int) -> None:
        self.cast.time_travel(self.now() + days * DAY)

    def op_act(self, kind: str, percent: int, seed: int) -> None:
        rng = random.Random(seed)
        source_status = {
            "validate": REQUESTED,
            "confirm": ISSUED,
            "dispute": ISSUED,
            "resolve": DISPUTED,
            "void": ISSUED,
            "amend": ISSUED,
        }[kind]
        now = self.now()
        candidates = self._certs(source_status)
        if kind == "void":
            candidates += self._certs(REQUESTED) + self._certs(DISPUTED)
        if kind == "validate":  # needs both active and not expired (with a margin for the next block)
            candidates = [
                h
                for h in candidates
                if self.model.certs[h].terms.expires_at > now + 4 * 3600
                and self.model.active(self.model.certs[h].terms.origin)
                and self.model.active(self.model.certs[h].terms.destination)
            ]
        if kind == "amend":
            candidates = [
                h
                for h in candidates
                if self.model.active(self.model.certs[h].terms.origin)
                and self.model.active(self.model.certs[h].terms.destination)
            ]
        rng.shuffle(candidates)
        chosen = candidates[: max(1, len(candidates) * percent // 100)] if candidates else []
        if not chosen:
            self.model.skipped += 1
            return
        by_signer: dict[str, list[bytes]] = defaultdict(list)
        for h in chosen:
            t = self.model.certs[h].terms
            by_signer[t.destination if kind in ("confirm", "dispute", "resolve") else t.origin].append(h)
        for code, hashes in sorted(by_signer.items()):
            getattr(self, f"_{kind}")(self.cast.authority[code], hashes, rng)

    def _validate(self, auth: Ledger, hashes: list[bytes], _rng: random.Random) -> None:
        for h, r in zip(hashes, self._send(auth, "validate", [[h] for h in hashes]), strict=True):
            cert = self.model.certs[h]
            cert.status, cert.issued_at = ISSUED, self.time_of(r)

    def _confirm(self, auth: Ledger, hashes: list[bytes], _rng: random.Random) -> None:
        for h, r in zip(
            hashes,
            self._send(auth, "confirmReceipt", [[h, self._import_day(h)] for h in hashes]),
            strict=True,
        ):
            cert = self.model.certs[h]
            cert.status, cert.received_at = RECEIVED, self.time_of(r)

    def _dispute(self, auth: Ledger, hashes: list[bytes], _rng: random.Random) -> None:
        self._send(auth, "recordDiscrepancy", [[h, "carats differ"] for h in hashes])
        for h in hashes:
            self.model.certs[h].status = DISPUTED

    def _resolve(self, auth: Ledger, hashes: list[bytes], _rng: random.Random) -> None:
        for h, r in zip(
            hashes,
            self._send(auth, "resolveDispute", [[h, self._import_day(h), ""] for h in hashes]),
            strict=True,
        ):
            cert = self.model.certs[h]
            cert.status, cert.received_at = RECEIVED, self.time_of(r)

    def _void(self, auth: Ledger, hashes: list[bytes], _rng: random.Random) -> None:
        self._send(auth, "voidCertificate", [[h, "withdrawn"] for h in hashes])
        for h in hashes:
            self.model.certs[h].status = VOIDED

    def _amend(self, auth: Ledger, hashes: list[bytes], rng: random.Random) -> None:
        replacements = []
        for h in hashes:
            old = self.model.certs[h].terms
            validity = self.model.participants[old.origin].validity
            days = rng.randint(1, validity)
            replacements.append(self._terms(old.origin, old.destination, days, rng, self.now()))
        args = [[h, t.as_tuple(), "corrected weight"] for h, t in zip(hashes, replacements, strict=True)]
        receipts = self._send(auth, "amend", args)
        for h, t, r in zip(hashes, replacements, receipts, strict=True):
            old = self.model.certs[h]
            old.status = SUPERSEDED
            self.model.certs[t.document_hash] = ModelCert(t, ISSUED, self.time_of(r), exporter=old.exporter)
