"""`kpledger up` as a person runs it: a subprocess that comes up, serves HTTP, stops on
Ctrl-C (SIGINT) with its state saved, and comes back with every certificate."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kpledger.chain.node import NodeBinaryMissing, find_anvil
from tests.cli.conftest import Cli, number_of, write_certificate

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anvil


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Up:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.api_port = _free_port()
        self.node_port = _free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KPLEDGER_") or k == "KPLEDGER_ANVIL"}
        command = [
            sys.executable, "-m", "kpledger.cli", "up", "--data-dir", str(self.data_dir),
            "--port", str(self.api_port), "--node-port", str(self.node_port), *extra,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"kpledger up exited early:\n{self.log.read_text()}"
            try:
                status, _ = _get(f"{self.api}/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"kpledger up did not serve {self.api} in time:\n{self.log.read_text()}")

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)

    def stop(self) -> None:
        """After a failure: Ctrl-C first (a SIGKILL would orphan its anvil), then kill."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _port_free(port: int) -> bool:
    """Nothing listens on the port any more (the process behind it is gone)."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_up_serves_stops_on_sigint_and_comes_back(tmp_path: Path) -> None:
    try:
        find_anvil()
    except NodeBinaryMissing as exc:
        pytest.skip(str(exc))
    data_dir = tmp_path / "ledger"
    up = Up(data_dir, tmp_path / "up.log")
    try:
        up.start("--demo-certificates", "20")
        assert (data_dir / "run.json").is_file()
        folder = data_dir / "demo" / "certificates"
        documents = sorted(p for p in folder.glob("*.json") if not p.name.endswith(".proof.json"))
        assert len(documents) >= 20
        # batched certificates not yet revealed have no record: the API knows them by proof only
        documents = [p for p in documents if not (folder / (p.stem + ".proof.json")).exists()]
        numbers = [number_of(p) for p in documents[:: max(1, len(documents) // 6)]]
        before = {}
        for number in numbers:
            status, body = _get(f"{up.api}/v1/certificates/{number}")
            assert status == 200, body
            before[number] = (body["certificate"]["document_hash"], body["certificate"]["status"])

        # the CLI finds the running node through run.json: no --rpc needed
        cli = Cli(data_dir)
        mine = write_certificate(tmp_path / "mine")
        cli("--dev-account", "bw-authority", "cert", "issue", str(mine), "--exporter", "bw-exporter")
        status, body = _get(f"{up.api}/v1/certificates/{number_of(mine).replace(' ', '%20')}")
        assert status == 200 and body["certificate"]["status"] == "ISSUED"
        before[number_of(mine)] = (body["certificate"]["document_hash"], "ISSUED")

        assert up.interrupt() == 0
        assert not (data_dir / "run.json").exists()
        assert _port_free(up.node_port) and _port_free(up.api_port)
        assert (data_dir / "anvil-state.json").is_file()
        assert "state is kept" in up.log.read_text() or "saved" in up.log.read_text()

        up.start()
        after = {}
        for number in before:
            status, body = _get(f"{up.api}/v1/certificates/{number.replace(' ', '%20')}")
            assert status == 200, body
            after[number] = (body["certificate"]["document_hash"], body["certificate"]["status"])
        assert after == before
        log = up.log.read_text()
        assert "contracts found" in log and log.count("deploying the contracts") == 1
        assert up.interrupt() == 0
    finally:
        up.stop()


def test_second_up_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "ledger"
    data_dir.mkdir()
    (data_dir / "run.json").write_text(json.dumps({"pid": os.getpid(), "api": "http://127.0.0.1:1"}), "utf-8")
    result = Cli(data_dir)("up", code=2)
    assert "already running" in result.stderr
