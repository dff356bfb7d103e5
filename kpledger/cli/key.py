"""``kpledger key``: encrypted keystore files, and the DEV-ONLY accounts of a local node.

A keystore is the Ethereum V3 format (scrypt + AES), written with mode 0600 and never
overwritten. The password comes from ``KPLEDGER_KEY_PASSWORD`` or a prompt.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from kpledger.cli import output
from kpledger.cli.errors import UsageProblem
from kpledger.cli.options import JsonOption, common
from kpledger.demo import ACCOUNTS_NEEDED, DEV_ROLES
from kpledger.devkeys import dev_only_addresses
from kpledger.errors import KeyLoadError
from kpledger.keys import (
    PASSWORD_ENV,
    PRIVATE_KEY_ENV,
    new_keystore,
    password_from_env_or_prompt,
    write_keystore,
)

app = typer.Typer(
    help="Signing keys: encrypted keystore files (new, import, address) and the DEV-ONLY accounts (dev).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

KeystorePath = Annotated[
    Path, typer.Argument(metavar="KEYSTORE", help="Keystore file to write.", show_default=False)
]


@app.command("new")
@common(chain=False)
def new(path: KeystorePath) -> None:
    """Create a fresh random key in an encrypted keystore file.

    Example: `KPLEDGER_KEY_PASSWORD=… kpledger key new bw-authority.keystore.json`"""
    password = password_from_env_or_prompt(confirm=True)
    address = new_keystore(path, password)
    output.success(f"new key {address} in {path} (keep the file and its password safe)")
    output.plain(address)


@app.command("import")
@common(chain=False)
def import_(path: KeystorePath) -> None:
    """Encrypt an existing private key into a keystore file.

    The key is read from KPLEDGER_PRIVATE_KEY or typed at a prompt (not echoed).

    Example: `kpledger key import exporter.keystore.json`"""
    raw = os.environ.get(PRIVATE_KEY_ENV) or getpass.getpass("Private key (hex): ")
    try:
        key = bytes.fromhex(raw.strip().removeprefix("0x"))
    except ValueError:
        raise KeyLoadError("the private key is not hex") from None
    if len(key) != 32:
        raise KeyLoadError(f"a private key has 32 bytes (64 hex digits), this one has {len(key)}")
    password = password_from_env_or_prompt(confirm=True)
    address = write_keystore(path, key, password)
    output.success(f"imported {address} into {path}")
    output.plain(address)


@app.command("address")
@common(chain=False)
def address(path: Annotated[Path, typer.Argument(metavar="KEYSTORE", exists=True, dir_okay=False)]) -> None:
    """Print the address of a keystore file (no password needed).

    Example: `kpledger key address bw-authority.keystore.json`"""
    output.plain(_keystore_address(path))


@app.command("fund")
@common()
def fund(
    target: Annotated[
        str, typer.Argument(metavar="KEYSTORE|ADDRESS", help="A keystore file, an address or a demo role.")
    ],
    eth: Annotated[
        int, typer.Option("--eth", min=1, max=1_000_000, help="Ether to set the balance to.")
    ] = 100,
) -> None:
    """Give an account DEV-ONLY ether on a local node, so a new keystore can pay for gas.

    Local anvil or Hardhat node only (it sets the balance with the node's dev RPC); a
    consortium chain runs with zero gas price or funds accounts its own way.

    Example: `kpledger key fund bw-exporter.keystore.json`"""
    from kpledger.chain.http_rpc import HttpRpc
    from kpledger.chain.rpc import RpcError
    from kpledger.cli.options import session
    from kpledger.cli.refs import account

    path = Path(target)
    address = _keystore_address(path) if path.is_file() else account(target)
    current = session()
    url = current.rpc_url(write=True)
    rpc = HttpRpc(url)
    answer = rpc.call("eth_chainId", [])
    chain_id = int(answer, 16) if isinstance(answer, str) else int(answer)
    if not current.dev_keys_allowed(chain_id, url):
        raise UsageProblem(
            f"`key fund` works only on a local dev node, not {url} (chain {chain_id})",
            hint="on a consortium chain, ask its operator to fund the account (QBFT networks may run with"
            " zero gas price)",
        )
    wei = hex(eth * 10**18)
    for method in ("anvil_setBalance", "hardhat_setBalance"):
        try:
            rpc.call(method, [address, wei])
            break
        except RpcError:
            continue
    else:
        raise UsageProblem(f"the node at {url} sets no balances (neither anvil nor Hardhat)")
    output.success(f"{address} holds {eth} DEV-ONLY ETH on the local node at {url}")


def _keystore_address(path: Path) -> str:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        raw = str(document["address"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageProblem(f"{path} is not a keystore file with an address") from None
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address("0x" + raw.removeprefix("0x")))


@app.command("dev")
@common(chain=False)
def dev(as_json: JsonOption = False) -> None:
    """List the DEV-ONLY accounts of a local node and their roles in the demo.

    Their keys derive from a PUBLIC mnemonic: only for a local throw-away chain."""
    addresses = dev_only_addresses(ACCOUNTS_NEEDED)
    by_index: dict[int, list[str]] = {}
    for role, index in DEV_ROLES.items():
        if role != "governance":
            by_index.setdefault(index, []).append(role)
    rows = [(i, addresses[i], ", ".join(by_index.get(i, []))) for i in range(ACCOUNTS_NEEDED)]
    if as_json:
        output.json_out([{"index": i, "address": a, "roles": r.split(", ") if r else []} for i, a, r in rows])
        return
    output.notice(
        "[bold yellow]DEV-ONLY accounts[/bold yellow]: keys from the public anvil mnemonic — local node only,"
        " never a real network."
    )
    output.table(None, ("index", "address", "demo role (--dev-account)"), rows)
    output.notice(
        f"[dim]keystore password variable: {PASSWORD_ENV}; raw key variable: {PRIVATE_KEY_ENV}[/dim]"
    )
