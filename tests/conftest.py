"""Shared fixtures: a real in-process EVM with the contracts deployed and a cast of
accounts for every role. The world is built once per session and each test runs
between a snapshot and a revert, so every test starts from the same state."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kpledger.chain.connection import InProcessChain
from kpledger.ledger import Ledger
from kpledger.types import ChainTerms

DAY = 86_400
_serial = itertools.count(1)


@dataclass
class World:
    """Who is who on the test chain. Participants: BW, AE, BE active; VE admitted then
    suspended. Each ``*_auth`` is that participant's authority."""

    chain: InProcessChain
    gov: Ledger
    bw_auth: Ledger
    ae_auth: Ledger
    be_auth: Ledger
    ve_auth: Ledger
    bw_exporter: Ledger
    ae_importer: Ledger
    ve_exporter: Ledger
    auditor: Ledger
    stranger: Ledger

    def ledgers(self) -> list[Ledger]:
        return [
            self.gov,
            self.bw_auth,
            self.ae_auth,
            self.be_auth,
            self.ve_auth,
            self.bw_exporter,
            self.ae_importer,
            self.ve_exporter,
            self.auditor,
            self.stranger,
        ]

    def now(self) -> int:
        return self.gov.block_time(self.gov.block_number())

    def terms(
        self,
        origin: str = "BW",
        destination: str = "AE",
        *,
        number: str | None = None,
        days: int = 30,
        carats: int = 125_050,
        value_cents: int = 98_765_400,
        parcels: int = 3,
        seed: str | None = None,
    ) -> ChainTerms:
        """Fresh, valid on-chain terms with a unique number and hash."""
        return fresh_terms(
            self.now(),
            origin,
            destination,
            number=number,
            days=days,
            carats=carats,
            value_cents=value_cents,
            parcels=parcels,
            seed=seed,
        )


def fresh_terms(
    now: int,
    origin: str = "BW",
    destination: str = "AE",
    *,
    number: str | None = None,
    days: int = 30,
    carats: int = 125_050,
    value_cents: int = 98_765_400,
    parcels: int = 3,
    seed: str | None = None,
    tag: str = "",
) -> ChainTerms:
    """Valid terms expiring ``days`` after ``now``, with a number and document hash no
    other call of this test session produces (``tag`` keeps worlds apart)."""
    serial = next(_serial)
    number = number or f"{origin} 2026/{tag}{serial:06d}"
    digest = hashlib.sha256((seed or f"doc-{tag}{serial}-{number}").encode()).digest()
    return ChainTerms(digest, number, origin, destination, carats, value_cents, parcels, now + days * DAY)


def build_world(accounts: int = 12) -> World:
    chain = InProcessChain.start(accounts=accounts)
    keys = chain.keys
    gov = Ledger.deploy(chain, keys[0])
    roles = [gov.as_signer(k) for k in keys[1:11]]
    bw_auth, ae_auth, be_auth, ve_auth, bw_exporter, ae_importer, ve_exporter, auditor, stranger, _ = roles
    for code, name in (
        ("BW", "Botswana"),
        ("AE", "United Arab Emirates"),
        ("BE", "Belgium"),
        ("VE", "Venezuela"),
    ):
        gov.admit_participant(code, name, 60)
    for code, auth in (("BW", bw_auth), ("AE", ae_auth), ("BE", be_auth), ("VE", ve_auth)):
        gov.appoint_authority(code, auth.address)
    bw_auth.license_exporter("BW", bw_exporter.address)
    ae_auth.license_importer("AE", ae_importer.address)
    ve_auth.license_exporter("VE", ve_exporter.address)
    gov.grant_auditor(auditor.address)
    gov.suspend_participant("VE", "self-suspension")
    return World(
        chain,
        gov,
        bw_auth,
        ae_auth,
        be_auth,
        ve_auth,
        bw_exporter,
        ae_importer,
        ve_exporter,
        auditor,
        stranger,
    )


@pytest.fixture(scope="session")
def _session_world() -> World:
    return build_world()


@pytest.fixture
def world(_session_world: World) -> Iterator[World]:
    """The deployed world, reset after each test."""
    snapshot = _session_world.chain.snapshot()
    try:
        yield _session_world
    finally:
        _session_world.chain.revert(snapshot)
        for ledger in _session_world.ledgers():
            ledger.forget_local_state()
