"""Options every command accepts, before or after the command name.

Why a decorator: ``kpledger --rpc URL up`` and ``kpledger up --rpc URL`` should both
work, but click options belong to one command. :func:`common` adds the connection
and debugging options to a command's signature (Typer reads ``__signature__``), takes
them out again before the command runs and hands them to the :class:`Session`, where
they override the root-level ones.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from kpledger.cli.session import Session

P = ParamSpec("P")
R = TypeVar("R")

CONNECTION = "Connection"

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory: chain state, deployment, config.toml."
        " \\[env: KPLEDGER_DATA_DIR] \\[default: ./.kpledger]",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
RpcOption = Annotated[
    str | None,
    typer.Option(
        "--rpc",
        metavar="URL",
        help="JSON-RPC URL of the chain. \\[env: KPLEDGER_RPC] \\[default: the node of `kpledger up`]",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
DeploymentOption = Annotated[
    Path | None,
    typer.Option(
        "--deployment",
        metavar="FILE",
        help="Deployment record (contract addresses and chain identity)."
        " \\[env: KPLEDGER_DEPLOYMENT] \\[default: DATA_DIR/deployment.json]",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        metavar="KEYSTORE",
        help="Encrypted keystore file to sign with (password: KPLEDGER_KEY_PASSWORD or a prompt)."
        " \\[env: KPLEDGER_KEY]",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
DevAccountOption = Annotated[
    str | None,
    typer.Option(
        "--dev-account",
        metavar="N|ROLE",
        help="Sign with a public DEV-ONLY anvil account (local node only): an index or a demo role"
        " such as gov, bw-authority, bw-exporter, be-authority. \\[env: KPLEDGER_DEV_ACCOUNT]",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show the full traceback of an error. \\[env: KPLEDGER_DEBUG]",
        rich_help_panel=CONNECTION,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")]

_CHAIN_PARAMS: dict[str, Any] = {
    "data_dir": DataDirOption,
    "rpc": RpcOption,
    "deployment": DeploymentOption,
    "key": KeyOption,
    "dev_account": DevAccountOption,
    "debug": DebugOption,
}
_LOCAL_PARAMS: dict[str, Any] = {"data_dir": DataDirOption, "debug": DebugOption}


_CURRENT: ContextVar[Session] = ContextVar("kpledger_cli_session")


def root_session(ctx: Any) -> Session:
    """The invocation's session, kept on the root context (created on first use)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session()
    _CURRENT.set(root.obj)
    return root.obj


def session() -> Session:
    """The session of the running command."""
    try:
        return _CURRENT.get()
    except LookupError:  # a command called outside the CLI (tests): a fresh session
        fresh = Session()
        _CURRENT.set(fresh)
        return fresh


def common(*, chain: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Add the shared options (``chain=False``: only --data-dir and --debug)."""
    extra = _CHAIN_PARAMS if chain else _LOCAL_PARAMS

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func, eval_str=True)
        own = list(signature.parameters.values())
        added = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation,
                default=False if name == "debug" else None,
            )
            for name, annotation in extra.items()
            if name not in signature.parameters
        ]
        added.append(inspect.Parameter("_kp_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            ctx: Any = kwargs.pop("_kp_ctx")  # Typer passes its click Context here
            flags = {p.name: kwargs.pop(p.name, None) for p in added if p.name != "_kp_ctx"}
            root_session(ctx).set_flags(**flags)
            return func(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **{p.name: p.annotation for p in own},
            **{p.name: p.annotation for p in added},
            "return": signature.return_annotation,
        }
        return wrapper

    return decorate
