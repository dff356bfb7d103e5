"""``kpledger network …``: a consortium network of Clique validators on this machine,
and the configuration kit for the production Besu/QBFT network."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from kpledger.cli import output

app = typer.Typer(
    help="A consortium network: local Clique validators (geth 1.13.15), Besu/QBFT configuration."
)


@app.command("up")
def up_command(
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir", help="Where the validators keep their keys and chains (resumed if present)."
        ),
    ] = Path(".kpledger-network"),
    validators: Annotated[
        int, typer.Option("--validators", min=1, max=32, help="Validators to create (a new network only).")
    ] = 4,
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="Chain id (a new network only).")] = 1717,
    period: Annotated[int, typer.Option("--period", min=1, max=60, help="Seconds between blocks.")] = 1,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Deploy kpledger's contracts once blocks come.")
    ] = False,
) -> None:
    """Start (or resume) a Clique network and run it until Ctrl-C.

    Writes DIR/network.json (chain id; per validator its RPC URL, pid and address). Ctrl-C
    stops every validator cleanly and keeps the chains: the next `kpledger network up` with
    the same --data-dir resumes them. Serve the API over it with
    `kpledger --rpc URL,URL,… up` (URLs from network.json)."""
    from kpledger.network.cluster import MANIFEST, CliqueNetwork

    network = CliqueNetwork.open(data_dir, validators=validators, chain_id=chain_id, period=period)

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops as cleanly as Ctrl-C

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        network.start()
        first = max(n or 0 for n in network.block_numbers())
        network.wait_for_block(first + 1, timeout=30)
        output.notice(
            f"{len(network.nodes)} validators sealing chain {network.chain_id}"
            f" (Clique, {network.period} s blocks)"
        )
        for slot, node in zip(network.slots, network.nodes, strict=True):
            output.notice(f"  {slot.name}  {slot.rpc}  pid {node.pid}  {slot.address}")
        if deploy:
            _deploy(network, data_dir)
        output.notice(f"network.json: {escape(str(network.data_dir / MANIFEST))}")
        output.notice(f"serve the API over it: kpledger --rpc {','.join(network.urls)} up")
        output.notice("Ctrl-C stops the validators and keeps the chain")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        output.notice("stopping the validators (the chain stays on disk) …")
    finally:
        network.stop()
        signal.signal(signal.SIGTERM, previous)


def _deploy(network: Any, data_dir: Path) -> None:
    """Deploy the contracts with a deployer key generated into the data dir (mode 0600)."""
    from kpledger.errors import ChainError, ConfigurationError
    from kpledger.ledger import Ledger
    from kpledger.network.deployer import deployer_key

    deployment_path = data_dir / "deployment.json"
    if deployment_path.is_file():
        output.notice(f"contracts already deployed: {escape(str(deployment_path))}")
        return
    try:
        ledger = Ledger.deploy(",".join(network.urls), deployer_key(data_dir))
    except ChainError as exc:
        raise ConfigurationError(
            f"the contracts could not be deployed on this Clique network: {exc}."
            " The network itself keeps running."
        ) from exc
    ledger.deployment.save(deployment_path)
    output.notice(f"deployed: registry {ledger.deployment.registry}, ledger {ledger.deployment.ledger}"
                  f" — recorded in {escape(str(deployment_path))}")  # fmt: skip


@app.command("besu-config")
def besu_config_command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the kit into.")] = Path(
        "besu-network"
    ),
    validators: Annotated[
        int, typer.Option("--validators", min=1, max=64, help="Validators (n >= 3f+1).")
    ] = 4,
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="Chain id.")] = 1717,
    block_period: Annotated[
        int, typer.Option("--block-period", min=1, max=60, help="Seconds between blocks.")
    ] = 2,
) -> None:
    """Write a Besu QBFT kit: genesis (zeroBaseFee, validators RLP-encoded in extraData),
    each node's config.toml (min-gas-price 0) and key, and the node allowlist.
    See docs/consortium.md for running it."""
    from kpledger.network.besu import write_besu_config

    nodes = write_besu_config(out, validators=validators, chain_id=chain_id, block_period=block_period)
    faults = (len(nodes) - 1) // 3
    output.notice(f"{len(nodes)} QBFT validators (tolerates {faults} faulty) written to {escape(str(out))}")
    for node in nodes:
        output.notice(f"  {node.name}  {node.address}  {node.enode}")
