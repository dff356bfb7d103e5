"""`kpledger verify FILE...` (a line each, a summary, JSON Lines, the worst exit code)
and `kpledger cert list` (filters by origin, destination, status and date, from events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kpledger.chain.listing import ChainEvent, Filter, fold, select
from kpledger.types import CertificateStatus
from tests.cli.conftest import Cli, number_of, write_certificate


def _issue(cli: Cli, path: Path) -> None:
    cli("--dev-account", "bw-authority", "cert", "issue", str(path), "-e", "bw-exporter")


def test_verify_many_files_prints_a_line_each_and_exits_for_the_worst(cli: Cli, tmp_path: Path) -> None:
    issued = [write_certificate(tmp_path / "ok") for _ in range(3)]
    for path in issued:
        _issue(cli, path)
    stray = write_certificate(tmp_path / "stray")
    out = cli("verify", *map(str, issued), code=0).stdout
    assert out.count("VALID") >= 3 and "3 files: 3 VALID" in " ".join(out.split())
    mixed = cli("verify", *map(str, issued), str(stray), code=1).stdout
    assert "4 files: 1 INVALID, 3 VALID" in " ".join(mixed.split())
    lines = cli("verify", *map(str, issued), str(stray), "--json", code=1).stdout.splitlines()
    answers = [json.loads(line) for line in lines]
    assert [a["file"] for a in answers] == [*map(str, issued), str(stray)]
    assert [a["verdict"] for a in answers] == ["VALID", "VALID", "VALID", "INVALID"]
    assert answers[3]["code"] == "NOT_ANCHORED"
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": 1, "a": 2}', encoding="utf-8")
    with_broken = cli("verify", str(issued[0]), str(broken), "--json", code=1).stdout.splitlines()
    assert json.loads(with_broken[1])["code"] == "MALFORMED"
    gone = cli("verify", str(issued[0]), str(tmp_path / "missing.json"), code=2).stdout
    assert "cannot read the file" in gone


def test_cert_list_filters_from_events(cli: Cli, tmp_path: Path) -> None:
    to_ae = write_certificate(tmp_path)
    to_be = write_certificate(tmp_path, importing_participant="BE")
    requested = write_certificate(tmp_path)
    _issue(cli, to_ae)
    _issue(cli, to_be)
    cli("--dev-account", "bw-exporter", "cert", "anchor", str(requested))
    cli("--dev-account", "ae-authority", "cert", "confirm", str(to_ae))
    listed = cli.json("cert", "list")
    assert {number_of(p) for p in (to_ae, to_be, requested)} <= {row["number"] for row in listed}
    numbers = {row["number"]: row for row in listed}
    assert numbers[number_of(to_ae)]["status"] == "RECEIVED"
    assert numbers[number_of(requested)]["status"] == "REQUESTED"
    assert [r["number"] for r in cli.json("cert", "list", "--destination", "be")] == [number_of(to_be)]
    received = cli.json("cert", "list", "--status", "received", "--origin", "BW")
    assert [r["number"] for r in received] == [number_of(to_ae)]
    today = datetime.now(UTC).date()
    assert cli.json("cert", "list", "--since", (today + timedelta(days=2)).isoformat()) == []
    assert len(cli.json("cert", "list", "--until", (today + timedelta(days=2)).isoformat())) >= 3
    text = cli("cert", "list", "--destination", "BE").stdout
    assert number_of(to_be) in text and "1 certificate" in text
    assert "not a status" in cli("cert", "list", "--status", "LOST", code=2).stderr
    assert "not a date" in " ".join(cli("cert", "list", "--since", "yesterday", code=2).stderr.split())


def test_fold_and_select_are_pure() -> None:
    digest = b"\x01" * 32
    issued = ChainEvent(
        "CertificateIssued",
        {"documentHash": digest, "origin": b"BW", "destination": b"AE", "number": "BW-1", "carats": 150,
         "valueCents": 10_000, "parcels": 1, "expiresAt": 1_000},
        5,
        100,
    )  # fmt: skip
    confirmed = ChainEvent("CertificateReceived", {"documentHash": digest}, 6, 200)
    orphan = ChainEvent("CertificateVoided", {"documentHash": b"\x02" * 32}, 7, 300)
    (only,) = fold([issued, confirmed, orphan])
    assert only.status is CertificateStatus.RECEIVED and only.last_block == 6
    (open_,) = fold([issued])
    assert select([open_], Filter(), now=999)[0].status is CertificateStatus.ISSUED
    assert select([open_], Filter(status=CertificateStatus.EXPIRED), now=1_001)[0].number == "BW-1"
    assert select([only], Filter(status=CertificateStatus.EXPIRED), now=1_001) == []
