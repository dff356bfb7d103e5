"""The verdict model (issue 13, item 1; docs/verification.md): each rule on the
in-process chain, and the single, bulk and cached paths giving the same answers."""

from __future__ import annotations

from typing import Any

from kpledger.verify import Code, Result, verify_hash, verify_many
from kpledger.verify_cache import VerificationCache

from .contracts.helpers import DAY


def _issued(world: Any, **options: Any) -> Any:
    terms = world.terms(**options)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    return terms


def test_a_received_certificate_is_used_never_valid(world: Any) -> None:
    terms = _issued(world, days=2)
    world.ae_auth.confirm_receipt(terms.document_hash)
    answer = verify_hash(world.gov, terms.document_hash)
    assert (answer.verdict, answer.code) == (Result.USED, Code.USED)
    today = world.gov.chain_today()
    when = f"{today.day} {today.strftime('%b %Y')}"
    assert answer.message == (
        f"already used for an import into United Arab Emirates on {when} — not valid for another shipment"
    )
    world.chain.time_travel(world.now() + 5 * DAY)  # long after expiry: still USED, not EXPIRED
    world.gov.admit_participant("CA", "Canada", 60)
    later = verify_hash(world.gov, terms.document_hash)
    assert (later.verdict, later.code) == (Result.USED, Code.USED)


def test_an_open_dispute_reads_disputed_whatever_the_date(world: Any) -> None:
    terms = _issued(world, days=2)
    world.ae_auth.record_discrepancy(terms.document_hash, "seal broken")
    assert verify_hash(world.gov, terms.document_hash).code is Code.DISPUTED
    world.chain.time_travel(world.now() + 5 * DAY)
    world.gov.admit_participant("CA", "Canada", 60)
    answer = verify_hash(world.gov, terms.document_hash)
    assert (answer.verdict, answer.code) == (Result.INVALID, Code.DISPUTED)
    assert "recorded a discrepancy" in answer.message


def test_an_issued_certificate_past_expiry_is_expired(world: Any) -> None:
    terms = _issued(world, days=1)
    assert verify_hash(world.gov, terms.document_hash).verdict is Result.VALID
    world.chain.time_travel(terms.expires_at + 10)
    world.gov.admit_participant("CA", "Canada", 60)
    answer = verify_hash(world.gov, terms.document_hash)
    assert (answer.verdict, answer.code) == (Result.INVALID, Code.EXPIRED)


def test_a_request_is_pending(world: Any) -> None:
    terms = world.terms()
    world.bw_exporter.anchor(terms)
    answer = verify_hash(world.gov, terms.document_hash)
    assert (answer.verdict, answer.code) == (Result.PENDING, Code.REQUESTED)
    assert "not yet validated" in answer.message


def test_a_superseded_certificate_names_its_replacement(world: Any) -> None:
    old = _issued(world)
    replacement = world.terms()
    world.bw_auth.amend(old.document_hash, replacement, "corrected carats")
    answer = verify_hash(world.gov, old.document_hash)
    assert (answer.verdict, answer.code) == (Result.INVALID, Code.SUPERSEDED)
    assert replacement.number in answer.message
    assert answer.fragment("status").details["superseded_by"] == replacement.number


def test_a_finished_certificate_is_judged_at_its_decisive_moment(world: Any) -> None:
    """Received while BW was active: a later suspension does not make it invalid. One
    still in transit is stopped by the same suspension."""
    done, in_transit = _issued(world), _issued(world)
    world.ae_auth.confirm_receipt(done.document_hash)
    world.gov.suspend_participant("BW", "plenary decision")
    finished = verify_hash(world.gov, done.document_hash)
    assert (finished.verdict, finished.code) == (Result.USED, Code.USED)
    assert finished.fragment("identity").result is Result.VALID
    stopped = verify_hash(world.gov, in_transit.document_hash)
    assert (stopped.verdict, stopped.code) == (Result.INVALID, Code.ORIGIN_SUSPENDED)


def test_single_bulk_and_cached_paths_agree(world: Any) -> None:
    valid, used, disputed = _issued(world), _issued(world), _issued(world, days=1)
    world.ae_auth.confirm_receipt(used.document_hash)
    world.ae_auth.record_discrepancy(disputed.document_hash, "carats differ")
    requested = world.terms()
    world.bw_exporter.anchor(requested)
    world.chain.time_travel(disputed.expires_at + 10)
    world.gov.admit_participant("CA", "Canada", 60)
    digests = [t.document_hash for t in (valid, used, disputed, requested)]
    head = world.gov.block_number()
    single = [verify_hash(world.gov, d, block=head) for d in digests]
    assert verify_many(world.gov, digests, block=head) == single
    cache = VerificationCache(world.gov, poll_interval=0)
    cached = [cache.verify_hash(d) for d in digests]
    assert [(v.verdict, v.code, v.message) for v in cached] == [
        (v.verdict, v.code, v.message) for v in single
    ]
    assert [v.verdict for v in single] == [Result.VALID, Result.USED, Result.INVALID, Result.PENDING]
