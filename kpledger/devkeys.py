"""DEV-ONLY keys: the funded accounts of a LOCAL anvil or Hardhat node.

Every anvil and Hardhat node derives its ten funded accounts from the same PUBLIC
mnemonic, ``test test test test test test test test test test test junk``
(BIP-44 path ``m/44'/60'/0'/0/i``). Anyone can compute these keys, and bots sweep any
funds sent to their addresses on public networks within seconds. They exist so a
developer's throw-away local chain has accounts to sign with; they are NEVER keys for
a KP authority, an exporter or any real network. Real keys come from encrypted
keystore files or the environment (:mod:`kpledger.keys`), never from the repository.

Hence the guard: :func:`dev_only_keys` hands the keys out only for anvil's default
chain id 31337, unless the caller says it runs a local node of its own with another
chain id (``allow_any_chain=True``, as :meth:`kpledger.chain.node.LocalNode.dev_only_keys`
does for the nodes it started). The keys are derived from the mnemonic with
eth-account's HD wallet support, not pasted in as hex.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from eth_account import Account

from kpledger.errors import ConfigurationError

DEV_ONLY_MNEMONIC: Final = "test test test test test test test test test test test junk"
"""PUBLIC mnemonic of anvil's and Hardhat's default accounts. DEV-ONLY."""

DEV_ONLY_CHAIN_ID: Final = 31337
"""The chain id of a default local anvil / Hardhat node, the only one the keys are
handed out for without ``allow_any_chain``."""

DEV_ONLY_ACCOUNT_COUNT: Final = 10
"""How many accounts a default anvil / Hardhat node funds."""

DEV_ONLY_PATH: Final = "m/44'/60'/0'/0/{index}"
"""BIP-44 derivation path of account ``index``."""


class DevKeysRefused(ConfigurationError):
    """The DEV-ONLY keys were asked for on a chain that is not known to be local."""


def dev_only_keys(
    chain_id: int, *, count: int = DEV_ONLY_ACCOUNT_COUNT, allow_any_chain: bool = False
) -> list[bytes]:
    """The first ``count`` DEV-ONLY private keys (32 bytes each) of the public mnemonic.

    Raises :class:`DevKeysRefused` unless ``chain_id`` is 31337 or ``allow_any_chain``
    is set, which a caller may only do for a local node it started itself (e.g. an
    anvil with a custom chain id standing in for a consortium chain)."""
    if chain_id != DEV_ONLY_CHAIN_ID and not allow_any_chain:
        raise DevKeysRefused(
            f"refusing to hand out the DEV-ONLY anvil keys for chain id {chain_id}: they are public"
            f" (mnemonic {DEV_ONLY_MNEMONIC!r}) and only meant for a local node with chain id"
            f" {DEV_ONLY_CHAIN_ID}; pass allow_any_chain=True only for a local node you started"
        )
    if count < 1:
        raise ValueError("count must be at least 1")
    return [dev_only_key(i) for i in range(count)]


def dev_only_addresses(count: int = DEV_ONLY_ACCOUNT_COUNT) -> list[str]:
    """The addresses of the DEV-ONLY accounts (safe to show: addresses, not keys)."""
    return [_derive(i)[1] for i in range(count)]


def dev_only_key(index: int) -> bytes:
    """DEV-ONLY private key number ``index`` (no chain check: prefer :func:`dev_only_keys`)."""
    return _derive(index)[0]


@cache
def _derive(index: int) -> tuple[bytes, str]:
    if index < 0:
        raise ValueError("account index must not be negative")
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(DEV_ONLY_MNEMONIC, account_path=DEV_ONLY_PATH.format(index=index))
    return bytes(account.key), str(account.address)
