"""A living demo ledger: ten participants, their authorities and traders, a few hundred
certificates through every transition, one Merkle batch and a few anomalies.

Why a library function: ``kpledger up`` seeds it on first start and ``kpledger demo``
on request, and the tests check it, so a newcomer's first look at the page and the
audit reports shows what the system is for.

The cast uses the public DEV-ONLY accounts of a local node (:mod:`kpledger.devkeys`):

=========  ===========================================================
account    role
=========  ===========================================================
0          governance (KP Chair / Secretariat; the deployer)
1-10       the authority of BW, RU, AE, BE, IN, CN, ZA, AO, CD, VE
11-20      a licensed exporter of each participant, same order
21-30      a licensed importer of each participant, same order
31         an auditor (``AUDITOR_ROLE``)
=========  ===========================================================

Time. On a node whose clock starts months in the past (``kpledger up`` starts its
anvil that way on first start) the scenario is spread over that history with
``evm_setNextBlockTimestamp``: certificates are issued over months, receipts follow
days later, short-validity certificates really expire, Venezuela is suspended two
thirds of the way through, and the chain ends at the present. Elsewhere everything
happens now ("compressed"): the short-validity certificates then expire at the end of
the current UTC day.

Anomalies an auditor should find are listed in :attr:`DemoSummary.anomalies`.
"""

from __future__ import annotations

import calendar
import dataclasses
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from kpledger.certificate import Certificate, parse_certificate
from kpledger.chain.rpc import RpcError
from kpledger.chain.sender import Call
from kpledger.devkeys import dev_only_keys
from kpledger.errors import ConfigurationError, TransactionFailed
from kpledger.ledger import GAS, BatchProof, Ledger
from kpledger.types import SECONDS_PER_DAY, ChainTerms, day_date, day_number

__all__ = [
    "ACCOUNTS_NEEDED",
    "DEV_ROLES",
    "PARTICIPANTS",
    "DemoSummary",
    "dev_account_index",
    "ledger_terms",
    "seed_demo",
]

DAY: Final = 86_400


@dataclass(frozen=True)
class DemoParticipant:
    code: str
    name: str
    validity_days: int
    authority: str
    exporter: str
    importer: str
    city: str


PARTICIPANTS: Final[tuple[DemoParticipant, ...]] = (
    DemoParticipant("BW", "Botswana", 60, "Ministry of Minerals and Energy, Government Diamond Valuator",
                    "Kalahari Rough Exports (Pty) Ltd", "Okavango Diamond Buyers (Pty) Ltd", "Gaborone"),
    DemoParticipant("RU", "Russian Federation", 60, "Gokhran of Russia, Ministry of Finance",
                    "Yakutia Rough Trading JSC", "Uralsky Gem Holdings LLC", "Moscow"),
    DemoParticipant("AE", "United Arab Emirates", 60, "UAE Kimberley Process Office, DMCC",
                    "Gulf Rough Trading DMCC", "Almas Tower Traders DMCC", "Dubai"),
    DemoParticipant("BE", "Belgium", 60, "FPS Economy, Diamond Office Antwerp",
                    "Hoveniersstraat Rough BV", "Schupstraat Diamond Imports NV", "Antwerp"),
    DemoParticipant("IN", "India", 90, "Gem & Jewellery Export Promotion Council",
                    "Surat Rough Re-exports Pvt Ltd", "Bharat Diamond Bourse Importers Pvt Ltd", "Mumbai"),
    DemoParticipant("CN", "China", 60, "General Administration of Customs, KP Office",
                    "Shanghai Rough Trading Co Ltd", "Shanghai Diamond Exchange Importers Ltd", "Shanghai"),
    DemoParticipant("ZA", "South Africa", 60, "South African Diamond and Precious Metals Regulator",
                    "Kimberley Mine Sales (Pty) Ltd", "Johannesburg Rough Imports (Pty) Ltd", "Johannesburg"),
    DemoParticipant("AO", "Angola", 45, "Ministry of Mineral Resources, Petroleum and Gas, KP Office",
                    "Lunda Norte Diamantes Lda", "Luanda Gem Importers Lda", "Luanda"),
    DemoParticipant("CD", "Democratic Republic of the Congo", 30,
                    "Centre d'Expertise, d'Evaluation et de Certification (CEEC)",
                    "Kasai Comptoir Diamantaire SARL", "Kinshasa Rough Importers SARL", "Kinshasa"),
    DemoParticipant("VE", "Venezuela", 60, "Ministry of Ecological Mining Development, KP Office",
                    "Guayana Rough Exports CA", "Caracas Gem Imports CA", "Ciudad Guayana"),
)  # fmt: skip
_BY_CODE: Final = {p.code: p for p in PARTICIPANTS}
_INDEX: Final = {p.code: i for i, p in enumerate(PARTICIPANTS)}

