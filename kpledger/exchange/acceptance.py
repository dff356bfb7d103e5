"""Whether a recipient accepts an envelope: facts gathered from the chain, judged by pure
functions, every refusal a typed :class:`~kpledger.exchange.refusal.Refusal`.

The rules (issue 15), in the order they are checked — cheapest and most telling first, and
nothing decrypted before the chain vouches for the sender and the key:

1. the envelope is well formed and not oversized (:func:`kpledger.exchange.envelope.parse`);
2. it is for this deployment (chain id, certificate ledger) and addressed to this node's
   participant;
3. its EIP-712 signature recovers to the signer it names, and that signer is an
   authority of the sending participant on chain now;
4. its key id is this participant's directory key, in force at the envelope's key block
   (not revoked, not rotated out by then; the key block not in the future);
5. it decrypts with that key;
6. the decrypted document's hash equals the envelope's;
7. the chain holds that hash — issued, or proven by the batch proof inside — with the same
   number, from the sender, to this participant, and in force (ISSUED);
8. it is not a replay (an id seen with other contents, a certificate already delivered).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kpledger.certificate.hashing import document_hash
from kpledger.contract_errors import DirectoryKeyUnknown
from kpledger.exchange.directory import Directory, ExchangeKey
from kpledger.exchange.envelope import Envelope, Payload, open_payload
from kpledger.exchange.keys import Keyring
from kpledger.exchange.refusal import EnvelopeRefused, Refusal
from kpledger.ledger import Ledger
from kpledger.merkle import CERTIFICATE_LEAF, PROOF_DOCUMENT_FORMAT, verify_proof_document
from kpledger.types import Batch, CertificateRecord, CertificateStatus

FACTS_TTL = 1.0
"""Seconds a node reuses what the chain said about a sender's signer and key."""


@dataclass(frozen=True)
class Deployment:
    """Who this node is: its participant and the deployment it trusts."""

    participant: str
    chain_id: int
    ledger: str


@dataclass(frozen=True)
class SenderFacts:
    head: int
    signer_is_authority: bool
    key: ExchangeKey | None


@dataclass(frozen=True)
class CertificateFacts:
    record: CertificateRecord | None
    batch: Batch | None


@dataclass(frozen=True)
class Accepted:
    envelope: Envelope
    payload: Payload


# ---------------------------------------------------------------------- pure judgements


def check_header(envelope: Envelope, me: Deployment) -> None:
    if envelope.chain_id != me.chain_id or envelope.ledger.lower() != me.ledger.lower():
        raise EnvelopeRefused(
            Refusal.WRONG_DEPLOYMENT,
            f"made for chain {envelope.chain_id} ledger {envelope.ledger}; "
            f"this node trusts chain {me.chain_id} ledger {me.ledger}",
        )
    if envelope.recipient != me.participant:
        raise EnvelopeRefused(
            Refusal.WRONG_RECIPIENT,
            f"addressed to {envelope.recipient}; this node receives for {me.participant}",
        )
    if envelope.recovered_signer() != envelope.signer:
        raise EnvelopeRefused(
            Refusal.BAD_SIGNATURE, f"the signature is not {envelope.signer}'s over this envelope"
        )


def check_sender(envelope: Envelope, facts: SenderFacts) -> None:
    if not facts.signer_is_authority:
        raise EnvelopeRefused(
            Refusal.SIGNER_NOT_AUTHORITY,
            f"{envelope.signer} is not an authority of {envelope.sender} on chain",
        )
    key = facts.key
    key_hex = "0x" + envelope.key_id.hex()
    if key is None:
        raise EnvelopeRefused(Refusal.KEY_NOT_IN_FORCE, f"{envelope.recipient} never published key {key_hex}")
    if key.revoked:
        raise EnvelopeRefused(Refusal.KEY_NOT_IN_FORCE, f"key {key_hex} was revoked at block {key.valid_to}")
    if envelope.key_block > facts.head:
        raise EnvelopeRefused(
            Refusal.KEY_NOT_IN_FORCE, f"key block {envelope.key_block} is after the chain head {facts.head}"
        )
    if not key.in_force_at(envelope.key_block):
        raise EnvelopeRefused(
            Refusal.KEY_NOT_IN_FORCE,
            f"key {key_hex} was in force from block {key.valid_from} to {key.valid_to or 'now'}, "
            f"not at block {envelope.key_block}: fetch the current key from the directory and seal again",
        )


def check_contents(envelope: Envelope, payload: Payload) -> None:
    actual = document_hash(payload.document)
    if actual != envelope.document_hash:
        raise EnvelopeRefused(
            Refusal.HASH_MISMATCH,
            f"the document inside hashes to 0x{actual.hex()}, "
            f"the envelope says 0x{envelope.document_hash.hex()}",
        )


