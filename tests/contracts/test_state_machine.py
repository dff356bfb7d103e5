"""Stateful property test: after every step, contracts == model == replayed audit index.

A hypothesis ``RuleBasedStateMachine`` drives random sequences over every state-changing
operation of both contracts (admit, suspend, readmit, validity period, authorities,
exporter and importer licences, registry-wide roles; anchor, validate, direct issue,
confirm, dispute, resolve, void, amend; batch anchoring and reveals with valid and
malformed proofs, alone or in a multicall with a transition) and time passing, from
accounts of every kind: governance, the authority of the origin, of the destination, of
a third participant, exporters, importers, the auditor, strangers, and the accounts of a
suspended participant. The accounts' roles are not fixed: they are whatever the
operations so far made them.

Before each call, the plain model (kp_model.py, written from the rules) predicts the
outcome. A call it accepts is sent and must be mined at the predicted block and time; a
call it refuses must fail the client's pre-send simulation with exactly the predicted
contract error and arguments, and change nothing: no block mined (so nothing for the
replay to index), the model as it was, and what the step aimed at reading from the
contract as the model says. After every mined step the audit replay runs incrementally
into this example's SQLite index (public API only: ``replay`` and ``AuditIndex``) and
what the step touched (the certificate or certificates, the participant, the role, the
batch; when time passed, the certificates whose expiry the clock crossed) reads the same
from the contract, the model and the index, timelines and histories included; so do the
index's whole certificate set and role holders, and the replay must have found no
forbidden transition. At the end of each example every certificate, participant, role
holding and batch is swept the same way (after every step in the deep profile).

Examples start from a prologue run once per session through the same rules and checks
(certificates in each open status, batches with unrevealed leaves), each between a
snapshot and a revert of the chain, with a copy of the prologue's index.

Profiles (registered here, never loaded globally): the default runs 200 derandomized
examples of 15 steps on anvil without an example database, so CI is reproducible, plus
3 examples on the in-process EVM of tests/conftest.py (py-evm answers a call about a
hundred times slower than anvil: see state_world.py); ``KPLEDGER_DEEP=1`` (``make
test-deep``) runs 3,000 random examples of 30 steps (``KPLEDGER_DEEP_EXAMPLES`` to
change; about a second each) and one in-process example per 75 (about ten seconds each).
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from kpledger.audit import AuditIndex, engine_for, replay
from kpledger.chain.sender import Call
from kpledger.errors import KPLedgerError
from kpledger.ledger import Ledger
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree
from kpledger.types import CertificateStatus, ChainTerms, ParticipantStatus, RoleKind
from tests.chain.nodeworld import start_anvil

from .helpers import (
    AUDITOR_ROLE,
    DAY,
    GOVERNANCE_ROLE,
    ZERO_ADDRESS,
    ZERO_HASH,
    authority_role,
    check_error,
    exporter_role,
    fresh_hash,
    has_role,
)
from .kp_model import Moment, Refusal, Refused
from .state_inputs import (
    ADMIT_CODES,
    IMPORT_FLAWS,
    INVALID_CODES,
    NEVER_ADMITTED,
    POOL,
    PROOF_FLAWS,
    REASON_FLAWS,
    TERMS_FLAWS,
    WHICH,
    Identities,
    LeafSpec,
    Plan,
    TermsSpec,
    build_terms,
    destination_for,
    leaf_specs,
    parties,
    picks,
    plans,
    reason_for,
    terms_specs,
)
from .state_world import (
    ACCOUNT_NAMES,
    FRESH,
    AnvilChain,
    InProcess,
    Session,
    Stats,
    cast_world,
    start_session,
)

Leaf = tuple[ChainTerms, bytes, tuple[bytes, ...]]
"""An unrevealed batch leaf: its terms, the batch root and the proof."""

if TYPE_CHECKING:
    from tests.conftest import World

S = CertificateStatus
P = ParticipantStatus
GAS = 2_000_000
DEEP = os.environ.get("KPLEDGER_DEEP", "") not in ("", "0")

_BASE = settings(
    deadline=None,
    database=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "kpledger-state-default", parent=_BASE, max_examples=200, stateful_step_count=15, derandomize=True
)
settings.register_profile(
    "kpledger-state-deep",
    parent=_BASE,
    max_examples=int(os.environ.get("KPLEDGER_DEEP_EXAMPLES", "3000")),
    stateful_step_count=30,
    derandomize=False,
)
PROFILE = "kpledger-state-deep" if DEEP else "kpledger-state-default"

TARGETS = (*ACCOUNT_NAMES[1:], "fresh", "zero")
"""Accounts roles are granted to: every signing account but governance's, an address
nobody signs for, and the zero address."""
KINDS = {"exporter": RoleKind.EXPORTER, "importer": RoleKind.IMPORTER}
FITTING = {
    "validate": (S.REQUESTED,),
    "confirm": (S.ISSUED,),
    "dispute": (S.ISSUED,),
    "resolve": (S.DISPUTED,),
    "void": (S.REQUESTED, S.ISSUED, S.DISPUTED),
    "amend": (S.ISSUED,),
}

# ---------------------------------------------------------------------- the machine


@dataclass
class Clock:
    """The head block and its time; the next transaction runs one block and one second later."""

    head: int
    latest: int

    def pending(self) -> Moment:
        return Moment(self.head + 1, self.latest + 1)

    def mined(self, at: Moment) -> None:
        self.head, self.latest = at.block, at.time


@dataclass
class Touched:
    """What a step may have changed, to read back from all three sides."""

    certs: set[bytes] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    roles: set[tuple[str, RoleKind, str]] = field(default_factory=set)
    global_roles: set[tuple[bytes, str]] = field(default_factory=set)
    batches: set[bytes] = field(default_factory=set)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


class LedgerMachine(RuleBasedStateMachine):
    """One example: a fresh snapshot of the world, model and index, then random steps."""

    def __init__(self, session: Session, tag: str = "E") -> None:
        super().__init__()
        self.s = session
        self.ids = Identities(tag)
        self.gov = session.gov
        self.snapshot = session.chain.snapshot()
        self.model = copy.deepcopy(session.seed)
        self.trees = dict(session.trees)
        self.stepping = False
        """True from a step's start to the end of its checks: a step that failed leaves
        it set, and the teardown then does not bury that failure under its sweep's."""
        self.db = session.workdir / f"index-{next(session.serial)}.db"
        shutil.copyfile(session.template, self.db)
        self.engine = engine_for(str(self.db))
        self.index = AuditIndex(self.engine)
        head = self.gov.block_number()
        self.clock = Clock(head, self.gov.block_time(head))
        start = session.chain.start_time(self.clock.latest)
        if start is not None:
            session.chain.travel(start)
            self.clock.mined(Moment(head + 1, start))
            self._check(Touched(), mined=True)
        session.stats.examples += 1

    def teardown(self) -> None:
        try:
            if not self.stepping:
                self._check(Touched(), mined=False, sweep=True)
        finally:
            self.index.close()
            self.db.unlink(missing_ok=True)
            self.s.chain.revert(self.snapshot)
            self.s.forget()

    # ------------------------------------------------------------------ acting

    def _actor(self, plan: Plan, right: str, origin: str | None, destination: str | None) -> Ledger:
        """The account to act as: a holder of the ``right`` kind for the step's origin
        and destination, or of the plan's kind in ``actor`` mode; a stranger if none."""
        candidates = [
            a for a in self._candidates(plan.actor_kind(right), origin, destination) if a in self.s.by_address
        ]
        if not candidates:
            return self.s.accounts["stranger"]
        return self.s.by_address[candidates[plan.pick % len(candidates)]]

    def _candidates(self, kind: str, origin: str | None, destination: str | None) -> list[str]:
        m = self.model
        scoped = sorted(m.scoped)
        holders_of = {
            "origin_authority": [a for c, k, a in scoped if c == origin and k == RoleKind.AUTHORITY],
            "destination_authority": [
                a for c, k, a in scoped if c == destination and k == RoleKind.AUTHORITY
            ],
            "third_authority": [
                a for c, k, a in scoped if c not in (origin, destination) and k == RoleKind.AUTHORITY
            ],
            "exporter": [a for c, k, a in scoped if c == origin and k == RoleKind.EXPORTER]
            or [a for _, k, a in scoped if k == RoleKind.EXPORTER],
            "importer": [a for c, k, a in scoped if c == destination and k == RoleKind.IMPORTER]
            or [a for _, k, a in scoped if k == RoleKind.IMPORTER],
            "governance": sorted(a for r, a in m.global_roles if r == GOVERNANCE_ROLE),
            "auditor": sorted(a for r, a in m.global_roles if r == AUDITOR_ROLE),
            "suspended_authority": [
                a for c, k, a in scoped if m.status(c) is P.SUSPENDED and k == RoleKind.AUTHORITY
            ],
            "suspended_exporter": [
                a for c, k, a in scoped if m.status(c) is P.SUSPENDED and k == RoleKind.EXPORTER
            ],
            "any": sorted(self.s.by_address),
        }
        if kind == "stranger":
            holding = {a for _, _, a in m.scoped} | {a for _, a in m.global_roles}
            return sorted(a for a in self.s.by_address if a not in holding)
        return holders_of[kind]

    def _call(self, contract: str, name: str, *args: Any) -> Call:
        if contract == "registry":
            return Call(self.gov.deployment.registry, self.gov.registry_abi.fn(name).encode(list(args)), GAS)
        return Call(self.gov.deployment.ledger, self.gov.ledger_abi.fn(name).encode(list(args)), GAS)

    def _multicall(self, *calls: Call) -> Call:
        return self._call("ledger", "multicall", [c.data for c in calls])

    def _act(
        self, rule_name: str, actor: Ledger, call: Call, predict: Callable[[Moment], None], touched: Touched
    ) -> None:
        """Predict with the model, then hold the contract to the prediction."""
        self.stepping = True
        at = self.clock.pending()
        before = copy.deepcopy(self.model)
        expected: Refusal | None
        try:
            predict(at)
        except Refused as refused:
            assert self.model == before, f"{rule_name}: the model changed on a refusal"
            expected = refused.refusal
        else:
            expected = None
        if expected is None:
            try:
                receipt = actor.transactor.send(call)  # explicit gas limit: no simulation
            except KPLedgerError as error:
                raise AssertionError(
                    f"{rule_name}: the model accepts it, the contract refused: {error!r}"
                ) from None
            assert receipt.block_number == at.block, "the transaction was not mined in the next block"
            assert self.gov.block_time(at.block) == at.time, "the block time is not the model's"
            self.clock.mined(at)
        else:
            try:  # what every client write does before signing: a simulation
                actor.transactor.estimate(Call(call.to, call.data))
            except KPLedgerError as error:
                check_error(error, expected.error, **expected.args)
            else:
                raise AssertionError(f"{rule_name}: the contract accepts it, the model expected {expected}")
        self.s.stats.steps += 1
        self.s.stats.outcomes[(rule_name, "ok" if expected is None else "refused")] += 1
        if expected is not None:
            self.s.stats.refusals[expected.error.__name__] += 1
            self.s.stats.by_rule[f"{rule_name}:{expected.error.__name__}"] += 1
        self._check(touched, mined=expected is None)

    # ------------------------------------------------------------------ picking

    def _codes(self, status: ParticipantStatus) -> list[str]:
        return sorted(c for c in self.model.participants if self.model.status(c) is status)

    def _codes_with(self, kind: RoleKind) -> list[str]:
        """Participants one of our signing accounts holds ``kind`` of."""
        return sorted({c for c, k, a in self.model.scoped if k == kind and a in self.s.by_address})

    def _certificate(
        self, rule_name: str, which: str, pick: int
    ) -> tuple[bytes, tuple[ChainTerms, bytes, tuple[bytes, ...]] | None]:
        """A document hash to act on, and the batch proof when it is an unrevealed leaf."""
        m = self.model
        known = sorted(m.certificates)
        fitting = [h for h in known if m.certificates[h].stored in FITTING[rule_name]]
        leaves = self._unrevealed()
        if which == "leaf" and leaves:
            terms, root, proof = leaves[pick % len(leaves)]
            return terms.document_hash, (terms, root, proof)
        if which == "unknown" or not known:
            return fresh_hash(f"unknown-{pick}"), None
        unfit = [h for h in known if h not in fitting]
        pool = {"fit": fitting, "unfit": unfit}.get(which) or known
        return pool[pick % len(pool)], None

    def _unrevealed(self) -> list[tuple[ChainTerms, bytes, tuple[bytes, ...]]]:
        out = []
        for root, (leaves, tree) in sorted(self.trees.items()):
            for i, terms in enumerate(leaves):
                if terms.document_hash not in self.model.certificates:
                    out.append((terms, root, tuple(bytes.fromhex(n[2:]) for n in tree.proof(i))))
        return out

    def _transition(
        self,
        rule_name: str,
        which: tuple[str, int],
        plan: Plan,
        right: str,
        name: str,
        args: tuple[Any, ...] | Callable[[bytes, Leaf | None], tuple[Any, ...]],
    ) -> None:
        """Validate, confirm, dispute, resolve, void: on a known certificate, an unknown
        hash, or an unrevealed batch leaf revealed in the same multicall. ``args`` may be
        a function of the certificate chosen (its hash and leaf)."""
        document_hash, leaf = self._certificate(rule_name, *which)
        if leaf is not None and rule_name in ("validate", "resolve"):
            leaf = None  # the client has no batch path for these: the hash is unknown
        if callable(args):
            args = args(document_hash, leaf)
        cert = self.model.certificates.get(document_hash)
        terms = cert.terms if cert is not None else (leaf[0] if leaf is not None else None)
        origin = terms.origin if terms is not None else None
        destination = terms.destination if terms is not None else None
        actor = self._actor(plan, right, origin, destination)
        call = self._call("ledger", name, document_hash, *args)
        operation = getattr(self.model, rule_name)

        def predict(at: Moment) -> None:
            if leaf is None:
                operation(actor.address, document_hash, *args, at)
                return
            with self.model.atomic():
                self.model.reveal(*leaf, at)
                operation(actor.address, document_hash, *args, at)

        if leaf is not None:
            call = self._multicall(self._reveal_call(*leaf), call)
        label = rule_name + ("+reveal" if leaf is not None else "")
        self._act(label, actor, call, predict, Touched(certs={document_hash}))

    # ------------------------------------------------------------------ participants

    @rule(
        code=picks,
        days=st.integers(1, 120),
        plan=plans(
            "empty_name",
            "long_name",
            "max_name",
            "zero_validity",
            "long_validity",
            "max_validity",
            "taken",
            "bad_code",
        ),
    )
    def admit(self, code: int, days: int, plan: Plan) -> None:
        """Governance admits a participant: one not admitted yet unless a flaw says."""
        m, flaw = self.model, plan.wanted_flaw
        fresh = [c for c in ADMIT_CODES if c not in m.participants]
        subject = fresh[code % len(fresh)] if fresh else ADMIT_CODES[code % len(ADMIT_CODES)]
        if flaw == "taken":
            subject = sorted(m.participants)[code % len(m.participants)]
        elif flaw == "bad_code":
            subject = INVALID_CODES[code % len(INVALID_CODES)]
        name = {"empty_name": "", "long_name": "n" * 201, "max_name": "é" * 100}.get(
            flaw or "", f"Participant {subject}"
        )
        days = {"zero_validity": 0, "long_validity": 367, "max_validity": 366}.get(flaw or "", days)
        actor = self._actor(plan, "governance", subject, None)
        call = self._call("registry", "admitParticipant", subject.encode("latin-1"), name, days)
        predict = lambda at: m.admit(actor.address, subject, name, days, at)  # noqa: E731
        self._act("admit", actor, call, predict, Touched(codes={subject}))

    def _registry_subject(self, plan: Plan, wanted: ParticipantStatus | None, code: int) -> str:
        """A participant code: one in status ``wanted`` for a plan without a flaw."""
        flaw = plan.wanted_flaw
        if flaw == "unknown":
            return NEVER_ADMITTED
        if flaw == "active":
            wanted = P.ACTIVE
        elif flaw == "not_active":
            wanted = P.SUSPENDED
        candidates = self._codes(wanted) if wanted is not None else sorted(self.model.participants)
        return candidates[code % len(candidates)] if candidates else POOL[code % len(POOL)]

    @rule(
        code=picks,
        reason=st.sampled_from(["plenary decision", "", "r" * 1200]),
        plan=plans("unknown", "not_active"),
    )
    def suspend(self, code: int, reason: str, plan: Plan) -> None:
        subject = self._registry_subject(plan, P.ACTIVE, code)
        actor = self._actor(plan, "governance", subject, None)
        call = self._call("registry", "suspendParticipant", subject.encode(), reason)
        predict = lambda at: self.model.suspend(actor.address, subject, reason, at)  # noqa: E731
        self._act("suspend", actor, call, predict, Touched(codes={subject}))

    @rule(code=picks, plan=plans("unknown", "active"))
    def readmit(self, code: int, plan: Plan) -> None:
        subject = self._registry_subject(plan, P.SUSPENDED, code)
        actor = self._actor(plan, "governance", subject, None)
        call = self._call("registry", "readmitParticipant", subject.encode(), "compliant again")
        predict = lambda at: self.model.readmit(actor.address, subject, "compliant again", at)  # noqa: E731
        self._act("readmit", actor, call, predict, Touched(codes={subject}))

    @rule(
        code=picks,
        days=st.one_of(st.integers(1, 7), st.integers(8, 366)),
        plan=plans("unknown", "zero", "too_long", "max"),
    )
    def set_validity(self, code: int, days: int, plan: Plan) -> None:
        subject = self._registry_subject(plan, None, code)
        days = {"zero": 0, "too_long": 367, "max": 366}.get(plan.wanted_flaw or "", days)
        actor = self._actor(plan, "governance", subject, None)
        call = self._call("registry", "setValidityPeriod", subject.encode(), days)
        predict = lambda at: self.model.set_validity(actor.address, subject, days, at)  # noqa: E731
        self._act("set_validity", actor, call, predict, Touched(codes={subject}))

    # ------------------------------------------------------------------ roles

    def _role_target(self, plan: Plan, code: str, kind: RoleKind, grantee: str, grant: bool) -> str:
        """Whom a role is granted to or withdrawn from: ``grantee`` when it does not
        hold the role (for a grant) or holds it (for a withdrawal), else the holder or
        non-holder it points at; a flaw asks for the opposite, or the zero address."""
        m, flaw = self.model, plan.wanted_flaw
        if flaw == "zero":
            return ZERO_ADDRESS
        holders = m.holders(code, kind)
        wanted = self.s.address(grantee)
        index = TARGETS.index(grantee)
        if flaw == "held" or (flaw is None and not grant):
            if wanted.lower() in holders or not holders:
                return wanted
            return self._by_lower(holders[index % len(holders)])
        if flaw == "not_held" or (flaw is None and grant):
            if wanted.lower() not in holders:
                return wanted
            others = [a for a in sorted(self.s.by_address) if a not in holders]
            return self._by_lower(others[index % len(others)]) if others else FRESH
        return wanted

    def _by_lower(self, account: str) -> str:
        ledger = self.s.by_address.get(account)
        return ledger.address if ledger is not None else account

    def _role_code(self, plan: Plan, code: int) -> str:
        if plan.wanted_flaw == "unknown":
            return NEVER_ADMITTED
        known = sorted(self.model.participants)
        return known[code % len(known)]

    @rule(
        code=picks,
        grantee=st.sampled_from(TARGETS),
        grant=st.booleans(),
        plan=plans("zero", "held", "not_held", "unknown"),
    )
    def authority(self, code: int, grantee: str, grant: bool, plan: Plan) -> None:
        """Governance appoints or revokes an authority account."""
        subject = self._role_code(plan, code)
        account = self._role_target(plan, subject, RoleKind.AUTHORITY, grantee, grant)
        actor = self._actor(plan, "governance", subject, None)
        name = "appointAuthority" if grant else "revokeAuthority"
        operation = self.model.appoint if grant else self.model.revoke_authority
        call = self._call("registry", name, subject.encode(), account)
        touched = Touched(codes={subject}, roles={(subject, RoleKind.AUTHORITY, account)})
        self._act(name, actor, call, lambda at: operation(actor.address, subject, account, at), touched)

    @rule(
        kind=st.sampled_from(sorted(KINDS)),
        code=picks,
        grantee=st.sampled_from(TARGETS),
        grant=st.booleans(),
        plan=plans("zero", "held", "not_held", "unknown"),
    )
    def licence(self, kind: str, code: int, grantee: str, grant: bool, plan: Plan) -> None:
        """A participant's authority licenses or delists an exporter or importer."""
        role = KINDS[kind]
        subject = self._role_code(plan, code)
        account = self._role_target(plan, subject, role, grantee, grant)
        actor = self._actor(plan, "origin_authority", subject, None)
        name = ("license" if grant else "delist") + kind.title()
        call = self._call("registry", name, subject.encode(), account)
        touched = Touched(codes={subject}, roles={(subject, role, account)})
        operation = self.model.license if grant else self.model.delist
        self._act(name, actor, call, lambda at: operation(actor.address, role, subject, account, at), touched)

    @rule(
        action=st.sampled_from(["grantRole", "revokeRole", "renounceRole"]),
        role=st.sampled_from(["auditor", "auditor", "authority", "exporter", "unadmitted"]),
        grantee=st.sampled_from(TARGETS),
        plan=plans(),
    )
    def registry_role(self, action: str, role: str, grantee: str, plan: Plan) -> None:
        """AccessControl's own functions: fine for the auditor role, always refused for
        participant-scoped roles (those change only with the registry's events)."""
        role_id = {
            "auditor": AUDITOR_ROLE,
            "authority": authority_role("BW"),
            "exporter": exporter_role("AE"),
            "unadmitted": authority_role(NEVER_ADMITTED),
        }[role]
        actor = self._actor(plan, "auditor" if action == "renounceRole" else "governance", None, None)
        account = actor.address if action == "renounceRole" else self.s.address(grantee)
        call = self._call("registry", action, role_id, account)
        operation = {
            "grantRole": self.model.grant_role,
            "revokeRole": self.model.revoke_role,
            "renounceRole": self.model.renounce_role,
        }[action]
        touched = Touched(global_roles={(role_id, account)} if role == "auditor" else set())
        self._act(action, actor, call, lambda at: operation(actor.address, role_id, account, at), touched)

    # ------------------------------------------------------------------ certificates

    @rule(spec=terms_specs, plan=plans(*TERMS_FLAWS))
    def anchor(self, spec: TermsSpec, plan: Plan) -> None:
        m = self.model
        terms = build_terms(
            m,
            self.ids,
            spec,
            plan.wanted_flaw,
            self.clock.pending().time,
            self._codes_with(RoleKind.EXPORTER),
        )
        actor = self._actor(plan, "exporter", terms.origin, terms.destination)
        call = self._call("ledger", "anchor", terms.as_tuple())
        touched = Touched(certs={terms.document_hash})
        self._act("anchor", actor, call, lambda at: m.anchor(actor.address, terms, at), touched)

    @rule(spec=terms_specs, exporter=st.sampled_from(TARGETS), plan=plans(*TERMS_FLAWS, "zero_exporter"))
    def issue(self, spec: TermsSpec, exporter: str, plan: Plan) -> None:
        m = self.model
        now = self.clock.pending().time
        terms = build_terms(m, self.ids, spec, plan.wanted_flaw, now, self._codes_with(RoleKind.AUTHORITY))
        account = (
            ZERO_ADDRESS
            if plan.wanted_flaw == "zero_exporter" or exporter == "zero"
            else self.s.address(exporter)
        )
        actor = self._actor(plan, "origin_authority", terms.origin, terms.destination)
        call = self._call("ledger", "issue", terms.as_tuple(), account)
        touched = Touched(certs={terms.document_hash})
        self._act("issue", actor, call, lambda at: m.issue(actor.address, terms, account, at), touched)

    @rule(which=st.tuples(st.sampled_from(WHICH), picks), plan=plans("at_expiry", "after_expiry"))
    def validate(self, which: tuple[str, int], plan: Plan) -> None:
        """With a flaw, time first passes to the certificate's expiry second (still
        valid) or one second after it (expired)."""
        document_hash, _ = self._certificate("validate", *which)
        cert = self.model.certificates.get(document_hash)
        if plan.wanted_flaw is not None and cert is not None:
            at = cert.terms.expires_at + (plan.wanted_flaw == "after_expiry")
            if at - 1 > self.clock.latest:
                self._travel(at - 1)  # the next block, the validation's, is at ``at``
                self.stepping = True
        self._transition("validate", which, plan, "origin_authority", "validate", ())

    def _import_day(self, plan: Plan, document_hash: bytes, leaf: Leaf | None) -> int:
        """The import date a receipt enters: a valid day (today, or the expiry day when
        today is past it), or one day outside the rule a flaw names."""
        today = self.clock.pending().time // DAY
        cert = self.model.certificates.get(document_hash)
        if cert is not None:
            terms, issued_day = cert.terms, cert.issued_day
        elif leaf is not None:
            terms, issued_day = leaf[0], self.model.batches[leaf[1]].anchored.time // DAY
        else:
            return today
        last = terms.expires_at // DAY
        flaw = plan.wanted_flaw
        if flaw == "import_future":
            return today + 1
        if flaw == "import_before_issue":
            return max(issued_day - 1, 0)
        if flaw == "import_after_expiry":
            return last + 1
        return max(issued_day, min(today, last))

    @rule(which=st.tuples(st.sampled_from(WHICH), picks), plan=plans(*IMPORT_FLAWS))
    def confirm(self, which: tuple[str, int], plan: Plan) -> None:
        self._transition(
            "confirm",
            which,
            plan,
            "destination_authority",
            "confirmReceipt",
            lambda document_hash, leaf: (self._import_day(plan, document_hash, leaf),),
        )

    @rule(which=st.tuples(st.sampled_from(WHICH), picks), plan=plans(*REASON_FLAWS))
    def dispute(self, which: tuple[str, int], plan: Plan) -> None:
        reason = reason_for(plan.wanted_flaw, "carats differ")
        self._transition("dispute", which, plan, "destination_authority", "recordDiscrepancy", (reason,))

    @rule(which=st.tuples(st.sampled_from(WHICH), picks), plan=plans(*REASON_FLAWS, *IMPORT_FLAWS))
    def resolve(self, which: tuple[str, int], plan: Plan) -> None:
        note = reason_for(plan.wanted_flaw, "" if plan.pick % 2 else "parcels found")
        self._transition(
            "resolve",
            which,
            plan,
            "destination_authority",
            "resolveDispute",
            lambda document_hash, leaf: (self._import_day(plan, document_hash, leaf), note),
        )

    @rule(which=st.tuples(st.sampled_from(WHICH), picks), plan=plans(*REASON_FLAWS))
    def void(self, which: tuple[str, int], plan: Plan) -> None:
        reason = reason_for(plan.wanted_flaw, "withdrawn")
        self._transition("void", which, plan, "origin_authority", "voidCertificate", (reason,))

    @rule(
        which=st.tuples(st.sampled_from(WHICH), picks),
        spec=terms_specs,
        plan=plans(*TERMS_FLAWS, *REASON_FLAWS, "origin_mismatch", "old_hash", "old_number"),
    )
    def amend(self, which: tuple[str, int], spec: TermsSpec, plan: Plan) -> None:
        """The origin's authority replaces a certificate with a corrected one: same
        parties, a fresh number and hash, new amounts and expiry (unless a flaw says)."""
        m, flaw = self.model, plan.wanted_flaw
        document_hash, leaf = self._certificate("amend", *which)
        cert = m.certificates.get(document_hash)
        old = cert.terms if cert is not None else (leaf[0] if leaf is not None else None)
        between = (old.origin, old.destination) if old is not None else None
        now = self.clock.pending().time
        replacement = build_terms(
            m, self.ids, spec, flaw if flaw in TERMS_FLAWS else None, now, between=between
        )
        if old is not None and flaw == "old_hash":
            replacement = replace(replacement, document_hash=old.document_hash)
        elif old is not None and flaw == "old_number":
            replacement = replace(replacement, number=old.number)
        elif flaw == "origin_mismatch":
            others = [c for c in POOL if c != replacement.origin]
            other = others[plan.pick % len(others)]
            replacement = replace(replacement, origin=other, number=other + replacement.number[2:])
        reason = reason_for(flaw, "corrected carats")
        actor = self._actor(plan, "origin_authority", *(between or (None, None)))
        call = self._call("ledger", "amend", document_hash, replacement.as_tuple(), reason)

        def predict(at: Moment) -> None:
            if leaf is None:
                m.amend(actor.address, document_hash, replacement, reason, at)
                return
            with m.atomic():
                m.reveal(*leaf, at)
                m.amend(actor.address, document_hash, replacement, reason, at)

        if leaf is not None:
            call = self._multicall(self._reveal_call(*leaf), call)
        touched = Touched(certs={document_hash, replacement.document_hash})
        self._act("amend" + ("+reveal" if leaf else ""), actor, call, predict, touched)

    # ------------------------------------------------------------------ batches

    def _reveal_call(self, terms: ChainTerms, root: bytes, proof: tuple[bytes, ...]) -> Call:
        return self._call("ledger", "revealBatchCertificate", terms.as_tuple(), root, list(proof))

    @rule(
        origin=picks,
        leaves=st.lists(leaf_specs, min_size=1, max_size=4),
        plan=plans("zero_root", "reuse_root", "zero_count", "unknown_origin", "suspended_origin"),
    )
    def anchor_batch(self, origin: int, leaves: list[LeafSpec], plan: Plan) -> None:
        """An authority anchors the root of a batch. Leaves may carry flaws of their own,
        which nothing checks until they are revealed."""
        m, flaw = self.model, plan.wanted_flaw
        now = self.clock.pending().time
        code = parties(m, leaves[0].terms, self._codes_with(RoleKind.AUTHORITY))[0]
        if flaw == "unknown_origin":
            code = NEVER_ADMITTED
        elif flaw == "suspended_origin":
            suspended = self._codes(P.SUSPENDED)
            code = suspended[origin % len(suspended)] if suspended else code
        terms = [self._leaf(code, leaf, now) for leaf in leaves]
        tree = StandardMerkleTree.of([t.as_tuple() for t in terms], CERTIFICATE_LEAF)
        tree_root = bytes.fromhex(tree.root[2:])
        root = tree_root
        if flaw == "zero_root":
            root = ZERO_HASH
        elif flaw == "reuse_root" and m.batches:
            root = sorted(m.batches)[origin % len(m.batches)]
        count = 0 if flaw == "zero_count" else len(terms)
        actor = self._actor(plan, "origin_authority", code, None)
        call = self._call("ledger", "anchorBatch", code.encode(), root, count)
        predict = lambda at: m.anchor_batch(actor.address, code, root, count, at)  # noqa: E731
        self._act("anchor_batch", actor, call, predict, Touched(batches={root}))
        if root == tree_root and root in m.batches:
            self.trees[root] = (terms, tree)

    def _leaf(self, origin: str, leaf: LeafSpec, now: int) -> ChainTerms:
        """A batch leaf of ``origin``, valid when anchored now unless its flaw says."""
        m, spec = self.model, leaf.terms
        destination = destination_for(m, origin, spec.destination)
        if leaf.flaw == "same_parties":
            destination = origin
        elif leaf.flaw == "inactive_destination":
            inactive = [c for c in POOL if m.status(c) is not P.ACTIVE] + [NEVER_ADMITTED]
            destination = inactive[spec.destination % len(inactive)]
        terms = build_terms(m, self.ids, spec, None, now, between=(origin, destination))
        if leaf.flaw == "expiry_over":
            found = m.participants.get(origin)
            validity = found.validity_days if found is not None else 60
            terms = replace(terms, expires_at=now + (validity + 1) * DAY + 1)
        elif leaf.flaw == "other_origin":
            other = next(c for c in POOL if c != origin)
            terms = replace(terms, origin=other, number=other + terms.number[2:])
        return terms

    @rule(batch=picks, leaf=picks, flaw=st.sampled_from(PROOF_FLAWS), plan=plans())
    def reveal(self, batch: int, leaf: int, flaw: str | None, plan: Plan) -> None:
        """Anyone reveals a batched certificate with its proof, or with a malformed one."""
        roots = sorted(self.trees)
        if not roots:  # nothing anchored yet: a root nobody anchored
            root = fresh_hash(f"root-{batch}")
            spec = TermsSpec(leaf, leaf, 30, 0, 100, 100, 1)
            terms = build_terms(self.model, self.ids, spec, None, self.clock.latest)
            proof: tuple[bytes, ...] = ()
        else:
            root = roots[batch % len(roots)]
            leaves, tree = self.trees[root]
            index = leaf % len(leaves)
            terms = leaves[index]
            proof = tuple(bytes.fromhex(n[2:]) for n in tree.proof(index))
            if flaw == "flip" and proof:
                proof = (bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:])
            elif flaw == "truncate" and proof:
                proof = proof[:-1]
            elif flaw == "extend":
                proof = (*proof, fresh_hash(f"extra-{leaf}"))
            elif flaw == "other_leaf" and len(leaves) > 1:
                proof = tuple(bytes.fromhex(n[2:]) for n in tree.proof((index + 1) % len(leaves)))
            elif flaw == "tampered_terms":
                terms = replace(terms, carats=terms.carats + 1)
            elif flaw == "empty":
                proof = ()
            elif flaw == "other_root":
                root = roots[(batch + 1) % len(roots)] if len(roots) > 1 else fresh_hash(f"root-{batch}")
        actor = self._actor(plan, "any", None, None)
        call = self._reveal_call(terms, root, proof)
        predict = lambda at: self.model.reveal(terms, root, proof, at)  # noqa: E731
        self._act("reveal", actor, call, predict, Touched(certs={terms.document_hash}, batches={root}))

    # ------------------------------------------------------------------ time

    @rule(
        how=st.one_of(
            st.tuples(st.just("seconds"), st.integers(1, 3600)),
            st.tuples(st.just("days"), st.integers(1, 45)),
            st.tuples(st.just("expiry"), st.integers(-1, 1), picks),
        )
    )
    def pass_time(self, how: tuple[Any, ...]) -> None:
        """Time passes (an empty block at the new time); certificates may expire. With
        ``expiry``, the head lands one second before, on, or after a certificate's expiry."""
        self.stepping = True
        latest = self.clock.latest
        if how[0] == "seconds":
            target = latest + how[1]
        elif how[0] == "days":
            target = latest + how[1] * DAY
        else:
            ahead = [
                h
                for h in self.model.open_certificates()
                if self.model.certificates[h].terms.expires_at + how[1] > latest
            ]
            target = latest + 1
            if ahead:
                target = self.model.certificates[ahead[how[2] % len(ahead)]].terms.expires_at + how[1]
        self._travel(max(target, latest + 1))

    def _travel(self, target: int) -> None:
        """Mine an empty block at ``target``, then check what the clock changed: reads
        change only for open certificates whose expiry it crossed (one second either
        side too, so that an off-by-one in "past its expiry" shows)."""
        latest = self.clock.latest
        self.s.chain.travel(target)
        self.clock.mined(Moment(self.clock.head + 1, target))
        assert self.gov.block_time(self.clock.head) == target
        self.s.stats.steps += 1
        self.s.stats.outcomes[("pass_time", "ok")] += 1
        crossed = {
            h
            for h in self.model.open_certificates()
            if latest - 1 <= self.model.certificates[h].terms.expires_at <= target + 1
        }
        self._check(Touched(certs=crossed), mined=True)

    # ------------------------------------------------------------------ checks

    def _check(self, touched: Touched, *, mined: bool, sweep: bool = False) -> None:
        """After a step: the chain's head is where the model says. After a mined step the
        replay catches up and the touched entities read the same from the contract, the
        model and the index, and so do the index's whole certificate set, role holders
        and (empty) list of forbidden transitions. After a refused step no block was
        mined, so there was nothing to replay; the touched entities still read as the
        model (which the refusal left as it was) from the contract. ``sweep``: every
        entity, from all three (at the end of each example, after every step if deep)."""
        assert self.gov.block_number() == self.clock.head, "the chain's head is not the model's"
        model = self.model
        if mined:
            result = replay(self.s.chain.target, self.gov.deployment, self.engine, progress=False)
            assert result.checkpoint == self.clock.head
        if DEEP and mined:
            sweep = True
        if sweep:
            touched = self._everything(touched)
        if mined or sweep:
            assert set(self.index.certificate_hashes()) == {_hex(h) for h in model.certificates}
            assert self.index.issues() == [], "the replay found a transition the rules forbid"
        if sweep or (mined and (touched.roles or touched.global_roles)):
            holdings = {(r.code, r.kind, r.account.lower()) for r in self.index.roles()}
            assert holdings == model.role_holdings(), "index role holders != model"
        indexed = mined or sweep
        for document_hash in sorted(touched.certs):
            self._check_certificate(document_hash, indexed=indexed)
        for code in sorted(touched.codes):
            self._check_participant(code, indexed=indexed)
        for code, kind, account in sorted(touched.roles):
            if code.isupper() and account != ZERO_ADDRESS:
                read = {
                    RoleKind.AUTHORITY: self.gov.is_authority,
                    RoleKind.EXPORTER: self.gov.is_exporter,
                    RoleKind.IMPORTER: self.gov.is_importer,
                }[kind]
                assert read(code, account) == model.holds(code, kind, account), (code, kind, account)
        for role, account in sorted(touched.global_roles):
            assert has_role(self.gov, role, account) == model.holds_global(role, account)
        for root in sorted(touched.batches):
            assert self.gov.batch(root) == model.batch(root)
        self.stepping = False

    def _everything(self, touched: Touched) -> Touched:
        m = self.model
        return Touched(
            certs=touched.certs | set(m.certificates),
            codes=touched.codes | set(m.participants),
            roles=touched.roles | m.scoped,
            global_roles=touched.global_roles | m.global_roles,
            batches=touched.batches | set(m.batches),
        )

    def _check_certificate(self, document_hash: bytes, *, indexed: bool) -> None:
        expected = self.model.record(document_hash, self.clock.latest)
        assert self.gov.certificate(document_hash) == expected, "contract != model"
        if expected is not None:
            self.s.stats.statuses[expected.status.name] += 1
        if not indexed:
            return
        state = self.index.certificate(document_hash, block=self.clock.head)
        assert (state.record() if state is not None else None) == expected, "index != model"
        if expected is None or state is None:
            return
        cert = self.model.certificates[document_hash]
        assert _lower(state.issuer) == _lower(cert.issuer)
        steps = [
            (t.event, t.status, t.block_number, _lower(t.actor), t.detail, t.related) for t in state.timeline
        ]
        assert steps == [
            (s.event, s.status, s.block, _lower(s.actor), s.detail, _hex(s.related)) for s in cert.steps
        ], "index timeline != model"

    def _check_participant(self, code: str, *, indexed: bool) -> None:
        if len(code) != 2 or not code.isupper() or not code.isalpha():
            return  # not a code the client reads (it upper-cases)
        expected = self.model.participant(code)
        assert self.gov.participant(code) == expected, "contract != model"
        if not indexed:
            return
        state = self.index.participant(code, block=self.clock.head)
        if expected is None:
            assert state is None
            return
        assert state is not None
        found = self.model.participants[code]
        assert (state.name, state.status, state.validity_days, state.admitted_block, state.admitted_at) == (
            found.name,
            found.status,
            found.validity_days,
            found.admitted_block,
            found.admitted_at,
        )
        history = [
            (e.event, e.status, e.validity_days, e.block_number, e.timestamp, _lower(e.actor), e.detail)
            for e in state.history
        ]
        assert history == [
            (e.event, e.status, e.validity_days, e.block, e.time, e.actor.lower(), e.detail)
            for e in found.entries
        ], "index history != model"
        m = self.model
        assert sorted(a.lower() for a in state.authorities) == m.holders(code, RoleKind.AUTHORITY)
        assert sorted(a.lower() for a in state.exporters) == m.holders(code, RoleKind.EXPORTER)
        assert sorted(a.lower() for a in state.importers) == m.holders(code, RoleKind.IMPORTER)


