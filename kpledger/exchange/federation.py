"""Several national exchange nodes on this machine around one local chain: what
``kpledger demo exchange``, the benchmark and the crash tests run.

Each node is a real process (:mod:`kpledger.exchange.server`) with its own port, data
directory, SQLite store and exchange keyring; the chain is a local anvil. Every key here
is a DEV-ONLY key of the well-known test mnemonic (:mod:`kpledger.devkeys`): for local
runs only, never for a real deployment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kpledger.chain.node import AnvilNode
from kpledger.exchange.keys import Keyring
from kpledger.exchange.node import ExchangeNode, NodeConfig
from kpledger.exchange.store import ExchangeStore
from kpledger.ledger import Ledger

NAMES = {"BW": "Botswana", "AE": "United Arab Emirates", "BE": "Belgium", "IN": "India", "ZA": "South Africa"}


@dataclass
class NodeSpec:
    code: str
    inbox: bool = True
    """Publish an inbox URL (False: reachable only through a relay, by pulling)."""
    relay: bool = False
    pull_from: str = ""
    """Code of the relay node to pull from."""
    webhooks: list[str] = field(default_factory=list)


@dataclass
class NodeProcess:
    spec: NodeSpec
    data_dir: Path
    port: int = 0
    process: subprocess.Popen[str] | None = None
    url: str = ""

    @property
    def db(self) -> Path:
        return self.data_dir / "exchange.sqlite"

    @property
    def keyring(self) -> Path:
        return self.data_dir / "exchange-keys.json"


class Federation:
    def __init__(self, base: Path, specs: list[NodeSpec], *, chain: AnvilNode | None = None) -> None:
        self.base = base
        self.specs = {s.code: s for s in specs}
        self.chain = chain or AnvilNode(data_dir=base / "chain", accounts=20)
        self._own_chain = chain is None
        self.nodes: dict[str, NodeProcess] = {}
        self.keys: dict[str, bytes] = {}
        self.gov: Ledger | None = None
        self._logs: list[IO[str]] = []

    # ------------------------------------------------------------------ setup

    def start(self) -> Federation:
        if self._own_chain:
            self.chain.start()
        dev = self.chain.dev_only_keys(2 + 2 * len(self.specs))
        gov = self.gov = Ledger.deploy(self.chain.url, dev[0])
        gov.deployment.save(self.base / "deployment.json")
        for index, code in enumerate(self.specs):
            gov.admit_participant(code, NAMES.get(code, code), 60)
            authority, exporter = dev[1 + 2 * index], dev[2 + 2 * index]
            self.keys[code] = authority
            self.keys[code + ":exporter"] = exporter
            gov.appoint_authority(code, gov.as_signer(authority).address)
            gov.as_signer(authority).license_exporter(code, gov.as_signer(exporter).address)
        for code, spec in self.specs.items():
            self.nodes[code] = NodeProcess(spec, self.base / code.lower())
        for code in self._start_order():
            self.start_node(code)
        return self

    def _start_order(self) -> list[str]:
        relays = [c for c, s in self.specs.items() if s.relay]
        return relays + [c for c in self.specs if c not in relays]

    def ledger(self, code: str) -> Ledger:
        assert self.gov is not None
        return self.gov.as_signer(self.keys[code])

    def start_node(self, code: str) -> NodeProcess:
        node = self.nodes[code]
        spec = node.spec
        node.data_dir.mkdir(parents=True, exist_ok=True)
        relay_code = next((c for c, s in self.specs.items() if s.relay and c != code), "")
        args = [
            sys.executable,
            "-m",
            "kpledger.exchange.server",
            "--rpc",
            self.chain.url,
            "--deployment",
            str(self.base / "deployment.json"),
            "--participant",
            code,
            "--keyring",
            str(node.keyring),
            "--db",
            str(node.db),
            "--port",
            str(node.port),
            "--inbox-url",
            "{url}/v1/exchange/envelopes" if spec.inbox else "",
        ]
        if spec.relay:
            args.append("--relay")
        if relay_code:
            args += ["--relay-url", self.nodes[relay_code].url]
        if spec.pull_from:
            args += ["--pull-from", self.nodes[spec.pull_from].url]
        for hook in spec.webhooks:
            args += ["--webhook", hook]
        env = {
            **os.environ,
            "KPLEDGER_AUTHORITY_KEY": self.keys[code].hex(),
            "KPLEDGER_EXCHANGE_TOKEN": f"dev-token-{code}",
        }
        args += ["--token-env", "KPLEDGER_EXCHANGE_TOKEN"]
        log = open(node.data_dir / "node.log", "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._logs.append(log)
        node.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        assert node.process.stdout is not None
        line = node.process.stdout.readline()
        if not line:
            raise RuntimeError(f"exchange node {code} did not start; see {node.data_dir / 'node.log'}")
        ready: dict[str, Any] = json.loads(line)
        node.url = ready["url"]
        node.port = int(node.url.rsplit(":", 1)[1])  # restarts keep the port (the inbox URL on chain)
        return node

    # ------------------------------------------------------------------ crashes

    def kill(self, code: str) -> None:
        """SIGKILL: no clean shutdown, whatever was in flight is cut."""
        process = self.nodes[code].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self, code: str) -> NodeProcess:
        self.kill(code)
        return self.start_node(code)

    # ------------------------------------------------------------------ facts

    def sender(self, code: str) -> ExchangeNode:
        """An in-process handle on ``code``'s store (as ``cert issue --send`` uses it):
        what it enqueues, the node process delivers."""
        node = self.nodes[code]
        return ExchangeNode(
            self.ledger(code),
            code,
            self.keys[code],
            Keyring.load(node.keyring),
            ExchangeStore(node.db),
            NodeConfig(),
        )

    def store(self, code: str) -> ExchangeStore:
        return ExchangeStore(self.nodes[code].db)

    def wait_settled(self, code: str, expected: int, timeout: float = 120.0) -> dict[str, int]:
        store = self.store(code)
        try:
            deadline = time.monotonic() + timeout
            while True:
                counts = store.outbox_counts()
                if (
                    sum(v for k, v in counts.items() if k != "pending") >= expected
                    or time.monotonic() > deadline
                ):
                    return counts
                time.sleep(0.1)
        finally:
            store.close()

    def close(self) -> None:
        for code in list(self.nodes):
            process = self.nodes[code].process
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in self._logs:
            log.close()
        if self._own_chain:
            self.chain.close()
