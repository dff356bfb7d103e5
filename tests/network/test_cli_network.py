"""`kpledger network up` as a user runs it: network.json, blocks on every node, Ctrl-C keeps
the chain, a second start resumes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.network


def _head(url: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return int(json.loads(answer.read())["result"], 16)


def _up(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    manifest = data_dir / "network.json"
    before = manifest.stat().st_mtime if manifest.exists() else None
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kpledger.cli",
            "network",
            "up",
            "--validators",
            "4",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if manifest.exists() and manifest.stat().st_mtime != before:
            network = json.loads(manifest.read_text())
            if all(v["pid"] for v in network["validators"]):
                return process, network
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        time.sleep(0.3)
    process.kill()
    raise AssertionError("network.json never listed four running validators")


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    return out.decode()


def test_network_up_makes_blocks_stops_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    data_dir = tmp_path / "net"
    process, network = _up(data_dir)
    try:
        assert network["chain_id"] == 1717
        validators = network["validators"]
        assert isinstance(validators, list) and len(validators) == 4
        urls = [v["rpc"] for v in validators]
        start = [_head(u) for u in urls]
        time.sleep(4)
        assert all(_head(u) > s for u, s in zip(urls, start, strict=True))
    finally:
        output = _stop(process)
    assert "kpledger --rpc" in output and process.returncode == 0
    pids = [v["pid"] for v in validators]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    reached = max(start)
    process, again = _up(data_dir)
    try:
        assert [v["address"] for v in again["validators"]] == [v["address"] for v in validators]  # type: ignore[union-attr]
        assert _head(urls[0]) > reached  # the old chain, continued
    finally:
        _stop(process)
