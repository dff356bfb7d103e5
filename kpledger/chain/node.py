"""Start and stop local development chains: anvil (state on disk) and Hardhat's node.

Why here and not in a shell script: ``make run``, the integration tests and the
benchmarks all need "a node on a free port, answering JSON-RPC, stopped cleanly so its
state reaches the disk". Both binaries come from the project's ``node_modules``
(``npm ci``), never from a download at run time.

- :class:`AnvilNode` runs ``anvil`` (``@foundry-rs/anvil``): automine or real block
  times (``block_time``), no mining at all (``no_mining``), zero gas price and base fee
  (``zero_fees``, standing in for a Besu QBFT network with free gas), a custom chain id,
  and ``--state FILE`` persistence under ``data_dir`` (dumped on a clean stop and every
  ``state_interval`` seconds).
- :class:`HardhatNode` runs ``hardhat node`` (EDR) on the project's Node 22: a second,
  independent EVM implementation to run the same tests against. It keeps no state.

Both are context managers; :meth:`LocalNode.stop` sends SIGINT and waits, so anvil dumps
its state; :meth:`LocalNode.kill` is SIGKILL, for crash tests. Logs go to a file (see
:attr:`LocalNode.log_path`); a node that does not come up raises :class:`NodeStartError`
with the tail of that log.

The funded accounts of these nodes are the public DEV-ONLY keys of
:mod:`kpledger.devkeys` (:meth:`LocalNode.dev_only_keys`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self

from kpledger.devkeys import DEV_ONLY_ACCOUNT_COUNT, dev_only_keys
from kpledger.errors import ChainError, ConfigurationError

ANVIL_ENV = "KPLEDGER_ANVIL"
"""Environment variable naming an anvil binary to use instead of the project's."""

NODE_ENV = "KPLEDGER_NODE"
"""Environment variable naming a Node.js (>= 22) binary to run Hardhat with."""

DEFAULT_CHAIN_ID = 31337
"""anvil's and Hardhat's default chain id."""

STATE_FILE = "anvil-state.json"

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class NodeError(ChainError):
    """A local node could not be started or stopped."""


class NodeBinaryMissing(NodeError, ConfigurationError):
    """The node's binary is not installed (``npm ci`` installs it)."""


class NodeStartError(NodeError):
    """The node process exited or did not answer JSON-RPC in time. The message carries
    the tail of its log."""


class NodePortInUse(NodeStartError):
    """The requested port is taken by another process."""


# ---------------------------------------------------------------------- binaries


def project_root() -> Path:
    """The repository holding ``package.json`` and ``node_modules``: the checkout this
    package runs from (editable install), else the working directory or a parent."""
    candidates = [_PACKAGE_ROOT, Path.cwd(), *Path.cwd().parents]
    for candidate in candidates:
        if (candidate / "package.json").is_file() and (candidate / "node_modules").is_dir():
            return candidate
    for candidate in candidates:
        if (candidate / "package.json").is_file():
            return candidate
    return _PACKAGE_ROOT


