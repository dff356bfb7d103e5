"""The Besu/QBFT kit: extraData decodes back to the validators; files name the same enodes."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from kpledger.cli.app import app
from kpledger.network.besu import qbft_extra_data, qbft_validators, write_besu_config


def test_extra_data_matches_besus_layout_and_decodes_back() -> None:
    addresses = [Account.create().address for _ in range(4)]
    extra = qbft_extra_data(addresses)
    assert extra.startswith("0xf87aa0" + "00" * 32)  # what `besu rlp encode` prints for 4
    assert extra.endswith("c080c0")  # no vote, round 0, no seals
    assert qbft_validators(extra) == addresses


def test_malformed_extra_data_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^extraData:"):
        qbft_validators("0xc0")


def test_kit_files_agree(tmp_path: Path) -> None:
    nodes = write_besu_config(tmp_path, validators=5, chain_id=4242, block_period=3)
    genesis = json.loads((tmp_path / "genesis.json").read_text())
    assert genesis["config"]["zeroBaseFee"] is True and genesis["config"]["qbft"]["blockperiodseconds"] == 3
    assert qbft_validators(genesis["extraData"]) == [n.address for n in nodes]
    allow = tomllib.loads((tmp_path / "permissions_config.toml").read_text())["nodes-allowlist"]
    assert allow == [n.enode for n in nodes]
    for node in nodes:
        config = tomllib.loads((tmp_path / node.name / "config.toml").read_text())
        assert config["min-gas-price"] == 0
        assert sorted(config["bootnodes"]) == sorted(n.enode for n in nodes if n is not node)
        key_file = tmp_path / node.name / "key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert Account.from_key(key_file.read_text()).address == node.address


def test_cli_writes_the_kit(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["network", "besu-config", "--validators", "4", "--out", str(tmp_path / "k")]
    )
    assert result.exit_code == 0, result.output
    assert "tolerates 1 faulty" in result.output
    assert (tmp_path / "k" / "validator-4" / "config.toml").is_file()
