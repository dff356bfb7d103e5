"""Certificate exchange between KP authorities (issue 15).

The chain is the directory (:mod:`kpledger.exchange.directory`: exchange keys and inbox
URLs with their history) and the trust anchor; an envelope
(:mod:`kpledger.exchange.envelope`) carries a certificate end-to-end encrypted with HPKE
(RFC 9180) and signed (EIP-712) by an authority of the sender; the recipient accepts it
only under the rules of :mod:`kpledger.exchange.acceptance`.
"""
