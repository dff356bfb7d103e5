"""The envelope's building blocks against their standards: HPKE against RFC 9180's
published vectors (the suite kpledger uses, A.2, and A.1 for the shared KEM and KDF),
EIP-712 digests and signatures against eth-account's independent implementation, and the
strict parser's refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

from kpledger.exchange import eip712
from kpledger.exchange.envelope import (
    FORMAT,
    MAX_ENVELOPE_BYTES,
    Attachment,
    Payload,
    open_payload,
    parse,
    seal,
)
from kpledger.exchange.keys import SUITE, Keyring, generate
from kpledger.exchange.refusal import EnvelopeRefused, Refusal

VECTORS = json.loads((Path(__file__).parent / "data" / "rfc9180_vectors.json").read_text())["vectors"]
DEV_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")  # anvil dev key 0
LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _suite(vector: dict[str, Any]) -> CipherSuite:
    return CipherSuite.new(KEMId(vector["kem_id"]), KDFId(vector["kdf_id"]), AEADId(vector["aead_id"]))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["section"] for v in VECTORS])
def test_rfc9180_vectors(vector: dict[str, Any]) -> None:
    suite = _suite(vector)
    info = bytes.fromhex(vector["info"])
    recipient = suite.kem.derive_key_pair(bytes.fromhex(vector["ikmR"]))
    ephemeral = suite.kem.derive_key_pair(bytes.fromhex(vector["ikmE"]))
    assert recipient.public_key.to_public_bytes().hex() == vector["pkRm"]
    assert ephemeral.public_key.to_public_bytes().hex() == vector["pkEm"]
    enc, sender = suite.create_sender_context(recipient.public_key, info, eks=ephemeral)
    assert enc.hex() == vector["enc"]
    receiver = suite.create_recipient_context(
        bytes.fromhex(vector["enc"]), suite.kem.deserialize_private_key(bytes.fromhex(vector["skRm"])), info
    )
    for step in vector["encryptions"]:
        pt, aad = bytes.fromhex(step["pt"]), bytes.fromhex(step["aad"])
        assert sender.seal(pt, aad).hex() == step["ct"]
        assert receiver.open(bytes.fromhex(step["ct"]), aad) == pt
    for export in vector["exports"]:
        value = receiver.export(bytes.fromhex(export["exporter_context"]), export["L"])
        assert value.hex() == export["exported_value"]


def test_the_envelope_suite_is_the_a2_vector_suite() -> None:
    a2 = next(v for v in VECTORS if v["section"] == "A.2.1")
    assert (SUITE.kem.id.value, SUITE.kdf.id.value, SUITE.aead.id.value) == (
        a2["kem_id"],
        a2["kdf_id"],
        a2["aead_id"],
    )


def test_eip712_matches_eth_account() -> None:
    values = {
        "id": os.urandom(16),
        "sender": "BW",
        "recipient": "AE",
        "number": "BW 2026 000001",
        "documentHash": os.urandom(32),
        "keyId": os.urandom(32),
        "keyBlock": 12,
        "createdAt": 1_790_000_000,
        "payloadDigest": os.urandom(32),
    }
    ours = eip712.digest(31337, LEDGER, "Envelope", eip712.ENVELOPE_TYPE, values)
    message = encode_typed_data(
        full_message=eip712.typed_data(31337, LEDGER, "Envelope", eip712.ENVELOPE_TYPE, values)
    )
    signed = Account.sign_message(message, DEV_KEY)
    assert bytes(signed.message_hash) == ours
    assert eip712.sign(DEV_KEY, ours) == bytes(signed.signature)
    assert eip712.recover(ours, bytes(signed.signature)) == Account.from_key(DEV_KEY).address
    high_s = bytearray(signed.signature)
    s = eip712._SECP256K1_N - int.from_bytes(high_s[32:64], "big")
    high_s[32:64] = s.to_bytes(32, "big")
    high_s[64] ^= 1
    assert eip712.recover(ours, bytes(high_s)) is None  # malleated twin refused


def _sealed(payload: Payload | None = None) -> tuple[Any, Any]:
    ring = Keyring([generate()])
    pair = ring.newest
    document = {"number": "BW 2026 000001", "title": "Kimberley Process Certificate"}
    envelope = seal(
        payload or Payload(document),
        sender="BW",
        recipient="AE",
        chain_id=31337,
        ledger=LEDGER,
        key_id=pair.key_id,
        recipient_public_key=pair.public_key,
        key_block=7,
        signing_key=DEV_KEY,
        signer=Account.from_key(DEV_KEY).address,
    )
    return envelope, pair


def test_round_trip_through_json_with_attachments_and_proof() -> None:
    payload = Payload(
        {"number": "BW 2026 000001", "carats": 12.5},
        {"format": "kpledger-batch-proof-v1", "root": "0x" + "11" * 32},
        (Attachment("paper.pdf", "application/pdf", os.urandom(3000)),),
    )
    envelope, pair = _sealed(payload)
    again = parse(envelope.to_bytes())
    assert again == envelope and again.to_json()["format"] == FORMAT
    assert again.recovered_signer() == envelope.signer
    assert open_payload(again, pair) == payload


def _refusal(data: Any) -> Refusal:
    with pytest.raises(EnvelopeRefused) as info:
        parse(data)
    return info.value.reason


def test_parse_refusals() -> None:
    envelope, _ = _sealed()
    good = envelope.to_json()
    assert _refusal(b"{not json") is Refusal.MALFORMED
    assert _refusal(b'{"id": 1, "id": 2}') is Refusal.MALFORMED
    assert _refusal(b"[]") is Refusal.MALFORMED
    assert _refusal(b" " * (MAX_ENVELOPE_BYTES + 1)) is Refusal.OVERSIZED
    for field, value in [
        ("format", "kpledger-envelope-v0"),
        ("sender", "bw"),
        ("chain_id", -1),
        ("chain_id", True),
        ("document_hash", "0x12"),
        ("signature", "0x" + "zz" * 65),
        ("ledger", "0x1234"),
        ("hpke", {**good["hpke"], "aead": 1}),
        ("hpke", {**good["hpke"], "enc": "a=="}),
    ]:
        assert _refusal({**good, field: value}) is Refusal.MALFORMED, field
    assert _refusal({**good, "extra": 1}) is Refusal.MALFORMED
    assert _refusal({k: v for k, v in good.items() if k != "signer"}) is Refusal.MALFORMED


def test_tampering_breaks_decryption_or_signature() -> None:
    envelope, pair = _sealed()
    data = envelope.to_json()
    ciphertext = bytearray(envelope.ciphertext)
    ciphertext[5] ^= 1
    import base64

    tampered = parse(
        {
            **data,
            "hpke": {
                **data["hpke"],
                "ciphertext": base64.urlsafe_b64encode(ciphertext).rstrip(b"=").decode(),
            },
        }
    )
    assert tampered.recovered_signer() != envelope.signer  # the signature covers the ciphertext
    with pytest.raises(EnvelopeRefused) as info:
        open_payload(tampered, pair)
    assert info.value.reason is Refusal.UNDECRYPTABLE
    renumbered = parse({**data, "number": "BW 2026 999999"})  # header is the AEAD's associated data
    with pytest.raises(EnvelopeRefused):
        open_payload(renumbered, pair)


def test_keyring_file_round_trip_is_private(tmp_path: Path) -> None:
    ring = Keyring([generate(), generate()])
    path = tmp_path / "exchange-keys.json"
    ring.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = Keyring.load(path)
    assert [loaded.get(p.key_id) is not None for p in (ring.newest,)] == [True]
    assert len(loaded) == 2 and loaded.newest.key_id == ring.newest.key_id
    assert "private" not in repr(ring.newest).lower().replace("exchangekeypair", "")
