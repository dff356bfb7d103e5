"""Turning exceptions into one red line that says what to do, and an exit code.

Exit codes: 0 success, 1 a domain failure (a revert, an invalid certificate, something
not found, a verification that fails), 2 a usage, configuration or connection error
(what the user must fix before the command can run at all), 130 interrupted.
A traceback is shown only with ``--debug`` (or ``KPLEDGER_DEBUG=1``).
"""

from __future__ import annotations

import os
import re
from typing import Any, Final

import typer
from typer.core import TyperGroup

from kpledger.cli import output
from kpledger.errors import (
    ChainError,
    ConfigurationError,
    ConnectionFailed,
    ContractError,
    DocumentError,
    KeyLoadError,
    KPLedgerError,
)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


class CLIError(KPLedgerError):
    """A failure the CLI itself detects, with its exit code and what to do."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code


class UsageProblem(CLIError):
    """Wrong arguments or setup (exit code 2)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, exit_code=EXIT_USAGE)


_CONTRACT_HINTS: Final[dict[str, str]] = {
    "RegistryParticipantUnknown": "see `kpledger participant list`;"
    " governance admits with `kpledger participant add`",
    "RegistryParticipantNotActive": "the participant is suspended; governance readmits with"
    " `kpledger participant readmit`",
    "RegistryParticipantAlreadyAdmitted": "see `kpledger participant list`",
    "RegistryParticipantNotSuspended": "only a suspended participant can be readmitted",
    "RegistryRoleNotHeld": "sign with an account that holds the role (--key FILE or --dev-account N),"
    " or have it appointed or licensed first",
    "RegistryRoleAlreadyHeld": "nothing to do: the account already holds the role",
    "AccessControlUnauthorizedAccount": "sign with --key KEYSTORE (or --dev-account on a local node) of an"
    " account that holds the role; `kpledger participant show CODE` lists who does",
    "CertificateHashAlreadyUsed": "this exact document is on the ledger already: `kpledger cert show FILE`",
    "CertificateNumberAlreadyUsed": "each certificate number is used once: give the document a new number",
    "CertificateInvalidTransition": "see where the certificate stands: `kpledger cert show CERT`",
    "CertificateUnknown": "no such certificate on this ledger: check the number or file (`kpledger verify`)",
    "CertificateExpired": "an expired certificate can no longer change; issue a new one",
    "CertificateExpiryInPast": "expires_on must be in the future",
    "CertificateValidityTooLong": "expires_on exceeds the exporting participant's validity period",
    "CertificateImportDateAfterExpiry": "a shipment imported after the certificate's expiry cannot be"
    " confirmed: record a discrepancy (`kpledger cert dispute CERT -r ...`), or give the real import date"
    " with --imported-on YYYY-MM-DD",
    "CertificateImportDateBeforeIssue": "the import date is before the certificate was issued: check"
    " --imported-on YYYY-MM-DD",
    "CertificateImportDateInFuture": "the import date is after today (UTC): check --imported-on YYYY-MM-DD",
    "BatchInvalidProof": "the proof file does not belong to this certificate or batch",
    "BatchUnknown": "the batch root of the proof file is not anchored on this ledger",
}


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, CLIError):
        return exc.exit_code
    if isinstance(exc, (ConfigurationError, KeyLoadError, ConnectionFailed)):
        return EXIT_USAGE
    if isinstance(exc, ChainError) and type(exc).__name__.startswith("Node"):
        return EXIT_USAGE  # a local node that cannot start: setup, not domain
    return EXIT_FAILED


def describe(exc: BaseException) -> str:
    """The error as one line: what happened, then what to do."""
    if isinstance(exc, CLIError):
        return f"{exc} — {exc.hint}" if exc.hint else str(exc)
    if isinstance(exc, ContractError):
        from kpledger.chain.explain import explain

        hint = _CONTRACT_HINTS.get(exc.solidity_name)
        text = f"refused ({exc.solidity_name}): {explain(exc)}".replace("\n", " ")
        return f"{text} — {hint}" if hint else text
    if isinstance(exc, DocumentError):
        return f"{exc} — run `kpledger cert check FILE` to list every problem"
    if isinstance(exc, ConnectionFailed):
        hint = "start a local ledger with `kpledger up`, or pass --rpc URL (KPLEDGER_RPC)"
        return f"{_connection(str(exc))} — {hint}"
    if isinstance(exc, KeyLoadError):
        return f"{exc} — check the keystore file and KPLEDGER_KEY_PASSWORD (or type the password when asked)"
    message = str(exc).strip()
    if not message:
        return type(exc).__name__
    first = message.splitlines()[0]
    if isinstance(exc, ChainError) and "insufficient funds" in message.lower():
        return (
            f"{first} — the signing account has no ether for gas: on a local node run"
            " `kpledger key fund KEYSTORE`; on a consortium chain ask its operator"
        )
    log = re.search(r"last lines of (\S+?):", message) or re.search(r"log (\S+) is empty", message)
    if log is not None:  # a local node that would not start: its log says why
        return f"{first} — see {log.group(1)}"
    return first


def _connection(text: str) -> str:
    """``cannot reach the node at URL (connection refused)`` rather than urllib3's saga."""
    match = re.match(r"cannot reach the node at (\S+?): (.*)", text, flags=re.S)
    if match is None:
        return text
    detail = match.group(2).lower()
    reason = next(
        (why for key, why in (("refused", "connection refused"), ("timed out", "timed out"),
                              ("timeout", "timed out"), ("name or service", "unknown host"),
                              ("resolve", "unknown host")) if key in detail),
        match.group(2).split(":")[0],
    )  # fmt: skip
    return f"cannot reach the node at {match.group(1)} ({reason})"


def report(exc: BaseException, *, debug: bool) -> int:
    """Print ``exc`` for a person and return the exit code."""
    if debug and not isinstance(exc, BrokenPipeError):
        output.err.print_exception(show_locals=False)
    if isinstance(exc, KPLedgerError):
        output.error_line(describe(exc))
        return exit_code_for(exc)
    if isinstance(exc, BrokenPipeError):  # `kpledger … | head`: the reader left, nothing to say
        return EXIT_FAILED
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        output.error_line(f"cannot use{name}: {exc.strerror or exc}")
        return EXIT_USAGE
    suffix = "" if debug else " (run again with --debug for the traceback)"
    output.error_line(f"unexpected {type(exc).__name__}: {exc}{suffix}")
    return EXIT_FAILED


def debug_requested(ctx: Any) -> bool:
    obj = getattr(ctx.find_root(), "obj", None)
    if obj is not None and getattr(obj, "debug", False):
        return True
    return os.environ.get("KPLEDGER_DEBUG", "").lower() in ("1", "true", "yes")


class KPLedgerGroup(TyperGroup):
    """The root command group: every library error becomes one line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors, --help, explicit exits: Typer reports them
        except KeyboardInterrupt:
            output.error_line("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # the one place every error is reported
            raise typer.Exit(report(exc, debug=debug_requested(ctx))) from None
