"""Offline commands start without the Ethereum stack: `--help`, `hash`, `cert check`
(no node) and `cert sample` never import web3, eth-account or their kin (importing them
is most of a second; the start-up budget of an offline command is 0.25 s,
scripts/bench_cli.py measures it). Each runs in a fresh interpreter, so what another
test imported cannot hide an import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kpledger.certificate import sample_certificate

ETHEREUM_STACK = ("web3", "eth_account", "eth_abi", "eth_keys", "eth_keyfile", "eth_tester", "coincurve")
PROBE = """
import json, sys
from kpledger.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)
"""


def _modules(args: list[str], data_dir: Path) -> set[str]:
    env = {"KPLEDGER_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", ["--help", "hash", "cert check", "cert sample", "cert --help"])
def test_offline_commands_do_not_import_the_ethereum_stack(command: str, tmp_path: Path) -> None:
    document = tmp_path / "c.json"
    document.write_text(json.dumps(sample_certificate()), encoding="utf-8")
    args = command.split()
    if command in ("hash", "cert check"):
        args.append(str(document))
    loaded = _modules(args, tmp_path / "data")
    assert "kpledger.cli" in loaded or "kpledger" in loaded
    assert not loaded & set(ETHEREUM_STACK), sorted(loaded & set(ETHEREUM_STACK))


def test_the_probe_would_see_the_stack(tmp_path: Path) -> None:
    """The same probe on a chain command does load it (the test can fail)."""
    loaded = _modules(["participant", "list", "--rpc", "http://127.0.0.1:9"], tmp_path / "data")
    assert {"web3", "eth_account"} & loaded or "eth_abi" in loaded
