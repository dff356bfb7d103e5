"""The verification service: a thin FastAPI layer over :mod:`kpledger.verify` and
:class:`kpledger.ledger.Ledger`, plus the web page that hashes documents in the browser.

    from kpledger.api import create_app
    app = create_app()              # settings from KPLEDGER_* (see ApiSettings)
"""

from kpledger.api.app import create_app
from kpledger.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