GOVERNANCE_ACCOUNT: Final = 0
AUDITOR_ACCOUNT: Final = 31
ACCOUNTS_NEEDED: Final = 32
"""DEV-ONLY accounts the demo signs with (``kpledger up`` funds 40)."""


def _roles() -> dict[str, int]:
    roles = {"gov": GOVERNANCE_ACCOUNT, "governance": GOVERNANCE_ACCOUNT, "auditor": AUDITOR_ACCOUNT}
    for i, p in enumerate(PARTICIPANTS):
        code = p.code.lower()
        roles[f"{code}-authority"] = 1 + i
        roles[f"{code}-exporter"] = 11 + i
        roles[f"{code}-importer"] = 21 + i
    return roles


DEV_ROLES: Final[dict[str, int]] = _roles()
"""Demo role name (``bw-authority``) -> DEV-ONLY account index."""


def dev_account_index(account: str | int) -> int:
    """A DEV-ONLY account given as an index or a demo role name (``be-authority``)."""
    if isinstance(account, int):
        index = account
    elif account.strip().isdigit():
        index = int(account.strip())
    else:
        key = account.strip().lower()
        if key not in DEV_ROLES:
            raise ConfigurationError(
                f"unknown dev account {account!r}: give an index (0-{ACCOUNTS_NEEDED - 1}) or a demo role"
                " such as"
                " gov, auditor, bw-authority, bw-exporter, ae-importer (`kpledger key dev` lists them)"
            )
        index = DEV_ROLES[key]
    if not 0 <= index < 1000:
        raise ConfigurationError(f"dev account index {index} is out of range")
    return index


def ledger_terms(certificate: Certificate, document_hash: bytes | None = None) -> ChainTerms:
    """The ledger's :class:`~kpledger.types.ChainTerms` of a validated certificate."""
    return certificate.chain_terms(document_hash)


# ---------------------------------------------------------------------- trade profiles


@dataclass(frozen=True)
class _Profile:
    share: float
    destinations: dict[str, int]
    usd_per_carat: tuple[float, float]
    carats: tuple[float, float]
    hs_codes: tuple[str, ...]
    mixed: bool = False


_PROFILES: Final[dict[str, _Profile]] = {
    "BW": _Profile(
        0.22, {"BE": 3, "AE": 3, "IN": 2, "ZA": 1}, (150, 250), (800, 25_000), ("7102.10", "7102.31")
    ),
    "RU": _Profile(
        0.18, {"BE": 2, "IN": 3, "AE": 2, "CN": 1}, (85, 120), (1_000, 40_000), ("7102.10", "7102.31")
    ),
    "AE": _Profile(0.13, {"IN": 3, "BE": 2, "CN": 2}, (60, 220), (500, 30_000), ("7102.10",), mixed=True),
    "BE": _Profile(
        0.11, {"IN": 3, "AE": 2, "CN": 1}, (90, 260), (300, 20_000), ("7102.10", "7102.31"), mixed=True
    ),
    "CD": _Profile(0.10, {"AE": 3, "BE": 1, "IN": 1}, (18, 32), (5_000, 60_000), ("7102.21", "7102.10")),
    "ZA": _Profile(0.08, {"BE": 2, "AE": 1, "IN": 1}, (100, 180), (500, 15_000), ("7102.10", "7102.31")),
    "AO": _Profile(0.08, {"AE": 2, "BE": 2}, (120, 220), (300, 8_000), ("7102.10", "7102.31")),
    "IN": _Profile(0.04, {"BE": 1, "AE": 1}, (40, 90), (200, 5_000), ("7102.10",), mixed=True),
    "CN": _Profile(0.03, {"AE": 1, "BE": 1}, (50, 120), (100, 3_000), ("7102.10",), mixed=True),
    "VE": _Profile(0.03, {"BE": 1, "AE": 1}, (45, 75), (100, 2_000), ("7102.10",)),
}

