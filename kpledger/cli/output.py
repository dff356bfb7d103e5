"""How the CLI talks to people: results on stdout, notices and errors on stderr.

Why two consoles: ``kpledger hash FILE | xargs ...`` and ``--json`` output must stay
machine-readable, so anything meant for a person's eyes only (notices, progress bars,
errors) goes to stderr. Rich looks up ``sys.stdout``/``sys.stderr`` when it prints, so
test runners that swap the streams see everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

PIPE_WIDTH = 1_000
"""Columns a table may use when stdout is not a terminal (it takes only what it needs)."""

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def result(text: str) -> None:
    """A plain result line on stdout (rich markup allowed)."""
    out.print(text)


def plain(text: str) -> None:
    """Exactly ``text`` on stdout: no markup, no wrapping (hashes, JSON)."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def json_out(value: Any) -> None:
    plain(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False))


def notice(text: str) -> None:
    """A note for the person at the terminal (stderr)."""
    err.print(text)


def success(text: str) -> None:
    out.print(f"[green]✓[/green] {text}")


def error_line(text: str) -> None:
    """The one red line a failing command prints."""
    err.print(f"[bold red]error:[/bold red] {escape(text)}")


def dev_key_notice(index: int, address: str) -> None:
    err.print(
        "[bold yellow]DEV KEY — local node only:[/bold yellow] "
        f"signing as DEV-ONLY account {index} ({address}), "
        "a public anvil key. Never use it on a real network."
    )


class Styled(str):
    """A table cell holding rich markup (other cells are shown literally)."""


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(_cell(c) for c in row))
    # A pipe or a file has no width: rich would cut the table at 80 columns.
    target = out if out.is_terminal else Console(file=out.file, width=PIPE_WIDTH, highlight=False, soft_wrap=True)
    target.print(grid)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Styled):
        return str(value)
    return escape(str(value))


@contextmanager
def progress(transient: bool = False) -> Iterator[Progress]:
    """A rich progress display on stderr (hidden when stderr is not a terminal)."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=transient,
        disable=not err.is_terminal,
    )
    with bar:
        yield bar


def event_name(event: str) -> str:
    """A timeline event for a narrow table: ``CertificateReceived`` -> ``Received``."""
    return event.removeprefix("Certificate") or event


def when(timestamp: int | None) -> str:
    if not timestamp:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_hash(value: bytes | str | None, digits: int = 10) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else "0x" + value.hex()
    return text if len(text) <= digits + 4 else f"{text[: digits + 2]}…"


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if hasattr(value, "name") and hasattr(value, "value"):  # enums
        return value.name
    return str(value)
