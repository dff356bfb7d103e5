"""Exactly once across crashes: three national nodes, certificates from BW to AE and IN,
and ten SIGKILLs, alternately of the sender (BW) and of a recipient (AE), each in the
middle of a burst of deliveries. Counted from the nodes' own stores afterwards: every
envelope delivered, none twice, none lost."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from kpledger.certificate.model import parse_certificate
from kpledger.certificate.samples import sample_certificate
from kpledger.exchange.envelope import Payload
from kpledger.exchange.federation import Federation, NodeSpec

pytestmark = [pytest.mark.crash, pytest.mark.anvil]

ROUNDS = 10
PER_ROUND = 6


def test_ten_kills_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    fed = Federation(tmp_path, [NodeSpec("BW"), NodeSpec("AE"), NodeSpec("IN")]).start()
    try:
        bw = fed.ledger("BW")
        exporter = fed.ledger("BW:exporter").address
        sender = fed.sender("BW")
        sent: dict[str, str] = {}
        for round_ in range(ROUNDS):
            for i in range(PER_ROUND):
                destination = "AE" if i % 2 == 0 else "IN"
                document = sample_certificate(importing_participant=destination)
                bw.issue(parse_certificate(document).chain_terms(), exporter)
                envelope = sender.send(Payload(document), destination)
                sent[envelope.id_hex] = destination
            time.sleep(0.05 * (round_ % 3))  # kill at different points of the burst
            fed.restart("BW" if round_ % 2 == 0 else "AE")
        counts = fed.wait_settled("BW", len(sent), timeout=120)
        assert counts == {"delivered": len(sent)}, counts
        delivered: Counter[str] = Counter()
        for code in ("AE", "IN"):
            store = fed.store(code)
            ids = [e.id for e in store.inbox_entries()]
            numbers = [e.number for e in store.inbox_entries()]
            assert len(ids) == len(set(ids)) and len(numbers) == len(set(numbers)), "a duplicate in the inbox"
            delivered.update({i: 1 for i in ids})
            assert {i for i, d in sent.items() if d == code} == set(ids), f"{code}: lost or stray envelopes"
        assert sum(delivered.values()) == len(sent) == ROUNDS * PER_ROUND
    finally:
        fed.close()
