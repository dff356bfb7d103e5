"""Where the stateful test runs: the chain (anvil, or the in-process EVM of
tests/conftest.py), the cast of accounts, the model of what the world set up before
the first step, the template audit index, and the run's statistics.

Why two chains: the default profile's budget (200 examples of 15 steps in about two
minutes on two cores) needs anvil, whose EVM answers a call in well under a
millisecond; py-evm takes 20-40 ms a call here, about a second per example. The same
machine also runs a few examples on the in-process world, so a difference between the
two EVMs (or their revert data) cannot hide.

Time is deterministic on both: anvil is told to space blocks one second apart, and the
in-process chain is moved a day ahead of the wall clock, after which py-evm stamps each
block with its parent's time plus one second. So the model knows the time of every
block before it is mined.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kpledger.audit import replay
from kpledger.chain.connection import InProcessChain
from kpledger.chain.node import AnvilNode
from kpledger.ledger import Ledger
from kpledger.merkle import StandardMerkleTree
from kpledger.types import ChainTerms, RoleKind, StatusChange
from kpledger.types import ParticipantStatus as P

from .helpers import AUDITOR_ROLE, DAY, DEFAULT_ADMIN_ROLE, GOVERNANCE_ROLE, ZERO_ADDRESS, fresh_account
from .kp_model import HistoryEntry, KPModel, ModelParticipant

ACCOUNT_NAMES = (
    "gov",
    "bw_auth",
    "ae_auth",
    "be_auth",
    "ve_auth",
    "bw_exporter",
    "ae_importer",
    "ve_exporter",
    "auditor",
    "stranger",
    "spare1",
    "spare2",
)
"""The cast, in the order of tests.conftest.World plus two funded accounts with no role."""

PARTICIPANTS = {"BW": "Botswana", "AE": "United Arab Emirates", "BE": "Belgium", "VE": "Venezuela"}
VALIDITY_DAYS = 60
SCOPED_ROLES = (
    ("BW", RoleKind.AUTHORITY, "bw_auth"),
    ("AE", RoleKind.AUTHORITY, "ae_auth"),
    ("BE", RoleKind.AUTHORITY, "be_auth"),
    ("VE", RoleKind.AUTHORITY, "ve_auth"),
    ("BW", RoleKind.EXPORTER, "bw_exporter"),
    ("VE", RoleKind.EXPORTER, "ve_exporter"),
    ("AE", RoleKind.IMPORTER, "ae_importer"),
)
"""What tests.conftest.build_world sets up (VE is then suspended, 'self-suspension')."""

FRESH = fresh_account("state-machine-fresh")
"""An address nobody signs for: roles may be granted to it, it never acts."""


class Chain(Protocol):
    """What the machine needs of a chain besides JSON-RPC."""

    @property
    def target(self) -> Any:
        """What :class:`Ledger` and the audit replay connect to."""

    def snapshot(self) -> Any: ...

    def revert(self, snapshot: Any) -> None: ...

    def travel(self, timestamp: int) -> None:
        """Mine one empty block at exactly ``timestamp``."""

    def start_time(self, latest: int) -> int | None:
        """Where to travel before a run so that from there on each block is its
        parent's time plus one second; None when already there."""


@dataclass
class AnvilChain:
    node: AnvilNode

    def __post_init__(self) -> None:
        self.node.request("anvil_setBlockTimestampInterval", [1])

    @property
    def target(self) -> str:
        return self.node.url

    def snapshot(self) -> Any:
        return self.node.snapshot()

    def revert(self, snapshot: Any) -> None:
        self.node.revert(snapshot)
        self.node.request("anvil_dropAllTransactions")  # nothing of one example leaks into the next

    def travel(self, timestamp: int) -> None:
        self.node.request("evm_setNextBlockTimestamp", [timestamp])
        self.node.mine()

    def start_time(self, latest: int) -> int | None:
        return None  # the interval holds from any block on


@dataclass
class InProcess:
    chain: InProcessChain

    @property
    def target(self) -> InProcessChain:
        return self.chain

    def snapshot(self) -> Any:
        return self.chain.snapshot()

    def revert(self, snapshot: Any) -> None:
        self.chain.revert(snapshot)

    def travel(self, timestamp: int) -> None:
        self.chain.time_travel(timestamp + 1)  # eth-tester mines at one second before

    def start_time(self, latest: int) -> int | None:
        # py-evm stamps a block max(parent + 1, wall clock): stay well ahead of the clock.
        now = int(time.time())
        return now + DAY if latest < now + 3600 else None


