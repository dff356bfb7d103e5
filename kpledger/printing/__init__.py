"""The printed certificate: an A4 PDF of every Annex I element with a QR code that opens
the verification page for exactly this document (number and document hash).

Why a PDF of the JSON and not the other way round: the chain anchors the JSON
document's hash; the paper that travels with the parcels carries that hash and a link,
so a customs officer can check the paper against the ledger with a phone.
"""

from kpledger.printing.link import parse_verification_link, verification_link
from kpledger.printing.pdf import certificate_pdf

__all__ = ["certificate_pdf", "parse_verification_link", "verification_link"]