# ---------------------------------------------------------------------- the tests


OK = Plan("ok", "", 0, None)
PROLOGUE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("licence", {"kind": "exporter", "code": 0, "grantee": "spare1", "grant": True, "plan": OK}),
    ("licence", {"kind": "importer", "code": 2, "grantee": "spare2", "grant": True, "plan": OK}),
    *(
        (
            "issue",
            {
                "spec": TermsSpec(i, i + 1, 20 + 5 * i, i, 125_050 + i, 98_765_400, 1 + i),
                "exporter": "bw_exporter",
                "plan": OK,
            },
        )
        for i in range(4)
    ),
    *(
        ("anchor", {"spec": TermsSpec(i, i, 25 + i, 0, 5_000 + i, 7_500_000, 2), "plan": OK})
        for i in range(3)
    ),
    *(
        (
            "anchor_batch",
            {
                "origin": 0,
                "leaves": [LeafSpec(TermsSpec(i, j, 30 + j, j, 900 + j, 100_000, 1), None) for j in range(3)],
                "plan": OK,
            },
        )
        for i in range(2)
    ),
    ("dispute", {"which": ("fit", 1), "plan": OK}),
    ("validate", {"which": ("fit", 0), "plan": OK}),
)
"""Steps every example starts after: a few certificates in each open status and two
batches with unrevealed leaves, so that 15 random steps reach deep into the life cycle.
They run once per session, through the same rules and checks as any step."""


