"""The production consortium kit: Hyperledger Besu with QBFT, free gas (on paper here).

Why generated rather than hand-written: the validators' addresses must appear RLP-encoded
in the genesis ``extraData`` exactly as Besu expects (``[vanity32, [addresses], [], 0,
[]]``, what ``besu rlp encode --type=QBFT_EXTRA_DATA`` prints), and every node's TOML and
the permissioning allowlist must name the same enodes. Besu cannot be installed here,
so the output is checked by decoding it back (:func:`qbft_validators`), not by a run.

Decisions (pure functions; :func:`write_besu_config` does the file I/O):

- ``zeroBaseFee: true`` in the genesis and ``min-gas-price=0`` per node: gas is free.
- Shanghai and Cancun from genesis: Besu's QBFT supports them; the contracts are compiled
  for London, which every later fork runs, so the same bytecode runs here and on Clique.
- Immediate finality: a QBFT block is final once sealed (2f+1 commit seals), so the
  confirmation depth on Besu is 0; on Clique it is not (see docs/consortium.md).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import rlp
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

QBFT_MIX_HASH: Final = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
"""The fixed mixHash that marks a BFT block ("ctical byzantine fault tolerance")."""


@dataclass(frozen=True)
class BesuNode:
    name: str
    address: str
    public_key: str  # 64-byte hex, no prefix: the enode id
    host: str
    p2p_port: int
    rpc_port: int

    @property
    def enode(self) -> str:
        return f"enode://{self.public_key}@{self.host}:{self.p2p_port}"


def qbft_extra_data(validators: Sequence[str]) -> str:
    """RLP ``[32 zero bytes, [validator addresses], [] (no vote), 0 (round), [] (no seals)]``."""
    if len(validators) < 1:
        raise ValueError("validators: QBFT needs at least one validator (4 or more tolerate a fault)")
    addresses = [bytes.fromhex(to_checksum_address(a)[2:]) for a in validators]
    encoded: bytes = rlp.encode([bytes(32), addresses, [], 0, []])
    return "0x" + encoded.hex()


def qbft_validators(extra_data: str) -> list[str]:
    """The validator addresses in a QBFT ``extraData`` (inverse of :func:`qbft_extra_data`)."""
    decoded: Any = rlp.decode(bytes.fromhex(extra_data.removeprefix("0x")))
    if not isinstance(decoded, list) or len(decoded) != 5 or len(decoded[0]) != 32:
        raise ValueError("extraData: not a QBFT extra data list [vanity32, validators, vote, round, seals]")
    return [to_checksum_address(a) for a in decoded[1]]


def qbft_genesis(validators: Sequence[str], *, chain_id: int, block_period: int = 2) -> dict[str, Any]:
    """Besu's genesis for a QBFT network sealed by ``validators`` with free gas."""
    if not 1 <= block_period <= 60:
        raise ValueError(f"block_period: {block_period} s is outside 1..60 s")
    forks = ("homestead", "eip150", "eip155", "eip158", "byzantium", "constantinople", "petersburg",
             "istanbul", "muirGlacier", "berlin", "london")  # fmt: skip
    config: dict[str, Any] = {"chainId": chain_id, **{f"{fork}Block": 0 for fork in forks}}
    config.update(
        shanghaiTime=0,
        cancunTime=0,
        zeroBaseFee=True,
        qbft={
            "blockperiodseconds": block_period,
            "epochlength": 30000,
            "requesttimeoutseconds": 4 * block_period,
        },
    )
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(1_000_000_000),
        "difficulty": "0x1",
        "mixHash": QBFT_MIX_HASH,
        "coinbase": "0x" + "00" * 20,
        "alloc": {},
        "extraData": qbft_extra_data(validators),
    }


def node_toml(node: BesuNode, peers: Sequence[BesuNode]) -> str:
    """One validator's ``config.toml``."""
    bootnodes = ", ".join(f'"{p.enode}"' for p in peers if p.name != node.name)
    return (
        f'# Besu QBFT validator {node.name} ({node.address})\n'
        'data-path="data"\n'
        'genesis-file="../genesis.json"\n'
        'node-private-key-file="key"\n'
        f"p2p-host=\"{node.host}\"\np2p-port={node.p2p_port}\n"
        f"bootnodes=[{bootnodes}]\n"
        'rpc-http-enabled=true\nrpc-http-host="127.0.0.1"\n'
        f"rpc-http-port={node.rpc_port}\n"
        'rpc-http-api=["ETH","NET","WEB3","QBFT","ADMIN","TXPOOL"]\n'
        'host-allowlist=["localhost","127.0.0.1"]\n'
        "min-gas-price=0\n"
        "permissions-nodes-config-file-enabled=true\n"
        'permissions-nodes-config-file="../permissions_config.toml"\n'
        "sync-mode=\"FULL\"\n"
    )  # fmt: skip


def permissions_toml(nodes: Sequence[BesuNode]) -> str:
    """The node allowlist every validator loads (only the consortium's enodes may peer)."""
    entries = ",\n  ".join(f'"{n.enode}"' for n in nodes)
    return f"nodes-allowlist=[\n  {entries}\n]\n"


def write_besu_config(
    out_dir: str | Path, *, validators: int, chain_id: int, block_period: int = 2, hosts: Sequence[str] = ()
) -> list[BesuNode]:
    """Generate keys (one ``key`` file per node, mode 0600, never printed), the genesis,
    each node's TOML and the allowlist under ``out_dir``. ``hosts`` default to loopback
    with distinct ports."""
    if validators < 1:
        raise ValueError(f"validators: {validators}; QBFT needs n >= 3f + 1, so 4 to survive one fault")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    nodes: list[BesuNode] = []
    for index in range(validators):
        name = f"validator-{index + 1}"
        key = PrivateKey(secrets.token_bytes(32))
        node_dir = root / name
        node_dir.mkdir(exist_ok=True)
        fd = os.open(node_dir / "key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.to_hex())
        host = hosts[index] if index < len(hosts) else "127.0.0.1"
        nodes.append(
            BesuNode(name, key.public_key.to_checksum_address(), key.public_key.to_hex()[2:], host,
                     30303 + index, 8545 + index)
        )  # fmt: skip
    genesis = qbft_genesis([n.address for n in nodes], chain_id=chain_id, block_period=block_period)
    (root / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
    (root / "permissions_config.toml").write_text(permissions_toml(nodes))
    for node in nodes:
        (root / node.name / "config.toml").write_text(node_toml(node, nodes))
    return nodes
