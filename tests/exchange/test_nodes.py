"""Real national nodes (separate processes) around one anvil: push delivery with signed
receipts, relay and pull, idempotent re-delivery, refusals told to the sender, SSE and
signed webhooks. No transport is mocked."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from kpledger.certificate.model import parse_certificate
from kpledger.certificate.samples import sample_certificate
from kpledger.exchange.envelope import Payload
from kpledger.exchange.federation import Federation, NodeSpec
from kpledger.exchange.receipt import signer_of
from kpledger.types import CertificateStatus


class Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                hooks.calls.append((body, self.headers.get("x-kpledger-signature", "")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    h = Hooks()
    yield h
    h.server.shutdown()


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory, hooks: Hooks) -> Iterator[Federation]:
    base: Path = tmp_path_factory.mktemp("federation")
    specs = [
        NodeSpec("BW"),
        NodeSpec("AE", relay=True, webhooks=[f"{hooks.url}=whsecret"]),
        NodeSpec("BE", inbox=False, pull_from="AE"),
    ]
    fed = Federation(base, specs)
    try:
        yield fed.start()
    finally:
        fed.close()


def issue(fed: Federation, destination: str) -> dict[str, Any]:
    document = sample_certificate(importing_participant=destination)
    fed.ledger("BW").issue(parse_certificate(document).chain_terms(), fed.ledger("BW:exporter").address)
    return document


def test_push_delivery_with_signed_receipt_webhook_and_sse(federation: Federation, hooks: Hooks) -> None:
    ae = federation.nodes["AE"]
    token = {"authorization": "Bearer dev-token-AE"}
    with httpx.Client(timeout=30) as http:
        assert http.get(f"{ae.url}/v1/exchange/inbox").status_code == 401  # no anonymous access
        assert (
            http.get(f"{ae.url}/v1/exchange/inbox", headers={"authorization": "Bearer nope"}).status_code
            == 401
        )
        with http.stream("GET", f"{ae.url}/v1/exchange/inbox/stream", headers=token) as stream:
            sender = federation.sender("BW")
            document = issue(federation, "AE")
            envelope = sender.send(Payload(document), "AE")
            lines = stream.iter_lines()
            event = [next(lines) for _ in range(3)]
        assert event[1] == "event: delivered"
        assert json.loads(event[2][len("data: ") :])["id"] == envelope.id_hex
        counts = federation.wait_settled("BW", 1)
        assert counts == {"delivered": 1}
        settled = sender.store.outbox_entry(envelope.id_hex)
        assert settled is not None and settled.receipt is not None
        assert signer_of(settled.receipt) == federation.ledger("AE").address
        shown = http.get(f"{ae.url}/v1/exchange/inbox/{envelope.id_hex}", headers=token).json()
        assert shown["document"] == document
        # Pushing the same bytes again: the same receipt, nothing stored twice.
        again = http.post(f"{ae.url}/v1/exchange/envelopes", content=envelope.to_bytes()).json()
        assert again["duplicate"] is True and again["receipt"] == settled.receipt
        assert federation.store("AE").inbox_count() == 1
    body, signature = next(c for c in hooks.calls if json.loads(c[0])["id"] == envelope.id_hex)
    assert signature == hmac.new(b"whsecret", body, hashlib.sha256).hexdigest()


def test_relay_and_pull_for_a_participant_without_inbox(federation: Federation) -> None:
    sender = federation.sender("BW")
    envelopes = [sender.send(Payload(issue(federation, "BE")), "BE") for _ in range(3)]
    federation.wait_settled("BW", 1 + 3, timeout=60)
    for envelope in envelopes:
        entry = sender.store.outbox_entry(envelope.id_hex)
        assert entry is not None and entry.state == "delivered", entry
        assert entry.receipt is not None and signer_of(entry.receipt) == federation.ledger("BE").address
    be = federation.store("BE")
    assert {e.id for e in be.inbox_entries()} >= {e.id_hex for e in envelopes}
    # The relay held only ciphertext; a pull not signed by BE's authority is refused.
    with httpx.Client() as http:
        assert http.get(f"{federation.nodes['AE'].url}/v1/exchange/relay/BE").status_code == 401


def test_refusal_is_told_to_the_sender(federation: Federation) -> None:
    sender = federation.sender("BW")
    never_issued = sample_certificate()
    envelope = sender.send(Payload(never_issued), "AE")
    before = sum(federation.store("BW").outbox_counts().values())
    federation.wait_settled("BW", before)
    entry = sender.store.outbox_entry(envelope.id_hex)
    assert entry is not None and (entry.state, entry.reason) == ("refused", "not_on_chain")


def test_inbox_cli_list_show_export_and_confirm_on_chain(federation: Federation, tmp_path: Path) -> None:
    sender = federation.sender("BW")
    document = issue(federation, "AE")
    envelope = sender.send(Payload(document), "AE")
    federation.wait_settled("BW", sum(federation.store("BW").outbox_counts().values()))
    env = {
        **os.environ,
        "KPLEDGER_EXCHANGE_NODE": federation.nodes["AE"].url,
        "KPLEDGER_EXCHANGE_TOKEN": "dev-token-AE",
        "KPLEDGER_PRIVATE_KEY": federation.keys["AE"].hex(),  # DEV-ONLY key of AE's authority
    }
    base = ["--data-dir", str(federation.base), "--rpc", federation.chain.url]

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "kpledger.cli", *base, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = json.loads(cli("inbox", "list", "--json"))
    assert envelope.id_hex in {e["id"] for e in listed}
    assert json.loads(cli("inbox", "show", envelope.id_hex, "--json"))["document"] == document
    cli("inbox", "export", envelope.id_hex, "--out", str(tmp_path))
    stem = document["number"].replace("/", "_").replace(" ", "_")
    assert json.loads((tmp_path / f"{stem}.json").read_text()) == document
    cli("inbox", "confirm", envelope.id_hex)
    record = federation.ledger("AE").certificate(envelope.document_hash)
    assert record is not None and record.status == CertificateStatus.RECEIVED


def test_cert_issue_send_in_the_same_command(federation: Federation, tmp_path: Path) -> None:
    document = sample_certificate(importing_participant="AE")
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(document))
    env = {**os.environ, "KPLEDGER_PRIVATE_KEY": federation.keys["BW"].hex()}  # DEV-ONLY key
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpledger.cli",
            "--data-dir",
            str(federation.base),
            "--rpc",
            federation.chain.url,
            "cert",
            "issue",
            str(path),
            "--exporter",
            federation.ledger("BW:exporter").address,
            "--send",
            str(federation.nodes["BW"].data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    federation.wait_settled("BW", sum(federation.store("BW").outbox_counts().values()))
    received = [e for e in federation.store("AE").inbox_entries() if e.number == document["number"]]
    assert len(received) == 1 and received[0].document == document
