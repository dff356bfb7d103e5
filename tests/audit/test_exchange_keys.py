"""The auditor's replay and report include the exchange directory: every key
publication, rotation and revocation and every inbox URL change, in block order."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kpledger.audit import build_report, replay
from kpledger.exchange.directory import X25519_HKDF_SHA256, Directory, key_id

if TYPE_CHECKING:
    from tests.conftest import World


def test_report_lists_key_history(world: World, db_url: str) -> None:
    ae = Directory(world.ae_auth)
    first, second = os.urandom(32), os.urandom(32)
    ae.publish_key("AE", first)
    ae.set_inbox_url("AE", "https://kp.ae.example/v1/exchange/envelopes")
    ae.publish_key("AE", second)
    Directory(world.gov).revoke_key("AE", key_id(X25519_HKDF_SHA256, second), "key compromised")
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    report = build_report(db_url)
    rows = report.tables["exchange_keys"]
    first_id, second_id = ("0x" + key_id(X25519_HKDF_SHA256, k).hex() for k in (first, second))
    assert [(r["code"], r["event"], r["key_id"]) for r in rows] == [
        ("AE", "ExchangeKeyPublished", first_id),
        ("AE", "InboxUrlChanged", None),
        ("AE", "ExchangeKeyRotated", first_id),
        ("AE", "ExchangeKeyPublished", second_id),
        ("AE", "ExchangeKeyRevoked", second_id),
    ]
    assert rows[2]["replaced_by"] == second_id
    assert rows[4]["detail"] == "key compromised" and rows[4]["by"].lower() == world.gov.address.lower()
    assert "Exchange keys and inboxes" in report.to_html()
