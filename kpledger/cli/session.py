"""The context object every command shares: settings, the chain, the deployment and who
signs.

Why one object: each command is a thin wrapper, so "which data directory, which node,
which contracts, which key" is decided here once, with the same rules and messages for
all of them:

- the RPC URL: ``--rpc`` / ``KPLEDGER_RPC`` / config ``rpc``; else the node a running
  ``kpledger up`` recorded in ``<data dir>/run.json``; else, for reads only,
  ``http://127.0.0.1:8545`` (a write is never sent to a node nobody named: another
  ledger may listen there);
- the deployment: ``--deployment`` / ``<data dir>/deployment.json``; the session checks
  the node is the deployment's chain (chain id, genesis and deployment block hashes,
  :mod:`kpledger.chain.identity`) before its first read or write;
- the signer: ``--key FILE`` (an encrypted keystore; password from
  ``KPLEDGER_KEY_PASSWORD`` or a prompt), else ``KPLEDGER_PRIVATE_KEY``, else
  ``--dev-account N|ROLE`` — a public DEV-ONLY key, accepted only on a local node.
  A ``--dev-account`` typed on the command line wins over a key configured elsewhere.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kpledger.chain.deployment import Deployment
from kpledger.chain.sender import Signer
from kpledger.cli import output
from kpledger.cli.config import ENV_PREFIX, CLISettings, load_settings
from kpledger.cli.errors import UsageProblem
from kpledger.keys import PRIVATE_KEY_ENV, load_keystore, signer_from_env
from kpledger.ledger import Ledger

DEFAULT_RPC = "http://127.0.0.1:8545"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclass
class Session:
    """Flags given on the command line (root and command level); everything else is
    resolved lazily, so ``kpledger hash`` never needs a chain."""

    flags: dict[str, Any] = field(default_factory=dict)
    _settings: CLISettings | None = None

    def set_flags(self, **flags: Any) -> None:
        """Merge flags (command-level ones win over root-level ones)."""
        given = {k: v for k, v in flags.items() if v is not None and v is not False}
        if given:
            self.flags.update(given)
            self._settings = None

    @property
    def debug(self) -> bool:
        if self.flags.get("debug"):
            return True
        return os.environ.get(ENV_PREFIX + "DEBUG", "").lower() in ("1", "true", "yes")

    @property
    def settings(self) -> CLISettings:
        if self._settings is None:
            self._settings = load_settings(self.flags)
        return self._settings

    # ------------------------------------------------------------------ the chain

    def run_record(self) -> dict[str, Any] | None:
        """What a running ``kpledger up`` recorded (None if it is not running)."""
        path = self.settings.run_path
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        pid = record.get("pid")
        if not isinstance(pid, int) or not _alive(pid):
            return None
        return record

    def node(self) -> tuple[str | None, str]:
        """The node URL this session uses and where it came from (the URL is None when
        nothing names one: no setting and no running ``kpledger up``)."""
        from kpledger.cli.config import sources

        if self.settings.rpc:
            origin = {"flag": "--rpc", "env": "KPLEDGER_RPC", "config file": "the config file"}
            return self.settings.rpc, origin.get(sources(self.settings, self.flags)["rpc"], "--rpc")
        record = self.run_record()
        if record is not None and isinstance(record.get("rpc"), str):
            return str(record["rpc"]), f"the running `kpledger up` ({self.settings.run_path})"
        return None, (
            "nothing: no --rpc, KPLEDGER_RPC or config rpc, and no running ledger in"
            f" {self.settings.run_path}"
        )

    def rpc_url(self, *, write: bool = False) -> str:
        """The node to talk to; ``write`` refuses the default URL (see the module doc)."""
        url, origin = self.node()
        if url is not None:
            return url
        if write:
            raise UsageProblem(
                f"this command writes to the ledger, but no node is named ({origin})",
                hint="start the local ledger with `kpledger up`, or pass --rpc URL (KPLEDGER_RPC)",
            )
        return DEFAULT_RPC

    def public_url(self) -> str:
        """Where printed certificates' QR codes send people: the configured page, else the
        page the running ``kpledger up`` serves, else the configured host and port."""
        if self.settings.public_url:
            return self.settings.public_url
        record = self.run_record()
        if record is not None and isinstance(record.get("api"), str):
            return str(record["api"]).rstrip("/")
        return self.settings.api_url

    def deployment(self) -> Deployment:
        path = self.settings.deployment_path
        if not path.is_file():
            raise UsageProblem(
                f"no deployment record at {path}",
                hint="start a local ledger with `kpledger up`, deploy with `kpledger deploy`,"
                " or point --data-dir DIR or --deployment FILE at an existing record",
            )
        return Deployment.load(path)

    def ledger(self, *, sign: bool = False, default_dev: int | None = None) -> Ledger:
        """A client of the recorded deployment; ``sign`` binds the configured signer
        (or DEV-ONLY account ``default_dev`` when none is configured)."""
        url = self.rpc_url(write=sign)
        deployment = self.deployment()
        ledger = Ledger.connect(url, deployment, receipt_timeout=self.settings.receipt_timeout)
        if not deployment.has_identity:
            output.notice(
                f"[yellow]the deployment record {self.settings.deployment_path} does not name its chain"
                " (genesis and deployment block hashes), so only its chain id was checked; record them with"
                " `kpledger deploy --record-identity`"
            )
        if sign:
            ledger = ledger.as_signer(self.signer(deployment.chain_id, url, default_dev=default_dev))
        return ledger

    # ------------------------------------------------------------------ the signer

    def signer(self, chain_id: int, url: str, *, default_dev: int | None = None) -> Signer:
        dev_flag = self.flags.get("dev_account")
        key_flag = self.flags.get("key")
        if dev_flag is not None and key_flag is not None:
            raise UsageProblem("--key and --dev-account exclude each other", hint="give one of them")
        if dev_flag is not None:
            return self.dev_signer(str(dev_flag), chain_id, url)
        settings = self.settings
        if settings.key is not None:
            return load_keystore(settings.key)
        from_env = signer_from_env()
        if from_env is not None:
            return from_env
        if settings.dev_account is not None:
            return self.dev_signer(settings.dev_account, chain_id, url)
        if default_dev is not None and self.dev_keys_allowed(chain_id, url):
            return self.dev_signer(str(default_dev), chain_id, url)
        raise UsageProblem(
            "this command signs a transaction, but no key is configured",
            hint=f"pass --key KEYSTORE (create one with `kpledger key new`), set {PRIVATE_KEY_ENV},"
            " or on a local dev node --dev-account N",
        )

    def dev_signer(self, account: str, chain_id: int, url: str) -> Signer:
        from kpledger import demo
        from kpledger.devkeys import dev_only_key

        index = demo.dev_account_index(account)
        if not self.dev_keys_allowed(chain_id, url):
            raise UsageProblem(
                f"--dev-account refused for {url} (chain {chain_id}): DEV-ONLY keys are public and work only"
                " on a local node",
                hint="use --key KEYSTORE or KPLEDGER_PRIVATE_KEY for any other chain",
            )
        signer = Signer(dev_only_key(index))
        output.dev_key_notice(index, signer.address)
        return signer

    def dev_keys_allowed(self, chain_id: int, url: str) -> bool:
        """Only a node on this machine, and either anvil's default chain id or a node
        ``kpledger up`` started itself."""
        host = urlparse(url).hostname or ""
        if host not in _LOOPBACK:
            return False
        if chain_id == 31337:
            return True
        record = self.run_record()
        return bool(record and record.get("managed_node") and record.get("rpc") == url)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` (checked by binding it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


__all__ = ["Session", "port_free", "write_json"]
