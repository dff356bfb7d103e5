"""The governance/deployer key of a local consortium network.

Why generated: a local network has no authority key yet; the key is made once with the
OS's randomness into ``DIR/deployer.key`` (mode 0600, never printed) and reused when the
network resumes. Gas is free, so it needs no balance."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEPLOYER_KEY = "deployer.key"


def deployer_key(data_dir: str | Path) -> bytes:
    path = Path(data_dir) / DEPLOYER_KEY
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key
