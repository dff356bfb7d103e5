"""``kpledger cert list``: the ledger's certificates, filtered, from its events.

A module of its own so that ``cert``'s other commands stay as they are; registered on
the ``cert`` group by :mod:`kpledger.cli.app`. The listing itself is
:mod:`kpledger.chain.listing` (events in, filtered rows out).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.markup import escape

from kpledger.cli import output
from kpledger.cli.errors import UsageProblem
from kpledger.cli.options import JsonOption, common, session

_STATUSES = ("REQUESTED", "ISSUED", "RECEIVED", "DISPUTED", "VOIDED", "SUPERSEDED", "EXPIRED")


def register(cert_app: typer.Typer) -> None:
    cert_app.command("list")(list_command)


@common()
def list_command(
    origin: Annotated[str | None, typer.Option("--origin", help="Exporting participant, e.g. BW.")] = None,
    destination: Annotated[
        str | None, typer.Option("--destination", help="Importing participant, e.g. AE.")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help=f"One of {', '.join(_STATUSES)}.", case_sensitive=False)
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="YYYY-MM-DD", help="Anchored or issued on or after.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="YYYY-MM-DD", help="Anchored or issued on or before.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the ledger's certificates (from its events), filtered.

    Batched certificates appear once revealed. EXPIRED is derived, as the ledger does.

    Example: `kpledger cert list --origin BW --status ISSUED --since 2026-01-01`"""
    from kpledger.chain import listing
    from kpledger.types import CertificateStatus

    wanted = listing.Filter(
        origin=_code("--origin", origin),
        destination=_code("--destination", destination),
        status=CertificateStatus[status.upper()] if status and status.upper() in _STATUSES else None,
        since=_day("--since", since),
        until=_day("--until", until),
    )
    if status and wanted.status is None:
        raise UsageProblem(f"--status {status!r} is not a status", hint=f"give one of {', '.join(_STATUSES)}")
    ledger = session().ledger()
    events, now = listing.gather(ledger)
    rows = listing.select(listing.fold(events), wanted, now=now)
    if as_json:
        output.json_out([row.to_dict() for row in rows])
        return
    output.table(
        f"{len(rows)} certificate{'s' if len(rows) != 1 else ''}",
        ("number", "from", "to", "status", "carats", "value (US$)", "parcels", "date", "document hash"),
        [
            (escape(r.number), r.origin, r.destination, r.status.name, f"{r.carats / 100:,.2f}",
             f"{r.value_cents / 100:,.2f}", r.parcels, r.day.isoformat(), "0x" + r.document_hash.hex())
            for r in rows
        ],
    )  # fmt: skip


def _code(flag: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) != 2 or not value.isalpha():
        raise UsageProblem(
            f"{flag} {value!r} is not a participant code", hint="give two letters, e.g. BW or EU"
        )
    return value.upper()


def _day(flag: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageProblem(
            f"{flag} {value!r} is not a date", hint="give YYYY-MM-DD, e.g. 2026-01-31"
        ) from None
