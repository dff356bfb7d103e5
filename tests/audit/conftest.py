"""Fixtures of the audit tests: casts of participants on the in-process chain and on
anvil (each reset between uses by snapshot), and a fresh SQLite index per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit.history import ACCOUNTS, Cast, build_anvil_cast, build_cast


class CastSession:
    """Hands out a cast between a snapshot and a revert; re-enterable, so one
    hypothesis test can use it for each of its examples."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self._snapshot: Any = None

    def __enter__(self) -> Cast:
        self._snapshot = self.cast.take_snapshot()
        return self.cast

    def __exit__(self, *_: object) -> None:
        self.cast.revert_to(self._snapshot)
        self.cast.forget()


@pytest.fixture(scope="session")
def _session_cast() -> Cast:
    return build_cast()


@pytest.fixture
def cast_session(_session_cast: Cast) -> CastSession:
    """The in-process cast."""
    return CastSession(_session_cast)


@pytest.fixture(scope="session")
def audit_anvil() -> Iterator[Any]:
    from tests.chain.nodeworld import start_anvil

    node = start_anvil(accounts=ACCOUNTS)
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="session")
def _anvil_cast(audit_anvil: Any) -> Cast:
    return build_anvil_cast(audit_anvil)


@pytest.fixture
def anvil_cast_session(_anvil_cast: Cast) -> CastSession:
    """The cast on a session anvil."""
    return CastSession(_anvil_cast)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'audit.db'}"
