"""``kpledger verify FILE FILE …``: many certificates, one line each, a summary, and an
exit code for the worst verdict.

Why its own path: one verification at a time costs three or four round trips each; a
customs office checking a day's shipments wants thousands a second. The files are
hashed here (the document never leaves the machine), then
:func:`kpledger.verify.verify_many` answers every hash at one block in a handful of
JSON-RPC batches. ``--json`` prints JSON Lines: one object per file (the verification's
fields plus ``file``), then nothing else, so a pipe can stream them.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from rich.markup import escape

from kpledger.cli import output
from kpledger.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

CHUNK: Final = 2_000
"""Hashes verified per ``verify_many`` call (bounded memory for very long lists)."""

_EXIT_BY_VERDICT: Final = {"VALID": EXIT_OK, "ERROR": EXIT_USAGE}


def exit_code(verdict: str) -> int:
    """0 for VALID, 2 for ERROR (the chain could not answer), 1 for any other verdict."""
    return _EXIT_BY_VERDICT.get(verdict, EXIT_FAILED)


def hash_files(paths: Sequence[Path]) -> list[tuple[Path, bytes | dict[str, Any]]]:
    """Each file's document hash, or the answer to print for a file that has none
    (missing, unreadable, or JSON that cannot be hashed)."""
    from kpledger.certificate import hash_document_bytes
    from kpledger.cli.refs import HASH_PATTERN
    from kpledger.errors import DocumentError

    out: list[tuple[Path, bytes | dict[str, Any]]] = []
    for path in paths:
        if HASH_PATTERN.fullmatch(str(path)) and not path.exists():
            out.append((path, bytes.fromhex(str(path)[2:])))
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            out.append((path, _answer("ERROR", "UNREADABLE", f"cannot read the file: {exc.strerror or exc}")))
            continue
        try:
            digest, _ = hash_document_bytes(data)
        except DocumentError as exc:
            message = f"not a well-formed document: {exc.problems[0]}"
            out.append((path, _answer("INVALID", "MALFORMED", message)))
            continue
        out.append((path, digest))
    return out


def run(ledger: Any, paths: Sequence[Path], *, as_json: bool) -> int:
    """Verify ``paths`` against ``ledger``, print, and return the exit code of the worst."""
    from kpledger.verify import verify_many

    hashed = hash_files(paths)
    digests = [d for _, d in hashed if isinstance(d, bytes)]
    answers: list[dict[str, Any]] = []
    for start in range(0, len(digests), CHUNK):
        for verification in verify_many(ledger, digests[start : start + CHUNK]):
            answers.append(verification.to_dict())
    found = iter(answers)
    results = [(path, next(found) if isinstance(d, bytes) else d) for path, d in hashed]
    if as_json:
        lines = (json.dumps({"file": str(path), **answer}, default=str) for path, answer in results)
        sys.stdout.write("\n".join(lines) + "\n")
    else:
        for path, answer in results:
            verdict = str(answer["verdict"])
            message = escape(str(answer["message"]))
            output.result(f"{_mark(verdict)} {verdict:<8} {escape(str(path))} — {message}")
        counts = Counter(str(answer["verdict"]) for _, answer in results)
        summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
        output.result(f"{len(results)} files: {summary}")
    return max((exit_code(str(answer["verdict"])) for _, answer in results), default=EXIT_OK)


def _answer(verdict: str, code: str, message: str) -> dict[str, Any]:
    return {"document_hash": None, "verdict": verdict, "code": code, "message": message}


def _mark(verdict: str) -> str:
    if verdict == "VALID":
        return "[green]✓[/green]"
    if verdict == "ERROR":
        return "[yellow]![/yellow]"
    return "[red]✗[/red]"
