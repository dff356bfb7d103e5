"""Every acceptance rule against the real in-process chain: an envelope passes only when
the chain vouches for its signer, key, document and certificate; each refusal carries its
typed reason."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from kpledger.certificate.hashing import canonical_json, document_hash
from kpledger.certificate.model import parse_certificate
from kpledger.certificate.samples import sample_certificate
from kpledger.exchange import eip712
from kpledger.exchange.acceptance import Acceptor
from kpledger.exchange.directory import Directory
from kpledger.exchange.envelope import HPKE_INFO, SUITE_IDS, Envelope, Payload, envelope_digest, parse
from kpledger.exchange.keys import SUITE, generate, public_key
from kpledger.exchange.refusal import EnvelopeRefused, Refusal
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree, batch_proof_document

from .conftest import Exchange


def _acceptor(exchange: Exchange, participant: str = "AE") -> Acceptor:
    return Acceptor(exchange.world.ae_auth, participant, exchange.ae_keys)


def _refused(exchange: Exchange, envelope: Envelope, participant: str = "AE") -> Refusal:
    with pytest.raises(EnvelopeRefused) as info:
        _acceptor(exchange, participant).accept(envelope)
    return info.value.reason


def test_an_issued_certificate_is_accepted(exchange: Exchange) -> None:
    document = exchange.issue()
    accepted = _acceptor(exchange).accept(parse(exchange.seal(document).to_bytes()))
    assert accepted.payload.document == document


def test_forged_signature(exchange: Exchange) -> None:
    envelope = exchange.seal(exchange.issue(), signing_key=exchange.stranger_key)  # names BW's authority
    assert _refused(exchange, envelope) is Refusal.BAD_SIGNATURE


def test_signer_not_an_authority_of_the_sender(exchange: Exchange) -> None:
    stranger = exchange.world.stranger.address
    envelope = exchange.seal(exchange.issue(), signing_key=exchange.stranger_key, signer=stranger)
    assert _refused(exchange, envelope) is Refusal.SIGNER_NOT_AUTHORITY
    # An authority, but of another participant (AE signing as BW).
    envelope = exchange.seal(
        exchange.issue(), signing_key=exchange.ae_key, signer=exchange.world.ae_auth.address
    )
    assert _refused(exchange, envelope) is Refusal.SIGNER_NOT_AUTHORITY


def test_wrong_recipient_and_wrong_deployment(exchange: Exchange) -> None:
    envelope = exchange.seal(exchange.issue())
    assert _refused(exchange, envelope, participant="BE") is Refusal.WRONG_RECIPIENT
    other_chain = dataclasses.replace(envelope, chain_id=envelope.chain_id + 1)
    assert _refused(exchange, other_chain) is Refusal.WRONG_DEPLOYMENT


def test_rotated_out_key_refused_but_old_envelopes_still_read(exchange: Exchange) -> None:
    document = exchange.issue()
    old_pair = exchange.ae_keys.newest
    sealed_before = exchange.seal(document)
    new_pair = generate()
    exchange.ae_keys.add(new_pair)
    rotation = Directory(exchange.world.ae_auth).publish_key("AE", new_pair.public_key)
    # Sealed before the rotation for the key then in force: still accepted, still readable.
    assert _acceptor(exchange).accept(sealed_before).payload.document == document
    # Sealed after it for the rotated-out key (stating the current block): refused.
    late = exchange.seal(exchange.issue(), pair=old_pair, key_block=rotation.block_number)
    assert _refused(exchange, late) is Refusal.KEY_NOT_IN_FORCE
    # The new key works; a key block in the future does not.
    fresh = exchange.seal(exchange.issue(), key_block=rotation.block_number)
    _acceptor(exchange).accept(fresh)
    future = exchange.seal(exchange.issue(), key_block=rotation.block_number + 1_000)
    assert _refused(exchange, future) is Refusal.KEY_NOT_IN_FORCE


def test_revoked_and_unknown_keys(exchange: Exchange) -> None:
    document = exchange.issue()
    unknown = generate()
    assert _refused(exchange, exchange.seal(document, pair=unknown)) is Refusal.KEY_NOT_IN_FORCE
    envelope = exchange.seal(document)
    Directory(exchange.world.gov).revoke_key("AE", exchange.ae_keys.newest.key_id, "compromised")
    assert _refused(exchange, envelope) is Refusal.KEY_NOT_IN_FORCE


def test_tampered_ciphertext(exchange: Exchange) -> None:
    envelope = exchange.seal(exchange.issue())
    # A relay flips a byte and re-signs nothing: the signature no longer covers it.
    tampered = dataclasses.replace(
        envelope, ciphertext=envelope.ciphertext[:-1] + bytes([envelope.ciphertext[-1] ^ 1])
    )
    assert _refused(exchange, tampered) is Refusal.BAD_SIGNATURE
    # The sender's own authority signs a ciphertext sealed for another key under AE's key id.
    other = exchange.seal(exchange.issue(), pair=generate())
    forged = exchange.seal(exchange.issue())
    hybrid = dataclasses.replace(forged, enc=other.enc, ciphertext=other.ciphertext)
    hybrid = dataclasses.replace(hybrid, signature=eip712.sign(exchange.bw_key, hybrid.signing_digest()))
    assert _refused(exchange, hybrid) is Refusal.UNDECRYPTABLE


def forge(exchange: Exchange, payload: Payload, **header: object) -> Envelope:
    """An envelope sealed and signed by BW's real authority whose header says what
    ``header`` overrides (the AEAD binds the forged header, so it opens)."""
    honest = exchange.seal(payload)
    fields = honest.header() | header
    enc, context = SUITE.create_sender_context(public_key(exchange.ae_keys.newest.public_key), HPKE_INFO)
    ciphertext = context.seal(payload.to_bytes(), canonical_json(fields))
    hpke = {**SUITE_IDS, "enc": b64(enc), "ciphertext": b64(ciphertext)}
    signature = eip712.sign(exchange.bw_key, envelope_digest(fields, hpke))
    return parse({**fields, "hpke": hpke, "signer": honest.signer, "signature": "0x" + signature.hex()})


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_hash_mismatch(exchange: Exchange) -> None:
    """The header names the chain's hash; the sealed document is another."""
    document = exchange.issue()
    other = {**document, "carats": 1.0}
    forged = forge(exchange, Payload(other), document_hash="0x" + document_hash(document).hex())
    assert _refused(exchange, forged) is Refusal.HASH_MISMATCH