@dataclass
class Stats:
    """What the run did: to report, and to prove the machine is not vacuous."""

    examples: int = 0
    steps: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    """Refusals per rule and error, e.g. ``void:CertificateInvalidTransition``."""

    def summary(self) -> str:
        rules = sorted({r for r, _ in self.outcomes})
        cells = ", ".join(f"{r} {self.outcomes[(r, 'ok')]}/{self.outcomes[(r, 'refused')]}" for r in rules)
        return (
            f"{self.examples} examples, {self.steps} steps; accepted/refused per rule: {cells}; "
            f"{len(self.refusals)} distinct errors: {dict(sorted(self.refusals.items()))}; "
            f"statuses read: {dict(sorted(self.statuses.items()))}"
        )


@dataclass
class Session:
    """Everything examples share: the chain, the cast, the seed model, the template index."""

    chain: Chain
    accounts: dict[str, Ledger]
    seed: KPModel
    template: Path
    workdir: Path
    stats: Stats = field(default_factory=Stats)
    serial: itertools.count[int] = field(default_factory=itertools.count)
    trees: dict[bytes, tuple[list[ChainTerms], StandardMerkleTree]] = field(default_factory=dict)
    """Batches anchored before the first example, with their leaves (known off chain)."""
    by_address: dict[str, Ledger] = field(init=False)

    def __post_init__(self) -> None:
        self.by_address = {ledger.address.lower(): ledger for ledger in self.accounts.values()}
        assert len(self.by_address) == len(ACCOUNT_NAMES)

    @property
    def gov(self) -> Ledger:
        return self.accounts["gov"]

    def address(self, name: str) -> str:
        if name == "fresh":
            return FRESH
        if name == "zero":
            return ZERO_ADDRESS
        return self.accounts[name].address

    def forget(self) -> None:
        for ledger in self.accounts.values():
            ledger.forget_local_state()


def cast_world(target: Any, keys: Sequence[bytes], **options: Any) -> dict[str, Ledger]:
    """Deploy on ``target`` and set up what tests.conftest.build_world sets up."""
    gov = Ledger.deploy(target, keys[0], **options)
    accounts = {
        "gov": gov,
        **{name: gov.as_signer(k) for name, k in zip(ACCOUNT_NAMES[1:], keys[1:], strict=False)},
    }
    for code, name in PARTICIPANTS.items():
        gov.admit_participant(code, name, VALIDITY_DAYS)
    for code, kind, holder in SCOPED_ROLES:
        account = accounts[holder].address
        if kind is RoleKind.AUTHORITY:
            gov.appoint_authority(code, account)
        elif kind is RoleKind.EXPORTER:
            accounts[f"{code.lower()}_auth"].license_exporter(code, account)
        else:
            accounts[f"{code.lower()}_auth"].license_importer(code, account)
    gov.grant_auditor(accounts["auditor"].address)
    gov.suspend_participant("VE", "self-suspension")
    return accounts


def seed_model(accounts: dict[str, Ledger]) -> KPModel:
    """The model of the world before the first step. What the world's setup did is
    given, not modelled: the blocks and times of its status changes are read from the
    registry once; statuses, names and role holders come from the setup's description
    above. The machine's first check holds the contract and the index to this seed."""
    model = KPModel()
    gov = accounts["gov"]
    for code, name in PARTICIPANTS.items():
        changes = gov.status_history(code)
        statuses = [P.ACTIVE, P.SUSPENDED] if code == "VE" else [P.ACTIVE]
        assert len(changes) == len(statuses), f"the world's {code} is not as described"
        events = ["ParticipantAdmitted", "ParticipantSuspended"]
        details = [name, "self-suspension"]
        admitted = changes[0]
        model.participants[code] = ModelParticipant(
            code,
            name,
            statuses[-1],
            VALIDITY_DAYS,
            admitted.block_number,
            admitted.timestamp,
            [StatusChange(s, c.block_number, c.timestamp) for s, c in zip(statuses, changes, strict=True)],
            [
                HistoryEntry(e, s, VALIDITY_DAYS, c.block_number, c.timestamp, gov.address, d)
                for e, s, c, d in zip(events, statuses, changes, details, strict=False)
            ],
        )
    model.scoped = {(code, kind, accounts[name].address.lower()) for code, kind, name in SCOPED_ROLES}
    model.global_roles = {
        (DEFAULT_ADMIN_ROLE, gov.address.lower()),
        (GOVERNANCE_ROLE, gov.address.lower()),
        (AUDITOR_ROLE, accounts["auditor"].address.lower()),
    }
    return model


def start_session(chain: Chain, accounts: dict[str, Ledger], workdir: Path) -> Session:
    """Replay the world once into a template index; each example copies it."""
    template = workdir / "template.db"
    replay(chain.target, accounts["gov"].deployment, f"sqlite:///{template}", progress=False)
    return Session(chain, accounts, seed_model(accounts), template, workdir)
