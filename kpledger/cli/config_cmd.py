"""``kpledger config``: the effective settings and where each came from."""

from __future__ import annotations

from typing import Annotated

import typer

from kpledger.cli import output
from kpledger.cli.config import CLISettings, config_file, sources
from kpledger.cli.errors import UsageProblem
from kpledger.cli.options import JsonOption, common, session
from kpledger.cli.session import DEFAULT_RPC

app = typer.Typer(
    help="Settings: flags > environment (KPLEDGER_*) > DATA_DIR/config.toml > defaults.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("show")
@common()
def show(as_json: JsonOption = False) -> None:
    """Show every setting, its value and its source (flag, env, config file, default).

    Example: `KPLEDGER_PORT=9000 kpledger config show`"""
    current = session()
    settings = current.settings
    origin = sources(settings, current.flags)
    values = settings.model_dump(mode="json")
    node, node_origin = current.node()
    if as_json:
        shown = {name: {"value": values[name], "source": origin[name]} for name in values}
        output.json_out({**shown, "node": {"value": node, "source": node_origin}})
        return
    path = config_file(settings.data_dir)
    output.result(f"config file: {path if path else f'none ({settings.data_dir}/config.toml)'}")
    if node is None:
        output.result(f"node used: none for writes; reads try {DEFAULT_RPC} (from {node_origin})")
    else:
        output.result(f"node used: {node} (from {node_origin})")
    output.table(None, ("setting", "value", "source", "variable"),
                 [(n, values[n], origin[n], f"KPLEDGER_{n.upper()}") for n in values])  # fmt: skip


@app.command("init")
@common()
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a commented config.toml template into the data directory.

    Example: `kpledger --data-dir ./node-bw config init`"""
    settings = session().settings
    path = settings.data_dir / "config.toml"
    if path.exists() and not force:
        raise UsageProblem(f"{path} exists", hint="edit it, or pass --force to overwrite it")
    lines = ["# kpledger settings. Flags and KPLEDGER_* variables override them.", ""]
    for name, field in CLISettings.model_fields.items():
        if name == "data_dir":
            continue
        default = field.default
        lines.append(f"# {field.description}")
        lines.append(f"# {name} = {_toml(default)}" if default is not None else f'# {name} = ""')
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    output.success(f"wrote {path}")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return f'"{value}"'
