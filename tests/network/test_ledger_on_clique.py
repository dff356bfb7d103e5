"""kpledger's contracts on a real 4-validator Clique network: deployed, a certificate
anchored and validated through one node, verified VALID through another."""

from __future__ import annotations

import pytest

from kpledger.certificate import parse_certificate, sample_certificate
from kpledger.ledger import Ledger
from kpledger.network.cluster import CliqueNetwork
from kpledger.verify import verify
from tests.network.conftest import kimberley_process

pytestmark = pytest.mark.network


def test_a_certificate_anchored_through_one_node_verifies_valid_through_another(
    clique: CliqueNetwork,
) -> None:
    botswana, _, exporter = kimberley_process(clique.urls[0])
    document = sample_certificate(
        number="BW 2026/000777", exporting_participant="BW", importing_participant="AE"
    )
    exporter.anchor(parse_certificate(document).chain_terms())
    botswana.validate("BW 2026/000777")
    head = int(clique.nodes[0].request("eth_blockNumber"), 16)
    clique.wait_for_block(head + 1, timeout=30)  # every validator holds the validation

    elsewhere = Ledger.connect(clique.urls[2], exporter.deployment)
    result = verify(elsewhere, document)
    assert result.valid and result.verdict == "VALID", result.message
