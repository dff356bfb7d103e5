"""``kpledger hash`` and ``kpledger verify``: what a document is, and whether to trust it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from kpledger.certificate import hash_document_bytes, hash_hex
from kpledger.cli import output, refs
from kpledger.cli.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    UsageProblem,
    describe,
    exit_code_for,
)
from kpledger.cli.options import JsonOption, common, session
from kpledger.errors import DocumentError, KPLedgerError
from kpledger.verify import Result, Verification, verify


def register(app: typer.Typer) -> None:
    app.command("hash")(hash_command)
    app.command("verify")(verify_command)


@common(chain=False)
def hash_command(
    file: Annotated[Path, typer.Argument(help="A certificate JSON file, or any file (hashed as raw bytes).")],
) -> None:
    """Print a document's hash (0x + 64 hex).

    SHA-256 of the RFC 8785 canonical JSON of a certificate, or of the raw bytes of any
    other file: the hash the ledger holds.

    Example: `kpledger hash BW-2026-000123.json`"""
    data = refs.read_file(file)
    try:
        digest, kind = hash_document_bytes(data)
    except DocumentError as exc:
        first = exc.problems[0]
        raise UsageProblem(
            f"{file} looks like JSON but cannot be hashed: {first.message} [{first.rule}]",
            hint="fix the JSON (run `kpledger cert check`), or hash the file as a non-JSON document",
        ) from None
    output.plain(hash_hex(digest))
    if kind == "raw":
        output.notice("[dim](not a JSON document: hashed as raw bytes)[/dim]")


@common()
def verify_command(
    subjects: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE|HASH...",
            help="Certificate or bundle files, or document hashes (0x + 64 hex); several give one line each.",
        ),
    ],
    proof: Annotated[
        Path | None,
        typer.Option(
            "--proof",
            exists=True,
            dir_okay=False,
            help="Proof or bundle file of a batched certificate (default: FILE.proof.json or"
            " FILE.bundle.json next to the file).",
        ),
    ] = None,
    as_json: JsonOption = False,
    timeline: Annotated[
        bool, typer.Option("--timeline/--no-timeline", help="Show the certificate's history.")
    ] = True,
) -> None:
    """Can I trust this certificate? A human-readable verdict, or --json for machines.

    Exit code: 0 valid, 1 not valid, 2 usage or connection error (several files: the
    worst of them). With several files, --json prints one JSON object per line.

    Examples:

        kpledger verify BW-2026-000123.json
        kpledger verify 0x3f5c…e1 --json
        kpledger verify shipments/*.json"""
    if len(subjects) > 1:
        if proof is not None:
            raise UsageProblem(
                "--proof goes with one certificate", hint="verify a batched certificate on its own"
            )
        from kpledger.cli import bulk

        raise typer.Exit(bulk.run(session().ledger(), [Path(s) for s in subjects], as_json=as_json))
    subject = subjects[0]
    path = Path(subject)
    target: Path | str | dict[str, Any]
    batch_proof = refs.load_proof(proof) if proof is not None else None
    if path.is_file():
        target, batch_proof = refs.verify_subject(path, batch_proof)
    elif refs.HASH_PATTERN.fullmatch(subject):
        target = subject
    elif subject.endswith(".json") or "/" in subject:
        raise UsageProblem(f"{subject}: no such file", hint="give a certificate file or its 0x document hash")
    else:
        raise UsageProblem(
            f"{subject!r} is neither a file nor a document hash",
            hint="give the certificate file or its hash"
            " (`kpledger cert show NUMBER` shows a certificate by number)",
        )
    try:
        ledger = session().ledger()
    except KPLedgerError as exc:
        if not as_json:
            raise
        output.json_out({"verdict": "ERROR", "code": "CHAIN_UNAVAILABLE", "message": describe(exc)})
        raise typer.Exit(max(exit_code_for(exc), EXIT_USAGE)) from None
    try:
        result = verify(ledger, target, batch_proof=batch_proof, with_timeline=timeline)
    except DocumentError as exc:  # JSON that cannot even be hashed (e.g. a key twice)
        if not as_json:
            raise CLIError(
                f"{subject} is not a well-formed document: {exc.problems[0]}",
                hint="such a file was never anchored; `kpledger cert check FILE` lists every problem",
            ) from None
        problems = [{"field": p.field, "rule": p.rule, "message": p.message} for p in exc.problems]
        output.json_out(
            {"verdict": "INVALID", "code": "MALFORMED", "message": str(exc), "problems": problems}
        )
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        output.json_out(result.to_dict())
    else:
        _print(result, timeline)
        if batch_proof is None and result.code == "NOT_ANCHORED":
            output.notice(f"[yellow]hint:[/yellow] {refs.BATCH_HINT}")
    raise typer.Exit(_exit_code(result))


def _exit_code(result: Verification) -> int:
    if result.verdict is Result.VALID:
        return EXIT_OK
    if result.verdict is Result.ERROR:
        return EXIT_USAGE
    return EXIT_FAILED


_MARK = {Result.VALID: "[green]✓[/green]", Result.INVALID: "[red]✗[/red]", Result.ERROR: "[yellow]![/yellow]"}
_COLOUR = {Result.VALID: "green", Result.INVALID: "red", Result.ERROR: "yellow"}


def _print(result: Verification, with_timeline: bool) -> None:
    colour = _COLOUR[result.verdict]
    output.result(
        f"{_MARK[result.verdict]} [bold {colour}]{result.verdict.value}[/bold {colour}]"
        f" — {escape(result.message)}"
    )
    output.result(f"  document hash  {result.document_hash}")
    for fragment in result.fragments:
        output.result(f"  {fragment.name:<13}  {_MARK[fragment.result]} {escape(fragment.message)}")
    cert = result.certificate
    if cert:
        output.result("  " + escape(_summary(cert)))
    if with_timeline and result.timeline:
        output.table(
            "timeline",
            ("event", "status", "block", "time", "by", "detail"),
            [
                (
                    output.event_name(e["event"]),
                    e["status"],
                    e["block_number"],
                    output.when(e["timestamp"]),
                    e["actor"],
                    e["detail"],
                )
                for e in result.timeline
            ],
        )
    if result.checked_at_block is not None:
        output.result(f"[dim]checked against block {result.checked_at_block}[/dim]")


def _summary(cert: dict[str, Any]) -> str:
    carats = cert.get("carats")
    value = cert.get("value_usd")
    parts = [f"{cert.get('number')}: {cert.get('origin')} → {cert.get('destination')}"]
    if carats is not None:
        parts.append(f"{carats:,.2f} ct")
    if value is not None:
        parts.append(f"US$ {value:,.2f}")
    if cert.get("parcels") is not None:
        parts.append(f"{cert['parcels']} parcel(s)")
    if cert.get("expires_at"):
        parts.append(f"expires {output.when(int(cert['expires_at']))}")
    return " · ".join(parts)
