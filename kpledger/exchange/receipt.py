"""Signed delivery receipts (format ``kpledger-receipt-v1``, docs/exchange.md).

Why signed: the sender marks an envelope delivered (or refused, with the reason) only on
a receipt an authority of the recipient signed (EIP-712, same domain as envelopes), so a
relay or a man in the middle cannot fake a delivery.
"""

from __future__ import annotations

import time
from typing import Any, Final

from eth_utils.address import to_checksum_address

from kpledger.chain.sender import Signer
from kpledger.exchange import eip712
from kpledger.ledger import Ledger

FORMAT: Final = "kpledger-receipt-v1"
NO_ID: Final = "0x" + "00" * 16
NO_HASH: Final = "0x" + "00" * 32


def _values(receipt: dict[str, Any]) -> dict[str, Any]:
    return {
        "envelopeId": bytes.fromhex(receipt["envelope_id"][2:]),
        "documentHash": bytes.fromhex(receipt["document_hash"][2:]),
        "recipient": receipt["recipient"],
        "outcome": receipt["outcome"],
        "reason": receipt["reason"],
        "receivedAt": receipt["received_at"],
    }


def make(
    *,
    envelope_id: str | None,
    document_hash: str | None,
    recipient: str,
    outcome: str,
    reason: str,
    detail: str,
    chain_id: int,
    ledger: str,
    signing_key: bytes | str | Signer,
    signer: str,
) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "format": FORMAT,
        "envelope_id": envelope_id or NO_ID,
        "document_hash": document_hash or NO_HASH,
        "recipient": recipient,
        "outcome": outcome,
        "reason": reason,
        "detail": detail,
        "received_at": int(time.time()),
        "chain_id": chain_id,
        "ledger": ledger,
        "signer": str(to_checksum_address(signer)),
    }
    message = eip712.digest(chain_id, ledger, "Receipt", eip712.RECEIPT_TYPE, _values(receipt))
    receipt["signature"] = "0x" + eip712.sign(signing_key, message).hex()
    return receipt


def signer_of(receipt: dict[str, Any]) -> str | None:
    """The account that signed ``receipt`` (None if malformed or forged)."""
    try:
        message = eip712.digest(
            receipt["chain_id"], receipt["ledger"], "Receipt", eip712.RECEIPT_TYPE, _values(receipt)
        )
        recovered = eip712.recover(message, bytes.fromhex(receipt["signature"][2:]))
    except (KeyError, ValueError, TypeError):
        return None
    return recovered if recovered == receipt.get("signer") else None


_AUTHORITY_TTL = 1.0
_authorities: dict[tuple[int, str, str, str], float] = {}


def is_valid(receipt: dict[str, Any], ledger: Ledger, envelope_id: str, recipient: str) -> bool:
    """Signed by an authority of ``recipient`` for this envelope on this deployment (a
    positive authority check is reused for a second: one read per burst of receipts)."""
    signer = signer_of(receipt)
    if not (
        signer is not None
        and receipt.get("envelope_id") == envelope_id
        and receipt.get("recipient") == recipient
        and receipt.get("chain_id") == ledger.deployment.chain_id
        and str(receipt.get("ledger", "")).lower() == ledger.deployment.ledger.lower()
    ):
        return False
    key = (ledger.deployment.chain_id, ledger.deployment.ledger, recipient, signer)
    now = time.monotonic()
    if _authorities.get(key, 0.0) > now:
        return True
    if not ledger.is_authority(recipient, signer):
        return False
    _authorities[key] = now + _AUTHORITY_TTL
    return True
