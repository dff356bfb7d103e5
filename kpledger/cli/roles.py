"""``kpledger authority|exporter|importer``: who may act for a participant.

Governance appoints each participant's authority accounts; an authority licenses its
participant's exporters and importers. ACCOUNT is a ``0x`` address, or on the demo
ledger a demo role (``bw-exporter``) standing for that DEV-ONLY account's address.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kpledger.cli import output, refs
from kpledger.cli.options import common, session
from kpledger.cli.participant import Code, _code

Account = Annotated[
    str, typer.Argument(help="0x address (or a demo role such as bw-exporter).", show_default=False)
]

authority_app = typer.Typer(
    help="Authority accounts of a participant (governance appoints and revokes them).\n\n"
    "Example: `kpledger --dev-account gov authority appoint NA 0x…`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
exporter_app = typer.Typer(
    help="Licensed exporters of a participant (its authority licenses and delists them).\n\n"
    "Example: `kpledger --dev-account bw-authority exporter license BW 0x…`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
importer_app = typer.Typer(
    help="Licensed importers of a participant (its authority licenses and delists them).\n\n"
    "Example: `kpledger --dev-account ae-authority importer license AE 0x…`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@authority_app.command("appoint")
@common()
def appoint(code: Code, account: Account) -> None:
    """Appoint an authority account of a participant (governance).

    Example: `kpledger authority appoint BW 0x70997970C51812dc3A010C7d01b50e0d17dc79C8`"""
    address = refs.account(account)
    receipt = session().ledger(sign=True).appoint_authority(_code(code), address)
    output.success(f"{address} is now an authority of {_code(code)} — block {receipt.block_number}")


@authority_app.command("revoke")
@common()
def revoke(code: Code, account: Account) -> None:
    """Revoke an authority account (governance)."""
    address = refs.account(account)
    receipt = session().ledger(sign=True).revoke_authority(_code(code), address)
    output.success(f"{address} is no longer an authority of {_code(code)} — block {receipt.block_number}")


@authority_app.command("check")
@common()
def check_authority(code: Code, account: Account) -> None:
    """Whether an account is an authority of a participant (exit 1 if not)."""
    _check("authority", session().ledger().is_authority(_code(code), refs.account(account)), code, account)


@exporter_app.command("license")
@common()
def license_exporter(code: Code, account: Account) -> None:
    """License an exporter of your participant (its authority).

    Example: `kpledger --dev-account bw-authority exporter license BW 0x…`"""
    address = refs.account(account)
    receipt = session().ledger(sign=True).license_exporter(_code(code), address)
    output.success(f"{address} is now a licensed exporter of {_code(code)} — block {receipt.block_number}")


@exporter_app.command("delist")
@common()
def delist_exporter(code: Code, account: Account) -> None:
    """Withdraw an exporter's licence (its participant's authority)."""
    address = refs.account(account)
    receipt = session().ledger(sign=True).delist_exporter(_code(code), address)
    output.success(f"{address} is no longer an exporter of {_code(code)} — block {receipt.block_number}")


@exporter_app.command("check")
@common()
def check_exporter(code: Code, account: Account) -> None:
    """Whether an account is a licensed exporter of a participant (exit 1 if not)."""
    _check(
        "licensed exporter", session().ledger().is_exporter(_code(code), refs.account(account)), code, account
    )


@importer_app.command("license")
@common()
def license_importer(code: Code, account: Account) -> None:
    """License an importer of your participant (its authority).

    Example: `kpledger --dev-account ae-authority importer license AE 0x…`"""
    address = refs.account(account)
    receipt = session().ledger(sign=True).license_importer(_code(code), address)
    output.success(f"{address} is now a licensed importer of {_code(code)} — block {receipt.block_number}")


@importer_app.command("delist")
@common()
def delist_importer(code: Code, account: Account) -> None:
    """Withdraw an importer's licence (its participant's authority)."""
    address = refs.account(account)
    receipt = session().ledger(sign=True).delist_importer(_code(code), address)
    output.success(f"{address} is no longer an importer of {_code(code)} — block {receipt.block_number}")


@importer_app.command("check")
@common()
def check_importer(code: Code, account: Account) -> None:
    """Whether an account is a licensed importer of a participant (exit 1 if not)."""
    _check(
        "licensed importer", session().ledger().is_importer(_code(code), refs.account(account)), code, account
    )


def _check(role: str, holds: bool, code: str, account: str) -> None:
    if holds:
        output.success(f"{account} is a {role} of {_code(code)}")
        return
    output.result(f"[red]✗[/red] {account} is not a {role} of {_code(code)}")
    raise typer.Exit(1)
