"""The CLI without a chain, for ``kpledger cert pdf``; the machine's KPLEDGER_* settings kept out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import Cli


@pytest.fixture(autouse=True)
def _no_kpledger_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KPLEDGER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def offline(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")
