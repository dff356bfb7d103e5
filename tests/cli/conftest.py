"""Fixtures of the CLI tests: Typer's runner against a real anvil node.

One anvil (40 DEV-ONLY accounts) per session carries a deployment recorded in a data
directory, with the cast the demo uses (``gov``, ``bw-authority``, ``bw-exporter``,
``ae-authority``, ``be-authority`` …), so commands run exactly as a person types them:
``kpledger --dev-account bw-authority cert issue …``. Each test runs between an
``evm_snapshot`` and an ``evm_revert``; the CLI builds fresh clients on every
invocation, so nothing is cached across tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kpledger.certificate import sample_certificate
from kpledger.chain.node import AnvilNode
from kpledger.cli.app import app
from kpledger.demo import DEV_ROLES
from kpledger.devkeys import dev_only_key
from kpledger.ledger import Ledger
from tests.chain.nodeworld import start_anvil

KEEP_ENV = ("KPLEDGER_ANVIL", "KPLEDGER_NODE")


@pytest.fixture(autouse=True)
def _no_kpledger_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings of the machine running the tests must not leak into them."""
    for name in list(os.environ):
        if name.startswith("KPLEDGER_") and name not in KEEP_ENV:
            monkeypatch.delenv(name)


class Cli:
    """``kpledger`` through Typer's runner, with a data directory and a node."""

    def __init__(self, data_dir: Path, rpc: str | None = None) -> None:
        self.runner = CliRunner()
        self.data_dir = data_dir
        self.rpc = rpc

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {"KPLEDGER_DATA_DIR": str(self.data_dir)}
        if self.rpc:
            env["KPLEDGER_RPC"] = self.rpc
        env.update(extra or {})
        return env

    def __call__(
        self, *args: str, code: int | None = 0, env: dict[str, str] | None = None, input: str | None = None
    ) -> Result:
        result = self.runner.invoke(app, list(args), env=self.env(env), input=input)
        if code is not None:
            assert result.exit_code == code, (
                f"kpledger {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args: str, code: int | None = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)


@dataclass
class CliWorld:
    node: AnvilNode
    data_dir: Path
    gov: Ledger

    def ledger(self) -> Ledger:
        return self.gov


@pytest.fixture(scope="session")
def cli_node() -> Iterator[AnvilNode]:
    node = start_anvil(accounts=40)
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="session")
def _cli_world(cli_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> CliWorld:
    """BW, AE and BE admitted; their authorities appointed; a BW exporter and an AE
    importer licensed: all DEV-ONLY accounts with the demo's role names."""
    data_dir = tmp_path_factory.mktemp("kpledger-cli")
    gov = Ledger.deploy(cli_node.url, dev_only_key(DEV_ROLES["gov"]))
    gov.deployment.save(data_dir / "deployment.json")
    for code, name in (("BW", "Botswana"), ("AE", "United Arab Emirates"), ("BE", "Belgium")):
        gov.admit_participant(code, name, 60)
        gov.appoint_authority(
            code, gov.as_signer(dev_only_key(DEV_ROLES[f"{code.lower()}-authority"])).address
        )
    bw = gov.as_signer(dev_only_key(DEV_ROLES["bw-authority"]))
    bw.license_exporter("BW", gov.as_signer(dev_only_key(DEV_ROLES["bw-exporter"])).address)
    ae = gov.as_signer(dev_only_key(DEV_ROLES["ae-authority"]))
    ae.license_importer("AE", gov.as_signer(dev_only_key(DEV_ROLES["ae-importer"])).address)
    return CliWorld(cli_node, data_dir, gov)


@pytest.fixture
def world(_cli_world: CliWorld) -> Iterator[CliWorld]:
    snapshot = _cli_world.node.snapshot()
    try:
        yield _cli_world
    finally:
        _cli_world.node.revert(snapshot)
        _cli_world.gov.forget_local_state()


@pytest.fixture
def cli(world: CliWorld) -> Cli:
    """The CLI pointed at the session node and its deployment."""
    return Cli(world.data_dir, world.node.url)


@pytest.fixture
def offline(tmp_path: Path) -> Cli:
    """The CLI with an empty data directory and no node."""
    return Cli(tmp_path / "data")


def write_certificate(directory: Path, name: str | None = None, **overrides: Any) -> Path:
    """A fresh valid certificate file (BW → AE unless overridden)."""
    document = sample_certificate(**overrides)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or document['number'].replace(' ', '-')}.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def number_of(path: Path) -> str:
    return str(json.loads(path.read_text(encoding="utf-8"))["number"])
