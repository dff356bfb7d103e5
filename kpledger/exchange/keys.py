"""A participant's exchange keys (X25519 for HPKE) and the keyring that keeps old ones.

Why a keyring and not one key: after a rotation, envelopes sealed for the previous key
are still in flight or in the inbox; the recipient must go on reading them. The keyring
file holds every private key the node ever used, by directory key id. It is written with
mode 0600 and never printed; the repository holds no keys.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKeyInterface

from kpledger.errors import KeyLoadError
from kpledger.exchange.directory import X25519_HKDF_SHA256, key_id

SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305)
"""DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305: RFC 9180 Appendix A.2's suite."""
KEYRING_FORMAT = "kpledger-exchange-keyring-v1"


@dataclass(frozen=True)
class ExchangeKeyPair:
    private: KEMKeyInterface = field(repr=False)
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(X25519_HKDF_SHA256, self.public_key)

    def __repr__(self) -> str:  # never the private key
        return f"ExchangeKeyPair(key_id=0x{self.key_id.hex()})"


def generate() -> ExchangeKeyPair:
    return from_private_bytes(SUITE.kem.derive_key_pair(os.urandom(32)).private_key.to_private_bytes())


def from_private_bytes(raw: bytes) -> ExchangeKeyPair:
    private = SUITE.kem.deserialize_private_key(raw)
    public = X25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()
    return ExchangeKeyPair(private, public)


def public_key(raw: bytes) -> KEMKeyInterface:
    return SUITE.kem.deserialize_public_key(raw)


class Keyring:
    """Private exchange keys by key id; the newest added is the one to publish."""

    def __init__(self, pairs: list[ExchangeKeyPair] | None = None) -> None:
        self._pairs: dict[bytes, ExchangeKeyPair] = {}
        for pair in pairs or []:
            self.add(pair)

    def add(self, pair: ExchangeKeyPair) -> None:
        self._pairs[pair.key_id] = pair

    def get(self, key: bytes) -> ExchangeKeyPair | None:
        return self._pairs.get(key)

    @property
    def newest(self) -> ExchangeKeyPair:
        if not self._pairs:
            raise KeyLoadError("the exchange keyring is empty: run `kpledger key exchange-new`")
        return list(self._pairs.values())[-1]

    def __len__(self) -> int:
        return len(self._pairs)

    def save(self, path: Path) -> None:
        data = {
            "format": KEYRING_FORMAT,
            "keys": [{"private_key": p.private.to_private_bytes().hex()} for p in self._pairs.values()],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != KEYRING_FORMAT:
                raise ValueError(f"format is not {KEYRING_FORMAT}")
            return cls([from_private_bytes(bytes.fromhex(k["private_key"])) for k in data["keys"]])
        except FileNotFoundError:
            raise KeyLoadError(f"no exchange keyring at {path}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyLoadError(f"exchange keyring {path} is unreadable: {type(exc).__name__}") from None

    @classmethod
    def load_or_create(cls, path: Path) -> Keyring:
        if path.exists():
            return cls.load(path)
        ring = cls([generate()])
        ring.save(path)
        return ring
