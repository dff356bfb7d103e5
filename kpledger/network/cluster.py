"""Create, start, stop, kill and partition a Clique network of geth validators.

Why a class of its own: ``kpledger network up``, the fault tests and the benchmark all need
"N validators on loopback that peer with each other, keep their chain on disk and come
back on the same ports". The layout (keys, ports, enodes) is decided once and kept in
``DIR/network.json``; a second start with the same directory resumes that chain.

Keys: each validator's signing key and node key are generated here at creation, into its
own data directory (keystore file and ``geth/nodekey``, mode 0600) and never leave it;
``network.json`` holds only addresses and public enode ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_keys.datatypes import PrivateKey

from kpledger.chain.node import NodeError, free_port
from kpledger.network.genesis import DEFAULT_CHAIN_ID, DEFAULT_GAS_LIMIT, DEFAULT_PERIOD, clique_genesis
from kpledger.network.geth import PASSWORD_FILE, GethValidator

MANIFEST: Final = "network.json"
GENESIS: Final = "genesis.json"


@dataclass(frozen=True)
class ValidatorSlot:
    """What stays fixed about one validator across restarts."""

    name: str
    address: str
    enode_id: str
    rpc_port: int
    p2p_port: int
    auth_port: int

    @property
    def enode(self) -> str:
        return f"enode://{self.enode_id}@127.0.0.1:{self.p2p_port}?discport=0"

    @property
    def rpc(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"


class CliqueNetwork:
    """A Clique network rooted at ``data_dir`` (see the module docstring)."""

    def __init__(
        self, data_dir: Path, chain_id: int, period: int, gas_limit: int, slots: list[ValidatorSlot]
    ):
        self.data_dir = data_dir
        self.chain_id = chain_id
        self.period = period
        self.gas_limit = gas_limit
        self.slots = slots
        self.nodes = [
            GethValidator(
                address=slot.address,
                data_dir=data_dir / slot.name,
                port=slot.rpc_port,
                p2p_port=slot.p2p_port,
                auth_port=slot.auth_port,
                chain_id=chain_id,
                gas_limit=gas_limit,
            )
            for slot in slots
        ]

    # ------------------------------------------------------------------ creation

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        *,
        validators: int = 4,
        chain_id: int = DEFAULT_CHAIN_ID,
        period: int = DEFAULT_PERIOD,
        gas_limit: int = DEFAULT_GAS_LIMIT,
    ) -> CliqueNetwork:
        """The network in ``data_dir``: resumed from its ``network.json`` when there is
        one (the other arguments are then ignored), otherwise created."""
        root = Path(data_dir).resolve()
        manifest = root / MANIFEST
        if manifest.is_file():
            return cls._load(root, json.loads(manifest.read_text()))
        if validators < 1:
            raise ValueError(
                f"validators: {validators}; a network needs at least 1 (4 or more to survive a fault)"
            )
        return cls._create(root, validators, chain_id, period, gas_limit)

    @classmethod
    def _load(cls, root: Path, manifest: dict[str, Any]) -> CliqueNetwork:
        slots = [
            ValidatorSlot(
                name=v["name"],
                address=v["address"],
                enode_id=v["enode_id"],
                rpc_port=v["rpc_port"],
                p2p_port=v["p2p_port"],
                auth_port=v["auth_port"],
            )
            for v in manifest["validators"]
        ]
        return cls(
            root, int(manifest["chain_id"]), int(manifest["period"]), int(manifest["gas_limit"]), slots
        )

    @classmethod
    def _create(cls, root: Path, count: int, chain_id: int, period: int, gas_limit: int) -> CliqueNetwork:
        root.mkdir(parents=True, exist_ok=True)
        slots: list[ValidatorSlot] = []
        ports: set[int] = set()
        for index in range(count):
            name = f"validator-{index + 1}"
            node_dir = root / name
            address, enode_id = _generate_keys(node_dir)
            rpc_port, p2p_port, auth_port = (_fresh_port(ports) for _ in range(3))
            slots.append(ValidatorSlot(name, address, enode_id, rpc_port, p2p_port, auth_port))
        genesis = clique_genesis(
            [s.address for s in slots], chain_id=chain_id, period=period, gas_limit=gas_limit
        )
        genesis_file = root / GENESIS
        genesis_file.write_text(json.dumps(genesis, indent=2) + "\n")
        network = cls(root, chain_id, period, gas_limit, slots)
        for node in network.nodes:
            node.init_chain(genesis_file)
        network.write_manifest()
        return network

    # ------------------------------------------------------------------ life cycle

    @property
    def urls(self) -> list[str]:
        return [slot.rpc for slot in self.slots]

    def start(self) -> CliqueNetwork:
        """Start every validator that is not running, peer them all, then let them seal.

        Sealing starts only once every validator has its peers: validators that seal
        before they hear of each other fork at once, and Clique can deadlock on forks of
        equal difficulty whose signers all "signed recently"."""
        started = [index for index, node in enumerate(self.nodes) if not node.running]
        for index in started:
            self.nodes[index].start()
        for index in started:
            self._connect(index, range(len(self.nodes)))
        self._await_peers(started, len([n for n in self.nodes if n.running]) - 1)
        for index in started:
            self.nodes[index].request("miner_start")
        self.write_manifest()
        return self

    def start_validator(self, index: int, *, catch_up_timeout: float = 60.0) -> None:
        """Start validator ``index`` again (after :meth:`stop_validator` or :meth:`kill`)
        on its ports and chain, peer it, let it catch up with the others, then let it seal."""
        node = self.nodes[index]
        node.start()
        self._connect(index, range(len(self.nodes)))
        self._await_peers([index], 1)
        others = [i for i, n in enumerate(self.nodes) if n.running and i != index]
        deadline = time.monotonic() + catch_up_timeout
        while others:
            target = max(int(self.nodes[i].request("eth_blockNumber"), 16) for i in others)
            if int(node.request("eth_blockNumber"), 16) >= target - 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        node.request("miner_start")
        self.write_manifest()

    def stop_validator(self, index: int) -> None:
        self.nodes[index].stop()
        self.write_manifest()

    def kill(self, index: int) -> None:
        """SIGKILL validator ``index`` (crash: no clean shutdown)."""
        self.nodes[index].kill()
        self.write_manifest()

    def stop(self) -> None:
        """Stop every validator cleanly (SIGINT): the chains stay on disk."""
        errors: list[str] = []
        for node in self.nodes:
            try:
                node.stop()
            except NodeError as exc:
                errors.append(str(exc))
        self.write_manifest()
        if errors:
            raise NodeError("; ".join(errors))

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut every peer link between different ``groups`` (admin_removePeer on both
        sides, which also drops them as static peers so they do not redial)."""
        group_of = {index: g for g, members in enumerate(groups) for index in members}
        for a, node in enumerate(self.nodes):
            for b, slot in enumerate(self.slots):
                if a != b and group_of.get(a) != group_of.get(b) and node.running:
                    node.request("admin_removePeer", [slot.enode])

    def heal(self) -> None:
        """Link every running validator with every other again."""
        running = [index for index, node in enumerate(self.nodes) if node.running]
        for index in running:
            self._connect(index, running)
        self._await_peers(running, len(running) - 1)

    def _await_peers(self, indexes: Sequence[int], wanted: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for index in indexes:
            while len(self.nodes[index].request("admin_peers")) < wanted:
                if time.monotonic() > deadline:
                    raise NodeError(
                        f"{self.slots[index].name} has not peered with {wanted} validators within {timeout}s"
                    )
                time.sleep(0.1)

    def peer_counts(self) -> list[int | None]:
        return [len(node.request("admin_peers")) if node.running else None for node in self.nodes]

    def block_numbers(self) -> list[int | None]:
        return [int(node.request("eth_blockNumber"), 16) if node.running else None for node in self.nodes]

    def wait_for_block(
        self, number: int, *, nodes: Iterable[int] | None = None, timeout: float = 60.0
    ) -> None:
        """Wait until the given (default: all running) validators are at ``number`` or higher."""
        chosen = list(nodes) if nodes is not None else [i for i, n in enumerate(self.nodes) if n.running]
        deadline = time.monotonic() + timeout
        while True:
            heights = {i: int(self.nodes[i].request("eth_blockNumber"), 16) for i in chosen}
            if all(h >= number for h in heights.values()):
                return
            if time.monotonic() > deadline:
                raise NodeError(f"validators did not reach block {number} within {timeout}s: {heights}")
            time.sleep(0.2)

    def write_manifest(self) -> None:
        """``DIR/network.json``: chain id, and per validator its RPC URL, pid (null when
        stopped), signing address, plus the fixed layout used to resume."""
        manifest = {
            "chain_id": self.chain_id,
            "period": self.period,
            "gas_limit": self.gas_limit,
            "genesis": GENESIS,
            "validators": [
                {
                    "rpc": slot.rpc,
                    "pid": node.pid if node.running else None,
                    "address": slot.address,
                    "name": slot.name,
                    "enode_id": slot.enode_id,
                    "rpc_port": slot.rpc_port,
                    "p2p_port": slot.p2p_port,
                    "auth_port": slot.auth_port,
                }
                for slot, node in zip(self.slots, self.nodes, strict=True)
            ],
        }
        path = self.data_dir / MANIFEST
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(path)

    def _connect(self, index: int, others: Iterable[int]) -> None:
        node = self.nodes[index]
        for other in others:
            if other != index:
                node.request("admin_addPeer", [self.slots[other].enode])

    def __enter__(self) -> CliqueNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(NodeError):
            self.stop()


def _generate_keys(node_dir: Path) -> tuple[str, str]:
    """A fresh signing key (geth keystore file + random password) and node key in
    ``node_dir``; returns the signing address and the public enode id."""
    (node_dir / "keystore").mkdir(parents=True, exist_ok=True)
    (node_dir / "geth").mkdir(parents=True, exist_ok=True)
    signing_key = secrets.token_bytes(32)
    password = secrets.token_hex(16)
    account = Account.from_key(signing_key)
    keystore = Account.encrypt(signing_key, password, kdf="pbkdf2", iterations=4096)
    _write_private(node_dir / PASSWORD_FILE, password)
    _write_private(node_dir / "keystore" / f"{account.address.lower()[2:]}.json", json.dumps(keystore))
    node_key = secrets.token_bytes(32)
    _write_private(node_dir / "geth" / "nodekey", node_key.hex())
    return str(account.address), PrivateKey(node_key).public_key.to_hex()[2:]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _fresh_port(taken: set[int]) -> int:
    while True:
        port = free_port()
        if port not in taken:
            taken.add(port)
            return port
