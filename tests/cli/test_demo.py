"""The demo scenario: every transition reaches the state the plan promised, on a node
whose clock starts in the past (history) and on one that does not (compressed)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpledger.chain.node import AnvilNode
from kpledger.demo import ACCOUNTS_NEEDED, DEV_ROLES, DemoSummary, dev_account_index, seed_demo
from kpledger.devkeys import dev_only_key
from kpledger.errors import ConfigurationError
from kpledger.ledger import Ledger
from kpledger.types import ParticipantStatus
from tests.chain.nodeworld import start_anvil
from tests.cli.conftest import Cli

DAY = 86_400


def _actual(ledger: Ledger, summary: DemoSummary) -> Counter[str]:
    seen: Counter[str] = Counter()
    for numbers in summary.numbers.values():
        for number in numbers:
            record = ledger.certificate(number)
            seen[record.status.name if record is not None else "BATCHED (not revealed)"] += 1
    return seen


def _expected(summary: DemoSummary) -> Counter[str]:
    expected: Counter[str] = Counter()
    for key, count in summary.expected_status.items():
        expected[key.split(" (expires")[0]] += count  # "ISSUED (expires at the end of today, UTC)"
    return expected


@pytest.fixture(scope="module")
def history_node() -> Iterator[AnvilNode]:
    """An anvil whose clock starts 200 days ago, as `kpledger up` starts one for the demo."""
    node = start_anvil(
        accounts=ACCOUNTS_NEEDED + 8, extra_args=["--timestamp", str(int(time.time()) - 200 * DAY)]
    )
    try:
        yield node
    finally:
        node.close()


def test_seed_demo_lays_out_a_history(history_node: AnvilNode, tmp_path: Path) -> None:
    gov = Ledger.deploy(history_node.url, dev_only_key(0))
    summary = seed_demo(
        gov, keys=history_node.dev_only_keys(ACCOUNTS_NEEDED), certificates=80, out_dir=tmp_path
    )
    assert summary.history_days >= 150 and summary.mode.startswith("history")
    assert _actual(gov, summary) == _expected(summary)
    for status in ("RECEIVED", "ISSUED", "REQUESTED", "DISPUTED", "VOIDED", "SUPERSEDED", "EXPIRED"):
        assert summary.expected_status.get(status, 0) > 0, status
    # the chain ends in the present, Venezuela was suspended two thirds of the way
    now = gov.block_time(gov.block_number())
    assert abs(now - time.time()) < 120
    venezuela = gov.participant("VE")
    assert venezuela is not None and venezuela.status is ParticipantStatus.SUSPENDED
    suspended_at = venezuela.history[-1].timestamp
    assert now - 90 * DAY < suspended_at < now - 40 * DAY
    # a batch was anchored; its documents and proofs were written for the page
    assert summary.batch_root is not None and gov.batch(bytes.fromhex(summary.batch_root[2:])) is not None
    documents = sorted((tmp_path / "certificates").glob("*.json"))
    assert len([d for d in documents if not d.name.endswith(".proof.json")]) == summary.certificates
    assert len([d for d in documents if d.name.endswith(".proof.json")]) == summary.batch_size
    kinds = {a.kind for a in summary.anomalies}
    assert kinds == {"value_per_carat", "long_dispute", "late_confirmation"}

    # the auditor finds the deliberate anomalies
    from kpledger.audit import build_report, replay

    db = f"sqlite:///{tmp_path / 'audit.db'}"
    replay(history_node.url, gov.deployment, db, progress=False)
    report = build_report(db)
    flagged = {row["number"] for row in report.tables["anomalies_price"]}
    assert {a.number for a in summary.anomalies if a.kind == "value_per_carat"} <= flagged
    assert {row["number"] for row in report.tables["anomalies_long_disputes"]} >= {
        a.number for a in summary.anomalies if a.kind == "long_dispute"
    }
    assert {row["number"] for row in report.tables["anomalies_late_confirmations"]} == {
        a.number for a in summary.anomalies if a.kind == "late_confirmation"
    }
    assert report.summary["invariant_findings"] == 0

    with pytest.raises(ConfigurationError, match="already has participant"):
        seed_demo(gov, keys=history_node.dev_only_keys(ACCOUNTS_NEEDED), certificates=20)


def test_demo_command_on_a_fresh_deployment(cli_node: AnvilNode, tmp_path: Path) -> None:
    """`kpledger deploy` then `kpledger demo` on a node without a past: everything now."""
    snapshot = cli_node.snapshot()
    try:
        cli = Cli(tmp_path / "data", cli_node.url)
        cli("deploy")
        cli("deploy", code=2)  # the recorded contracts exist
        data = json.loads(cli("demo", "-n", "40", "--json").stdout)
        assert data["mode"].startswith("compressed")
        from kpledger.chain.deployment import Deployment

        ledger = Ledger.connect(cli_node.url, Deployment.load(tmp_path / "data" / "deployment.json"))
        summary = DemoSummary(**{**data, "anomalies": []})
        assert _actual(ledger, summary) == _expected(summary)
        listed = {p["code"]: p["status"] for p in cli.json("participant", "list")}
        assert listed["VE"] == "SUSPENDED" and len(listed) == 10
        document = next((tmp_path / "data" / "demo" / "certificates").glob("CD-*.json"))
        cli("verify", str(document), code=None)
        again = cli("demo", "-n", "20", code=2)
        assert "already has participant" in again.stderr
    finally:
        cli_node.revert(snapshot)


def test_dev_account_names() -> None:
    assert dev_account_index("gov") == 0
    assert dev_account_index("BW-Authority") == DEV_ROLES["bw-authority"] == 1
    assert dev_account_index("12") == 12
    with pytest.raises(ConfigurationError, match="unknown dev account"):
        dev_account_index("bw-king")
