"""Inputs of the stateful test: hypothesis strategies for the rules' arguments, and the
functions that turn a drawn spec into concrete certificate terms against the model.

Why specs and not finished terms: whether terms are valid depends on the state (which
participants are active, their validity periods, the time, which numbers are taken).
A rule therefore draws *intentions* (a plan: act as the right account or a random
one, with or without one named flaw) and indices, which are resolved against the
model when the rule runs. Every drawn step is executable, the flaw it names is the one
it exercises, and shrinking moves towards the valid, right-account case (the first
entry of every ``sampled_from``).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from kpledger.types import ChainTerms, ParticipantStatus

from .helpers import DAY, ZERO_HASH
from .kp_model import MAX_PARCELS, MAX_UINT40, KPModel

POOL = ("BW", "AE", "BE", "VE", "ZA", "RU")
"""Participant codes certificates are drawn between: the world's four, two more that
the machine may admit."""
ADMIT_CODES = ("ZA", "RU", "CN", "BW", "VE")
NEVER_ADMITTED = "QQ"
INVALID_CODES = ("Z1", "za", "1A")


ACTOR_KINDS = (
    "governance",
    "origin_authority",
    "destination_authority",
    "third_authority",
    "exporter",
    "importer",
    "auditor",
    "stranger",
    "suspended_authority",
    "suspended_exporter",
    "any",
)

TERMS_FLAWS = (
    "same_parties",
    "unknown_origin",
    "unknown_destination",
    "suspended_origin",
    "suspended_destination",
    "expiry_now",
    "expiry_past",
    "expiry_max",
    "expiry_over",
    "expiry_soon",
    "zero_hash",
    "short_number",
    "long_number",
    "max_number",
    "wrong_prefix",
    "nul_suffix",
    "unicode_number",
    "zero_carats",
    "huge_carats",
    "huge_value",
    "zero_parcels",
    "huge_parcels",
    "max_quantities",
    "reuse_hash",
    "reuse_number",
)
REASON_FLAWS = ("empty_reason", "long_reason", "max_reason")
LEAF_FLAWS = (
    None,
    None,
    None,
    None,
    None,
    "same_parties",
    "other_origin",
    "inactive_destination",
    "expiry_over",
)
PROOF_FLAWS = (
    None,
    None,
    None,
    "flip",
    "truncate",
    "extend",
    "other_leaf",
    "tampered_terms",
    "empty",
    "other_root",
)
IMPORT_FLAWS = ("import_future", "import_before_issue", "import_after_expiry")
"""Import dates a receipt or resolution may not enter: after today, before issue, after expiry."""

picks = st.integers(0, 255)


@dataclass(frozen=True)
class Plan:
    """How a rule acts: its mode (``ok``: the right account, no flaw; ``actor``: an
    account of the given kind; ``args``: the right account and one flaw in the
    arguments), an index to choose among candidates, and the flaw."""

    mode: str
    kind: str
    pick: int
    flaw: str | None

    def actor_kind(self, right: str) -> str:
        return self.kind if self.mode == "actor" else right

    @property
    def wanted_flaw(self) -> str | None:
        return self.flaw if self.mode == "args" else None


def plans(*flaws: str) -> st.SearchStrategy[Plan]:
    """Plans that draw only what they use (an account kind for ``actor``, a flaw for
    ``args``), so that different draws mean different steps: three in five ``ok``."""
    ok = st.builds(Plan, st.just("ok"), st.just(""), picks, st.none())
    actor = st.builds(Plan, st.just("actor"), st.sampled_from(ACTOR_KINDS), picks, st.none())
    if not flaws:
        return st.one_of(ok, ok, ok, actor)
    args = st.builds(Plan, st.just("args"), st.just(""), picks, st.sampled_from(flaws))
    return st.one_of(ok, ok, ok, actor, args)


@dataclass(frozen=True)
class TermsSpec:
    """Indices and amounts of a certificate; resolved by :func:`build_terms`."""

    origin: int
    destination: int
    days: int
    seconds: int
    carats: int
    value_cents: int
    parcels: int


terms_specs = st.builds(
    TermsSpec,
    picks,
    picks,
    st.integers(1, 366),
    st.integers(0, DAY - 1),
    st.integers(1, MAX_UINT40),
    st.integers(0, MAX_UINT40),
    st.integers(1, MAX_PARCELS),
)


@dataclass(frozen=True)
class LeafSpec:
    terms: TermsSpec
    flaw: str | None


leaf_specs = st.builds(LeafSpec, terms_specs, st.sampled_from(LEAF_FLAWS))

WHICH = ("fit", "fit", "fit", "unfit", "leaf", "unknown")
"""Which certificate a transition acts on: one whose status fits the transition, one
whose status does not, an unrevealed batch leaf (revealed in the same multicall), or
none at all."""


@dataclass
class Identities:
    """Document hashes and numbers for one example: unique within it (and apart from
    other tags), and the same each time hypothesis replays the example (it does,
    to shrink a failure), which a counter shared by all examples would not be."""

    tag: str
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next(self, origin: str) -> tuple[bytes, str]:
        n = next(self.serial)
        digest = hashlib.sha256(f"state-machine-{self.tag}-{n}".encode()).digest()
        return digest, f"{origin} {self.tag}/{n:06d}"


def reason_for(flaw: str | None, default: str) -> str:
    """A reason or note; 1,000 bytes is the longest allowed."""
    if flaw == "empty_reason":
        return ""
    if flaw == "long_reason":
        return "r" * 1001
    if flaw == "max_reason":
        return "é" * 500  # 1,000 bytes of UTF-8
    return default


def _pick(items: list[str], index: int, fallback: str) -> str:
    return items[index % len(items)] if items else fallback


def parties(model: KPModel, spec: TermsSpec, prefer: list[str] | None = None) -> tuple[str, str]:
    """Origin and destination among active participants (origins from ``prefer`` when
    some are active), else from the pool."""
    active = sorted(c for c in model.participants if model.status(c) is ParticipantStatus.ACTIVE)
    origins = [c for c in (prefer or []) if c in active] or active
    origin = _pick(origins, spec.origin, POOL[spec.origin % len(POOL)])
    return origin, destination_for(model, origin, spec.destination)


def destination_for(model: KPModel, origin: str, index: int) -> str:
    """An active participant other than ``origin``, else one of the pool."""
    active = sorted(c for c in model.participants if model.status(c) is ParticipantStatus.ACTIVE)
    others = [c for c in active if c != origin]
    fallback = [c for c in POOL if c != origin]
    return _pick(others, index, fallback[index % len(fallback)])


def _inactive(model: KPModel, status: ParticipantStatus, index: int) -> str | None:
    codes = sorted(c for c in model.participants if model.status(c) is status)
    return codes[index % len(codes)] if codes else None


def build_terms(
    model: KPModel,
    ids: Identities,
    spec: TermsSpec,
    flaw: str | None,
    now: int,
    prefer: list[str] | None = None,
    *,
    between: tuple[str, str] | None = None,
) -> ChainTerms:
    """Terms from ``spec`` against the model at time ``now`` (between the given parties,
    else active ones), broken by ``flaw``."""
    origin, destination = between or parties(model, spec, prefer)
    if flaw == "same_parties":
        destination = origin
    elif flaw == "unknown_origin":
        origin = NEVER_ADMITTED
    elif flaw == "unknown_destination":
        destination = NEVER_ADMITTED
    elif flaw in ("suspended_origin", "suspended_destination"):
        suspended = _inactive(model, ParticipantStatus.SUSPENDED, spec.origin)
        if suspended is not None and flaw == "suspended_origin":
            origin = suspended if suspended != destination else origin
        elif suspended is not None:
            destination = suspended if suspended != origin else destination
    document_hash, number = ids.next(origin)
    found = model.participants.get(origin)
    validity = found.validity_days if found is not None else 60
    expires_at = now + ((spec.days - 1) % validity + 1) * DAY - spec.seconds
    terms = ChainTerms(
        document_hash, number, origin, destination, spec.carats, spec.value_cents, spec.parcels, expires_at
    )
    return break_terms(model, terms, flaw, now, validity, spec.seconds)


def break_terms(
    model: KPModel, terms: ChainTerms, flaw: str | None, now: int, validity: int, seconds: int
) -> ChainTerms:
    """``terms`` with one field broken (or pushed to its inclusive limit) by ``flaw``."""
    origin = terms.origin
    tail = terms.number[3:]  # "E/000001": unique to this terms' identity
    taken = sorted(model.certificates)
    changes: dict[str, object] = {
        "expiry_now": {"expires_at": now},
        "expiry_past": {"expires_at": now - 1 - seconds},
        "expiry_max": {"expires_at": now + (validity + 1) * DAY},
        "expiry_over": {"expires_at": now + (validity + 1) * DAY + 1},
        "expiry_soon": {"expires_at": now + 1 + seconds % 600},
        "zero_hash": {"document_hash": ZERO_HASH},
        "short_number": {"number": origin + "12"},
        "long_number": {"number": origin + "L" * 33},
        "max_number": {"number": origin + tail.replace("/", "").rjust(32, "9")},
        "wrong_prefix": {"number": ("ZZ" if origin != "ZZ" else "YY") + terms.number[2:]},
        "nul_suffix": {"number": terms.number + "\0"},
        "unicode_number": {"number": f"{origin} Ω{tail}"},
        "zero_carats": {"carats": 0},
        "huge_carats": {"carats": MAX_UINT40 + 1},
        "huge_value": {"value_cents": MAX_UINT40 + 1},
        "zero_parcels": {"parcels": 0},
        "huge_parcels": {"parcels": MAX_PARCELS + 1},
        "max_quantities": {"carats": MAX_UINT40, "value_cents": MAX_UINT40, "parcels": MAX_PARCELS},
    }
    if flaw == "reuse_hash" and taken:
        return replace(terms, document_hash=taken[seconds % len(taken)])
    if flaw == "reuse_number" and taken:
        numbers = sorted(model.certificates[h].terms.number for h in taken)
        same_origin = [n for n in numbers if n.encode()[:2] == origin.encode()]
        return replace(terms, number=_pick(same_origin or numbers, seconds, terms.number))
    change = changes.get(flaw or "")
    return replace(terms, **change) if isinstance(change, dict) else terms