def find_anvil() -> Path:
    """The anvil binary: ``$KPLEDGER_ANVIL``, else the native binary of the project's
    ``@foundry-rs/anvil`` package, else its ``node_modules/.bin`` wrapper, else ``anvil``
    on ``PATH``. Raises :class:`NodeBinaryMissing` naming ``npm ci``."""
    configured = os.environ.get(ANVIL_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not _executable(path):
            raise NodeBinaryMissing(f"{ANVIL_ENV}={configured!r} is not an executable file")
        return path
    root = project_root()
    scoped = root / "node_modules" / "@foundry-rs"
    # The native binary first: the .bin entry is a Node wrapper around it.
    natives = sorted(scoped.glob("anvil-*/bin/anvil")) if scoped.is_dir() else []
    for path in [*natives, root / "node_modules" / ".bin" / "anvil"]:
        if _executable(path):
            return path
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise NodeBinaryMissing(
        f"anvil not found under {root / 'node_modules'}: run `npm ci` in {root} "
        f"(it installs @foundry-rs/anvil), or set {ANVIL_ENV} to an anvil binary"
    )


def find_hardhat() -> tuple[Path, Path]:
    """``(node, hardhat_cli)``: the project's Node 22 (``node_modules/.bin/node``, or
    ``$KPLEDGER_NODE``) and Hardhat's CLI script. Raises :class:`NodeBinaryMissing`."""
    root = project_root()
    cli = root / "node_modules" / "hardhat" / "dist" / "src" / "cli.js"
    configured = os.environ.get(NODE_ENV)
    node = Path(configured).expanduser() if configured else root / "node_modules" / ".bin" / "node"
    if not cli.is_file() or not _executable(node):
        raise NodeBinaryMissing(
            f"Hardhat or Node 22 not found under {root / 'node_modules'}: run `npm ci` in {root}"
            f" (hardhat and the `node` package are devDependencies), or set {NODE_ENV}"
        )
    return node, cli


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


# ---------------------------------------------------------------------- nodes


class LocalNode(ABC):
    """A node process on this machine serving JSON-RPC over HTTP at :attr:`url`."""

    kind: ClassVar[str] = "node"
    _ADDRESS_IN_USE: ClassVar[tuple[str, ...]] = ("address already in use", "eaddrinuse")

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        data_dir: str | Path | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.chain_id = chain_id
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._fixed_port = port is not None
        self.port = port if port is not None else 0
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # Never leave an orphan node or temporary directory behind, even if close() is
        # never called: released when this object is collected or at interpreter exit.
        self._leftovers = _Leftovers()
        weakref.finalize(self, self._leftovers.release)

    # ------------------------------------------------------------------ subclass hooks

    @abstractmethod
    def command(self) -> list[str]:
        """The command line for :attr:`port` (already chosen)."""

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def working_directory(self) -> Path | None:
        return None

    def configure(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Called once JSON-RPC answers (e.g. to set the mining mode over RPC)."""

    # ------------------------------------------------------------------ life cycle

    @property
    def data_dir(self) -> Path:
        """Where the log (and anvil's state) live: the given directory, else a
        temporary one made on first use and removed by :meth:`close`."""
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix=f"kpledger-{self.kind}-"))
            self._leftovers.own_dir = self._data_dir
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return self._data_dir

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.kind}.log"

    @property
    def url(self) -> str:
        if not self.port:
            raise NodeError(f"{self.kind} has not been started: no port yet")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> Self:
        """Start the process and wait until it answers ``eth_chainId`` with
        :attr:`chain_id`. A port picked here is retried on a clash; a given port that is
        taken raises :class:`NodePortInUse`."""
        if self.running:
            raise NodeError(f"{self.kind} is already running at {self.url}")
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            if not self._fixed_port:
                self.port = free_port(self.host)
            try:
                self._spawn()
                self._await_rpc()
                self.configure()
                return self
            except NodePortInUse:
                self._reap()
                if attempt + 1 == attempts:
                    raise
            except BaseException:
                self._reap()
                raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGINT, then wait until the process exits (anvil writes its state on the
        way out). Returns the exit code (None if never started). A node that does not
        exit within ``timeout`` is killed and :class:`NodeError` raised: its state on
        disk may be stale."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                self._close_log()
                waited = self.stop_timeout if timeout is None else timeout
                raise NodeError(
                    f"{self.kind} (pid {process.pid}) ignored SIGINT for {waited}s and was killed;"
                    f" its state on disk may be stale.{self._tail_note()}"
                ) from None
        self._close_log()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL: the process dies without writing anything (crash tests)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._close_log()

    def restart(self) -> Self:
        """Stop (cleanly, if running) and start again on the same port and data dir."""
        self.stop()
        self._fixed_port = self.port != 0 or self._fixed_port
        return self.start()

    def close(self) -> None:
        """Stop the node and remove the data directory if this object created it."""
        try:
            self.stop()
        finally:
            if self._leftovers.own_dir is not None:
                self._leftovers.remove_dir()
                self._data_dir = None  # a later start() makes a fresh one

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"{type(self).__name__}(chain_id={self.chain_id}, {state})"

    # ------------------------------------------------------------------ conveniences

    def request(self, method: str, params: Sequence[Any] = (), *, timeout: float = 10.0) -> Any:
        """One JSON-RPC request to the node (for node control such as ``evm_snapshot``
        or ``evm_mine``; clients use :mod:`kpledger.chain.rpc`). A node error raises
        :class:`NodeError`."""
        try:
            response = _post(self.url, method, params, timeout)
        except (OSError, ValueError) as exc:
            raise NodeError(f"{self.kind} at {self.url} did not answer {method}: {exc}") from exc
        if response.get("error") is not None:
            raise NodeError(f"{self.kind} {method} failed: {response['error']}")
        return response.get("result")

    def snapshot(self) -> str:
        """``evm_snapshot``: an id to :meth:`revert` to."""
        return str(self.request("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """``evm_revert``. Clients must drop cached nonces afterwards
        (``Ledger.forget_local_state()``). A snapshot id is used up by reverting to it."""
        if not self.request("evm_revert", [snapshot_id]):
            raise NodeError(f"{self.kind} could not revert to snapshot {snapshot_id}")

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` blocks now (``evm_mine``), whatever the mining mode."""
        for _ in range(blocks):
            self.request("evm_mine")

    def dev_only_keys(self, count: int = DEV_ONLY_ACCOUNT_COUNT) -> list[bytes]:
        """The DEV-ONLY funded keys of this local node (see :mod:`kpledger.devkeys`).
        The node was started here with the well-known mnemonic, so any chain id is
        fine."""
        return dev_only_keys(self.chain_id, count=count, allow_any_chain=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    # ------------------------------------------------------------------ internals

    def _spawn(self) -> None:
        # A listener already on the port would answer our readiness probe in place of
        # the new process (which fails to bind and exits): refuse before starting.
        if not _port_free(self.host, self.port):
            raise NodePortInUse(self._port_taken())
        self._close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self._log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting on port {self.port}\n".encode())
        self._log.flush()
        command = self.command()
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.working_directory(),
                env=self.environment(),
            )
        except OSError as exc:
            self._close_log()
            raise NodeStartError(f"cannot run {command[0]}: {exc}") from exc
        self._leftovers.process = self._process

    def _await_rpc(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        process = self._process
        assert process is not None
        while True:
            code = process.poll()
            if code is not None:
                tail = self.log_tail()
                if any(marker in tail.lower() for marker in self._ADDRESS_IN_USE):
                    raise NodePortInUse(self._port_taken() + f"\n{tail}")
                raise NodeStartError(
                    f"{self.kind} exited with code {code} while starting.{self._tail_note()}"
                )
            try:
                response = _post(self.url, "eth_chainId", [], 1.0)
            except (OSError, ValueError):
                response = None
            if response is not None and isinstance(response.get("result"), str):
                chain_id = int(response["result"], 16)
                if chain_id != self.chain_id:
                    raise NodeStartError(
                        f"{self.kind} at {self.url} answers chain id {chain_id}, expected {self.chain_id}"
                        " (another node on this port?)"
                    )
                return
            if time.monotonic() > deadline:
                raise NodeStartError(
                    f"{self.kind} did not answer JSON-RPC at {self.url} within {self.startup_timeout}s."
                    f"{self._tail_note()}"
                )
            time.sleep(0.05)

    def _port_taken(self) -> str:
        return f"{self.kind}: port {self.port} on {self.host} is already in use (another node running?)"

    def _reap(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail_note(self) -> str:
        tail = self.log_tail()
        return f"\nlast lines of {self.log_path}:\n{tail}" if tail else f" (log {self.log_path} is empty)"


class AnvilNode(LocalNode):
    """An anvil node. ``block_time=None`` mines a block per transaction (automine);
    a number mines every ``block_time`` seconds; ``no_mining=True`` never mines unless
    asked (:meth:`mine`). ``zero_fees`` sets gas price and base fee to 0 (a free-gas
    consortium chain). ``persist`` keeps the chain in ``data_dir/anvil-state.json``:
    loaded at start, written on :meth:`stop` and every ``state_interval`` seconds.
    Without ``data_dir`` the node works in a temporary directory that survives
    :meth:`stop` and :meth:`restart` but is removed by :meth:`close` (and on leaving a
    ``with`` block): pass ``data_dir`` to keep a chain."""

    kind = "anvil"

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time: float | None = None,
        no_mining: bool = False,
        zero_fees: bool = False,
        gas_price: int | None = None,
        base_fee: int | None = None,
        accounts: int = DEV_ONLY_ACCOUNT_COUNT,
        balance_eth: int | None = None,
        data_dir: str | Path | None = None,
        persist: bool = False,
        state_interval: int | None = None,
        verbose: bool = False,
        extra_args: Sequence[str] = (),
        binary: str | Path | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 30.0,
    ) -> None:
        if block_time is not None and no_mining:
            raise ValueError("block_time and no_mining exclude each other")
        if block_time is not None and block_time <= 0:
            raise ValueError("block_time must be positive (None means automine)")
        if state_interval is not None and not persist:
            raise ValueError("state_interval needs persist=True")
        if zero_fees and (gas_price or base_fee):
            raise ValueError("zero_fees contradicts a non-zero gas_price or base_fee")
        self.binary = Path(binary) if binary is not None else find_anvil()
        super().__init__(
            port=port,
            host=host,
            chain_id=chain_id,
            data_dir=data_dir,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        self.block_time = block_time
        self.no_mining = no_mining
        self.gas_price = 0 if zero_fees else gas_price
        self.base_fee = 0 if zero_fees else base_fee
        self.accounts = accounts
        self.balance_eth = balance_eth
        self.persist = persist
        self.state_interval = state_interval
        self.verbose = verbose
        self.extra_args = tuple(extra_args)

    @property
    def state_path(self) -> Path | None:
        """Where the chain is persisted (None without ``persist``)."""
        return self.data_dir / STATE_FILE if self.persist else None

    def command(self) -> list[str]:
        args = [
            str(self.binary),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
        ]  # fmt: skip
        if not self.verbose:
            args.append("--quiet")
        if self.block_time is not None:
            args += ["--block-time", _seconds(self.block_time)]
        if self.no_mining:
            args.append("--no-mining")
        if self.gas_price is not None:
            args += ["--gas-price", str(self.gas_price)]
        if self.base_fee is not None:
            args += ["--block-base-fee-per-gas", str(self.base_fee)]
        if self.balance_eth is not None:
            args += ["--balance", str(self.balance_eth)]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
            if self.state_interval is not None:
                args += ["--state-interval", str(self.state_interval)]
        return [*args, *self.extra_args]


class HardhatNode(LocalNode):
    """``hardhat node`` (EDR) on the project's Node 22. ``block_time`` switches
    automine off and mines every ``block_time`` seconds (set over RPC once up). Its
    funded accounts are the same DEV-ONLY keys as anvil's. No persistence: Hardhat's
    node keeps its chain in memory only. Its build output goes to the data dir
    (``KPLEDGER_HARDHAT_OUT``), so starting it never touches the working tree."""

    kind = "hardhat"

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time: float | None = None,
        data_dir: str | Path | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        if block_time is not None and block_time <= 0:
            raise ValueError("block_time must be positive (None means automine)")
        self.node_binary, self.cli = find_hardhat()
        super().__init__(
            port=port,
            host=host,
            chain_id=chain_id,
            data_dir=data_dir,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        self.block_time = block_time

    def command(self) -> list[str]:
        args = [
            str(self.node_binary), str(self.cli), "node",
            "--hostname", self.host,
            "--port", str(self.port),
        ]  # fmt: skip
        if self.chain_id != DEFAULT_CHAIN_ID:
            args += ["--chain-id", str(self.chain_id)]
        return args

    def working_directory(self) -> Path:
        return project_root()

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KPLEDGER_HARDHAT_OUT"] = str(self.data_dir / "build")
        env["HARDHAT_DISABLE_TELEMETRY"] = "true"  # offline, and no prompt
        return env

    def configure(self) -> None:
        if self.block_time is not None:
            self.request("evm_setAutomine", [False])
            self.request("evm_setIntervalMining", [round(self.block_time * 1000)])


# ---------------------------------------------------------------------- helpers


def _post(url: str, method: str, params: Sequence[Any], timeout: float) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # some nodes answer errors with HTTP 4xx/5xx
        answer = json.loads(exc.read() or b"{}")
    return answer


def _port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port``. SO_REUSEADDR, as the nodes themselves
    bind, so connections of a stopped node lingering in TIME_WAIT do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE  # other errors: let the node report them
        return True


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Leftovers:
    """What a node object owns outside Python: its process and its temporary directory.
    Kept apart from the node so a ``weakref.finalize`` can release them."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.own_dir: Path | None = None

    def release(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # let anvil write its state
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.remove_dir()

    def remove_dir(self) -> None:
        if self.own_dir is not None:
            shutil.rmtree(self.own_dir, ignore_errors=True)
            self.own_dir = None
