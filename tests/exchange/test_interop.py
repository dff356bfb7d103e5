"""Interoperability with an independent HPKE implementation in another language: npm
``@hpke/core`` (TypeScript, WebCrypto X25519) run with the project's Node seals an
envelope's payload; the Python node accepts the envelope on chain and reads the
certificate. And the reverse: Node opens what kpledger sealed."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kpledger.certificate.hashing import canonical_json
from kpledger.exchange import eip712
from kpledger.exchange.acceptance import Acceptor
from kpledger.exchange.envelope import HPKE_INFO, SUITE_IDS, Payload, envelope_digest, parse

from .conftest import Exchange

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / ".bin" / "node"
SCRIPT = Path(__file__).parent / "js" / "hpke.mjs"

pytestmark = pytest.mark.skipif(
    not (ROOT / "node_modules" / "@hpke" / "core").is_dir(), reason="npm install first"
)


def _node(request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(NODE), str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_an_envelope_sealed_by_hpke_core_is_accepted(exchange: Exchange) -> None:
    document = exchange.issue()
    template = exchange.seal(document)  # only for its header fields
    header = template.header()
    pair = exchange.ae_keys.newest
    sealed = _node(
        {
            "op": "seal",
            "publicKey": pair.public_key.hex(),
            "info": HPKE_INFO.hex(),
            "aad": canonical_json(header).hex(),
            "plaintext": Payload(document).to_bytes().hex(),
        }
    )
    hpke = {
        **SUITE_IDS,
        "enc": _b64(bytes.fromhex(sealed["enc"])),
        "ciphertext": _b64(bytes.fromhex(sealed["ciphertext"])),
    }
    signature = eip712.sign(exchange.bw_key, envelope_digest(header, hpke))
    envelope = parse(
        json.dumps(
            {**header, "hpke": hpke, "signer": template.signer, "signature": "0x" + signature.hex()}
        ).encode()
    )
    assert envelope.enc != template.enc  # really the other implementation's encapsulation
    accepted = Acceptor(exchange.world.ae_auth, "AE", exchange.ae_keys).accept(envelope)
    assert accepted.payload.document == document


def test_hpke_core_opens_what_kpledger_sealed(exchange: Exchange) -> None:
    document = exchange.issue()
    envelope = exchange.seal(document)
    opened = _node(
        {
            "op": "open",
            "privateKey": exchange.ae_keys.newest.private.to_private_bytes().hex(),
            "info": HPKE_INFO.hex(),
            "aad": canonical_json(envelope.header()).hex(),
            "enc": envelope.enc.hex(),
            "ciphertext": envelope.ciphertext.hex(),
        }
    )
    assert Payload.from_bytes(bytes.fromhex(opened["plaintext"])).document == document