def prepare(session: Session) -> Session:
    """Run the prologue and make its end the starting point of every example."""
    machine = LedgerMachine(session, tag="P")
    for name, arguments in PROLOGUE:
        getattr(machine, name)(**arguments)
    machine._check(Touched(), mined=False, sweep=True)
    done = session.stats.outcomes
    assert sum(n for (_, outcome), n in done.items() if outcome == "ok") == len(PROLOGUE), (
        session.stats.summary()
    )
    assert not any(outcome == "refused" for _, outcome in done), session.stats.summary()
    machine.index.close()
    shutil.copyfile(machine.db, session.template)
    machine.db.unlink()
    session.seed, session.trees, session.stats = machine.model, machine.trees, Stats()
    return session


def _run(session: Session, profile: settings) -> Stats:
    started = time.perf_counter()

    class Example(LedgerMachine):
        def __init__(self) -> None:
            super().__init__(session)

    run_state_machine_as_test(Example, settings=profile)
    stats = session.stats
    print(f"\nstate machine: {stats.summary()}; {time.perf_counter() - started:.1f} s")
    assert stats.examples >= profile.max_examples
    return stats


@pytest.fixture(scope="module")
def anvil_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    node = start_anvil(accounts=len(ACCOUNT_NAMES))
    try:
        accounts = cast_world(node.url, node.dev_only_keys(len(ACCOUNT_NAMES)), poll_interval=0.002)
        yield prepare(start_session(AnvilChain(node), accounts, tmp_path_factory.mktemp("state-machine")))
    finally:
        node.close()


