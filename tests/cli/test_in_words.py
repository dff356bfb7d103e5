"""Refusals read in words through the CLI (who may act, statuses by name, dates), a
new keystore gets DEV-ONLY ether with `key fund` on a local node, `--deployment` is a
real flag, and `config show` says which node is used and why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kpledger.demo import DEV_ROLES
from kpledger.devkeys import dev_only_addresses
from tests.cli.conftest import Cli, CliWorld, write_certificate


def test_a_missing_role_names_who_may_act(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    result = cli("--dev-account", "bw-authority", "cert", "anchor", str(path), code=1)
    authority = dev_only_addresses(DEV_ROLES["bw-authority"] + 1)[DEV_ROLES["bw-authority"]]
    line = " ".join(result.stderr.split())
    assert f"only a licensed exporter of BW may anchor a BW certificate; {authority} is not one" in line
    assert "neededRole" not in line and "--deployment" not in line


def test_confirming_a_certificate_addressed_elsewhere_names_the_participant(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "--exporter", "bw-exporter")
    result = cli("--dev-account", "be-authority", "cert", "confirm", str(path), code=1)
    line = " ".join(result.stderr.split())
    assert "only an authority of AE may confirm receipt of a certificate addressed to AE" in line


def test_an_invalid_transition_names_the_status(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "--exporter", "bw-exporter")
    cli("--dev-account", "ae-authority", "cert", "confirm", str(path))
    result = cli("--dev-account", "ae-authority", "cert", "confirm", str(path), code=1)
    line = " ".join(result.stderr.split())
    assert "is RECEIVED: cannot confirm receipt" in line and "from RECEIVED" in line


def test_key_fund_gives_a_new_keystore_ether_on_the_local_node(
    cli: Cli, world: CliWorld, tmp_path: Path
) -> None:
    keystore = tmp_path / "new.keystore.json"
    env = {"KPLEDGER_KEY_PASSWORD": "correct horse battery staple"}
    cli("key", "new", str(keystore), env=env)
    address = cli("key", "address", str(keystore)).stdout.strip()
    assert int(world.gov.rpc.call("eth_getBalance", [address, "latest"]), 16) == 0
    cli("key", "fund", str(keystore), "--eth", "5")
    assert int(world.gov.rpc.call("eth_getBalance", [address, "latest"]), 16) == 5 * 10**18


def test_key_fund_refuses_a_node_that_is_not_local(world: CliWorld, tmp_path: Path) -> None:
    remote = Cli(world.data_dir, "http://192.0.2.1:8545")
    result = remote("key", "fund", "bw-exporter", code=None)
    assert result.exit_code == 2


def test_the_deployment_flag_points_at_a_record(cli: Cli, world: CliWorld, tmp_path: Path) -> None:
    elsewhere = tmp_path / "records" / "kp.json"
    elsewhere.parent.mkdir()
    shutil.copy(world.data_dir / "deployment.json", elsewhere)
    empty = Cli(tmp_path / "empty", world.node.url)
    missing = empty("participant", "list", code=2)
    assert "--deployment FILE" in " ".join(missing.stderr.split())
    listed = empty("participant", "list", "--deployment", str(elsewhere), "--json")
    assert {p["code"] for p in json.loads(listed.stdout)} >= {"BW", "AE", "BE"}


def test_config_show_says_which_node_is_used(cli: Cli, world: CliWorld, tmp_path: Path) -> None:
    shown = cli.json("config", "show")
    assert shown["node"] == {"value": world.node.url, "source": "KPLEDGER_RPC"}
    flagged = Cli(tmp_path / "d").json("config", "show", "--rpc", "http://127.0.0.1:1")
    assert flagged["node"]["value"] == "http://127.0.0.1:1" and flagged["node"]["source"] == "--rpc"
    nothing = Cli(tmp_path / "d")("config", "show").stdout
    assert "node used: none for writes" in " ".join(nothing.split())
