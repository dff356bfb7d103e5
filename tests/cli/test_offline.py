"""Commands that need no chain, and the failures a person meets before reaching one:
exit codes, one-line errors without tracebacks, settings precedence, help texts."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from kpledger.certificate import hash_document_bytes, hash_hex, sample_document_bytes
from kpledger.cli.app import app
from kpledger.cli.config import load_settings
from kpledger.devkeys import dev_only_addresses
from tests.cli.conftest import Cli, write_certificate

HEX_HASH = re.compile(r"0x[0-9a-f]{64}")


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert "Traceback" not in text
    return lines[0]


# ---------------------------------------------------------------------- hash


def test_hash_prints_the_ledger_hash_of_a_certificate(offline: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    result = offline("hash", str(path))
    expected, kind = hash_document_bytes(path.read_bytes())
    assert kind == "json"
    assert result.stdout.strip() == hash_hex(expected)
    assert HEX_HASH.fullmatch(result.stdout.strip())


def test_hash_of_a_non_json_file_is_the_raw_sha256(offline: Cli, tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.7 scanned certificate")
    result = offline("hash", str(path))
    assert result.stdout.strip() == hash_hex(hash_document_bytes(path.read_bytes())[0])
    assert "raw bytes" in result.stderr


def test_hash_of_broken_json_says_what_to_do(offline: Cli, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"title": "Kimberley Process Certificate", "title": "again"}', encoding="utf-8")
    result = offline("hash", str(path), code=2)
    line = _one_line(result.stderr)
    assert "broken.json" in line and "cert check" in line


def test_hash_of_a_missing_file_is_a_usage_error(offline: Cli, tmp_path: Path) -> None:
    result = offline("hash", str(tmp_path / "nope.json"), code=2)
    assert "no such file" in _one_line(result.stderr)


# ---------------------------------------------------------------------- cert check


def test_cert_check_accepts_valid_certificates(offline: Cli, tmp_path: Path) -> None:
    files = [write_certificate(tmp_path) for _ in range(2)]
    result = offline("cert", "check", *map(str, files))
    assert result.stdout.count("valid —") == 2
    assert "2 valid, 0 invalid" in result.stdout


def test_cert_check_lists_every_problem_with_field_and_rule(offline: Cli, tmp_path: Path) -> None:
    good = write_certificate(tmp_path)
    bad = write_certificate(
        tmp_path, "bad", title="KP Certificate", carats=-1, hs_code="7103.10", importing_participant="BW"
    )
    result = offline("cert", "check", str(good), str(bad), code=1)
    out = result.stdout
    assert "bad.json: 4 problems" in out
    for field, rule in (
        ("title", "title.exact"),
        ("carats", "carats.positive"),
        ("hs_code", "hs_code.scope"),
        ("importing_participant", "participants.distinct"),
    ):
        assert re.search(rf"{re.escape(field)}: .*\[{re.escape(rule)}\]", out), (field, rule, out)
    data = offline.json("cert", "check", str(good), str(bad), code=1)
    assert [item["valid"] for item in data] == [True, False]
    assert {p["rule"] for p in data[1]["problems"]} == {
        "title.exact",
        "carats.positive",
        "hs_code.scope",
        "participants.distinct",
    }


def test_cert_check_refuses_a_file_that_is_not_a_certificate(offline: Cli, tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    data = offline.json("cert", "check", str(path), code=1)
    assert data[0]["problems"][0]["rule"].startswith("json.")


def test_cert_check_missing_file_is_a_usage_error(offline: Cli, tmp_path: Path) -> None:
    offline("cert", "check", str(tmp_path / "missing.json"), code=2)


# ---------------------------------------------------------------------- keys


@pytest.fixture
def password() -> dict[str, str]:
    return {"KPLEDGER_KEY_PASSWORD": "correct horse battery"}


def test_key_new_and_address(offline: Cli, tmp_path: Path, password: dict[str, str]) -> None:
    path = tmp_path / "a.keystore.json"
    result = offline("key", "new", str(path), env=password)
    address = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", address)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert offline("key", "address", str(path)).stdout.strip() == address
    again = offline("key", "new", str(path), env=password, code=2)
    assert "refusing to overwrite" in _one_line(again.stderr)


def test_key_import_from_environment(offline: Cli, tmp_path: Path, password: dict[str, str]) -> None:
    key = "0x" + "11" * 32
    path = tmp_path / "imported.keystore.json"
    result = offline("key", "import", str(path), env={**password, "KPLEDGER_PRIVATE_KEY": key})
    from eth_account import Account

    assert result.stdout.strip().splitlines()[-1] == Account.from_key(key).address


def test_key_import_refuses_a_short_key(offline: Cli, tmp_path: Path, password: dict[str, str]) -> None:
    env = {**password, "KPLEDGER_PRIVATE_KEY": "abcd"}
    result = offline("key", "import", str(tmp_path / "k.json"), env=env, code=2)
    assert "32 bytes" in _one_line(result.stderr)


def test_key_dev_lists_the_demo_roles(offline: Cli) -> None:
    data = offline.json("key", "dev")
    assert data[0]["roles"] == ["gov"]
    assert data[1]["address"] == dev_only_addresses(2)[1] and "bw-authority" in data[1]["roles"]
    text = offline("key", "dev")
    assert "DEV-ONLY" in text.stderr


# ---------------------------------------------------------------------- settings


def test_settings_precedence_flag_env_file_default(offline: Cli) -> None:
    data_dir = offline.data_dir
    data_dir.mkdir(parents=True)
    (data_dir / "config.toml").write_text(
        'port = 9001\nnode_port = 9545\nhost = "0.0.0.0"\n', encoding="utf-8"
    )
    env = {"KPLEDGER_PORT": "9002", "KPLEDGER_NODE_PORT": "9546"}
    result = offline("--rpc", "http://127.0.0.1:9999", "config", "show", "--json", env=env)
    data = json.loads(result.stdout)
    assert data["rpc"] == {"value": "http://127.0.0.1:9999", "source": "flag"}
    assert data["port"] == {"value": 9002, "source": "env"}
    assert data["node_port"] == {"value": 9546, "source": "env"}
    assert data["host"] == {"value": "0.0.0.0", "source": "config file"}
    assert data["chain_id"] == {"value": 31337, "source": "default"}
    # a flag after the command wins over the one before it, and over the environment
    after = json.loads(offline("config", "show", "--json", "--rpc", "http://127.0.0.1:7777", env=env).stdout)
    assert after["rpc"]["value"] == "http://127.0.0.1:7777"


def test_settings_library_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"port": 1111, "demo_certificates": 50}), encoding="utf-8"
    )
    monkeypatch.setenv("KPLEDGER_PORT", "2222")
    settings = load_settings({"data_dir": tmp_path, "port": None})
    assert (settings.port, settings.demo_certificates) == (2222, 50)
    assert load_settings({"data_dir": tmp_path, "port": 3333}).port == 3333


def test_unknown_config_key_is_refused(offline: Cli) -> None:
    offline.data_dir.mkdir(parents=True)
    (offline.data_dir / "config.toml").write_text('rpc_url = "http://x"\n', encoding="utf-8")
    result = offline("config", "show", code=2)
    line = _one_line(result.stderr)
    assert "rpc_url" in line and "known keys" in line


def test_bad_setting_names_flag_and_variable(offline: Cli) -> None:
    result = offline("config", "show", env={"KPLEDGER_PORT": "not-a-port"}, code=2)
    line = _one_line(result.stderr)
    assert "port" in line and "KPLEDGER_PORT" in line


def test_config_init_writes_a_template(offline: Cli) -> None:
    offline("config", "init")
    text = (offline.data_dir / "config.toml").read_text(encoding="utf-8")
    assert "# port = 8000" in text
    offline("config", "init", code=2)


# ---------------------------------------------------------------------- connection failures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_verify_without_a_deployment_says_what_to_do(offline: Cli) -> None:
    result = offline("verify", "0x" + "ab" * 32, code=2)
    line = _one_line(result.stderr)
    assert "no deployment record" in line and "kpledger up" in line


def test_verify_with_the_node_down_is_exit_2(offline: Cli, tmp_path: Path) -> None:
    offline.data_dir.mkdir(parents=True)
    (offline.data_dir / "deployment.json").write_text(
        json.dumps({"chain_id": 31337, "registry": "0x" + "11" * 20, "ledger": "0x" + "22" * 20, "block": 1,
                    "deployer": "0x" + "33" * 20}), encoding="utf-8")  # fmt: skip
    url = f"http://127.0.0.1:{_free_port()}"
    result = offline("verify", "0x" + "ab" * 32, "--rpc", url, code=2)
    line = _one_line(result.stderr)
    assert "cannot reach the node" in line and "kpledger up" in line
    data = offline.json("verify", "0x" + "ab" * 32, "--rpc", url, code=2)
    assert data["verdict"] == "ERROR" and data["code"] == "CHAIN_UNAVAILABLE"
    debug = offline("verify", "0x" + "ab" * 32, "--rpc", url, "--debug", code=2)
    assert "Traceback" in debug.stderr


def test_verify_of_something_that_is_neither_file_nor_hash(offline: Cli) -> None:
    result = offline("verify", "BW-2026-000001", code=2)
    assert "cert show" in _one_line(result.stderr)


def test_unknown_dev_account_role(offline: Cli) -> None:
    offline.data_dir.mkdir(parents=True)
    result = offline("exporter", "license", "BW", "bw-exportr", code=2)
    assert "not an account" in _one_line(result.stderr)


def test_up_refuses_a_port_in_use(offline: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = offline("up", "--port", str(port), code=2)
    line = _one_line(result.stderr)
    assert f"port {port}" in line and "--port" in line


def test_up_without_the_node_binary_tells_how_to_install(offline: Cli, tmp_path: Path) -> None:
    result = offline(
        "up", "--port", str(_free_port()), env={"KPLEDGER_ANVIL": str(tmp_path / "no-anvil")}, code=2
    )
    line = _one_line(result.stderr)
    assert "KPLEDGER_ANVIL" in line


def test_up_without_node_modules_names_npm_ci(offline: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpledger.chain import node

    monkeypatch.setattr(node, "project_root", lambda: offline.data_dir)
    monkeypatch.setattr(node.shutil, "which", lambda name: None)
    result = offline("up", "--port", str(_free_port()), code=2)
    assert "npm ci" in _one_line(result.stderr)


# ---------------------------------------------------------------------- help


def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import typer.main

    command = typer.main.get_command(app) if not prefix else group
    found: list[tuple[str, ...]] = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        found.extend(_commands(sub, (*prefix, name)))
    return found


def test_every_command_has_help_with_text(offline: Cli) -> None:
    commands = _commands(app)
    assert ("cert", "batch") in commands and ("audit", "report") in commands and ("up",) in commands
    for path in commands:
        result = offline(*path, "--help")
        assert "Usage:" in result.stdout, path
    for path in [("up",), ("verify",), ("cert", "check"), ("cert", "batch"), ("demo",)]:
        assert "Example" in offline(*path, "--help").stdout, path


def test_version(offline: Cli) -> None:
    assert offline("--version").stdout.startswith("kpledger")


def test_sample_bytes_are_a_certificate(tmp_path: Path, offline: Cli) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(sample_document_bytes())
    offline("cert", "check", str(path))


def test_cert_sample_is_valid_and_fresh(offline: Cli, tmp_path: Path) -> None:
    first = json.loads(offline("cert", "sample", "--from", "RU", "--to", "IN").stdout)
    second = json.loads(offline("cert", "sample", "--from", "RU", "--to", "IN").stdout)
    assert first["exporting_participant"] == "RU" and first["number"].startswith("RU-")
    assert first["number"] != second["number"]
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(first), encoding="utf-8")
    offline("cert", "check", str(path))
    assert "participants.distinct" in offline("cert", "sample", "--from", "BW", "--to", "BW", code=2).stderr


def test_cert_sample_from_the_eu_and_codes_outside_the_rule(offline: Cli, tmp_path: Path) -> None:
    """EU is a participant (ISO 3166-1 alpha-2 plus EU, one rule everywhere); its sample
    declares mixed origin. A code that is not assigned (XX, UK) is refused by name."""
    eu = json.loads(offline("cert", "sample", "--from", "EU", "--to", "AE").stdout)
    assert eu["exporting_participant"] == "EU" and eu["origin"] == ["MIXED"]
    path = tmp_path / "eu.json"
    path.write_text(json.dumps(eu), encoding="utf-8")
    offline("cert", "check", str(path))
    for code in ("XX", "UK"):
        refused = offline("cert", "sample", "--from", code, code=2).stderr
        assert "exporting_participant" in refused and "ISO 3166-1 alpha-2" in refused