def check_certificate(envelope: Envelope, payload: Payload, facts: CertificateFacts) -> None:
    record = facts.record
    if record is not None:
        _check_terms(envelope, record.number, record.origin, record.destination)
        if record.status != CertificateStatus.ISSUED:
            raise EnvelopeRefused(
                Refusal.NOT_ISSUED,
                f"certificate {record.number} is {record.status.name} on chain, not ISSUED",
            )
        return
    proof = payload.proof
    if proof is None:
        raise EnvelopeRefused(
            Refusal.NOT_ON_CHAIN,
            f"the chain holds no certificate 0x{envelope.document_hash.hex()} and no proof came",
        )
    if (
        proof.get("format") != PROOF_DOCUMENT_FORMAT
        or list(proof.get("leafEncoding", [])) != list(CERTIFICATE_LEAF)
        or not _proof_holds(proof)
    ):
        raise EnvelopeRefused(Refusal.NOT_ON_CHAIN, "the batch proof inside does not hold")
    leaf = proof["leaf"]
    if str(leaf[0]).lower() != "0x" + envelope.document_hash.hex():
        raise EnvelopeRefused(Refusal.NOT_ON_CHAIN, "the batch proof is for another document hash")
    if facts.batch is None:
        raise EnvelopeRefused(
            Refusal.NOT_ON_CHAIN, f"no batch with root {proof.get('root')} is anchored on chain"
        )
    origin, destination = _code_of(leaf[2]), _code_of(leaf[3])
    _check_terms(envelope, str(leaf[1]), origin, destination)
    if facts.batch.origin != envelope.sender:
        raise EnvelopeRefused(Refusal.NOT_ADDRESSED, f"the batch was anchored by {facts.batch.origin}")


def _check_terms(envelope: Envelope, number: str, origin: str, destination: str) -> None:
    if (number, origin, destination) != (envelope.number, envelope.sender, envelope.recipient):
        raise EnvelopeRefused(
            Refusal.NOT_ADDRESSED,
            f"the chain has {number} from {origin} to {destination}; the envelope says "
            f"{envelope.number} from {envelope.sender} to {envelope.recipient}",
        )


def _proof_holds(proof: dict[str, object]) -> bool:
    try:
        return bool(verify_proof_document(proof))
    except Exception:  # a malformed proof is simply one that does not hold
        return False


def _code_of(value: object) -> str:
    text = str(value)
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:]).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return text
    return text


# ---------------------------------------------------------------------- gathering + order


class Acceptor:
    """Runs the rules for one node: ``ledger`` reads the chain, ``keyring`` decrypts."""

    def __init__(self, ledger: Ledger, participant: str, keyring: Keyring) -> None:
        self.ledger = ledger
        self.directory = Directory(ledger)
        self.keyring = keyring
        self.me = Deployment(participant, ledger.deployment.chain_id, ledger.deployment.ledger)
        self._facts: dict[tuple[str, str, bytes], tuple[float, SenderFacts]] = {}

    def sender_facts(self, envelope: Envelope) -> SenderFacts:
        """Chain facts about signer and key, reused for ``FACTS_TTL`` seconds: a burst
        of envelopes from one sender costs one round of reads, and a revocation or an
        authority's removal is seen within that time."""
        key = (envelope.sender, envelope.signer, envelope.key_id)
        now = time.monotonic()
        cached = self._facts.get(key)
        if cached is not None and cached[0] > now and envelope.key_block <= cached[1].head:
            return cached[1]
        facts = self._read_sender_facts(envelope)
        if len(self._facts) > 1024:
            self._facts.clear()
        self._facts[key] = (now + FACTS_TTL, facts)
        return facts

    def _read_sender_facts(self, envelope: Envelope) -> SenderFacts:
        head = self.ledger.block_number()
        is_authority = self.ledger.is_authority(envelope.sender, envelope.signer, block=head)
        try:
            key: ExchangeKey | None = self.directory.key_by_id(
                self.me.participant, envelope.key_id, block=head
            )
        except DirectoryKeyUnknown:
            key = None
        return SenderFacts(head, is_authority, key)

    def certificate_facts(self, envelope: Envelope, payload: Payload) -> CertificateFacts:
        record = self.ledger.certificate(envelope.document_hash)
        batch = None
        if record is None and payload.proof is not None and isinstance(payload.proof.get("root"), str):
            try:
                batch = self.ledger.batch(bytes.fromhex(str(payload.proof["root"])[2:]))
            except ValueError:
                batch = None
        return CertificateFacts(record, batch)

    def accept(self, envelope: Envelope) -> Accepted:
        """Accepted, or EnvelopeRefused with the first rule the envelope breaks
        (replays are the store's check: it knows what came before)."""
        check_header(envelope, self.me)
        check_sender(envelope, self.sender_facts(envelope))
        pair = self.keyring.get(envelope.key_id)
        if pair is None:
            raise EnvelopeRefused(
                Refusal.UNDECRYPTABLE, "this node does not hold the private key of that key id"
            )
        payload = open_payload(envelope, pair)
        check_contents(envelope, payload)
        check_certificate(envelope, payload, self.certificate_facts(envelope, payload))
        return Accepted(envelope, payload)
