"""`cert check` with a node knows the rules in force: the expiry against the ledger's
date, the exporting participant's status and validity period; without one it says
what it checked offline."""

from __future__ import annotations

from pathlib import Path

from kpledger.demo import DEV_ROLES
from kpledger.devkeys import dev_only_key
from tests.cli.conftest import Cli, CliWorld, write_certificate


def _rules(cli: Cli, path: Path) -> set[str]:
    data = cli.json("cert", "check", str(path), code=None)
    return {p["rule"] for p in data[0]["problems"]}


def test_a_valid_certificate_is_checked_online(cli: Cli, tmp_path: Path) -> None:
    result = cli("cert", "check", str(write_certificate(tmp_path)))
    assert "valid" in result.stdout
    assert "on the ledger" in result.stderr and "exporting participant's status" in result.stderr
    assert cli.json("cert", "check", str(write_certificate(tmp_path)))[0]["checked"] == "online"


def test_an_expired_certificate_passes_offline_but_not_online(
    cli: Cli, offline: Cli, tmp_path: Path
) -> None:
    path = write_certificate(tmp_path, issued_on="2020-01-02", expires_on="2020-02-01")
    checked = offline("cert", "check", str(path))
    assert "checked offline" in " ".join(checked.stderr.split())
    assert "not the expiry against the ledger's date" in " ".join(checked.stderr.split())
    assert _rules(cli, path) == {"expires_on.in_force"}
    assert "2020-02-01 has passed" in cli("cert", "check", str(path), code=1).stdout


def test_a_suspended_exporting_participant_and_a_shorter_validity_are_found(
    cli: Cli, world: CliWorld, tmp_path: Path
) -> None:
    gov = world.gov.as_signer(dev_only_key(DEV_ROLES["gov"]))
    gov.set_validity_period("BW", 10)
    assert _rules(cli, write_certificate(tmp_path)) >= {"expires_on.validity_in_force"}
    gov.suspend_participant("BW", "plenary decision")
    rules = _rules(cli, write_certificate(tmp_path))
    assert "exporting_participant.active" in rules
    out = cli("cert", "check", str(write_certificate(tmp_path)), code=1).stdout
    assert "BW is SUSPENDED" in out
    assert _rules(cli, write_certificate(tmp_path, exporting_participant="ZA", number="ZA-2026-1")) >= {
        "exporting_participant.admitted"
    }


def test_offline_flag_skips_the_ledger(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path, issued_on="2020-01-02", expires_on="2020-02-01")
    assert cli.json("cert", "check", str(path), "--offline")[0]["checked"] == "offline"
