"""The CLI cannot write to the wrong chain: a second anvil with the same chain id and
the same contract addresses (same deployer, same nonce) is refused before the first
write, in words that name the chain expected and the chain found, and nothing is
written there. With no node named and no running ledger, a write is not sent to the
default URL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpledger.chain.identity import short
from kpledger.demo import DEV_ROLES
from kpledger.devkeys import dev_only_key
from kpledger.ledger import Ledger
from tests.chain.nodeworld import start_anvil
from tests.cli.conftest import Cli, CliWorld, write_certificate


@pytest.fixture(scope="module")
def other() -> Iterator[Ledger]:
    """Another chain 31337 where the same cast could anchor: same addresses, same roles."""
    node = start_anvil(accounts=40, extra_args=("--timestamp", str(int(time.time()) - 86_400)))
    try:
        gov = Ledger.deploy(node.url, dev_only_key(DEV_ROLES["gov"]))
        for code, name in (("BW", "Botswana"), ("AE", "United Arab Emirates")):
            gov.admit_participant(code, name, 60)
        bw = gov.as_signer(dev_only_key(DEV_ROLES["bw-authority"]))
        gov.appoint_authority("BW", bw.address)
        bw.license_exporter("BW", gov.as_signer(dev_only_key(DEV_ROLES["bw-exporter"])).address)
        yield gov
    finally:
        node.close()


def _url(ledger: Ledger) -> str:
    return str(ledger.rpc.url)  # type: ignore[attr-defined]


def test_an_anchor_aimed_at_another_chain_is_refused(
    world: CliWorld, other: Ledger, tmp_path: Path
) -> None:
    mine = world.gov.deployment
    assert (other.deployment.registry, other.deployment.ledger) == (mine.registry, mine.ledger)
    path = write_certificate(tmp_path)
    height = other.block_number()
    cli = Cli(world.data_dir, _url(other))
    result = cli("--dev-account", "bw-exporter", "cert", "anchor", str(path), code=2)
    assert "not the deployment's chain" in result.stderr
    assert f"genesis {short(mine.genesis_hash)}" in result.stderr
    assert f"genesis {short(other.deployment.genesis_hash)}" in result.stderr
    assert other.block_number() == height
    document = json.loads(path.read_text(encoding="utf-8"))
    assert other.certificate(document["number"]) is None
    # Reads are refused alike.
    assert "not the deployment's chain" in cli("participant", "list", code=2).stderr


def test_a_write_is_not_sent_to_the_default_url(world: CliWorld, tmp_path: Path) -> None:
    cli = Cli(world.data_dir)  # no --rpc, no KPLEDGER_RPC, no running `kpledger up`
    result = cli("--dev-account", "bw-exporter", "cert", "anchor", str(write_certificate(tmp_path)), code=2)
    assert "no node is named" in result.stderr and "kpledger up" in result.stderr


def test_an_older_record_is_upgraded_by_deploy_record_identity(
    world: CliWorld, other: Ledger, tmp_path: Path
) -> None:
    record = world.gov.deployment.to_json()
    for name in ("format", "genesis_hash", "block_hash", "registry_tx", "ledger_tx"):
        del record[name]
    data = tmp_path / "data"
    data.mkdir()
    (data / "deployment.json").write_text(json.dumps(record), encoding="utf-8")
    cli = Cli(data, world.node.url)
    listed = cli("participant", "list")
    assert "--record-identity" in listed.stderr
    # Only the chain id can be checked: the other chain is not told apart yet.
    Cli(data, _url(other))("participant", "list")
    cli("deploy", "--record-identity")
    upgraded = json.loads((data / "deployment.json").read_text(encoding="utf-8"))
    assert upgraded["format"] == "kpledger-deployment-v2"
    assert upgraded["genesis_hash"] == world.gov.deployment.genesis_hash
    assert "--record-identity" not in cli("participant", "list").stderr
    assert "not the deployment's chain" in Cli(data, _url(other))("participant", "list", code=2).stderr
