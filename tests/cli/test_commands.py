"""Every role through the CLI on a real anvil node: happy paths, the typical refusals
and their exit codes."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from kpledger.certificate import hash_document_bytes, hash_hex
from kpledger.demo import DEV_ROLES
from kpledger.devkeys import dev_only_addresses, dev_only_key
from tests.cli.conftest import Cli, CliWorld, number_of, write_certificate

ADDRESSES = dev_only_addresses(40)


def _address(role: str) -> str:
    return ADDRESSES[DEV_ROLES[role]]


def _status(cli: Cli, ref: str) -> str:
    return str(cli.json("cert", "show", ref)["certificate"]["status"])


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert "Traceback" not in text
    return lines[-1]


# ---------------------------------------------------------------------- governance


def test_participant_add_list_show_suspend_readmit(cli: Cli) -> None:
    result = cli("--dev-account", "gov", "participant", "add", "na", "Namibia", "--validity-days", "45")
    assert "admitted NA (Namibia)" in result.stdout
    assert "DEV KEY — local node only" in result.stderr
    listed = {p["code"]: p for p in cli.json("participant", "list")}
    assert listed["NA"]["status"] == "ACTIVE" and listed["NA"]["validity_days"] == 45
    cli("participant", "suspend", "NA", "--reason", "plenary decision", "--dev-account", "gov")
    cli("participant", "readmit", "NA", "-r", "plenary decision", "--dev-account", "gov")
    shown = cli.json("participant", "show", "NA")
    assert [h["status"] for h in shown["history"]] == ["ACTIVE", "SUSPENDED", "ACTIVE"]
    table = cli("participant", "list").stdout
    assert "Namibia" in table and "ACTIVE" in table


def test_participant_refusals_say_what_to_do(cli: Cli) -> None:
    again = cli("--dev-account", "gov", "participant", "add", "BW", "Botswana", code=1)
    assert "RegistryParticipantAlreadyAdmitted" in _last_line(again.stderr)
    unknown = cli("--dev-account", "gov", "participant", "suspend", "ZZ", "-r", "x", code=1)
    line = _last_line(unknown.stderr)
    assert "RegistryParticipantUnknown" in line and "participant list" in line
    not_gov = cli("--dev-account", "bw-exporter", "participant", "add", "NA", "Namibia", code=1)
    assert "only governance (the KP Chair or Secretariat account) may admit a participant" in _last_line(
        not_gov.stderr
    )
    missing = cli("participant", "show", "ZZ", code=1)
    assert "not a participant" in _last_line(missing.stderr)
    bad = cli("participant", "show", "ZZZ", code=2)
    assert "two letters" in _last_line(bad.stderr)


def test_signing_needs_a_key(cli: Cli) -> None:
    result = cli("participant", "add", "NA", "Namibia", code=2)
    line = _last_line(result.stderr)
    assert "no key is configured" in line and "--key" in line


def test_roles_appoint_license_check(cli: Cli) -> None:
    new_authority = ADDRESSES[35]
    cli("--dev-account", "gov", "authority", "appoint", "BE", new_authority)
    cli("authority", "check", "BE", new_authority)
    cli("exporter", "license", "BE", "be-exporter", "--dev-account", "be-authority")
    cli("exporter", "check", "BE", _address("be-exporter"))
    cli("importer", "license", "BE", _address("be-importer"), "--dev-account", "be-authority")
    cli("importer", "check", "BE", "be-importer")
    result = cli("importer", "check", "BE", "bw-importer", code=1)
    assert "is not a licensed importer" in result.stdout
    cli("exporter", "delist", "BE", "be-exporter", "--dev-account", "be-authority")
    cli("exporter", "check", "BE", "be-exporter", code=1)
    refused = cli("exporter", "license", "BW", "be-exporter", "--dev-account", "be-authority", code=1)
    assert "only an authority of BW may license an exporter of BW" in _last_line(refused.stderr)


# ---------------------------------------------------------------------- life cycle


def test_anchor_validate_confirm_verify(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    number = number_of(path)
    anchored = cli("--dev-account", "bw-exporter", "cert", "anchor", str(path))
    assert "REQUESTED" in anchored.stdout
    cli("--dev-account", "bw-authority", "cert", "validate", number)
    assert _status(cli, number) == "ISSUED"
    confirmed = cli("--dev-account", "ae-authority", "cert", "confirm", str(path))
    assert "RECEIVED" in confirmed.stdout

    verdict = cli("verify", str(path))
    assert "VALID" in verdict.stdout and "Received" in verdict.stdout
    digest = hash_hex(hash_document_bytes(path.read_bytes())[0])
    data = cli.json("verify", digest)
    assert data["verdict"] == "VALID"
    assert [e["event"] for e in data["timeline"]] == ["CertificateRequested", "CertificateValidated",
                                                     "CertificateReceived"]  # fmt: skip
    shown = cli.json("cert", "show", digest)
    assert shown["certificate"]["number"] == number and len(shown["timeline"]) == 3
    fields = ("carats_hundredths", "value_cents", "carats_text", "value_usd_text")
    exact = {k: shown["certificate"][k] for k in fields}
    assert exact == {"carats_hundredths": 152035, "value_cents": 24587050, "carats_text": "1520.35",
                     "value_usd_text": "245870.50"}  # fmt: skip
    assert data["certificate"]["carats_text"] == "1520.35"


def test_issue_dispute_resolve(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    number = number_of(path)
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "--exporter", "bw-exporter")
    cli("--dev-account", "ae-authority", "cert", "dispute", number, "-r", "seal broken")
    assert _status(cli, number) == "DISPUTED"
    assert cli("verify", str(path), code=1).stdout.startswith("✗ INVALID")
    cli("--dev-account", "ae-authority", "cert", "resolve", number, "--note", "recounted")
    assert _status(cli, number) == "RECEIVED"


def test_issue_void_and_amend(cli: Cli, tmp_path: Path) -> None:
    voided = write_certificate(tmp_path)
    original = write_certificate(tmp_path)
    replacement = write_certificate(tmp_path, carats=1500.0)
    cli("--dev-account", "bw-authority", "cert", "issue", str(voided), str(original), "--exporter",
        _address("bw-exporter"))  # fmt: skip
    cli("--dev-account", "bw-authority", "cert", "void", str(voided), "-r", "issued in error")
    assert _status(cli, number_of(voided)) == "VOIDED"
    amend = ("cert", "amend", number_of(original), str(replacement), "-r", "carat weight corrected")
    result = cli("--dev-account", "bw-authority", *amend)
    assert "SUPERSEDED" in result.stdout and "ISSUED" in result.stdout
    data = cli.json("verify", str(original), code=1)
    assert data["code"] == "SUPERSEDED"
    cli("verify", str(replacement))


def test_confirm_records_the_import_date_and_refuses_one_out_of_rule(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    number = number_of(path)
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "-e", "bw-exporter")
    today = date.fromisoformat(cli.json("cert", "show", number)["certificate"]["issued_on"])
    tomorrow = (today + timedelta(days=1)).isoformat()
    future = cli(
        "--dev-account", "ae-authority", "cert", "confirm", number, "--imported-on", tomorrow, code=1
    )
    line = _last_line(future.stderr)
    assert "CertificateImportDateInFuture" in line and "--imported-on" in line
    early = (today - timedelta(days=1)).isoformat()
    before = cli("--dev-account", "ae-authority", "cert", "confirm", number, "--imported-on", early, code=1)
    assert "before the certificate was issued" in _last_line(before.stderr)
    assert _status(cli, number) == "ISSUED"
    cli("--dev-account", "ae-authority", "cert", "confirm", number, "--imported-on", today.isoformat())
    shown = cli.json("cert", "show", number)["certificate"]
    assert shown["status"] == "RECEIVED" and shown["imported_on"] == today.isoformat()


def test_transition_refusals(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    number = number_of(path)
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "-e", "bw-exporter")
    wrong_role = cli("--dev-account", "bw-exporter", "cert", "confirm", number, code=1)
    assert "only an authority of AE may confirm receipt of a certificate addressed to AE" in _last_line(
        wrong_role.stderr
    )
    twice = cli("--dev-account", "bw-authority", "cert", "issue", str(path), "-e", "bw-exporter", code=1)
    assert "cert show" in _last_line(twice.stderr)
    wrong_state = cli("--dev-account", "ae-authority", "cert", "resolve", number, code=1)
    assert "CertificateInvalidTransition" in _last_line(wrong_state.stderr)
    unknown = cli("--dev-account", "ae-authority", "cert", "confirm", "BW 2099 999999", code=1)
    assert "no certificate numbered" in _last_line(unknown.stderr)
    missing = cli("cert", "show", "BW-2099-000000", code=1)
    assert "not on the ledger" in _last_line(missing.stderr)


def test_a_file_that_is_not_a_certificate(cli: Cli, tmp_path: Path) -> None:
    scan = tmp_path / "scan.json"
    scan.write_text('{"hello": "world"}', encoding="utf-8")
    result = cli("--dev-account", "bw-exporter", "cert", "anchor", str(scan), code=1)
    line = _last_line(result.stderr)
    assert "not a valid certificate" in line and "cert check" in line
    binary = tmp_path / "scan.pdf"
    binary.write_bytes(b"%PDF-1.4 \x00\x01")
    result = cli("--dev-account", "bw-exporter", "cert", "anchor", str(binary), code=1)
    assert "not a certificate file" in _last_line(result.stderr)


def test_verify_catches_a_tampered_document(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "-e", "bw-exporter")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["carats"] = 1.5
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document), encoding="utf-8")
    data = cli.json("verify", str(tampered), code=1)
    assert data["verdict"] == "INVALID" and data["code"] == "TAMPERED"
    unknown = cli.json("verify", "0x" + "cd" * 32, code=1)
    assert unknown["code"] == "NOT_ANCHORED"


def test_batch_writes_proofs_that_confirm_and_verify(cli: Cli, tmp_path: Path) -> None:
    batch_dir = tmp_path / "batch"
    files = [write_certificate(batch_dir) for _ in range(5)]
    result = cli("--dev-account", "bw-authority", "cert", "batch", str(batch_dir), "--layout", "proof")
    assert "anchored a batch of 5 BW certificates" in result.stdout
    proofs = sorted(batch_dir.glob("*.proof.json"))
    assert len(proofs) == 5
    # a batched certificate verifies through its proof (picked up next to the file)
    data = cli.json("verify", str(files[0]))
    assert data["verdict"] == "VALID" and data["fragments"][0]["code"] == "BATCH_PROOF"
    shown = cli.json("cert", "show", str(files[1]))
    assert shown["certificate"]["status"].startswith("ISSUED")
    cli("--dev-account", "ae-authority", "cert", "confirm", str(files[0]))
    assert _status(cli, number_of(files[0])) == "RECEIVED"
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copy(files[2], elsewhere)
    proof = files[2].with_name(files[2].name.removesuffix(".json") + ".proof.json")
    cli(
        "--dev-account",
        "ae-authority",
        "cert",
        "dispute",
        str(elsewhere),
        "--proof",
        str(proof),
        "-r",
        "weight",
    )
    assert _status(cli, number_of(files[2])) == "DISPUTED"
    # an altered proof file is refused before anything is sent
    document = json.loads(proof.read_text(encoding="utf-8"))
    document["leaf"][4] = "1"
    proof.write_text(json.dumps(document), encoding="utf-8")
    bad = cli("--dev-account", "ae-authority", "cert", "confirm", str(files[2]), code=1)
    assert "the file was altered" in _last_line(bad.stderr)


def test_batch_refuses_mixed_origins(cli: Cli, tmp_path: Path) -> None:
    write_certificate(tmp_path / "mixed")
    write_certificate(tmp_path / "mixed", exporting_participant="AE", importing_participant="BW")
    result = cli("--dev-account", "bw-authority", "cert", "batch", str(tmp_path / "mixed"), code=1)
    assert "one exporting participant" in _last_line(result.stderr)


# ---------------------------------------------------------------------- keys on chain


def test_keystore_signs_and_a_wrong_password_is_one_line(cli: Cli, tmp_path: Path) -> None:
    keystore = tmp_path / "gov.keystore.json"
    password = {"KPLEDGER_KEY_PASSWORD": "correct horse battery"}
    cli("key", "import", str(keystore), env={**password, "KPLEDGER_PRIVATE_KEY": dev_only_key(0).hex()})
    result = cli("--key", str(keystore), "participant", "add", "NA", "Namibia", env=password)
    assert "DEV KEY" not in result.stderr
    wrong = cli("participant", "add", "ZW", "Zimbabwe", "--key", str(keystore),
                env={"KPLEDGER_KEY_PASSWORD": "wrong password!"}, code=2)  # fmt: skip
    line = _last_line(wrong.stderr)
    assert "wrong password" in line and "KPLEDGER_KEY_PASSWORD" in line


def test_private_key_from_environment(cli: Cli) -> None:
    result = cli(
        "participant", "add", "NA", "Namibia", env={"KPLEDGER_PRIVATE_KEY": "0x" + dev_only_key(0).hex()}
    )
    assert "DEV KEY" not in result.stderr
    both = cli("--key", "x.json", "--dev-account", "0", "participant", "add", "ZW", "Zimbabwe", code=2)
    assert "exclude each other" in _last_line(both.stderr)


def test_dev_keys_are_refused_for_a_remote_chain(world: CliWorld) -> None:
    from kpledger.cli.session import Session

    session = Session({"data_dir": world.data_dir})
    assert session.dev_keys_allowed(31337, "http://127.0.0.1:8545")
    assert not session.dev_keys_allowed(31337, "http://10.0.0.5:8545")
    assert not session.dev_keys_allowed(1337, "http://127.0.0.1:8545")
    from kpledger.cli.errors import UsageProblem

    with pytest.raises(UsageProblem, match="DEV-ONLY keys are public"):
        session.dev_signer("gov", 31337, "https://besu.example:8545")


# ---------------------------------------------------------------------- audit


def test_audit_replay_and_report(cli: Cli, tmp_path: Path) -> None:
    path = write_certificate(tmp_path)
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "-e", "bw-exporter")
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    replayed = cli.json("audit", "replay", "--db", db)
    assert replayed["events"] > 0
    report_html = tmp_path / "report.html"
    result = cli("audit", "report", "--db", db, "--html", str(report_html), "--csv", str(tmp_path / "csv"))
    assert "certificates" in result.stdout and "invariant findings" in result.stdout
    assert report_html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert (tmp_path / "csv" / "trade.csv").is_file()
    data = cli.json("audit", "report", "--db", db, "--no-replay", "--html", str(report_html))
    assert data["summary"]["certificates"] >= 1
    assert data["cross_checks"]["ok"] is True  # run by default: the chain answers
    assert "cross-check with the contracts: ok" in result.stdout
    skipped = cli("audit", "report", "--db", db, "--no-replay", "--html", str(report_html),
                  env={"KPLEDGER_RPC": "http://127.0.0.1:9"})  # fmt: skip
    assert skipped.exit_code == 0
    page = report_html.read_text(encoding="utf-8")
    assert "Cross-checks</h2><p class='meta'>Not run: the chain could not be reached" in page
    unasked = cli.json("audit", "report", "--db", db, "--no-replay", "--no-cross-check")
    assert unasked["cross_checks"] is None


def test_verify_of_malformed_json(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text('{"number": "BW 1", "number": "BW 2"}', encoding="utf-8")
    result = cli("verify", str(path), code=1)
    assert "not a well-formed document" in _last_line(result.stderr)
    data = cli.json("verify", str(path), code=1)
    assert data["code"] == "MALFORMED" and data["problems"]
