"""Signing keys from encrypted keystore files or the environment, never from the
repository.

Why this module: keys travel through many layers (CLI, scripts, tests) and a key in a
traceback or a log line is a key lost. Everything here returns a
:class:`~kpledger.chain.sender.Signer`, whose repr shows only the address, and every
error names the file or variable, never the secret.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
from pathlib import Path
from typing import Any

from eth_account import Account

from kpledger.chain.sender import Signer
from kpledger.errors import KeyLoadError

PASSWORD_ENV = "KPLEDGER_KEY_PASSWORD"
PRIVATE_KEY_ENV = "KPLEDGER_PRIVATE_KEY"
MIN_PASSWORD_LENGTH = 8


def password_from_env_or_prompt(
    env: str = PASSWORD_ENV, *, prompt: bool = True, confirm: bool = False
) -> str:
    """The keystore password from ``env``, else asked on the terminal (not echoed)."""
    password = os.environ.get(env)
    if password:
        return password
    if not prompt:
        raise KeyLoadError(f"no keystore password: set {env} or run interactively")
    password = getpass.getpass("Keystore password: ")
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise KeyLoadError("the two passwords differ")
    return password


def load_keystore(path: Path, password: str | None = None, *, prompt: bool = True) -> Signer:
    """Decrypt an Ethereum keystore (V3 JSON) file."""
    try:
        keystore: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyLoadError(f"keystore file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise KeyLoadError(f"keystore file {path} is not a readable keystore: {type(exc).__name__}") from None
    if password is None:
        password = password_from_env_or_prompt(prompt=prompt)
    try:
        key = Account.decrypt(keystore, password)
    except ValueError:
        raise KeyLoadError(f"wrong password for keystore {path} (MAC mismatch)") from None
    except Exception as exc:  # malformed crypto section: say which file, not the content
        raise KeyLoadError(f"keystore {path} is malformed: {type(exc).__name__}") from None
    return Signer(bytes(key))


def write_keystore(path: Path, key: bytes, password: str, *, kdf_iterations: int | None = None) -> str:
    """Encrypt ``key`` into a new keystore file (mode 0600); returns its address.
    Refuses to overwrite an existing file."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise KeyLoadError(f"keystore password too short: at least {MIN_PASSWORD_LENGTH} characters")
    path = Path(path)
    if path.exists():
        raise KeyLoadError(f"{path} exists: refusing to overwrite a keystore")
    encrypted = Account.encrypt(key, password, iterations=kdf_iterations)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(encrypted, handle)
    return str(Account.from_key(key).address)


def new_keystore(path: Path, password: str, *, kdf_iterations: int | None = None) -> str:
    """Create a fresh random key in a keystore file; returns its address."""
    return write_keystore(path, secrets.token_bytes(32), password, kdf_iterations=kdf_iterations)


def signer_from_env(env: str = PRIVATE_KEY_ENV) -> Signer | None:
    """A signer from a hex private key in ``env`` (for CI and containers), or None."""
    raw = os.environ.get(env)
    if not raw:
        return None
    try:
        return Signer(bytes.fromhex(raw.removeprefix("0x")))
    except ValueError:
        raise KeyLoadError(f"{env} does not hold a 32-byte hex private key") from None
