"""The README's CLI tour runs as written (against the test node), so it cannot rot."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_commands(markdown: str) -> list[list[str]]:
    """The ``kpledger`` lines of the first ```sh block after the "CLI tour" heading."""
    match = re.search(r"^##+ CLI tour\s*$(.*?)^```sh\n(.*?)^```", markdown, flags=re.M | re.S)
    if match is None:
        return []
    lines = [shlex.split(line, comments=True) for line in match.group(2).splitlines()]
    return [words for words in lines if words and words[0] == "kpledger"]


def run_tour(cli: Cli, commands: list[list[str]], directory: Path) -> None:
    for words in commands:
        target = None
        if ">" in words:
            at = words.index(">")
            words, target = words[:at], words[at + 1]
        result = cli(*words[1:])
        if target is not None:
            (directory / target).write_text(result.stdout, encoding="utf-8")


def test_readme_cli_tour(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = tour_commands(README.read_text(encoding="utf-8")) if README.is_file() else []
    if not commands:
        pytest.skip("README.md has no CLI tour section")
    monkeypatch.chdir(tmp_path)
    run_tour(cli, commands, tmp_path)
