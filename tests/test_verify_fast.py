"""Fast verification: bulk verification equals one-by-one verification, and the
verification cache answers from memory only while nothing the answer depends on has
changed (a void, an amendment, a receipt, a suspension, a revoked authority, expiry,
a chain that went backwards)."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from kpledger.chain.watch import ChainWatch
from kpledger.verify import Code, Result, Verification, verify_hash, verify_many
from kpledger.verify_cache import VerificationCache
from tests.conftest import DAY, World


def fresh(world: World) -> VerificationCache:
    """A cache that polls the head on every call, as a test wants."""
    return VerificationCache(world.gov, poll_interval=0)


def issued(world: World, **options: int) -> bytes:
    terms = world.terms(**options)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    return terms.document_hash


@pytest.mark.parametrize(
    ("log_queries", "multicall_reads"),
    [(256, 200), (2, 3), (1, 1)],
    ids=["defaults", "merged-ranges-small-chunks", "one-range-one-read"],
)
def test_bulk_verification_equals_one_by_one(
    world: World, monkeypatch: pytest.MonkeyPatch, log_queries: int, multicall_reads: int
) -> None:
    """Whatever the chunking of the record reads and however the log queries' blocks
    are merged into ranges, bulk answers equal single ones."""
    monkeypatch.setattr("kpledger.ledger.LOG_QUERIES", log_queries)
    monkeypatch.setattr("kpledger.ledger.MULTICALL_READS", multicall_reads)
    plain, received, voided, old = (issued(world) for _ in range(4))
    world.ae_auth.confirm_receipt(received)
    world.bw_auth.void(voided, "wrong parcel count")
    replacement = world.terms()
    world.bw_auth.amend(old, replacement, "corrected carats")
    requested = world.terms()
    world.bw_exporter.anchor(requested)
    suspended_origin = world.terms("VE", "AE")  # VE is suspended in the world: cannot issue now
    head = world.gov.block_number()
    digests = [
        plain,
        received,
        voided,
        old,
        replacement.document_hash,
        requested.document_hash,
        suspended_origin.document_hash,
        b"\x99" * 32,
        plain,  # asked twice
    ]
    bulk = verify_many(world.gov, digests, block=head)
    single = [verify_hash(world.gov, d, block=head) for d in digests]
    assert bulk == single
    assert [v.code for v in bulk] == [
        Code.VALID,
        Code.USED,
        Code.VOIDED,
        Code.SUPERSEDED,
        Code.VALID,
        Code.REQUESTED,
        Code.NOT_ANCHORED,
        Code.NOT_ANCHORED,
        Code.VALID,
    ]
    assert [e["event"] for e in bulk[4].timeline] == ["CertificateIssued", "Supersedes"]


def test_a_pinned_verification_describes_its_block(world: World) -> None:
    digest = issued(world)
    before = world.gov.block_number()
    world.bw_auth.void(digest, "stolen")
    assert verify_hash(world.gov, digest, block=before).code is Code.VALID
    assert verify_hash(world.gov, digest).code is Code.VOIDED


def test_a_cached_verification_equals_a_fresh_one(world: World) -> None:
    digest = issued(world)
    cache = fresh(world)
    first = cache.verify_hash(digest)
    world.gov.admit_participant("CA", "Canada", 60)  # a new block that does not concern it
    again = cache.verify_hash(digest)
    assert cache.hits == 1 and cache.misses == 1
    assert again == verify_hash(world.gov, digest)
    assert again.checked_at_block == first.checked_at_block + 1
    verification, body = cache.verify_hash_json(digest)
    assert orjson.loads(body) == orjson.loads(orjson.dumps(verification.to_dict()))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda w, d: w.bw_auth.void(d, "stolen"), id="void"),
        pytest.param(lambda w, d: w.ae_auth.confirm_receipt(d), id="receipt"),
        pytest.param(lambda w, d: w.ae_auth.record_discrepancy(d, "two parcels missing"), id="dispute"),
        pytest.param(lambda w, d: w.bw_auth.amend(d, w.terms(), "corrected"), id="amendment"),
        pytest.param(lambda w, d: w.gov.suspend_participant("BW", "plenary decision"), id="suspension"),
        pytest.param(lambda w, d: w.gov.revoke_authority("BW", w.bw_auth.address), id="revoked-authority"),
    ],
)
def test_a_cached_verification_reflects_a_change_at_the_next_block(world: World, change: object) -> None:
    digest = issued(world)
    cache = fresh(world)
    before = cache.verify_hash(digest)
    assert before.valid
    change(world, digest)  # type: ignore[operator]
    after = cache.verify_hash(digest)
    assert after == verify_hash(world.gov, digest)
    assert after.checked_at_block == world.gov.block_number()
    assert after.to_dict() != replace(before, checked_at_block=after.checked_at_block).to_dict()
    assert cache.hits == 0


def test_a_cached_verification_expires_with_the_chain_clock(world: World) -> None:
    digest = issued(world, days=2)
    cache = fresh(world)
    assert cache.verify_hash(digest).code is Code.VALID
    world.chain.time_travel(world.now() + 3 * DAY)
    world.gov.admit_participant("CA", "Canada", 60)  # a block after the expiry time
    expired = cache.verify_hash(digest)
    assert expired.code is Code.EXPIRED and cache.hits == 0
    assert expired == verify_hash(world.gov, digest)


def test_an_unknown_hash_is_found_once_anchored(world: World) -> None:
    terms = world.terms()
    cache = fresh(world)
    assert cache.verify_hash(terms.document_hash).code is Code.NOT_ANCHORED
    assert cache.verify_hash(terms.document_hash).code is Code.NOT_ANCHORED and cache.hits == 1
    world.bw_auth.issue(terms, world.bw_exporter.address)
    assert cache.verify_hash(terms.document_hash).valid


def test_a_chain_that_goes_back_empties_the_cache(world: World) -> None:
    digest = issued(world)
    cache = fresh(world)
    snapshot = world.chain.snapshot()
    world.bw_auth.void(digest, "stolen")
    assert cache.verify_hash(digest).code is Code.VOIDED
    epoch = cache.watch.head.epoch if cache.watch.head else 0
    world.chain.revert(snapshot)
    world.gov.forget_local_state()
    assert cache.verify_hash(digest).code is Code.VALID  # same height, another block: a new epoch
    assert cache.watch.head is not None and cache.watch.head.epoch > epoch


def test_between_polls_the_cache_answers_from_the_last_head(world: World) -> None:
    """The documented staleness: within ``poll_interval`` no poll, so no new block."""
    digest = issued(world)
    now = [0.0]
    cache = VerificationCache(
        world.gov,
        watch=ChainWatch(world.gov.rpc, world.gov.deployment, poll_interval=1.0, clock=lambda: now[0]),
    )
    assert cache.verify_hash(digest).valid
    world.bw_auth.void(digest, "stolen")
    assert cache.cached_json(digest) is not None  # not due yet: last poll's view
    now[0] = 1.0
    assert cache.cached_json(digest) is None  # due: the caller must go through a poll
    assert cache.verify_hash(digest).code is Code.VOIDED


def test_warming_keeps_the_most_recent_certificates(world: World) -> None:
    digests = [issued(world) for _ in range(5)]
    cache = VerificationCache(world.gov, poll_interval=0, capacity=3)
    recent = cache.recent_certificates()
    assert recent == digests[::-1][:3]
    assert cache.warm(recent) == 3 and len(cache) == 3
    polls = cache.watch.polls
    answers = [cache.verify_hash(d) for d in recent]
    assert cache.hits == 3 and all(isinstance(a, Verification) and a.valid for a in answers)
    assert cache.watch.polls == polls + 3


def test_an_unreadable_chain_is_never_cached(world: World) -> None:
    digest = issued(world)
    cache = fresh(world)
    cache.watch.refresh()
    head = cache.watch.head
    assert head is not None
    broken = replace(verify_hash(world.gov, digest), verdict=Result.ERROR, code=Code.CHAIN_UNAVAILABLE)
    assert cache._store(digest, broken, head) is None and len(cache) == 0


def test_a_cache_that_polls_on_every_call_starts_no_follower(world: World) -> None:
    cache = fresh(world)
    assert cache.follow() is False  # poll_interval 0: there is nothing to follow between calls


def test_timeline_reads_ask_for_the_named_blocks_only(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bulk timelines read the blocks records name, not the blocks between them, and
    merge blocks across the smallest gaps when there are more than LOG_QUERIES."""
    from kpledger.ledger import _block_ranges

    record = world.gov.certificate(issued(world))
    assert record is not None and record.batch_root is None
    records = [
        replace(record, document_hash=bytes([i]) * 32, requested_block=None, issued_block=block)
        for i, block in enumerate((5, 6, 40, 41, 100), start=1)
    ]
    spans = [(low, high) for low, high, _ in _block_ranges(records)]
    assert spans == [(5, 5), (6, 6), (40, 40), (41, 41), (100, 100)]
    monkeypatch.setattr("kpledger.ledger.LOG_QUERIES", 3)
    merged = _block_ranges(records)
    assert [(low, high) for low, high, _ in merged] == [(5, 6), (40, 41), (100, 100)]
    assert [len(group) for _, _, group in merged] == [2, 2, 1]
