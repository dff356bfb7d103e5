"""``scripts/bench_cli.py`` runs end to end on a tiny workload (one run a command, 20
files), so the CLI benchmark cannot rot. Speeds are not asserted: every row is there,
the baseline was measured, and every bulk file verified VALID (the script exits
otherwise)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kpledger.chain.node import NodeBinaryMissing, find_anvil

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.anvil


def test_the_cli_benchmark_prints_every_row() -> None:
    try:
        find_anvil()
    except NodeBinaryMissing as exc:
        pytest.skip(f"anvil missing: {exc}")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_cli.py"), "--runs", "1", "--files", "20", "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["baseline_python_seconds"] > 0
    names = [row["command"] for row in figures["commands"]]
    assert names[:4] == ["--help", "hash FILE", "cert check FILE (offline)", "cert sample"]
    assert {"participant list", "verify FILE", "cert check FILE (online)"} <= set(names)
    assert all(row["seconds"] > 0 for row in figures["commands"])
    assert figures["bulk_files"] == 20 and figures["bulk_files_per_second"] > 0
