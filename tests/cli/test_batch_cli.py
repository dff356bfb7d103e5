"""`kpledger cert batch` and bundles through the CLI, against a real anvil."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli, number_of, write_certificate


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert "Traceback" not in text
    return lines[-1]


def test_batch_writes_bundles_that_verify_show_and_confirm(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "day"
    files = [write_certificate(folder) for _ in range(4)]
    result = cli("--dev-account", "bw-authority", "cert", "batch", str(folder))
    assert "anchored a batch of 4 BW certificates" in result.stdout
    bundles = sorted(folder.glob("*.bundle.json"))
    assert [b.name.removesuffix(".bundle.json") for b in bundles] == [f.stem for f in files]
    # the bundle alone: document and proof in one file
    data = cli.json("verify", str(bundles[0]))
    assert data["verdict"] == "VALID" and data["fragments"][0]["code"] == "BATCH_PROOF"
    # a copy of the certificate elsewhere, with the bundle as --proof
    elsewhere = tmp_path / "received.json"
    elsewhere.write_bytes(files[1].read_bytes())
    assert cli.json("verify", str(elsewhere), code=1)["code"] == "NOT_ANCHORED"
    unknown = cli("verify", str(elsewhere), code=1)
    assert "anchored in a batch? pass --proof" in unknown.stdout + unknown.stderr
    assert cli.json("verify", str(elsewhere), "--proof", str(bundles[1]))["verdict"] == "VALID"
    shown = cli.json("cert", "show", str(bundles[2]))
    assert shown["certificate"]["status"].startswith("ISSUED (batched")
    cli("--dev-account", "ae-authority", "cert", "confirm", str(bundles[3]))
    assert cli.json("cert", "show", number_of(files[3]))["certificate"]["status"] == "RECEIVED"
    missing = cli("cert", "show", number_of(files[0]), code=1)
    assert "anchored in a batch? pass --proof" in _last_line(missing.stderr)
    # a second run refuses every member (already batched) and leaves the bundles alone
    before = {b: b.read_bytes() for b in bundles}
    again = cli("--dev-account", "bw-authority", "cert", "batch", str(folder), code=1)
    assert "nothing anchored" in again.stderr and again.stdout.count("batch.already_batched") == 4
    assert {b: b.read_bytes() for b in bundles} == before


def test_batch_lists_every_problem_and_anchors_nothing(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    write_certificate(folder)
    write_certificate(folder, exporting_participant="AE", importing_participant="BW")
    (folder / "zz-broken.json").write_text('{"number": 1, "number": 2}', encoding="utf-8")
    twin = write_certificate(folder, name="twin")
    document = json.loads(twin.read_text(encoding="utf-8"))
    document["parcels"] = 5
    (folder / "twin2.json").write_text(json.dumps(document), encoding="utf-8")
    result = cli("--dev-account", "bw-authority", "cert", "batch", str(folder), code=1)
    for rule in ("batch.mixed_origins", "json.duplicate_key", "batch.duplicate_number"):
        assert rule in result.stdout, rule
    assert "zz-broken.json" in result.stdout
    assert "nothing anchored" in _last_line(result.stderr) or "nothing anchored" in result.stderr
    assert not list(folder.glob("*.bundle.json"))
