"""The ``kpledger`` command: one Typer app, one module per command group.

Every command is a thin wrapper over the library (:mod:`kpledger.ledger`,
:mod:`kpledger.verify`, :mod:`kpledger.certificate`, :mod:`kpledger.audit`,
:mod:`kpledger.demo`); what they share (settings, chain, signer) lives in
:class:`~kpledger.cli.session.Session`, errors become one line in
:class:`~kpledger.cli.errors.KPLedgerGroup`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from kpledger.cli import (
    audit,
    cert,
    cert_list,
    config_cmd,
    demo_cmd,
    inbox,
    key,
    participant,
    roles,
    up,
    verify,
)
from kpledger.cli.errors import KPLedgerGroup
from kpledger.cli.options import (
    DataDirOption,
    DebugOption,
    DeploymentOption,
    DevAccountOption,
    KeyOption,
    RpcOption,
    root_session,
)

HELP = """\
**kpledger** — a permissioned Ethereum ledger of Kimberley Process rough-diamond certificates.

Start a local ledger with demo data, then open http://127.0.0.1:8000 :

    kpledger up

In another terminal, every role works through the CLI:

    kpledger participant list
    kpledger verify .kpledger/demo/certificates/BW-2026-000001.json
    kpledger --dev-account bw-authority cert issue cert.json --exporter bw-exporter

Settings: flags > environment (KPLEDGER_*) > DATA_DIR/config.toml > defaults.

Exit codes: 0 ok, 1 failed or not valid, 2 usage, configuration or connection error.
"""

app = typer.Typer(
    name="kpledger",
    cls=KPLedgerGroup,
    help=HELP,
    rich_markup_mode="markdown",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"kpledger {version('kpledger')}")
        except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
            typer.echo("kpledger (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    rpc: RpcOption = None,
    deployment: DeploymentOption = None,
    key: KeyOption = None,
    dev_account: DevAccountOption = None,
    debug: DebugOption = False,
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Global options; each can also follow the command name."""
    root_session(ctx).set_flags(
        data_dir=data_dir, rpc=rpc, deployment=deployment, key=key, dev_account=dev_account, debug=debug
    )


up.register(app)
verify.register(app)
app.add_typer(participant.app, name="participant")
app.add_typer(roles.authority_app, name="authority")
app.add_typer(roles.exporter_app, name="exporter")
app.add_typer(roles.importer_app, name="importer")
cert_list.register(cert.app)
app.add_typer(cert.app, name="cert")
app.add_typer(audit.app, name="audit")
app.add_typer(inbox.app, name="inbox")
demo_cmd.register(app)
app.add_typer(key.app, name="key")
app.add_typer(config_cmd.app, name="config")


def main() -> None:
    """Console-script entry point (``kpledger = "kpledger.cli.app:main"``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
