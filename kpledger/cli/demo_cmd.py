"""``kpledger demo``: seed the demo scenario (:mod:`kpledger.demo`) on a local ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from kpledger.cli import output
from kpledger.cli.errors import UsageProblem
from kpledger.cli.options import JsonOption, common, session
from kpledger.cli.session import Session

if TYPE_CHECKING:  # the demo and the chain stack are imported when a command runs
    from kpledger import demo
    from kpledger.ledger import Ledger


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


@common()
def demo_command(
    scenario: Annotated[
        str,
        typer.Argument(
            help="`ledger` (default): seed the demo ledger; `exchange`: national exchange nodes at work."
        ),
    ] = "ledger",
    certificates: Annotated[
        int | None,
        typer.Option(
            "--certificates", "-n", min=10, help="How many certificates. \\[default: 300]", show_default=False
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same scenario.")
    ] = 2025,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the documents and proofs. \\[default: DATA_DIR/demo]"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Seed a living demo ledger on a local node.

    10 participants (VE suspended along the way), their authorities, exporters and
    importers, a few hundred certificates through every transition, one Merkle batch
    and a few anomalies for the auditor.

    Signs with the public DEV-ONLY accounts, so it runs only against a local node.
    `kpledger up` does this by itself on first start.

    `kpledger demo exchange` instead starts four national exchange nodes on a local
    chain of their own and prints one JSON line counted from their stores (see
    docs/exchange.md).

    Example: `kpledger demo --certificates 500`"""
    if scenario == "exchange":
        exchange_demo(certificates or 21, out, as_json)
        return
    if scenario != "ledger":
        raise UsageProblem(f"unknown demo {scenario!r}", hint="`kpledger demo` or `kpledger demo exchange`")
    current = session()
    ledger, keys = demo_signers(current)
    count = certificates or current.settings.demo_certificates
    summary = run_demo(ledger, keys, count, out or current.settings.data_dir / "demo", seed=seed)
    if as_json:
        output.json_out(summary.to_dict())
    else:
        print_summary(summary)


def exchange_demo(certificates: int, out: Path | None, as_json: bool) -> None:
    import tempfile

    from kpledger.exchange.demo import run

    with tempfile.TemporaryDirectory(prefix="kpledger-exchange-") as scratch:
        base = out or Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        progress = (lambda _: None) if as_json else output.notice
        summary = run(base, certificates, progress)
    if as_json:
        output.plain(json.dumps(summary))  # one line, as the exchange tour shows it
    else:
        for key, value in summary.items():
            typer.echo(f"{key:>20}: {value}")


def demo_signers(current: Session) -> tuple[Ledger, list[bytes]]:
    """Governance (the configured signer, else DEV-ONLY account 0) and the DEV-ONLY keys."""
    from kpledger import demo
    from kpledger.devkeys import dev_only_keys

    ledger = current.ledger(sign=True, default_dev=demo.GOVERNANCE_ACCOUNT)
    url = current.rpc_url()
    chain_id = ledger.deployment.chain_id
    if not current.dev_keys_allowed(chain_id, url):
        raise UsageProblem(
            f"the demo signs with the public DEV-ONLY accounts, refused for {url} (chain {chain_id})",
            hint="run it against a local node: `kpledger up` seeds it by itself",
        )
    return ledger, dev_only_keys(chain_id, count=demo.ACCOUNTS_NEEDED, allow_any_chain=True)


def run_demo(
    ledger: Ledger, keys: list[bytes], certificates: int, out: Path, *, seed: int = 2025
) -> demo.DemoSummary:
    """Seed with a progress bar."""
    from kpledger import demo

    output.notice(
        f"seeding the demo ledger ({certificates} certificates) — DEV-ONLY accounts, local node only"
    )
    with output.progress() as bar:
        task = bar.add_task("seeding the demo", total=None)

        def advance(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"seeding the demo: {what}")

        return demo.seed_demo(
            ledger, keys=keys, certificates=certificates, seed=seed, out_dir=out, progress=advance
        )


def print_summary(summary: demo.DemoSummary) -> None:
    output.success(
        f"demo seeded: {summary.certificates} certificates, {len(summary.participants)} participants"
        f" ({', '.join(summary.suspended)} suspended), {summary.transactions} transactions"
        f" in {summary.seconds}s"
        f" — {summary.mode}"
    )
    output.table(
        "expected certificate states", ("status", "certificates"), list(summary.expected_status.items())
    )
    if summary.batch_root:
        output.result(f"Merkle batch of {summary.batch_size} BW certificates: root {summary.batch_root}")
    output.table(
        "anomalies an auditor should find",
        ("certificate", "kind", "what"),
        [(a.number, a.kind, a.description) for a in summary.anomalies],
    )
    if summary.documents_dir:
        output.result(f"documents and proofs: {escape(summary.documents_dir)}/certificates/")
