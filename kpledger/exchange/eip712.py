"""EIP-712 typed signatures of envelopes and delivery receipts.

Why EIP-712 and not EIP-191 over a blob: the signed fields are named and typed, so any
wallet or other KP system can show and check what was signed (eth-account's
``encode_typed_data`` produces the same digest; the tests compare). Hashing and signing
are done here with keccak and libsecp256k1 directly because both sides run them for
every envelope (eth-account's path costs ~10x more per signature).

Domain: ``{"name": "kpledger exchange", "version": "1", "chainId": <chain id>,
"verifyingContract": <certificate ledger address>}`` — a signature is bound to one
deployment on one chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from coincurve import PrivateKey, PublicKey
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kpledger.chain.sender import Signer
from kpledger.chain.signing import load_private_key

DOMAIN_NAME: Final = "kpledger exchange"
DOMAIN_VERSION: Final = "1"
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

Fields = Sequence[tuple[str, str]]

ENVELOPE_TYPE: Final[Fields] = (
    ("id", "bytes16"),
    ("sender", "string"),
    ("recipient", "string"),
    ("number", "string"),
    ("documentHash", "bytes32"),
    ("keyId", "bytes32"),
    ("keyBlock", "uint256"),
    ("createdAt", "uint256"),
    ("payloadDigest", "bytes32"),
)
RECEIPT_TYPE: Final[Fields] = (
    ("envelopeId", "bytes16"),
    ("documentHash", "bytes32"),
    ("recipient", "string"),
    ("outcome", "string"),
    ("reason", "string"),
    ("receivedAt", "uint256"),
)
PULL_TYPE: Final[Fields] = (
    ("participant", "string"),
    ("after", "uint256"),
    ("issuedAt", "uint256"),
)
_DOMAIN_TYPE: Final[Fields] = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)


def type_string(name: str, fields: Fields) -> str:
    return f"{name}({','.join(f'{kind} {field}' for field, kind in fields)})"


def _word(kind: str, value: Any) -> bytes:
    if kind == "string":
        return keccak(str(value).encode("utf-8"))
    if kind == "uint256":
        return int(value).to_bytes(32, "big")
    if kind == "address":
        return bytes(12) + bytes.fromhex(str(value)[2:])
    if kind.startswith("bytes"):
        raw = bytes(value)
        if len(raw) != int(kind[5:]):
            raise ValueError(f"{kind} needs {kind[5:]} bytes, got {len(raw)}")
        return raw.ljust(32, b"\0")
    raise ValueError(f"unsupported EIP-712 field type {kind}")


def struct_hash(name: str, fields: Fields, values: Mapping[str, Any]) -> bytes:
    encoded = b"".join(_word(kind, values[field]) for field, kind in fields)
    return keccak(keccak(type_string(name, fields).encode()) + encoded)


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    values = {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": verifying_contract,
    }
    return struct_hash("EIP712Domain", _DOMAIN_TYPE, values)


def digest(
    chain_id: int, verifying_contract: str, name: str, fields: Fields, values: Mapping[str, Any]
) -> bytes:
    """``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))``."""
    return keccak(
        b"\x19\x01" + domain_separator(chain_id, verifying_contract) + struct_hash(name, fields, values)
    )


def typed_data(
    chain_id: int, verifying_contract: str, name: str, fields: Fields, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The EIP-712 JSON (``eth_signTypedData_v4``) of a message, for other tools."""
    return {
        "types": {
            "EIP712Domain": [{"name": f, "type": t} for f, t in _DOMAIN_TYPE],
            name: [{"name": f, "type": t} for f, t in fields],
        },
        "primaryType": name,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": dict(values),
    }


def sign(key: PrivateKey | Signer | bytes | str, message_digest: bytes) -> bytes:
    """65 bytes ``r ‖ s ‖ v`` (v = 27 or 28), low s, deterministic (RFC 6979)."""
    if isinstance(key, Signer):
        signature = key.sign_digest(message_digest)
    else:
        private = key if isinstance(key, PrivateKey) else load_private_key(key)
        signature = private.sign_recoverable(message_digest, hasher=None)
    return signature[:64] + bytes([signature[64] + 27])


def recover(message_digest: bytes, signature: bytes) -> str | None:
    """The EIP-55 address that signed ``message_digest``, or None if the signature is
    malformed or malleable (high s), so a forged signature never names an account."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < s <= _SECP256K1_N // 2:
        return None
    try:
        public = PublicKey.from_signature_and_message(
            signature[:64] + bytes([signature[64] - 27]), message_digest, hasher=None
        )
    except ValueError:
        return None
    return str(to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:]))
