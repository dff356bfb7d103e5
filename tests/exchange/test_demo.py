"""``kpledger demo exchange --json`` end to end (four node processes, ~80 s): the line it
prints is counted from the nodes' stores and shows every envelope delivered exactly once
and every bad envelope refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.anvil]


def test_demo_exchange_json_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kpledger.cli", "demo", "exchange", "--json"],
        capture_output=True,
        text=True,
        timeout=400,
        check=True,
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["sent"] >= 20 and summary["delivered"] == summary["sent"]
    assert (summary["duplicates"], summary["lost"]) == (0, 0)
    assert summary["bad_attempts"] >= 10 and summary["refused"] == summary["bad_attempts"]
    assert summary["batch_members"] >= 1 and summary["nodes"] >= 3
    assert set(summary["refusal_reasons"]) >= {
        "bad_signature",
        "signer_not_authority",
        "wrong_recipient",
        "key_not_in_force",
        "not_on_chain",
        "replay",
        "oversized",
        "malformed",
        "not_issued",
        "hash_mismatch",
    }
