"""Sample certificate documents for tests, demos and the README.

Every call returns a fresh, valid document (Botswana to the United Arab Emirates,
issued today, expiring in 30 days) with a number unique within the process, so a
test can anchor several without clashing on the ledger's number index. Names and
addresses are fictional.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

__all__ = ["OMIT", "sample_certificate", "sample_document_bytes"]


class _Omit:
    """Marker for :func:`sample_certificate` overrides: leave this field out."""

    def __repr__(self) -> str:
        return "OMIT"


#: Pass as an override to drop a field, e.g. ``sample_certificate(title=OMIT)``.
OMIT: Final = _Omit()

_SERIAL = itertools.count(1)
_TITLE: Final = "Kimberley Process Certificate"  # model.TITLE; not imported, to keep this module light


def sample_certificate(*, today: date | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid certificate document as a JSON value, with ``overrides`` applied.

    ``today`` (default: today's UTC date) is the issue date. Overrides replace
    top-level fields (or add unknown ones, to test refusals); :data:`OMIT` removes a
    field. Unless ``number`` is overridden, it starts with the (possibly overridden)
    exporting participant, so ``sample_certificate(exporting_participant="RU")`` is
    still valid.
    """
    issued = today or datetime.now(UTC).date()
    exporting = overrides.get("exporting_participant", "BW")
    document: dict[str, Any] = {
        "title": _TITLE,
        "number": f"{exporting} {issued:%Y} {next(_SERIAL):06d}",
        "issuing_authority": "Ministry of Minerals and Energy, Government Diamond Valuator",
        "exporting_participant": "BW",
        "importing_participant": "AE",
        "exporter": {
            "name": "Kalahari Rough Exports (Pty) Ltd",
            "address": "Plot 1234, Fairgrounds Office Park, Gaborone, Botswana",
            "licence": "BW-DDL-0042",
        },
        "importer": {
            "name": "Gulf Rough Trading DMCC",
            "address": "Unit 801, Almas Tower, Jumeirah Lakes Towers, Dubai, United Arab Emirates",
        },
        "origin": ["BW"],
        "carats": 1520.35,
        "value_usd": 245870.5,
        "parcels": 3,
        "hs_code": "7102.10",
        "issued_on": issued.isoformat(),
        "expires_on": (issued + timedelta(days=30)).isoformat(),
    }
    for key, value in overrides.items():
        if value is OMIT:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def sample_document_bytes(*, today: date | None = None, **overrides: Any) -> bytes:
    """:func:`sample_certificate` as the UTF-8 JSON file an exporter would hand over."""
    document = sample_certificate(today=today, **overrides)
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
