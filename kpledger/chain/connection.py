"""Connect to an in-process EVM, a local node or any JSON-RPC endpoint.

Why one function: tests, scripts, the API and the CLI all start from "give me a
``Web3`` for this target"; the in-process chain additionally needs its funded
genesis keys, which :class:`InProcessChain` keeps beside the ``Web3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from web3 import HTTPProvider, Web3

from kpledger.errors import ConnectionFailed


@dataclass
class InProcessChain:
    """A py-evm chain inside this process (eth-tester): no node, instant blocks.

    ``keys`` are eth-tester's funded genesis keys: test-only, never for a real chain."""

    w3: Web3
    keys: list[bytes] = field(default_factory=list)

    @classmethod
    def start(cls, accounts: int = 10) -> InProcessChain:
        from eth_tester import EthereumTester, PyEVMBackend
        from eth_tester.backends.pyevm.main import get_default_account_keys
        from web3 import EthereumTesterProvider

        backend = PyEVMBackend(genesis_state=_genesis(accounts))
        w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
        keys = [k.to_bytes() for k in get_default_account_keys(quantity=accounts)]
        return cls(w3=w3, keys=keys)

    @property
    def tester(self) -> Any:
        return self.w3.provider.ethereum_tester  # type: ignore[attr-defined]

    def snapshot(self) -> int:
        return int(self.tester.take_snapshot())

    def revert(self, snapshot_id: int) -> None:
        self.tester.revert_to_snapshot(snapshot_id)

    def time_travel(self, timestamp: int) -> None:
        """Mine the next block at ``timestamp`` (to test expiry)."""
        self.tester.time_travel(timestamp)


def _genesis(accounts: int) -> Any:
    from eth_tester.backends.pyevm.main import (
        generate_genesis_state_for_keys,
        get_default_account_keys,
    )

    return generate_genesis_state_for_keys(get_default_account_keys(quantity=accounts))


def connect_rpc(url: str, *, timeout: float = 30.0, expected_chain_id: int | None = None) -> Web3:
    """A ``Web3`` for a JSON-RPC URL, checked to answer (and to be the expected chain).
    ``url`` may list several nodes separated by commas: the first that answers is used
    (the Ledger itself fails over between them, see :mod:`kpledger.chain.failover`)."""
    from kpledger.chain.failover import split_urls

    failures: list[str] = []
    for candidate in split_urls(url):
        w3 = Web3(HTTPProvider(candidate, request_kwargs={"timeout": timeout}))
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception as exc:
            failures.append(f"cannot reach the node at {candidate}: {type(exc).__name__}: {exc}")
            continue
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise ConnectionFailed(
                f"node at {candidate} is chain {chain_id}, expected chain {expected_chain_id}"
            )
        return w3
    raise ConnectionFailed("; ".join(failures))


def account_address(key: bytes) -> str:
    return str(Account.from_key(key).address)
