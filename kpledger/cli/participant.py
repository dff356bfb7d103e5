"""``kpledger participant``: KP governance admits, suspends and readmits participants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from kpledger.cli import output
from kpledger.cli.errors import CLIError
from kpledger.cli.options import JsonOption, common, session
from kpledger.types import Participant, ParticipantStatus

app = typer.Typer(
    help="KP participants (governance): admit, suspend, readmit, list.\n\n"
    "Example: `kpledger --dev-account gov participant add NA Namibia --validity-days 60`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

Code = Annotated[
    str, typer.Argument(help="ISO 3166-1 alpha-2 code of the participant, or EU.", show_default=False)
]
Reason = Annotated[
    str, typer.Option("--reason", "-r", help="Why (recorded on chain, e.g. the plenary decision).")
]


def _code(code: str) -> str:
    code = code.strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise CLIError(
            f"{code!r} is not a participant code", hint="give two letters: BW, AE, EU …", exit_code=2
        )
    return code


@app.command("add")
@common()
def add(
    code: Code,
    name: Annotated[str, typer.Argument(help="Name of the participant, e.g. 'Namibia'.", show_default=False)],
    validity_days: Annotated[
        int, typer.Option("--validity-days", min=1, max=366, help="How long its certificates stay valid.")
    ] = 60,
) -> None:
    """Admit a participant (governance).

    Example: `kpledger participant add NA Namibia --validity-days 60`"""
    receipt = session().ledger(sign=True).admit_participant(_code(code), name, validity_days)
    output.success(
        f"admitted {_code(code)} ({escape(name)}), validity {validity_days} days"
        f" — block {receipt.block_number}"
    )


@app.command("suspend")
@common()
def suspend(code: Code, reason: Reason) -> None:
    """Suspend a participant: it can neither issue nor receive certificates (governance).

    Example: `kpledger participant suspend VE --reason "self-suspension"`"""
    receipt = session().ledger(sign=True).suspend_participant(_code(code), reason)
    output.success(f"suspended {_code(code)} — block {receipt.block_number}")


@app.command("readmit")
@common()
def readmit(code: Code, reason: Reason) -> None:
    """Readmit a suspended participant (governance).

    Example: `kpledger participant readmit VE --reason "plenary decision 2016"`"""
    receipt = session().ledger(sign=True).readmit_participant(_code(code), reason)
    output.success(f"readmitted {_code(code)} — block {receipt.block_number}")


@app.command("list")
@common()
def list_(as_json: JsonOption = False) -> None:
    """List every participant with its status.

    Example: `kpledger participant list --json`"""
    ledger = session().ledger()
    participants = ledger.participants()
    if as_json:
        output.json_out([_as_dict(p) for p in participants])
        return
    if not participants:
        output.result("no participants yet — governance admits them with `kpledger participant add`")
        return
    rows = [
        (
            p.code,
            p.name,
            _status(p.status),
            p.validity_days,
            p.admitted_block,
            output.when(p.history[-1].timestamp) if p.history else None,
        )
        for p in participants
    ]
    output.table(
        f"{len(participants)} participants",
        ("code", "name", "status", "validity (days)", "admitted block", "since"),
        rows,
    )


@app.command("show")
@common()
def show(code: Code, as_json: JsonOption = False) -> None:
    """Show a participant and its status history.

    Example: `kpledger participant show VE`"""
    ledger = session().ledger()
    participant = ledger.participant(_code(code))
    if participant is None:
        raise CLIError(f"{_code(code)} is not a participant", hint="see `kpledger participant list`")
    reasons = ledger.status_reasons(participant.code)
    if as_json:
        shown = _as_dict(participant)
        for change in shown["history"]:  # type: ignore[attr-defined]
            change["reason"] = reasons.get(change["block_number"])
        output.json_out(shown)
        return
    output.result(
        f"[bold]{participant.code}[/bold] {escape(participant.name)} — {_status(participant.status)}"
    )
    output.result(
        f"validity {participant.validity_days} days, admitted in block {participant.admitted_block}"
    )
    output.table(
        "status history",
        ("status", "block", "time", "reason"),
        [
            (c.status.name, c.block_number, output.when(c.timestamp), reasons.get(c.block_number))
            for c in participant.history
        ],
    )


def _status(status: ParticipantStatus) -> output.Styled:
    if status is ParticipantStatus.ACTIVE:
        return output.Styled("[green]ACTIVE[/green]")
    return output.Styled(f"[red]{status.name}[/red]")


def _as_dict(p: Participant) -> dict[str, object]:
    return {
        "code": p.code,
        "name": p.name,
        "status": p.status.name,
        "validity_days": p.validity_days,
        "admitted_block": p.admitted_block,
        "history": [
            {"status": c.status.name, "block_number": c.block_number, "timestamp": c.timestamp}
            for c in p.history
        ],
    }