@pytest.mark.anvil
def test_contracts_model_and_index_agree(anvil_session: Session) -> None:
    """Random operation sequences keep contract state == model == replayed index, and
    the run exercised every rule both ways, and saw certificates expire."""
    stats = _run(anvil_session, settings.get_profile(PROFILE))
    outcomes: Counter[tuple[str, str]] = Counter()
    for (name, outcome), count in stats.outcomes.items():
        outcomes[(name, outcome)] += count
        if name.endswith("+reveal"):  # a transition of an unrevealed leaf, in one multicall
            outcomes[("multicall", outcome)] += count
    rules = {name for name, _ in outcomes}
    for name in sorted(rules - {"pass_time"}):
        if not name.endswith("+reveal"):
            assert outcomes[(name, "refused")] > 0, f"{name} was never refused"
    for name in sorted(rules - {"grantRole", "revokeRole", "renounceRole"}):
        if not name.endswith("+reveal"):
            assert outcomes[(name, "ok")] > 0, f"{name} never succeeded"
    assert stats.statuses["EXPIRED"] > 0, "no certificate was ever seen expired"


def test_state_machine_on_the_in_process_chain(world: World, tmp_path: Path) -> None:
    """The same machine on the in-process EVM of tests/conftest.py (py-evm): a few
    examples, as py-evm takes one to two seconds an example where anvil takes a third."""
    keys = world.chain.keys
    accounts = dict(zip(ACCOUNT_NAMES[:10], world.ledgers(), strict=True))
    accounts |= {"spare1": world.gov.as_signer(keys[10]), "spare2": world.gov.as_signer(keys[11])}
    session = prepare(start_session(InProcess(world.chain), accounts, tmp_path))
    examples = max(3, settings.get_profile(PROFILE).max_examples // 75) if DEEP else 3
    _run(session, settings(settings.get_profile(PROFILE), max_examples=examples))
