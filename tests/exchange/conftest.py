"""An exchange on the in-process chain: AE has published an exchange key; BW's authority
issues certificates addressed to AE and seals them into envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kpledger.certificate.model import parse_certificate
from kpledger.certificate.samples import sample_certificate
from kpledger.exchange.directory import Directory
from kpledger.exchange.envelope import Envelope, Payload, seal
from kpledger.exchange.keys import ExchangeKeyPair, Keyring, generate
from tests.conftest import World


@dataclass
class Exchange:
    world: World
    ae_keys: Keyring
    ae_key_block: int
    bw_key: bytes
    """Raw private key of BW's authority account (dev chain key, local only)."""
    stranger_key: bytes
    ae_key: bytes

    def issue(self, **overrides: Any) -> dict[str, Any]:
        """A certificate document BW issues to AE on chain (ISSUED)."""
        document = sample_certificate(**overrides)
        terms = parse_certificate(document).chain_terms()
        self.world.bw_auth.issue(terms, self.world.bw_exporter.address)
        return document

    def seal(
        self,
        payload: Payload | dict[str, Any],
        *,
        signing_key: bytes | None = None,
        signer: str | None = None,
        recipient: str = "AE",
        pair: ExchangeKeyPair | None = None,
        key_block: int | None = None,
        sender: str = "BW",
    ) -> Envelope:
        pair = pair or self.ae_keys.newest
        deployment = self.world.gov.deployment
        return seal(
            payload if isinstance(payload, Payload) else Payload(payload),
            sender=sender,
            recipient=recipient,
            chain_id=deployment.chain_id,
            ledger=deployment.ledger,
            key_id=pair.key_id,
            recipient_public_key=pair.public_key,
            key_block=self.ae_key_block if key_block is None else key_block,
            signing_key=signing_key or self.bw_key,
            signer=signer or self.world.bw_auth.address,
        )


@pytest.fixture
def exchange(world: World) -> Iterator[Exchange]:
    keys = Keyring([generate()])
    receipt = Directory(world.ae_auth).publish_key("AE", keys.newest.public_key)
    chain_keys = world.chain.keys
    yield Exchange(
        world, keys, receipt.block_number, bytes(chain_keys[1]), bytes(chain_keys[9]), bytes(chain_keys[2])
    )
