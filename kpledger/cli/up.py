"""``kpledger up`` (a whole local ledger in one command) and ``kpledger deploy``.

``up``: starts anvil from the project's ``node_modules`` with its chain persisted in
the data directory, deploys the contracts once (``deployment.json`` is reused while its
contracts are on the chain), seeds the demo on first start, and serves the API and the
verification page. Ctrl-C stops the API, then the node (SIGINT, so anvil writes its
state); the next ``up`` resumes with every certificate.

On a first start with the demo, anvil's clock starts months in the past, so the demo
can lay out a realistic history (issues, receipts, expiries, a suspension) that ends
today.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.markup import escape

from kpledger.chain.deployment import Deployment
from kpledger.chain.identity import describe_expected
from kpledger.chain.sender import Signer
from kpledger.cli import output
from kpledger.cli.demo_cmd import print_summary, run_demo
from kpledger.cli.errors import CLIError, UsageProblem
from kpledger.cli.options import common, session
from kpledger.cli.session import Session, port_free, write_json
from kpledger.errors import ConfigurationError
from kpledger.ledger import Ledger

DEMO_HISTORY_DAYS = 200
"""How far in the past a fresh demo chain starts."""
STATE_INTERVAL = 30
"""Seconds between anvil's state dumps (what a crash can lose at most)."""


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("deploy")(deploy)


