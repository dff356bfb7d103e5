"""The exchange directory on a real in-process EVM: publication, rotation, revocation,
"which key was in force at block N", and every refusal with its typed error (a refused
write changes nothing)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from kpledger.chain.deployment import Deployment
from kpledger.contract_errors import (
    DirectoryInvalidInboxUrl,
    DirectoryInvalidPublicKey,
    DirectoryInvalidReason,
    DirectoryKeyAlreadyPublished,
    DirectoryKeyAlreadyRevoked,
    DirectoryKeyUnknown,
    DirectoryUnsupportedAlgorithm,
)
from kpledger.errors import ConfigurationError
from kpledger.exchange.directory import X25519_HKDF_SHA256, Directory, key_id
from kpledger.ledger import Ledger
from tests.contracts.helpers import reverts, unchanged

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import World


def test_publish_rotate_and_key_in_force_at_every_block(world: World) -> None:
    bw = Directory(world.bw_auth)
    first, second = os.urandom(32), os.urandom(32)
    assert bw.current_key("BW") is None
    before = world.gov.block_number()
    published = bw.publish_key("BW", first)
    rotated = bw.publish_key("BW", second)

    old, new = bw.history("BW")
    assert old.key_id == key_id(X25519_HKDF_SHA256, first) and old.public_key == first
    assert (old.valid_from, old.valid_to, old.revoked) == (
        published.block_number,
        rotated.block_number,
        False,
    )
    assert (new.valid_from, new.valid_to) == (rotated.block_number, 0)
    assert new.published_by == world.bw_auth.address
    assert bw.current_key("BW") == new
    assert bw.key_at("BW", before) is None
    assert bw.key_at("BW", published.block_number) == old
    assert bw.key_at("BW", rotated.block_number) == new
    assert old.in_force_at(published.block_number) and not old.in_force_at(rotated.block_number)
    assert bw.key_by_id("BW", old.key_id) == old
    assert Directory(world.gov).current_key("AE") is None


def test_revocation_by_authority_and_by_governance(world: World) -> None:
    bw = Directory(world.bw_auth)
    bw.publish_key("BW", os.urandom(32))
    current = bw.current_key("BW")
    assert current is not None
    receipt = Directory(world.gov).revoke_key("BW", current.key_id, "key compromised")
    revoked = bw.key_by_id("BW", current.key_id)
    assert revoked.revoked and revoked.valid_to == receipt.block_number
    assert bw.current_key("BW") is None  # nothing in force until a new key is published
    with unchanged(world.gov, lambda: bw.history("BW")), reverts(DirectoryKeyAlreadyRevoked):
        bw.revoke_key("BW", current.key_id, "again")
    # A rotated-out key can still be revoked (it ends no later than it did).
    bw.publish_key("BW", os.urandom(32))
    third = bw.current_key("BW")
    assert third is not None
    bw.publish_key("BW", os.urandom(32))
    bw.revoke_key("BW", third.key_id, "old laptop stolen")
    after = bw.key_by_id("BW", third.key_id)
    assert after.revoked and after.valid_to == third.valid_from + 1


def test_inbox_url(world: World) -> None:
    ae = Directory(world.ae_auth)
    ae.set_inbox_url("AE", "https://kp.ae.example/v1/exchange/envelopes")
    assert ae.inbox_url("AE") == "https://kp.ae.example/v1/exchange/envelopes"
    ae.set_inbox_url("AE", "")
    assert ae.inbox_url("AE") == ""


@pytest.mark.parametrize(
    ("algorithm", "public_key", "error"),
    [
        (0x0020, b"\1" * 31, DirectoryInvalidPublicKey),
        (0x0010, b"\1" * 32, DirectoryInvalidPublicKey),
        (0x0099, b"\1" * 32, DirectoryUnsupportedAlgorithm),
    ],
)
def test_malformed_keys_are_refused(world: World, algorithm: int, public_key: bytes, error: type) -> None:
    bw = Directory(world.bw_auth)
    with unchanged(world.gov, lambda: bw.history("BW")), reverts(error):
        bw.publish_key("BW", public_key, algorithm)


def test_a_key_is_published_once_across_participants(world: World) -> None:
    shared = os.urandom(32)
    Directory(world.bw_auth).publish_key("BW", shared)
    ae = Directory(world.ae_auth)
    with (
        unchanged(world.gov, lambda: ae.history("AE")),
        reverts(DirectoryKeyAlreadyPublished, keyId=key_id(X25519_HKDF_SHA256, shared)),
    ):
        ae.publish_key("AE", shared)


def test_unknown_key_bad_reason_and_bad_url(world: World) -> None:
    bw = Directory(world.bw_auth)
    with reverts(DirectoryKeyUnknown, code=b"BW", keyId=b"\7" * 32):
        bw.key_by_id("BW", b"\7" * 32)
    bw.publish_key("BW", os.urandom(32))
    current = bw.current_key("BW")
    assert current is not None
    with unchanged(world.gov, lambda: bw.history("BW")), reverts(DirectoryInvalidReason):
        bw.revoke_key("BW", current.key_id, "")
    for url in ("ftp://kp.example", "https://", "x" * 20, "https://" + "a" * 600):
        with unchanged(world.gov, lambda: bw.inbox_url("BW")), reverts(DirectoryInvalidInboxUrl):
            bw.set_inbox_url("BW", url)


def test_deployment_records_without_a_directory_still_load(tmp_path: Path, world: World) -> None:
    record = {k: v for k, v in world.gov.deployment.__dict__.items() if k != "directory"}
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(record))
    old = Deployment.load(path)
    assert old.directory == ""
    with pytest.raises(ConfigurationError, match="no exchange directory"):
        Directory(Ledger(world.gov.rpc, old))