def test_document_whose_hash_the_chain_does_not_hold(exchange: Exchange) -> None:
    assert _refused(exchange, exchange.seal(sample_certificate())) is Refusal.NOT_ON_CHAIN


def test_voided_and_misaddressed_certificates(exchange: Exchange) -> None:
    document = exchange.issue()
    exchange.world.bw_auth.void(document_hash(document), "issued in error")
    assert _refused(exchange, exchange.seal(document)) is Refusal.NOT_ISSUED
    to_be = exchange.issue(importing_participant="BE")
    assert _refused(exchange, exchange.seal(to_be)) is Refusal.NOT_ADDRESSED


def test_batch_member_with_its_proof(exchange: Exchange) -> None:
    world = exchange.world
    documents = [sample_certificate() for _ in range(3)]
    terms = [parse_certificate(d).chain_terms() for d in documents]
    tree = StandardMerkleTree.of([t.as_tuple() for t in terms], CERTIFICATE_LEAF)
    world.bw_auth.anchor_batch("BW", bytes.fromhex(tree.root[2:]), len(terms))
    proof = batch_proof_document(tree, 1)
    accepted = _acceptor(exchange).accept(exchange.seal(Payload(documents[1], proof)))
    assert accepted.payload.proof == proof
    # Without the proof the chain knows nothing of it; with a proof of another member it fails.
    assert _refused(exchange, exchange.seal(documents[2])) is Refusal.NOT_ON_CHAIN
    assert _refused(exchange, exchange.seal(Payload(documents[2], proof))) is Refusal.NOT_ON_CHAIN
    unanchored = StandardMerkleTree.of([terms[0].as_tuple(), terms[2].as_tuple()], CERTIFICATE_LEAF)
    stray = batch_proof_document(unanchored, 1)
    assert _refused(exchange, exchange.seal(Payload(documents[2], stray))) is Refusal.NOT_ON_CHAIN
