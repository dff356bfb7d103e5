"""Dependencies the routes share."""

from __future__ import annotations

from fastapi import Request

from kpledger.api.source import LedgerSource


def ledger_source(request: Request) -> LedgerSource:
    """The app's :class:`LedgerSource` (set by :func:`kpledger.api.app.create_app`)."""
    source: LedgerSource = request.app.state.ledger_source
    return source