# Final state of each main flow, as a share of the certificates (the rest is RECEIVED).
_FLOWS: Final[dict[str, float]] = {
    "requested_received": 0.08,
    "requested": 0.03,
    "issued": 0.06,
    "disputed_received": 0.03,
    "disputed_voided": 0.02,
    "disputed": 0.01,
    "voided": 0.03,
    "amended": 0.03,
    "expired": 0.04,
}

_DISPUTES: Final = (
    "seal broken on arrival; parcel count 2, certificate states 3",
    "weight on arrival differs from the certificate by more than 1%",
    "parcel content inconsistent with HS code declared",
    "shipment detained by customs pending physical inspection",
)
_VOIDS: Final = (
    "issued in error: wrong consignee",
    "export licence of the exporter under review",
    "shipment cancelled by the exporter",
)
_AMENDS: Final = ("carat weight corrected after re-weighing", "importer address corrected", "value corrected")


@dataclass(frozen=True)
class Anomaly:
    number: str
    kind: str
    description: str


@dataclass
class DemoSummary:
    """What :func:`seed_demo` put on the ledger."""

    participants: list[str]
    suspended: list[str]
    certificates: int
    expected_status: dict[str, int]
    batch_root: str | None
    batch_size: int
    anomalies: list[Anomaly]
    mode: str
    history_days: int
    transactions: int
    documents_dir: str | None
    seconds: float
    numbers: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ProgressFn = Callable[[int, int, str], None]


# ---------------------------------------------------------------------- the plan


@dataclass
class _Cert:
    number: str
    origin: str
    destination: str
    document: dict[str, Any]
    terms: ChainTerms
    day: int
    flow: str


@dataclass(order=True)
class _Action:
    """One transaction of the scenario. Sorted by day and phase (a certificate's later
    steps have a later day or phase); within a phase by kind and signer, so that runs
    of issues and confirmations by one signer go out pipelined."""

    day: int
    phase: int
    kind: str
    signer: int
    seq: int
    cert: _Cert | None = field(compare=False, default=None)
    text: str = field(compare=False, default="")
    extra: Any = field(compare=False, default=None)


class _Planner:
    def __init__(self, rng: random.Random, history_days: int, day0: int, today: date) -> None:
        self.rng = rng
        self.history = history_days
        self.day0 = day0
        self.today = today
        self.serials: dict[tuple[str, int], int] = {}
        self.actions: list[_Action] = []
        self.certs: list[_Cert] = []
        self.expected: dict[str, int] = {}
        self._seq = 0

    # -- time

    def issue_date(self, day: int, back: int) -> date:
        if self.history:
            return datetime.fromtimestamp(self.day0 + day * DAY, UTC).date()
        return self.today - timedelta(days=back)

    # -- actions

    def act(self, day: int, phase: int, kind: str, signer: int, cert: _Cert | None = None, **kw: Any) -> None:
        self._seq += 1
        self.actions.append(
            _Action(day, phase, kind, signer, self._seq, cert, kw.get("text", ""), kw.get("extra"))
        )

    def expect(self, status: str) -> None:
        self.expected[status] = self.expected.get(status, 0) + 1

    # -- documents

    def number(self, origin: str, year: int) -> str:
        key = (origin, year)
        self.serials[key] = self.serials.get(key, 0) + 1
        return f"{origin}-{year}-{self.serials[key]:06d}"

    def certificate(
        self,
        origin: str,
        destination: str,
        *,
        day: int,
        flow: str,
        validity: int | None = None,
        usd_per_carat: float | None = None,
        carats: float | None = None,
        number: str | None = None,
        back: int | None = None,
    ) -> _Cert:
        rng = self.rng
        p, d = _BY_CODE[origin], _BY_CODE[destination]
        profile = _PROFILES[origin]
        back = rng.randint(0, 10) if back is None else back
        issued = self.issue_date(day, back)
        days = validity if validity is not None else p.validity_days
        expires = issued + timedelta(days=days)
        weight = round(carats if carats is not None else rng.uniform(*profile.carats), 2)
        rate = usd_per_carat if usd_per_carat is not None else rng.uniform(*profile.usd_per_carat)
        value = round(weight * rate, 2)
        number = number or self.number(origin, issued.year)
        document: dict[str, Any] = {
            "title": "Kimberley Process Certificate",
            "number": number,
            "issuing_authority": p.authority,
            "exporting_participant": origin,
            "importing_participant": destination,
            "exporter": {
                "name": p.exporter,
                "address": f"{rng.randint(1, 400)} Diamond Street, {p.city}, {p.name}",
                "licence": f"{origin}-EXP-{100 + _INDEX[origin]:04d}",
            },
            "importer": {
                "name": d.importer,
                "address": f"{rng.randint(1, 90)} Bourse Avenue, {d.city}, {d.name}",
            },
            "origin": ["MIXED"] if profile.mixed else [origin],
            "carats": weight,
            "value_usd": value,
            "parcels": rng.randint(1, 12),
            "hs_code": rng.choice(profile.hs_codes),
            "issued_on": issued.isoformat(),
            "expires_on": expires.isoformat(),
        }
        if rng.random() < 0.3:
            document["quality"] = {
                "assortment": rng.choice(["run of mine", "gem and near-gem", "boart", "mixed boxes"])
            }
        certificate = parse_certificate(document, validity_days=p.validity_days)
        cert = _Cert(number, origin, destination, document, ledger_terms(certificate), day, flow)
        self.certs.append(cert)
        return cert

    def destination(self, origin: str) -> str:
        weights = _PROFILES[origin].destinations
        return self.rng.choices(list(weights), list(weights.values()))[0]


