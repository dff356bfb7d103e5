"""``kpledger audit``: replay the chain into the auditor's own index and report on it.

The index is SQLite at ``<data dir>/audit.db`` unless ``--db URL`` /
``KPLEDGER_AUDIT_DB`` names another (e.g. ``postgresql://…``). Nothing here trusts
the API: it reads the contracts' events and blocks over plain JSON-RPC.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from kpledger.cli import output
from kpledger.cli.errors import UsageProblem
from kpledger.cli.options import JsonOption, common, session
from kpledger.errors import ChainError

app = typer.Typer(
    help="Auditor: replay the chain into an index (replay) and produce KP statistics and anomalies (report).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="Audit index URL. \\[env: KPLEDGER_AUDIT_DB] \\[default: DATA_DIR/audit.db]",
    ),
]


def _db(db: str | None) -> str:
    return db or session().settings.audit_url


def _replay(db_url: str, *, confirmations: int = 0, to_block: int | None = None, follow: bool = False) -> Any:
    from kpledger.audit import replay

    current = session()
    deployment = current.deployment()
    current.settings.data_dir.mkdir(parents=True, exist_ok=True)
    return replay(
        current.rpc_url(),
        deployment,
        db_url,
        confirmations=confirmations,
        to_block=to_block,
        follow=follow,
        progress=output.err.is_terminal,
    )


@app.command("replay")
@common()
def replay_command(
    db: DbOption = None,
    confirmations: Annotated[
        int, typer.Option("--confirmations", min=0, help="Index only blocks this deep (reorg safety).")
    ] = 0,
    to_block: Annotated[int | None, typer.Option("--to-block", min=0, help="Stop at this block.")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep following new blocks until Ctrl-C.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Replay every event of the deployment into the audit index (resumes where it stopped).

    Example: `kpledger audit replay --confirmations 2`"""
    db_url = _db(db)
    try:
        result = _replay(db_url, confirmations=confirmations, to_block=to_block, follow=follow)
    except KeyboardInterrupt:
        if not follow:
            raise
        output.notice("stopped following")
        return
    if as_json:
        output.json_out(result.to_dict())
        return
    output.success(
        f"indexed {result.events:,} events from {result.blocks:,} blocks in {result.seconds:.1f}s"
        f" — checkpoint block {result.checkpoint}, index {escape(result.db_url)}"
    )
    for reorg in result.reorgs:
        output.notice(
            f"[yellow]undid a reorg at block {reorg.fork_block} ({reorg.removed_events} events)[/yellow]"
        )


@app.command("report")
@common()
def report_command(
    db: DbOption = None,
    replay_first: Annotated[
        bool, typer.Option("--replay/--no-replay", help="Catch the index up with the chain first.")
    ] = True,
    as_of: Annotated[
        str | None, typer.Option("--as-of", metavar="YYYY-MM-DD", help="Report as of this date (UTC).")
    ] = None,
    cross_check: Annotated[
        bool | None,
        typer.Option(
            "--cross-check/--no-cross-check",
            help="Compare the index with the contracts and their deployed code (default: when the chain"
            " can be reached).",
            show_default=False,
        ),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="HTML report file. \\[default: DATA_DIR/audit-report.html]")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json-file", help="Also write the report as JSON.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Also write one CSV file per table here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """KP statistics (trade, mirror data, USD/carat norms) and anomalies, from the index.

    Writes an HTML report, prints a summary (or the whole report with --json).

    Example: `kpledger audit report --csv reports/ --html reports/audit.html`"""
    from kpledger.audit import build_report
    from kpledger.audit import cross_check as run_cross_check

    current = session()
    db_url = _db(db)
    if replay_first:
        _replay(db_url)
    checks = None
    skipped = None
    if cross_check:
        checks = run_cross_check(current.rpc_url(), current.deployment(), db_url, from_sources=False)
    elif cross_check is None:  # by default: whenever the chain answers
        try:
            checks = run_cross_check(current.rpc_url(), current.deployment(), db_url, from_sources=False)
        except (ChainError, UsageProblem) as exc:
            skipped = f"not run: the chain could not be reached ({exc})"
    moment = date.fromisoformat(as_of) if as_of else None
    report = build_report(db_url, as_of=moment, checks=checks)
    if skipped is not None:
        report.meta["cross_check_note"] = skipped
    target = html or current.settings.data_dir / "audit-report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    report.write_html(target)
    if json_file is not None:
        report.write_json(json_file)
    if csv_dir is not None:
        report.write_csv(csv_dir)
    if as_json:
        output.json_out(report.to_dict())
        return
    _print_summary(report.meta, report.summary, report.tables, checks)
    output.result(f"HTML report: {escape(str(target))}")


def _print_summary(
    meta: dict[str, Any], summary: dict[str, Any], tables: dict[str, Any], checks: Any
) -> None:
    output.result(f"[bold]{escape(str(meta.get('title')))}[/bold] — as of {meta.get('as_of')},"
                  f" block {meta.get('checkpoint_block')}")  # fmt: skip
    output.result(
        f"{summary.get('certificates', 0)} certificates, {summary.get('participants', 0)} participants"
        f" (suspended: {', '.join(summary.get('participants_suspended') or []) or 'none'})"
    )
    output.result(
        f"exported {summary.get('exported_count', '?')} certificates,"
        f" {summary.get('exported_carats', '?')} ct,"
        f" US$ {summary.get('exported_usd', '?')}"
    )
    statuses = summary.get("by_stored_status") or {}
    output.result("by status: " + ", ".join(f"{k} {v}" for k, v in statuses.items()))
    anomalies = summary.get("anomalies") or {}
    output.table("anomalies", ("kind", "count"), [(k.replace("_", " "), v) for k, v in anomalies.items()])
    priced = tables.get("anomalies_price") or []
    if priced:
        output.table(
            "USD per carat far off the origin's norm",
            ("number", "origin → dest", "carats", "US$", "US$/ct", "norm"),
            [(r["number"], f"{r['origin']} → {r['destination']}", r["carats"], r["usd"], r["usd_per_carat"],
              r["norm_usd_per_carat"]) for r in priced[:10]],
        )  # fmt: skip
    statement = (meta.get("suspension_check") or {}).get("statement")
    if statement:
        output.result(escape(str(statement)))
    findings = summary.get("invariant_findings", 0)
    colour = "green" if not findings else "red"
    output.result(f"invariant findings: [{colour}]{findings}[/{colour}]")
    if checks is not None:
        verdict = "[green]ok[/green]" if checks.ok else "[red]differences found[/red]"
        output.result(f"cross-check with the contracts: {verdict}")
