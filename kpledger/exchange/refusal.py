"""Why a recipient refuses an envelope: one typed reason, told to the sender in the
signed receipt (docs/exchange.md lists them with what the sender should do)."""

from __future__ import annotations

from enum import StrEnum

from kpledger.errors import KPLedgerError


class Refusal(StrEnum):
    MALFORMED = "malformed"
    """Not a kpledger-envelope-v1 JSON object (or its decrypted payload is not well formed)."""
    OVERSIZED = "oversized"
    """Larger than the recipient accepts (8 MiB)."""
    WRONG_DEPLOYMENT = "wrong_deployment"
    """Made for another chain id or certificate ledger than the recipient's."""
    BAD_SIGNATURE = "bad_signature"
    """The EIP-712 signature does not recover to the account the envelope names (forged or altered)."""
    SIGNER_NOT_AUTHORITY = "signer_not_authority"
    """The signer is not an authority of the sending participant on chain."""
    WRONG_RECIPIENT = "wrong_recipient"
    """Addressed to another participant than this node's."""
    KEY_NOT_IN_FORCE = "key_not_in_force"
    """The key id is not the recipient's directory key in force at the envelope's key block
    (unknown, rotated out by then, revoked, or a key block in the future)."""
    UNDECRYPTABLE = "undecryptable"
    """The ciphertext does not open with the named key (tampered, or sealed for another key)."""
    HASH_MISMATCH = "hash_mismatch"
    """The decrypted document's hash differs from the envelope's document hash."""
    NOT_ON_CHAIN = "not_on_chain"
    """The chain holds no certificate (issued or batch-proven) with this document hash."""
    NOT_ADDRESSED = "not_addressed"
    """The chain's record has another number, origin or destination than the envelope."""
    NOT_ISSUED = "not_issued"
    """The chain's certificate is not in force (requested, voided, superseded, received, expired)."""
    REPLAY = "replay"
    """This envelope id came before with other contents, or this certificate was already
    delivered under another envelope id."""


class EnvelopeRefused(KPLedgerError):
    """An envelope was refused for ``reason``; ``detail`` says what exactly, for the sender."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