def _plan(
    rng: random.Random, total: int, history_days: int, day0: int, today: date, with_batch: bool
) -> tuple[_Planner, list[_Cert], list[Anomaly]]:
    planner = _Planner(rng, history_days, day0, today)
    h = history_days
    suspension_day = int(h * 2 / 3)
    last = max(h, 0)

    def later(day: int, low: int, high: int) -> int:
        """A later day for a certificate's next step, never past the present (phases
        keep the order of steps that land on the same day)."""
        return min(day + rng.randint(low, high), last) if h else day

    gov = GOVERNANCE_ACCOUNT

    def auth(code: str) -> int:
        return 1 + _INDEX[code]

    def exporter(code: str) -> int:
        return 11 + _INDEX[code]

    # Governance: admit, appoint, license (day 0). VE is suspended later.
    for p in PARTICIPANTS:
        planner.act(0, 0, "admit", gov, text=p.code, extra=(p.name, p.validity_days))
    for p in PARTICIPANTS:
        planner.act(0, 1, "appoint", gov, text=p.code, extra=1 + _INDEX[p.code])
    for p in PARTICIPANTS:
        planner.act(0, 2, "license_exporter", auth(p.code), text=p.code, extra=exporter(p.code))
        planner.act(0, 2, "license_importer", auth(p.code), text=p.code, extra=21 + _INDEX[p.code])
    planner.act(0, 2, "grant_auditor", gov, extra=AUDITOR_ACCOUNT)
    planner.act(suspension_day, 9, "suspend", gov, text="VE",
                extra="self-suspension pending a KP review mission (plenary decision)")  # fmt: skip

    batch_size = min(12, max(total // 20, 4)) if with_batch else 0
    special = batch_size + 2
    flow_counts = {name: max(1, round(share * total)) for name, share in _FLOWS.items()}
    flow_counts["amended"] = max(1, min(flow_counts["amended"], (total - special) // 20))
    mains = total - special - flow_counts["amended"]  # an amendment adds a replacement document
    flow_counts["received"] = max(0, mains - sum(flow_counts.values()) + flow_counts["amended"])
    flows = [name for name, count in flow_counts.items() for _ in range(count)]
    rng.shuffle(flows)
    origins = list(_PROFILES)
    shares = [_PROFILES[o].share for o in origins]

    def first_day(flow: str, origin: str) -> int:
        if not h:
            return 0
        if origin == "VE":
            return rng.randint(1, max(1, suspension_day - 25))
        if flow == "issued":
            return rng.randint(max(1, last - 8), max(1, last - 1))
        if flow == "requested":
            return rng.randint(max(1, last - 12), max(1, last - 1))
        if flow == "expired":
            return rng.randint(1, max(1, last - 8))
        if flow == "disputed":  # an open dispute must not expire before the present
            return rng.randint(max(1, last - 20), max(1, last - 9))
        return rng.randint(1, max(1, last - 3))

    for flow in flows:
        origin = rng.choices(origins, shares)[0]
        if origin == "VE" and flow in ("requested", "issued", "expired", "disputed"):
            origin = "BW"
        destination = planner.destination(origin)
        day = first_day(flow, origin)
        validity = _BY_CODE[origin].validity_days
        window = validity - 2  # every step happens before expiry
        if flow == "expired":
            short = rng.randint(2, 5) if h else 1
            cert = planner.certificate(
                origin, destination, day=day, flow=flow, validity=short, back=1 if not h else None
            )
        else:
            cert = planner.certificate(origin, destination, day=day, flow=flow)
        a, e = auth(origin), exporter(origin)
        b = auth(destination)
        if flow.startswith("requested"):
            planner.act(day, 3, "anchor", e, cert)
        else:
            planner.act(day, 3, "issue", a, cert, extra=e)
        if flow == "requested":
            planner.expect("REQUESTED")
        elif flow == "requested_received":
            validated = later(day, 1, 3)
            planner.act(validated, 4, "validate", a, cert)
            planner.act(later(validated, 2, min(15, window - 4)), 6, "confirm", b, cert)
            planner.expect("RECEIVED")
        elif flow == "received":
            planner.act(later(day, 2, min(20, window)), 6, "confirm", b, cert)
            planner.expect("RECEIVED")
        elif flow in ("issued", "expired"):
            if flow == "issued":
                planner.expect("ISSUED")
            else:
                planner.expect("EXPIRED" if h else "ISSUED (expires at the end of today, UTC)")
        elif flow.startswith("disputed"):
            disputed = later(day, 2, 8)
            planner.act(disputed, 6, "dispute", b, cert, text=rng.choice(_DISPUTES))
            if flow == "disputed_received":
                planner.act(
                    later(disputed, 2, 10), 7, "resolve", b, cert, text="re-weighed under seal: matches"
                )
                planner.expect("RECEIVED")
            elif flow == "disputed_voided":
                upheld = "voided after the importing authority's discrepancy report was upheld"
                planner.act(later(disputed, 2, 10), 7, "void", a, cert, text=upheld)
                planner.expect("VOIDED")
            else:
                planner.expect("DISPUTED")
        elif flow == "voided":
            planner.act(later(day, 1, 6), 6, "void", a, cert, text=rng.choice(_VOIDS))
            planner.expect("VOIDED")
        elif flow == "amended":
            amended_day = later(day, 1, 4)
            original = cert.document
            replacement = planner.certificate(
                origin,
                destination,
                day=day,
                flow="replacement",
                number=f"{cert.number}-A",
                carats=round(float(original["carats"]) * rng.uniform(0.97, 1.0), 2),
                back=0,
            )
            replacement.document["issued_on"] = original["issued_on"]
            replacement.document["expires_on"] = original["expires_on"]
            replacement.terms = ledger_terms(parse_certificate(replacement.document))
            planner.act(amended_day, 5, "amend", a, cert, text=rng.choice(_AMENDS), extra=replacement)
            planner.act(later(amended_day, 2, min(12, window - 6)), 6, "confirm", b, replacement)
            planner.expect("SUPERSEDED")
            planner.expect("RECEIVED")

    # Anomalies: values far off the participant's norm, still confirmed by the importer.
    anomalies: list[Anomaly] = []
    day = rng.randint(1, max(1, last - 20)) if h else 0
    odd = planner.certificate("CD", "AE", day=day, flow="anomaly", usd_per_carat=312.0, carats=1840.5)
    planner.act(day, 3, "issue", auth("CD"), odd, extra=exporter("CD"))
    planner.act(later(day, 2, 6), 6, "confirm", auth("AE"), odd)
    what = "CD export at ~$312/ct, ten times CD's norm (~$20-30/ct): origin or valuation suspect"
    anomalies.append(Anomaly(odd.number, "value_per_carat", what))
    day = rng.randint(1, max(1, last - 20)) if h else 0
    cheap = planner.certificate("BW", "AE", day=day, flow="anomaly", usd_per_carat=9.0, carats=12_400.0)
    planner.act(day, 3, "issue", auth("BW"), cheap, extra=exporter("BW"))
    planner.act(later(day, 2, 6), 6, "confirm", auth("AE"), cheap)
    what = "BW export at ~$9/ct against BW's norm of ~$150-250/ct: possible under-invoicing"
    anomalies.append(Anomaly(cheap.number, "value_per_carat", what))
    planner.expect("RECEIVED")
    planner.expect("RECEIVED")
    if h >= 80:  # anomalies that need time to pass
        day = last - 70
        stale = planner.certificate("RU", "IN", day=day, flow="anomaly")
        planner.act(day, 3, "issue", auth("RU"), stale, extra=exporter("RU"))
        planner.act(day + 5, 6, "dispute", auth("IN"), stale, text="parcel weights differ; shipment detained")
        what = "IN recorded a discrepancy ~65 days ago and never resolved it"
        anomalies.append(Anomaly(stale.number, "long_dispute", what))
        planner.expect("EXPIRED")
        day = last - 40
        late = planner.certificate("ZA", "IN", day=day, flow="anomaly", validity=5)
        planner.act(day, 3, "issue", auth("ZA"), late, extra=exporter("ZA"))
        planner.act(day + 15, 6, "confirm", auth("IN"), late)
        what = "IN confirmed receipt ten days after the certificate expired"
        anomalies.append(Anomaly(late.number, "late_confirmation", what))
        planner.expect("RECEIVED")

    # One Merkle batch: BW's authority anchors a root for a day's shipments to Belgium.
    batch: list[_Cert] = []
    if batch_size:
        day = rng.randint(max(1, last - 30), max(1, last - 15)) if h else 0
        batch = [planner.certificate("BW", "BE", day=day, flow="batch") for _ in range(batch_size)]
        planner.act(day, 3, "batch", auth("BW"), extra=batch)
        for i, member in enumerate(batch):
            if i == 1:
                planner.act(later(day, 3, 6), 6, "dispute_batch", auth("BE"), member, text=_DISPUTES[1])
                planner.expect("DISPUTED")
            elif i < batch_size - 3:
                planner.act(later(day, 3, 10), 6, "confirm_batch", auth("BE"), member)
                planner.expect("RECEIVED")
            else:
                planner.expect("BATCHED (not revealed)")
    return planner, batch, anomalies


# ---------------------------------------------------------------------- running it


def seed_demo(
    gov: Ledger,
    *,
    keys: Sequence[bytes] | None = None,
    certificates: int = 300,
    seed: int = 20_250_101,
    out_dir: Path | None = None,
    progress: ProgressFn | None = None,
    with_batch: bool = True,
) -> DemoSummary:
    """Seed the demo scenario through ``gov`` (a Ledger signing as governance).

    ``keys`` are the DEV-ONLY keys by account index (default: the node's public dev
    keys, refused unless the chain id is 31337). ``out_dir`` receives every document
    (``certificates/<number>.json``) and batch proof (``batch/<number>.proof.json``),
    so the page can verify them. ``progress(done, total, what)`` is called as
    transactions are mined. Raises ConfigurationError if the ledger already has
    participants of the demo."""
    started = time.monotonic()
    if certificates < 10:
        raise ConfigurationError("the demo needs at least 10 certificates")
    taken = [p.code for p in PARTICIPANTS if gov.participant(p.code, with_history=False) is not None]
    if taken:
        raise ConfigurationError(
            f"this ledger already has participant(s) {', '.join(taken)}: the demo seeds a fresh ledger only"
            " (start one in a new data directory: `kpledger up --data-dir DIR`)"
        )
    if keys is None:
        keys = dev_only_keys(gov.deployment.chain_id, count=ACCOUNTS_NEEDED)
    if len(keys) < ACCOUNTS_NEEDED:
        raise ConfigurationError(f"the demo needs {ACCOUNTS_NEEDED} accounts, got {len(keys)}")
    if gov.signer is None:
        raise ConfigurationError("seed_demo needs a Ledger that signs as governance")
    own = [gov.signer if i == GOVERNANCE_ACCOUNT else keys[i] for i in range(ACCOUNTS_NEEDED)]
    signers = [gov.as_signer(key) for key in own]
    for signer in signers:  # a local node mines at once: poll receipts briskly
        signer.poll_interval = 0.005
    _fund(gov, [s.address for s in signers[1:]])

    clock = _Clock.detect(gov)
    rng = random.Random(seed)
    planner, batch, anomalies = _plan(
        rng, certificates, clock.history_days, clock.day0, clock.today, with_batch
    )
    actions = sorted(planner.actions)
    total = len(actions)
    done = 0
    batch_proofs: dict[str, tuple[BatchProof, dict[str, Any]]] = {}
    batch_root: str | None = None

    def tick(count: int, what: str) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total, what)

    i = 0
    while i < len(actions):
        # One day's phase at a time: its steps are independent of each other, so the
        # certificate transitions of every signer go out pipelined, then all receipts
        # are awaited together; governance steps and batch proofs go one by one.
        day, phase = actions[i].day, actions[i].phase
        j = i
        while j < len(actions) and (actions[j].day, actions[j].phase) == (day, phase):
            j += 1
        group = actions[i:j]
        clock.enter_day(day)
        for action in group:
            if action.kind == "batch":
                batch_root = _anchor_batch(signers[action.signer], batch, batch_proofs)
            elif action.kind not in _PIPELINED:
                _perform(signers[action.signer], signers, action, batch_proofs)
        _pipeline(signers, [a for a in group if a.kind in _PIPELINED])
        tick(len(group), group[-1].kind)
        i = j
    clock.finish()
    gov.forget_local_state()  # its account sent through another client here

    if out_dir is not None:
        _write_documents(out_dir, planner.certs, batch_proofs)
    numbers: dict[str, list[str]] = {}
    for cert in planner.certs:
        numbers.setdefault(cert.flow, []).append(cert.number)
    return DemoSummary(
        participants=[p.code for p in PARTICIPANTS],
        suspended=["VE"],
        certificates=len(planner.certs),
        expected_status=dict(sorted(planner.expected.items())),
        batch_root=batch_root,
        batch_size=len(batch),
        anomalies=anomalies,
        mode=f"history over {clock.history_days} days" if clock.history_days else "compressed (all now)",
        history_days=clock.history_days,
        transactions=total,
        documents_dir=str(out_dir) if out_dir is not None else None,
        seconds=round(time.monotonic() - started, 1),
        numbers=numbers,
    )


_FUNCTIONS: Final = {
    "issue": "issue",
    "anchor": "anchor",
    "validate": "validate",
    "confirm": "confirmReceipt",
    "dispute": "recordDiscrepancy",
    "resolve": "resolveDispute",
    "void": "voidCertificate",
    "amend": "amend",
}
_PIPELINED: Final = frozenset(_FUNCTIONS)


def _perform(
    signer: Ledger,
    signers: list[Ledger],
    action: _Action,
    proofs: dict[str, tuple[BatchProof, dict[str, Any]]],
) -> None:
    kind = action.kind
    cert = action.cert
    if kind == "admit":
        signer.admit_participant(action.text, *action.extra)
    elif kind == "appoint":
        signer.appoint_authority(action.text, signers[action.extra].address)
    elif kind == "license_exporter":
        signer.license_exporter(action.text, signers[action.extra].address)
    elif kind == "license_importer":
        signer.license_importer(action.text, signers[action.extra].address)
    elif kind == "grant_auditor":
        signer.grant_auditor(signers[action.extra].address)
    elif kind == "suspend":
        signer.suspend_participant(action.text, action.extra)
    elif cert is None:
        raise AssertionError(f"demo action {kind} lacks a certificate")
    elif kind == "confirm_batch":
        today = signer.chain_today()
        last_day = day_date(cert.terms.expires_at // SECONDS_PER_DAY)
        imported = min(today, last_day)
        signer.confirm_receipt(
            cert.terms.document_hash, imported_on=imported, batch_proof=proofs[cert.number][0]
        )
    elif kind == "dispute_batch":
        signer.record_discrepancy(cert.terms.document_hash, action.text, batch_proof=proofs[cert.number][0])
    else:  # pragma: no cover - the planner makes only the kinds above
        raise AssertionError(f"unknown demo action {kind}")


def _call(ledger: Ledger, signers: list[Ledger], action: _Action, today: int) -> Call:
    """The contract call of a certificate transition, with its explicit gas limit. A
    receipt is recorded as imported ``today`` (the chain's day), or on the expiry day
    when it is confirmed after expiry (the demo's late confirmation)."""
    cert = action.cert
    assert cert is not None
    digest = cert.terms.document_hash
    args: list[Any]
    if action.kind == "issue":
        args = [cert.terms.as_tuple(), signers[action.extra].address]
    elif action.kind == "anchor":
        args = [cert.terms.as_tuple()]
    elif action.kind == "amend":
        args = [digest, action.extra.terms.as_tuple(), action.text]
    elif action.kind == "confirm":
        args = [digest, min(today, cert.terms.expires_at // SECONDS_PER_DAY)]
    elif action.kind == "resolve":
        args = [digest, min(today, cert.terms.expires_at // SECONDS_PER_DAY), action.text]
    elif action.kind in ("dispute", "void"):
        args = [digest, action.text]
    else:
        args = [digest]
    name = _FUNCTIONS[action.kind]
    return Call(ledger.deployment.ledger, ledger.ledger_abi.fn(name).encode(args), GAS[name])


def _pipeline(signers: list[Ledger], group: list[_Action]) -> None:
    """Send every signer's calls without waiting, then await all receipts; a revert
    (a bug in the plan) raises its decoded contract error."""
    by_signer: dict[int, list[Call]] = {}
    today = day_number(signers[0].chain_today())
    for action in group:
        by_signer.setdefault(action.signer, []).append(_call(signers[action.signer], signers, action, today))
    sent = [(signers[i], calls, signers[i].transactor.submit_many(calls)) for i, calls in by_signer.items()]
    for ledger, calls, hashes in sent:
        for call, receipt in zip(calls, ledger.transactor.wait_many(hashes), strict=True):
            if receipt.status != 1:
                ledger.transactor.call(call.to, call.data, block=max(receipt.block_number - 1, 0))
                raise TransactionFailed(f"demo transaction 0x{receipt.tx_hash.hex()} reverted")


def _anchor_batch(
    authority: Ledger, members: list[_Cert], proofs: dict[str, tuple[BatchProof, dict[str, Any]]]
) -> str:
    from kpledger.batch import Member, anchor_prepared, prepare_members

    prepared = prepare_members([Member(c.number, c.terms) for c in members], layout="proof")
    anchored = anchor_prepared(authority, prepared)
    for member, proof, document in zip(members, anchored.proofs(), anchored.proof_documents(), strict=True):
        proofs[member.number] = (proof, document)
    return prepared.tree.root


def _write_documents(
    out_dir: Path, certs: list[_Cert], proofs: dict[str, tuple[BatchProof, dict[str, Any]]]
) -> None:
    documents = out_dir / "certificates"
    documents.mkdir(parents=True, exist_ok=True)
    for cert in certs:
        path = documents / f"{cert.number}.json"
        path.write_text(json.dumps(cert.document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if cert.number in proofs:
            proof_path = documents / f"{cert.number}.proof.json"
            proof_path.write_text(json.dumps(proofs[cert.number][1], indent=2) + "\n", encoding="utf-8")


def _fund(gov: Ledger, addresses: list[str]) -> None:
    """Make sure every role account can pay for gas (free-gas chains need nothing)."""
    fees = gov.transactor.fees
    if fees.gas_price == 0 or (fees.gas_price is None and fees.max_fee == 0):
        return
    for address in addresses:
        balance = int(gov.rpc.call("eth_getBalance", [address, "latest"]), 16)
        if balance >= 10**18:
            continue
        for method in ("anvil_setBalance", "hardhat_setBalance"):
            try:
                gov.rpc.call(method, [address, hex(100 * 10**18)])
                break
            except RpcError:
                continue
        else:
            raise ConfigurationError(
                f"demo account {address} has no ether and the node cannot fund it: start the node with"
                f" {ACCOUNTS_NEEDED} or more funded DEV-ONLY accounts"
            )


@dataclass
class _Clock:
    """Chain time for the scenario: a history of days when the node's clock lags the
    present and it accepts ``evm_setNextBlockTimestamp``; otherwise always now."""

    ledger: Ledger
    history_days: int
    day0: int
    today: date
    _day: int = -1
    _last: int = 0

    @classmethod
    def detect(cls, ledger: Ledger) -> _Clock:
        chain_now = ledger.block_time(ledger.block_number())
        wall_now = int(time.time())
        today = datetime.fromtimestamp(max(chain_now, wall_now), UTC).date()
        start = datetime.fromtimestamp(chain_now, UTC)
        day0_date = start.date() + timedelta(days=1)
        day0 = calendar.timegm(day0_date.timetuple()) + 8 * 3600  # 08:00 UTC the next day
        history = (wall_now - day0) // DAY - 1
        if history < 30:
            return cls(ledger, 0, chain_now, today)
        try:
            ledger.rpc.call("evm_setNextBlockTimestamp", [day0])
        except RpcError:
            return cls(ledger, 0, chain_now, today)
        return cls(ledger, min(int(history), 366), day0, today)

    def enter_day(self, day: int) -> None:
        """The next block is at 08:00 UTC of the scenario's ``day`` (a day's blocks
        take seconds, so the next day's target is always ahead of them)."""
        if not self.history_days or day == self._day:
            return
        self._day = day
        self.ledger.rpc.call("evm_setNextBlockTimestamp", [self.day0 + day * DAY])

    def finish(self) -> None:
        """Bring the chain's clock to the present after a history."""
        if not self.history_days:
            return
        latest = self.ledger.block_time(self.ledger.block_number())
        self.ledger.rpc.call("evm_setNextBlockTimestamp", [max(int(time.time()), latest + 1)])
        self.ledger.rpc.call("evm_mine", [])
