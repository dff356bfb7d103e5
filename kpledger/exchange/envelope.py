"""The certificate envelope (format ``kpledger-envelope-v1``, specified in docs/exchange.md).

Why this shape: everything a recipient checks against the chain before decrypting (sender,
recipient, number, document hash, deployment, key id) is in clear in a signed header, so a
relay can route and a recipient can refuse without reading; the certificate itself (with
its optional batch proof and attachments) is HPKE-sealed (RFC 9180, base mode,
DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20Poly1305) for the recipient's
directory key, with the canonical header as associated data, so no header field can be
changed without the decryption failing; and an EIP-712 signature by an authority account
of the sender covers the header and a digest of the sealed payload.

Parsing is strict and pure: :func:`parse` returns an :class:`Envelope` or raises
:class:`EnvelopeRefused` with a typed :class:`~kpledger.exchange.refusal.Refusal`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kpledger.certificate.hashing import canonical_json, document_hash
from kpledger.chain.sender import Signer
from kpledger.errors import KPLedgerError
from kpledger.exchange import eip712
from kpledger.exchange.keys import SUITE, ExchangeKeyPair, public_key
from kpledger.exchange.refusal import EnvelopeRefused, Refusal

FORMAT: Final = "kpledger-envelope-v1"
PAYLOAD_FORMAT: Final = "kpledger-envelope-payload-v1"
HPKE_INFO: Final = FORMAT.encode()
SUITE_IDS: Final = {"kem": 0x0020, "kdf": 0x0001, "aead": 0x0003}
MAX_ENVELOPE_BYTES: Final = 8 * 1024 * 1024
"""Largest envelope accepted (a certificate, its proof and a scanned PDF or two)."""

_FIELDS: Final = (
    "format",
    "id",
    "sender",
    "recipient",
    "number",
    "document_hash",
    "chain_id",
    "ledger",
    "key_id",
    "key_block",
    "created_at",
    "hpke",
    "signer",
    "signature",
)
_CODE = re.compile(r"^(?:[A-Z]{2})$")
_HEX = re.compile(r"^0x[0-9a-f]*$")


class EnvelopeError(KPLedgerError):
    """An envelope could not be made (the sender's own input is wrong)."""


@dataclass(frozen=True)
class Attachment:
    """A file carried with the certificate (e.g. the scanned signed paper)."""

    name: str
    media_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Payload:
    """What the envelope seals: the certificate document, its batch proof if it is a
    batch member, and attachments."""

    document: dict[str, Any]
    proof: dict[str, Any] | None = None
    attachments: tuple[Attachment, ...] = ()

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": PAYLOAD_FORMAT,
                "document": self.document,
                "proof": self.proof,
                "attachments": [
                    {"name": a.name, "media_type": a.media_type, "data": _b64(a.data)}
                    for a in self.attachments
                ],
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Payload:
        try:
            data = json.loads(raw, object_pairs_hook=_no_duplicates)
            if not isinstance(data, dict) or data.get("format") != PAYLOAD_FORMAT:
                raise ValueError(f"payload format is not {PAYLOAD_FORMAT}")
            document, proof = data["document"], data.get("proof")
            if not isinstance(document, dict) or not (proof is None or isinstance(proof, dict)):
                raise ValueError("document must be an object, proof an object or null")
            attachments = tuple(
                Attachment(str(a["name"]), str(a["media_type"]), _unb64(a["data"]))
                for a in data["attachments"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EnvelopeRefused(Refusal.MALFORMED, f"decrypted payload is malformed: {exc}") from None
        return cls(document, proof, attachments)


@dataclass(frozen=True)
class Envelope:
    id: bytes
    sender: str
    recipient: str
    number: str
    document_hash: bytes
    chain_id: int
    ledger: str
    key_id: bytes
    key_block: int
    created_at: int
    enc: bytes
    ciphertext: bytes = field(repr=False)
    signer: str
    signature: bytes

    @property
    def id_hex(self) -> str:
        return "0x" + self.id.hex()

    def header(self) -> dict[str, Any]:
        """The clear fields bound by the AEAD (as associated data) and the signature."""
        return {
            "format": FORMAT,
            "id": self.id_hex,
            "sender": self.sender,
            "recipient": self.recipient,
            "number": self.number,
            "document_hash": "0x" + self.document_hash.hex(),
            "chain_id": self.chain_id,
            "ledger": self.ledger,
            "key_id": "0x" + self.key_id.hex(),
            "key_block": self.key_block,
            "created_at": self.created_at,
        }

    def hpke(self) -> dict[str, Any]:
        return {**SUITE_IDS, "enc": _b64(self.enc), "ciphertext": _b64(self.ciphertext)}

    def to_json(self) -> dict[str, Any]:
        return {
            **self.header(),
            "hpke": self.hpke(),
            "signer": self.signer,
            "signature": "0x" + self.signature.hex(),
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def digest(self) -> bytes:
        """SHA-256 of the canonical envelope: two deliveries of one id must agree on it."""
        return hashlib.sha256(self.to_bytes()).digest()

    def signing_digest(self) -> bytes:
        return envelope_digest(self.header(), self.hpke())

    def recovered_signer(self) -> str | None:
        return eip712.recover(self.signing_digest(), self.signature)


def payload_digest(hpke: Mapping[str, Any]) -> bytes:
    return keccak(canonical_json(dict(hpke)))


def envelope_digest(header: Mapping[str, Any], hpke: Mapping[str, Any]) -> bytes:
    values = {
        "id": bytes.fromhex(header["id"][2:]),
        "sender": header["sender"],
        "recipient": header["recipient"],
        "number": header["number"],
        "documentHash": bytes.fromhex(header["document_hash"][2:]),
        "keyId": bytes.fromhex(header["key_id"][2:]),
        "keyBlock": header["key_block"],
        "createdAt": header["created_at"],
        "payloadDigest": payload_digest(hpke),
    }
    return eip712.digest(header["chain_id"], header["ledger"], "Envelope", eip712.ENVELOPE_TYPE, values)


def seal(
    payload: Payload,
    *,
    sender: str,
    recipient: str,
    chain_id: int,
    ledger: str,
    key_id: bytes,
    recipient_public_key: bytes,
    key_block: int,
    signing_key: bytes | str | Signer,
    signer: str,
    envelope_id: bytes | None = None,
    created_at: int | None = None,
) -> Envelope:
    """Seal ``payload`` for the recipient's directory key and sign it as ``signer``."""
    number = payload.document.get("number")
    if not isinstance(number, str) or not number:
        raise EnvelopeError("document.number: a certificate document needs its number to be sent")
    for name, code in (("sender", sender), ("recipient", recipient)):
        if not _CODE.match(code):
            raise EnvelopeError(f"{name} {code!r}: must be a two-letter participant code in capitals")
    header = {
        "format": FORMAT,
        "id": "0x" + (envelope_id or os.urandom(16)).hex(),
        "sender": sender,
        "recipient": recipient,
        "number": number,
        "document_hash": "0x" + document_hash(payload.document).hex(),
        "chain_id": chain_id,
        "ledger": str(to_checksum_address(ledger)),
        "key_id": "0x" + key_id.hex(),
        "key_block": key_block,
        "created_at": int(time.time()) if created_at is None else created_at,
    }
    enc, context = SUITE.create_sender_context(public_key(recipient_public_key), HPKE_INFO)
    ciphertext = context.seal(payload.to_bytes(), canonical_json(header))
    hpke = {**SUITE_IDS, "enc": _b64(enc), "ciphertext": _b64(ciphertext)}
    signature = eip712.sign(signing_key, envelope_digest(header, hpke))
    return _from_parts(header, enc, ciphertext, str(to_checksum_address(signer)), signature)


def open_payload(envelope: Envelope, pair: ExchangeKeyPair) -> Payload:
    """Decrypt with the recipient's private key; a failure is UNDECRYPTABLE."""
    try:
        context = SUITE.create_recipient_context(envelope.enc, pair.private, HPKE_INFO)
        raw = context.open(envelope.ciphertext, canonical_json(envelope.header()))
    except Exception:  # pyhpke raises several types (OpenError, ValueError) for bad input
        raise EnvelopeRefused(
            Refusal.UNDECRYPTABLE, "the ciphertext does not open with the key it names"
        ) from None
    return Payload.from_bytes(raw)


def parse(data: bytes | Mapping[str, Any]) -> Envelope:
    """A well-formed envelope, or EnvelopeRefused (OVERSIZED / MALFORMED) naming the field."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeRefused(
                Refusal.OVERSIZED,
                f"envelope is {len(data):,} bytes; at most {MAX_ENVELOPE_BYTES:,} are accepted",
            )
        try:
            loaded = json.loads(bytes(data), object_pairs_hook=_no_duplicates)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeRefused(Refusal.MALFORMED, f"not a JSON envelope: {exc}") from None
    else:
        loaded = dict(data)
    if not isinstance(loaded, dict):
        raise EnvelopeRefused(Refusal.MALFORMED, "an envelope is a JSON object")
    return _checked(loaded)


def _checked(doc: dict[str, Any]) -> Envelope:
    missing = [f for f in _FIELDS if f not in doc]
    extra = sorted(set(doc) - set(_FIELDS))
    if missing or extra:
        raise EnvelopeRefused(Refusal.MALFORMED, f"fields missing {missing} / unknown {extra}")
    if doc["format"] != FORMAT:
        raise EnvelopeRefused(Refusal.MALFORMED, f"format: must be {FORMAT!r}")
    for name in ("sender", "recipient"):
        if not isinstance(doc[name], str) or not _CODE.match(doc[name]):
            raise EnvelopeRefused(Refusal.MALFORMED, f"{name}: a two-letter participant code in capitals")
    if not isinstance(doc["number"], str) or not 1 <= len(doc["number"]) <= 64:
        raise EnvelopeRefused(Refusal.MALFORMED, "number: a certificate number of 1 to 64 characters")
    for name in ("chain_id", "key_block", "created_at"):
        if type(doc[name]) is not int or doc[name] < 0:
            raise EnvelopeRefused(Refusal.MALFORMED, f"{name}: a non-negative integer")
    _hex_field(doc, "id", 16)
    _hex_field(doc, "document_hash", 32)
    _hex_field(doc, "key_id", 32)
    _hex_field(doc, "signature", 65)
    for name in ("ledger", "signer"):
        value = doc[name]
        if not isinstance(value, str) or len(value) != 42 or not _HEX.match(value.lower()):
            raise EnvelopeRefused(Refusal.MALFORMED, f"{name}: an address (0x + 40 hex digits)")
    hpke = doc["hpke"]
    if not isinstance(hpke, dict) or set(hpke) != {*SUITE_IDS, "enc", "ciphertext"}:
        raise EnvelopeRefused(Refusal.MALFORMED, "hpke: an object with kem, kdf, aead, enc and ciphertext")
    if any(hpke[k] != v for k, v in SUITE_IDS.items()):
        raise EnvelopeRefused(Refusal.MALFORMED, "hpke: only suite kem=0x20 kdf=0x1 aead=0x3 is accepted")
    try:
        enc, ciphertext = _unb64(hpke["enc"]), _unb64(hpke["ciphertext"])
    except (ValueError, TypeError):
        raise EnvelopeRefused(
            Refusal.MALFORMED, "hpke.enc / hpke.ciphertext: base64url without padding"
        ) from None
    if len(enc) != 32:
        raise EnvelopeRefused(Refusal.MALFORMED, "hpke.enc: 32 bytes for X25519")
    header = {k: doc[k] for k in _FIELDS if k not in ("hpke", "signer", "signature")}
    return _from_parts(
        header, enc, ciphertext, str(to_checksum_address(doc["signer"])), bytes.fromhex(doc["signature"][2:])
    )


def _from_parts(
    header: dict[str, Any], enc: bytes, ciphertext: bytes, signer: str, signature: bytes
) -> Envelope:
    return Envelope(
        id=bytes.fromhex(header["id"][2:]),
        sender=header["sender"],
        recipient=header["recipient"],
        number=header["number"],
        document_hash=bytes.fromhex(header["document_hash"][2:]),
        chain_id=header["chain_id"],
        ledger=str(to_checksum_address(header["ledger"])),
        key_id=bytes.fromhex(header["key_id"][2:]),
        key_block=header["key_block"],
        created_at=header["created_at"],
        enc=enc,
        ciphertext=ciphertext,
        signer=signer,
        signature=signature,
    )


def _hex_field(doc: Mapping[str, Any], name: str, size: int) -> None:
    value = doc[name]
    if not isinstance(value, str) or not _HEX.match(value) or len(value) != 2 + 2 * size:
        raise EnvelopeRefused(Refusal.MALFORMED, f"{name}: 0x + {2 * size} lower-case hex digits")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"member {key!r} appears twice")
        result[key] = value
    return result


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise ValueError("base64url text without padding expected")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None
