"""One go-ethereum 1.13.15 validator process (Clique sealer) on this machine.

Why geth 1.13.15: it is the last release that seals Clique blocks; ``make geth`` builds it
from the Go module proxy into a cache outside the repository (``scripts/build_geth.sh``).
The validator reuses :class:`~kpledger.chain.node.LocalNode` for process handling (log
file, readiness probe, SIGINT stop, SIGKILL kill); its ports are fixed at creation so a
restart comes back where its peers and clients expect it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Final

from kpledger.chain.node import LocalNode, NodeBinaryMissing, NodeStartError

GETH_VERSION: Final = "1.13.15"
GETH_ENV: Final = "KPLEDGER_GETH"
"""Environment variable naming a geth binary to use instead of the cached build."""

PASSWORD_FILE: Final = "password.txt"


def geth_cache_path() -> Path:
    """Where ``make geth`` puts the binary."""
    override = os.environ.get("KPLEDGER_GETH_DIR")
    if override:
        return Path(override) / "geth"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "kpledger" / f"geth-{GETH_VERSION}" / "geth"


def find_geth() -> Path:
    """The geth binary (``$KPLEDGER_GETH`` or the cache ``make geth`` fills)."""
    named = os.environ.get(GETH_ENV)
    path = Path(named) if named else geth_cache_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise NodeBinaryMissing(
            f"geth {GETH_VERSION} not found at {path}: run `make geth` (builds it from the Go"
            f" module proxy, a few minutes) or set {GETH_ENV} to a geth {GETH_VERSION} binary"
        )
    return path


class GethValidator(LocalNode):
    """A Clique validator: seals with ``address`` (its key in ``data_dir/keystore``) once
    told to (``miner_start``: the network first peers it, so it does not seal a fork of its own),
    JSON-RPC on ``port`` (admin, clique, eth, net, txpool, web3), devp2p on ``p2p_port``,
    discovery off (peers are added by the network), gas price 0 accepted."""

    kind = "geth"

    def __init__(
        self,
        *,
        address: str,
        data_dir: Path,
        port: int,
        p2p_port: int,
        auth_port: int,
        chain_id: int,
        gas_limit: int,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(port=port, chain_id=chain_id, data_dir=data_dir, startup_timeout=startup_timeout)
        self.address = address
        self.p2p_port = p2p_port
        self.auth_port = auth_port
        self.gas_limit = gas_limit
        self.binary = find_geth()

    def init_chain(self, genesis_file: Path) -> None:
        """``geth init``: write the genesis block into the data dir (once)."""
        done = subprocess.run(
            [str(self.binary), "--datadir", str(self.data_dir), "init", str(genesis_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise NodeStartError(f"geth init failed in {self.data_dir}:\n{done.stderr[-2000:]}")

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "--datadir", str(self.data_dir),
            "--networkid", str(self.chain_id),
            "--syncmode", "full",
            "--port", str(self.p2p_port),
            "--nodiscover",
            "--nat", "none",
            "--maxpeers", "25",
            "--ipcdisable",
            "--http",
            "--http.addr", self.host,
            "--http.port", str(self.port),
            "--http.api", "admin,clique,eth,miner,net,txpool,web3",
            "--authrpc.port", str(self.auth_port),
            "--miner.etherbase", self.address,
            "--miner.gasprice", "0",
            "--miner.gaslimit", str(self.gas_limit),
            "--txpool.pricelimit", "0",
            "--rpc.gascap", "0",
            "--rpc.txfeecap", "0",
            "--rpc.batch-request-limit", "10000",  # batch anchoring sends thousands per request
            "--rpc.batch-response-max-size", "100000000",
            "--unlock", self.address,
            "--password", str(self.data_dir / PASSWORD_FILE),
            "--allow-insecure-unlock",
            "--verbosity", "3",
        ]  # fmt: skip
