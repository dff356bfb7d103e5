"""``kpledger demo exchange``: four national nodes exchange certificates through crashes,
an offline recipient, a relay and a volley of bad envelopes; the result is counted from
the nodes' own stores, not from what the script meant to do.

Nodes: BW (exporter side), AE (recipient and relay), IN (recipient, offline for the first
part of the run), BE (no inbox URL: it pulls from the AE relay). DEV-ONLY keys, local anvil.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from kpledger.certificate.hashing import canonical_json, document_hash
from kpledger.certificate.model import parse_certificate
from kpledger.certificate.samples import sample_certificate
from kpledger.exchange import eip712
from kpledger.exchange.envelope import (
    HPKE_INFO,
    MAX_ENVELOPE_BYTES,
    SUITE_IDS,
    Envelope,
    Payload,
    envelope_digest,
    seal,
)
from kpledger.exchange.federation import Federation, NodeSpec
from kpledger.exchange.keys import SUITE, Keyring, generate, public_key
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree, batch_proof_document

DESTINATIONS = ("AE", "IN", "BE")


def run(
    base: Path, certificates: int = 21, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    started = time.monotonic()
    specs = [
        NodeSpec("BW"),
        NodeSpec("AE", relay=True),
        NodeSpec("IN"),
        NodeSpec("BE", inbox=False, pull_from="AE"),
    ]
    fed = Federation(base, specs)
    fed.start()
    try:
        return _scenario(fed, certificates, progress) | {"seconds": round(time.monotonic() - started, 1)}
    finally:
        fed.close()


def _scenario(fed: Federation, certificates: int, progress: Callable[[str], None]) -> dict[str, Any]:
    bw, exporter = fed.ledger("BW"), fed.ledger("BW:exporter").address
    progress("4 national nodes up (BW, AE relay, IN, BE pulling); IN goes offline")
    fed.kill("IN")
    sender = fed.sender("BW")
    # A batch of three, one member sent with its proof.
    batch_docs = [sample_certificate(importing_participant="AE") for _ in range(3)]
    tree = StandardMerkleTree.of(
        [parse_certificate(d).chain_terms().as_tuple() for d in batch_docs], CERTIFICATE_LEAF
    )
    bw.anchor_batch("BW", bytes.fromhex(tree.root[2:]), 3)
    sender.send(Payload(batch_docs[0], batch_proof_document(tree, 0)), "AE")
    for index in range(certificates - 1):
        destination = DESTINATIONS[index % len(DESTINATIONS)]
        document = sample_certificate(importing_participant=destination)
        bw.issue(parse_certificate(document).chain_terms(), exporter)
        sender.send(Payload(document), destination)
        if index == certificates // 3:
            progress("SIGKILL the sender BW mid-delivery, restart it")
            fed.restart("BW")
        if index == 2 * certificates // 3:
            progress("SIGKILL the recipient AE mid-delivery, restart it")
            fed.restart("AE")
    progress("IN comes back online")
    fed.start_node("IN")
    fed.wait_settled("BW", certificates, timeout=90)
    progress("AE rotates its exchange key")
    old_pair = Keyring.load(fed.nodes["AE"].keyring).newest
    ring = Keyring.load(fed.nodes["AE"].keyring)
    ring.add(generate())
    fed.kill("AE")
    ring.save(fed.nodes["AE"].keyring)
    fed.start_node("AE")
    progress("10+ bad envelopes")
    attempts = _bad_envelopes(fed, old_pair)
    return _count(fed, attempts)


def _bad_envelopes(fed: Federation, old_pair: Any) -> int:
    bw, exporter = fed.ledger("BW"), fed.ledger("BW:exporter").address
    deployment = bw.deployment
    ae_url = fed.nodes["AE"].url + "/v1/exchange/envelopes"
    in_url = fed.nodes["IN"].url + "/v1/exchange/envelopes"
    current = fed.sender("BW").directory.current_key("AE")
    assert current is not None
    head = bw.block_number()

    def make(
        document: dict[str, Any], *, key: bytes | None = None, signer: str | None = None, **kw: Any
    ) -> Envelope:
        options: dict[str, Any] = {
            "sender": "BW",
            "recipient": "AE",
            "chain_id": deployment.chain_id,
            "ledger": deployment.ledger,
            "key_id": current.key_id,
            "recipient_public_key": current.public_key,
            "key_block": head,
            "signing_key": key or fed.keys["BW"],
            "signer": signer or bw.address,
        } | kw
        return seal(Payload(document), **options)

    def issued(destination: str = "AE") -> dict[str, Any]:
        document = sample_certificate(importing_participant=destination)
        bw.issue(parse_certificate(document).chain_terms(), exporter)
        return document

    stranger = fed.ledger("IN").address  # an authority, but of IN, not of BW
    delivered = next(e for e in fed.store("AE").inbox_entries() if e.proof is None)
    voided = issued()
    bw.void(document_hash(voided), "issued in error")
    tampered = make(issued())
    flipped = bytes([tampered.ciphertext[0] ^ 1]) + tampered.ciphertext[1:]
    in_key = fed.sender("BW").directory.current_key("IN")
    assert in_key is not None
    bad: list[tuple[str, bytes]] = [
        (ae_url, _json(make(issued(), key=fed.keys["AE"]))),  # forged: AE's key signing as BW's authority
        (ae_url, _json(make(issued(), key=fed.keys["IN"], signer=stranger))),  # signer not an authority of BW
        (
            in_url,
            _json(
                make(
                    issued("BE"), recipient="BE", key_id=in_key.key_id, recipient_public_key=in_key.public_key
                )
            ),
        ),
        (ae_url, _json(make(issued(), key_id=old_pair.key_id, recipient_public_key=old_pair.public_key))),
        (ae_url, _json(tampered, ciphertext=flipped)),
        (ae_url, _json(make(sample_certificate(importing_participant="AE")))),  # hash not on chain
        (ae_url, _json(make(delivered.document))),  # replay: a certificate delivered before, new envelope id
        (ae_url, b" " * (MAX_ENVELOPE_BYTES + 16)),  # oversized
        (ae_url, b'{"format": "kpledger-envelope-v1", "id": '),  # malformed JSON
        (ae_url, _json(make(voided))),  # a voided certificate
        (ae_url, _hash_mismatch(fed, make, issued())),
    ]
    with httpx.Client(timeout=60) as http:
        for url, body in bad:
            response = http.post(url, content=body, headers={"content-type": "application/json"})
            if response.status_code != 422:
                raise RuntimeError(
                    f"a bad envelope was not refused: HTTP {response.status_code} {response.text[:200]}"
                )
    return len(bad)


def _json(envelope: Envelope, ciphertext: bytes | None = None) -> bytes:
    data = envelope.to_json()
    if ciphertext is not None:
        data["hpke"] = {
            **data["hpke"],
            "ciphertext": base64.urlsafe_b64encode(ciphertext).rstrip(b"=").decode(),
        }
    return canonical_json(data)


def _hash_mismatch(fed: Federation, make: Callable[..., Envelope], document: dict[str, Any]) -> bytes:
    """BW's authority seals another document under the header of the chain's one."""
    honest = make(document)
    header = honest.header()
    key = fed.sender("BW").directory.current_key("AE")
    assert key is not None
    enc, context = SUITE.create_sender_context(public_key(key.public_key), HPKE_INFO)
    ciphertext = context.seal(Payload({**document, "carats": 1.0}).to_bytes(), canonical_json(header))
    hpke = {**SUITE_IDS, "enc": _b64(enc), "ciphertext": _b64(ciphertext)}
    signature = eip712.sign(fed.keys["BW"], envelope_digest(header, hpke))
    return canonical_json(
        {**header, "hpke": hpke, "signer": honest.signer, "signature": "0x" + signature.hex()}
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _count(fed: Federation, bad_attempts: int) -> dict[str, Any]:
    """The summary line, from the stores only."""
    outbox = fed.store("BW").outbox_entries()
    received: dict[str, str] = {}
    duplicates = 0
    refusals: dict[str, int] = {}
    for code in fed.nodes:
        store = fed.store(code)
        entries = [e for e in store.inbox_entries() if e.sender == "BW"]
        duplicates += len(entries) - len({e.document_hash for e in entries})
        received.update({e.id: code for e in entries})
        for reason, count in store.refusal_counts().items():
            refusals[reason] = refusals.get(reason, 0) + count
        store.close()
    sent_ids = {e.id for e in outbox}
    return {
        "sent": len(outbox),
        "delivered": len(sent_ids & set(received)),
        "duplicates": duplicates,
        "lost": len(sent_ids - set(received)),
        "refused": sum(refusals.values()),
        "bad_attempts": bad_attempts,
        "refusal_reasons": dict(sorted(refusals.items())),
        "states": {s: sum(1 for e in outbox if e.state == s) for s in sorted({e.state for e in outbox})},
        "batch_members": sum(
            1 for code in fed.nodes for e in fed.store(code).inbox_entries() if e.proof is not None
        ),
        "nodes": len(fed.nodes),
        "killed": ["BW", "AE"],
        "offline_for_a_while": "IN",
        "relayed_to": "BE",
    }