@common()
def up(
    host: Annotated[
        str | None,
        typer.Option("--host", help="API and page address. \\[default: 127.0.0.1]", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port of the API and page. \\[default: 8000]", show_default=False),
    ] = None,
    node_port: Annotated[
        int | None,
        typer.Option("--node-port", help="Port of the local anvil. \\[default: 8545]", show_default=False),
    ] = None,
    chain_id: Annotated[
        int | None,
        typer.Option("--chain-id", help="Chain id of a new anvil. \\[default: 31337]", show_default=False),
    ] = None,
    no_demo: Annotated[
        bool, typer.Option("--no-demo", help="Do not seed the demo data on first start.")
    ] = False,
    demo_certificates: Annotated[
        int | None,
        typer.Option(
            "--demo-certificates",
            min=10,
            help="Certificates the demo seeds. \\[default: 300]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start a local KP ledger: node, contracts, demo data, API and page on http://127.0.0.1:8000.

    State lives in the data directory (default ./.kpledger); Ctrl-C stops everything and
    keeps it, the next `kpledger up` comes back with every certificate. With --rpc URL no
    local node is started: the contracts are deployed to (or found on) that chain.

    Examples:

        kpledger up
        kpledger up --port 9000 --no-demo --data-dir ./empty-ledger
        kpledger up --rpc http://besu-bw.example:8545 --key governance.keystore.json"""
    current = session()
    current.set_flags(host=host, port=port, node_port=node_port, chain_id=chain_id,
                      demo_certificates=demo_certificates)  # fmt: skip
    settings = current.settings
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    running = current.run_record()
    if running is not None:
        raise UsageProblem(
            f"kpledger up is already running for {data_dir}"
            f" (pid {running.get('pid')}, API {running.get('api')})",
            hint="use that one, stop it with Ctrl-C, or pass another --data-dir",
        )
    if not port_free(settings.host, settings.port):
        raise UsageProblem(
            f"port {settings.port} on {settings.host} is in use (by another program or another kpledger up)",
            hint="stop that program, or pass --port N (KPLEDGER_PORT)",
        )

    node: Any = None
    previous = signal.signal(signal.SIGTERM, _terminate)  # SIGTERM stops as cleanly as Ctrl-C
    try:
        if settings.rpc:
            url, managed = settings.rpc, False
        else:
            node = _start_node(current, seed_demo=not no_demo)
            url, managed = node.url, True
        ledger, deployed_now = _deployment(current, url, node)
        if deployed_now and not no_demo:
            _seed(current, ledger, node)
        api = settings.api_url
        write_json(
            settings.run_path,
            {"pid": os.getpid(), "rpc": url, "api": api, "chain_id": ledger.deployment.chain_id,
             "managed_node": managed, "started_at": int(time.time())},
        )  # fmt: skip
        _banner(current, url, api, managed, ledger)
        _serve(current, ledger, url)
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(OSError):
            settings.run_path.unlink()
        if node is not None:
            output.notice("stopping the node and saving its state …")
            node.stop()
            output.notice(
                f"stopped; the chain is saved in {escape(str(data_dir))} — `kpledger up` resumes it"
            )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _start_node(current: Session, *, seed_demo: bool) -> Any:
    from kpledger.chain.node import STATE_FILE, AnvilNode, NodePortInUse

    settings = current.settings
    fresh = not (settings.data_dir / STATE_FILE).exists()
    extra: list[str] = []
    if fresh and seed_demo and not settings.deployment_path.exists():
        extra = ["--timestamp", str(int(time.time()) - DEMO_HISTORY_DAYS * 86_400)]
    node = AnvilNode(
        port=settings.node_port,
        chain_id=settings.chain_id,
        data_dir=settings.data_dir,
        persist=True,
        state_interval=STATE_INTERVAL,
        accounts=settings.node_accounts,
        extra_args=extra,
    )
    output.notice(
        f"{'starting a new' if fresh else 'resuming the'} local anvil node on port {settings.node_port}"
        f" (chain {settings.chain_id}, state {escape(str(node.state_path))}) …"
    )
    try:
        return node.start()
    except NodePortInUse:
        raise UsageProblem(
            f"port {settings.node_port} is in use, so the local node cannot start",
            hint="stop the program using it (another node?), pass --node-port N, or use it with --rpc URL",
        ) from None


def _record_identity(ledger: Ledger, path: Path) -> Deployment:
    """Complete an older deployment record with the identity of the chain ``ledger``
    is connected to (its contracts checked there) and save it."""
    from kpledger.chain.identity import read_facts

    recorded = ledger.deployment
    if recorded.has_identity:
        return recorded
    upgraded = recorded.with_identity(read_facts(ledger.rpc, recorded.block))
    upgraded.save(path)
    output.notice(f"recorded the chain identity in {escape(str(path))}: {describe_expected(upgraded)}")
    return upgraded


def _deployment(current: Session, url: str, node: Any) -> tuple[Ledger, bool]:
    """The recorded deployment if its contracts are on this chain, else a new one."""
    from kpledger.chain.connection import connect_rpc

    settings = current.settings
    path = settings.deployment_path
    w3 = connect_rpc(url)
    if path.is_file():
        recorded = Deployment.load(path)
        try:
            ledger = Ledger.connect(w3, recorded, receipt_timeout=settings.receipt_timeout)
            output.notice(f"contracts found: registry {recorded.registry}, ledger {recorded.ledger}")
            if not recorded.has_identity:  # a record of an older kpledger, on the node up runs itself
                ledger.deployment = _record_identity(ledger, path)
            return ledger, False
        except ConfigurationError as exc:
            stale = path.with_name(path.name + ".stale")
            path.replace(stale)
            output.notice(f"[yellow]the recorded deployment is not on this chain ({exc}); deploying anew"
                          f" (old record kept as {escape(str(stale))})[/yellow]")  # fmt: skip
    signer = _governance_signer(current, url, node)
    output.notice(f"deploying the contracts (governance {signer.address}) …")
    ledger = Ledger.deploy(w3, signer, receipt_timeout=settings.receipt_timeout)
    ledger.deployment.save(path)
    output.notice(f"deployed: registry {ledger.deployment.registry}, ledger {ledger.deployment.ledger}"
                  f" — recorded in {escape(str(path))}")  # fmt: skip
    return ledger, True


def _governance_signer(current: Session, url: str, node: Any) -> Signer:
    if node is not None and not current.flags.get("key") and not current.settings.key:
        from kpledger.keys import signer_from_env

        from_env = signer_from_env()
        if from_env is not None:
            return from_env
        key = node.dev_only_keys(1)[0]
        signer = Signer(key)
        output.dev_key_notice(0, signer.address)
        return signer
    return current.signer(_chain_id(url), url, default_dev=0)


def _chain_id(url: str) -> int:
    from kpledger.chain.connection import connect_rpc

    return int(connect_rpc(url).eth.chain_id)


def _seed(current: Session, ledger: Ledger, node: Any) -> None:
    from kpledger import demo

    settings = current.settings
    if node is not None:
        keys = node.dev_only_keys(demo.ACCOUNTS_NEEDED)
    elif current.dev_keys_allowed(ledger.deployment.chain_id, current.rpc_url()):
        from kpledger.devkeys import dev_only_keys

        keys = dev_only_keys(ledger.deployment.chain_id, count=demo.ACCOUNTS_NEEDED)
    else:
        output.notice(
            "[dim]no demo data: the demo signs with DEV-ONLY keys, which only a local node accepts[/dim]"
        )
        return
    try:
        summary = run_demo(ledger, keys, settings.demo_certificates, settings.data_dir / "demo")
    except BaseException:
        # A half-seeded ledger would never be seeded again: forget it, so the next
        # start deploys fresh contracts and seeds them from the beginning.
        with contextlib.suppress(OSError):
            settings.deployment_path.unlink()
        raise
    print_summary(summary)


def _banner(current: Session, url: str, api: str, managed: bool, ledger: Ledger) -> None:
    settings = current.settings
    output.out.rule("[bold]kpledger is up[/bold]")
    output.result(f"  page and API  [bold cyan]{api}/[/bold cyan]   (API docs: {api}/docs)")
    output.result(f"  chain         {escape(url)} (chain {ledger.deployment.chain_id})"
                  f"{' — local anvil node' if managed else ''}")  # fmt: skip
    output.result(f"  data          {escape(str(settings.data_dir))}")
    if managed:
        output.result(
            "  [yellow]DEV KEYS — local node only:[/yellow] sign as a demo role with"
            " `--dev-account gov|bw-authority|bw-exporter|be-authority…` (`kpledger key dev` lists them)"
        )
    output.result("  try           kpledger participant list · kpledger verify FILE · kpledger audit report")
    output.result("  [dim]Ctrl-C stops everything; the state is kept for the next `kpledger up`.[/dim]")


def _serve(current: Session, ledger: Ledger, url: str) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that a Ctrl-C or SIGTERM it handled is not raised
        again afterwards: here stopping is the normal way out, and the re-raised signal
        would land inside the event loop and log a traceback."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    from kpledger.api import ApiSettings, create_app

    settings = current.settings
    overrides: dict[str, Any] = {
        "rpc": url,
        "data_dir": settings.data_dir,
        "deployment": settings.deployment_path,
    }
    api_settings = ApiSettings(**overrides)
    reader = Ledger(ledger.rpc, ledger.deployment)
    app = create_app(reader, api_settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False
    )
    server = Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # a second Ctrl-C while shutting down: stop anyway
    except SystemExit as exc:
        raise CLIError(
            f"the API could not start on {settings.host}:{settings.port} (exit {exc.code})",
            hint="is the port taken? pass --port N",
            exit_code=2,
        ) from None


@common()
def deploy(
    governance: Annotated[
        str | None,
        typer.Option("--governance", help="Governance account (default: the deployer).", show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy even if the recorded contracts exist.")
    ] = False,
    record_identity: Annotated[
        bool,
        typer.Option(
            "--record-identity",
            help="Deploy nothing: add the chain identity (genesis and deployment block hashes) to an older"
            " deployment record, after checking its contracts are on the node's chain.",
        ),
    ] = False,
) -> None:
    """Deploy the contracts and record them in DATA_DIR/deployment.json.

    `kpledger up` does this by itself; use deploy for an existing chain.

    Example:

        kpledger deploy --rpc http://node:8545 --key deployer.keystore.json --governance 0x…"""
    from kpledger.chain.connection import connect_rpc
    from kpledger.cli.refs import account

    current = session()
    settings = current.settings
    path = settings.deployment_path
    url = current.rpc_url(write=True)
    if record_identity:
        upgraded = _record_identity(Ledger.connect(url, current.deployment()), path)
        output.success(f"recorded chain {describe_expected(upgraded)} in {escape(str(path))}")
        return
    w3 = connect_rpc(url)
    if path.is_file() and not force:
        recorded = Deployment.load(path)
        try:
            Ledger.connect(w3, recorded)
        except ConfigurationError:
            pass
        else:
            raise UsageProblem(
                f"contracts are already deployed and recorded in {path} (ledger {recorded.ledger})",
                hint="use them, pass --force to deploy new ones, or choose another --data-dir",
            )
    signer = current.signer(int(w3.eth.chain_id), url, default_dev=0)
    ledger = Ledger.deploy(w3, signer, governance=account(governance) if governance else None,
                           receipt_timeout=settings.receipt_timeout)  # fmt: skip
    ledger.deployment.save(path)
    output.success(
        f"deployed on chain {ledger.deployment.chain_id}: registry {ledger.deployment.registry},"
        f" ledger {ledger.deployment.ledger} — recorded in {escape(str(path))}"
    )


__all__ = ["deploy", "register", "up"]
