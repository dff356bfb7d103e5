"""Reorganisations: a snapshot revert rewrites history below the index's checkpoint; the
next replay finds the fork, undoes what the lost branch did (certificate transitions,
a suspension, a licence withdrawal, an authority appointment) and indexes the new
branch. A reorg shallower than the confirmation depth never reaches the index."""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kpledger.audit import cross_check, replay
from kpledger.chain import artifacts
from tests.audit.history import Driver
from tests.audit.test_history import dump

ARTIFACTS = artifacts.artifacts()
TRUNK = [("admit", 0, 60), ("admit", 1, 60), ("certs", 0, 1, 6, False, 1), ("act", "confirm", 30, 2)]
BRANCH_A = [
    ("certs", 1, 0, 4, False, 4),
    ("act", "dispute", 100, 3),
    ("license", 0),
    ("rotate", 0),
    ("suspend", 1),
    ("batch", 0, 1, 3, 5),
]
BRANCH_B = [("admit", 2, 30), ("certs", 0, 2, 3, True, 6), ("act", "void", 50, 7)]


def _same_as_fresh(cast: Any, db_url: str, tmp: Path, name: str) -> None:
    fresh = f"sqlite:///{tmp / name}"
    replay(cast.target, cast.gov.deployment, fresh, progress=False)
    assert dump(db_url) == dump(fresh)


def check_reorg(session: Any, tmp: Path) -> None:
    db_url = f"sqlite:///{tmp / 'reorg.db'}"
    with session as cast:
        driver = Driver(cast)
        driver.run(TRUNK)
        fork_block = cast.gov.block_number()
        trunk_model = copy.deepcopy(driver.model)
        fork = cast.take_snapshot()

        driver.run(BRANCH_A)
        lost = replay(cast.target, cast.gov.deployment, db_url, progress=False, chunk_blocks=5)
        assert lost.reorgs == [] and lost.checkpoint == cast.gov.block_number()

        cast.revert_to(fork)
        cast.forget()
        driver.model = trunk_model
        driver.run(BRANCH_B)
        found = replay(cast.target, cast.gov.deployment, db_url, progress=False, chunk_blocks=5)
        assert len(found.reorgs) == 1
        reorg = found.reorgs[0]
        assert reorg.fork_block <= fork_block and reorg.previous_checkpoint == lost.checkpoint
        assert reorg.removed_events > 0
        assert found.checkpoint == cast.gov.block_number()

        checks = cross_check(cast.target, cast.gov.deployment, db_url, compiled=ARTIFACTS)
        assert checks.ok, checks.to_dict()
        _same_as_fresh(cast, db_url, tmp, "fresh.db")


def test_reorg_on_the_in_process_chain(cast_session: Any, tmp_path: Path) -> None:
    check_reorg(cast_session, tmp_path)


@pytest.mark.anvil
def test_reorg_by_reverting_an_anvil_snapshot(anvil_cast_session: Any, tmp_path: Path) -> None:
    check_reorg(anvil_cast_session, tmp_path)


def test_a_reorg_within_the_confirmation_depth_never_reaches_the_index(
    cast_session: Any, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'deep.db'}"
    with cast_session as cast:
        driver = Driver(cast)
        driver.run(TRUNK)
        saved = copy.deepcopy(driver.model)
        fork = cast.take_snapshot()
        driver.run([("certs", 0, 1, 3, False, 9)])  # 3 blocks, within the depth of 5
        first = replay(cast.target, cast.gov.deployment, db_url, progress=False, confirmations=5)
        cast.revert_to(fork)
        cast.forget()
        driver.model = saved
        driver.run([("certs", 1, 0, 4, False, 10), ("advance", 1), ("advance", 1)])
        second = replay(cast.target, cast.gov.deployment, db_url, progress=False, confirmations=5)
        assert first.checkpoint <= second.checkpoint and second.reorgs == []
        assert second.checkpoint == cast.gov.block_number() - 5


@pytest.mark.anvil
def test_follow_mode_tracks_new_blocks_and_reorgs(anvil_cast_session: Any, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'follow.db'}"
    with anvil_cast_session as cast:
        driver = Driver(cast)
        driver.run(TRUNK)
        saved = copy.deepcopy(driver.model)
        fork = cast.take_snapshot()
        stop = threading.Event()
        results: list[Any] = []

        def follow() -> None:
            try:
                results.append(
                    replay(
                        cast.target,
                        cast.gov.deployment,
                        db_url,
                        progress=False,
                        follow=True,
                        poll_interval=0.05,
                        stop=stop,
                    )
                )
            except BaseException as exc:  # handed to the test thread
                results.append(exc)

        follower = threading.Thread(target=follow)
        follower.start()
        try:
            driver.run(BRANCH_A)
            _wait_until_checked(cast, db_url, follower.is_alive)
            cast.revert_to(fork)
            cast.forget()
            driver.model = saved
            driver.run(BRANCH_B)
            _wait_until_checked(cast, db_url, follower.is_alive)
        finally:
            stop.set()
            follower.join(30)
        assert results, "the follower did not return"
        if isinstance(results[0], BaseException):
            raise results[0]
        assert len(results[0].reorgs) >= 1


def _wait_until_checked(cast: Any, db_url: str, follower_alive: Any, timeout: float = 90.0) -> None:
    """Until the followed index equals the chain at its head."""
    deadline = time.monotonic() + timeout
    while True:
        head = cast.gov.block_number()
        try:
            report = cross_check(
                cast.target, cast.gov.deployment, db_url, compiled=ARTIFACTS, bytecode_check=False
            )
            if report.checkpoint == head and report.ok:
                return
        except Exception:  # the follower may be mid-rollback; look again
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"the follower did not reach block {head} in {timeout}s")
        if not follower_alive():
            raise AssertionError("the follower stopped")
        time.sleep(0.1)
