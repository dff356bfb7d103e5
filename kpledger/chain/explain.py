"""Contract refusals in words: who may act, what state things are in, dates not seconds.

Why: a revert arrives as ``AccessControlUnauthorizedAccount(0x…, 0x5f2c…)`` — an
account and a role *hash*. The registry's scoped roles are
``keccak256(abi.encode(KIND_ROLE, code))`` over a two-letter code, so the hash is
resolved here by computing the roles of every possible code once (26 x 26 codes, three
kinds: a few milliseconds, no chain read), and the refusal reads
"only a licensed exporter of BW may anchor a BW certificate; 0x… is not one".

:func:`explain` is a pure function of the decoded error and, when known, the contract
function that was called (the :class:`~kpledger.ledger.Ledger` records it on the error
as ``function``). An error it has no words for reads as its NatSpec notice.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from kpledger.errors import ContractError
from kpledger.types import CertificateStatus, ParticipantStatus, RoleKind

_ROLE_NAMES: Final = ("GOVERNANCE_ROLE", "AUDITOR_ROLE")
_SCOPED: Final = {
    RoleKind.AUTHORITY: ("AUTHORITY_ROLE", "an authority of {code}"),
    RoleKind.EXPORTER: ("EXPORTER_ROLE", "a licensed exporter of {code}"),
    RoleKind.IMPORTER: ("IMPORTER_ROLE", "a licensed importer of {code}"),
}
_GLOBAL_HOLDERS: Final = {
    "GOVERNANCE_ROLE": "governance (the KP Chair or Secretariat account)",
    "AUDITOR_ROLE": "an auditor",
}

# What each contract function does, for "only X may <action>". ``{code}`` is the
# participant the missing role is scoped to.
_ACTIONS: Final[Mapping[str, str]] = {
    "admitParticipant": "admit a participant",
    "suspendParticipant": "suspend a participant",
    "readmitParticipant": "readmit a participant",
    "setValidityPeriod": "set a participant's validity period",
    "appointAuthority": "appoint an authority",
    "revokeAuthority": "revoke an authority",
    "grantRole": "grant that role",
    "revokeRole": "revoke that role",
    "licenseExporter": "license an exporter of {code}",
    "delistExporter": "delist an exporter of {code}",
    "licenseImporter": "license an importer of {code}",
    "delistImporter": "delist an importer of {code}",
    "anchor": "anchor a {code} certificate",
    "issue": "issue a {code} certificate",
    "validate": "validate a {code} certificate",
    "voidCertificate": "void a {code} certificate",
    "amend": "amend a {code} certificate",
    "anchorBatch": "anchor a batch of {code} certificates",
    "confirmReceipt": "confirm receipt of a certificate addressed to {code}",
    "recordDiscrepancy": "record a discrepancy on a certificate addressed to {code}",
    "resolveDispute": "resolve a dispute on a certificate addressed to {code}",
    "publishKey": "publish an exchange key of {code}",
    "revokeKey": "revoke an exchange key of {code}",
    "setInboxUrl": "set the exchange inbox URL of {code}",
}


def role_holder(role: bytes) -> str:
    """``a licensed exporter of BW`` for ``exporterRole("BW")``'s hash; the hash itself
    when it is no role of the registry."""
    return _roles().get(bytes(role), (f"the holder of role 0x{bytes(role).hex()}", None))[0]


def role_code(role: bytes) -> str | None:
    """The participant a scoped role belongs to (None for a global or unknown role)."""
    return _roles().get(bytes(role), ("", None))[1]


def when(timestamp: int) -> str:
    """A chain timestamp as a date (and time, UTC) a person reads."""
    try:
        moment = datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"timestamp {timestamp}"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def explain(error: ContractError, function: str | None = None) -> str:
    """The refusal in words (no trailing full stop)."""
    name = function or getattr(error, "function", None)
    words = _WORDS.get(error.solidity_name)
    if words is not None:
        return words(error.args_, name)
    notice = (getattr(error, "notice", "") or str(error)).rstrip(".")
    return notice


# ---------------------------------------------------------------------- per error


def _unauthorized(args: Mapping[str, Any], function: str | None) -> str:
    role = bytes(args["neededRole"])
    holder = role_holder(role)
    code = role_code(role) or "?"
    action = _ACTIONS.get(function or "", "do this").format(code=code)
    account = _account(args["account"])
    if holder.startswith(("a ", "an ")):
        return f"only {holder} may {action}; {account} is not one"
    return f"only {holder} may {action}; {account} does not hold that role"


def _account(value: Any) -> str:
    from kpledger.chain.records import checksum

    return checksum(str(value))


def _code(value: Any) -> str:
    return bytes(value).decode("ascii", "replace")


def _participant_status(value: int) -> str:
    try:
        return ParticipantStatus(value).name
    except ValueError:
        return f"status {value}"


def _certificate_status(value: int) -> str:
    try:
        return CertificateStatus(value).name
    except ValueError:
        return f"status {value}"


def _hash(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _transition(args: Mapping[str, Any], function: str | None) -> str:
    status = _certificate_status(args["status"])
    action = _ACTIONS.get(function or "", "").format(code="its participant's")
    doing = f"cannot {action}" if action else "that change is not allowed"
    return f"certificate {_hash(args['documentHash'])} is {status}: {doing} from {status}"


def _kind(value: int) -> str:
    try:
        return RoleKind(value).name.lower()
    except ValueError:
        return f"role kind {value}"


_WORDS: Final[dict[str, Callable[[Mapping[str, Any], str | None], str]]] = {
    "AccessControlUnauthorizedAccount": _unauthorized,
    "AccessControlBadConfirmation": lambda a, f: "an account can renounce only its own role",
    "RegistryParticipantNotActive": lambda a, f: (
        f"{_code(a['code'])} is {_participant_status(a['status'])}, not ACTIVE:"
        " nothing is issued from or to it"
    ),
    "RegistryParticipantNotSuspended": lambda a, f: (
        f"{_code(a['code'])} is {_participant_status(a['status'])}, not SUSPENDED: only a suspended"
        " participant can be readmitted"
    ),
    "RegistryParticipantUnknown": lambda a, f: f"{_code(a['code'])} is not a participant of the ledger",
    "RegistryParticipantAlreadyAdmitted": lambda a, f: f"{_code(a['code'])} is already a participant",
    "RegistryInvalidParticipantCode": lambda a, f: (
        f"participant code {_code(a['code'])!r} is not two upper-case letters (ISO 3166-1 alpha-2 or EU)"
    ),
    "RegistryInvalidParticipantName": lambda a, f: f"the name of {_code(a['code'])} must be 1 to 200 bytes",
    "RegistryInvalidValidityPeriod": lambda a, f: (
        f"a validity period of {a['validityDays']} days for {_code(a['code'])} is out of range"
        " (1 to 366 days)"
    ),
    "RegistryZeroAccount": lambda a, f: "the account is the zero address",
    "RegistryRoleAlreadyHeld": lambda a, f: (
        f"{_account(a['account'])} is already {_scoped_text(a['kind'], a['code'])}"
    ),
    "RegistryRoleNotHeld": lambda a, f: (
        f"{_account(a['account'])} is not {_scoped_text(a['kind'], a['code'])}"
    ),
    "RegistryScopedRoleManagedByRegistry": lambda a, f: (
        f"{role_holder(bytes(a['role']))} is a participant-scoped role: use appoint/license/delist, not"
        " grantRole/revokeRole"
    ),
    "CertificateInvalidTransition": _transition,
    "CertificateUnknown": lambda a, f: (
        f"no certificate with document hash {_hash(a['documentHash'])} on the ledger"
    ),
    "CertificateHashAlreadyUsed": lambda a, f: (
        f"the document with hash {_hash(a['documentHash'])} is on the ledger already"
    ),
    "CertificateNumberAlreadyUsed": lambda a, f: (
        f"certificate number {a['number']} is used already (by document {_hash(a['documentHash'])})"
    ),
    "CertificateExpired": lambda a, f: f"the certificate expired on {when(a['expiresAt'])}",
    "CertificateExpiryInPast": lambda a, f: (
        f"expires_on ({when(a['expiresAt'])}) is not after the block time ({when(a['now_'])})"
    ),
    "CertificateValidityTooLong": lambda a, f: (
        f"expires_on ({when(a['expiresAt'])}) is after the latest the exporting participant's validity period"
        f" allows ({when(a['latestAllowed'])})"
    ),
    "CertificateSameOriginAndDestination": lambda a, f: (
        f"origin and destination are both {_code(a['participant'])}: they must differ"
    ),
    "CertificateAmendmentOriginMismatch": lambda a, f: (
        f"an amendment must keep the exporting participant {_code(a['expected'])}, not {_code(a['actual'])}"
    ),
    "CertificateInvalidNumber": lambda a, f: (
        f"certificate number {a['number']!r} must start with {_code(a['origin'])} and be 5 to 34 bytes"
    ),
    "CertificateInvalidQuantity": lambda a, f: f"{a['field']} {a['value']} is out of range",
    "BatchOriginMismatch": lambda a, f: (
        f"the batch {_hash(a['root'])} is of {_code(a['expected'])}, the certificate of {_code(a['actual'])}"
    ),
    "BatchDestinationNotActive": lambda a, f: (
        f"the destination {_code(a['destination'])} was not ACTIVE when batch {_hash(a['root'])} was anchored"
    ),
    "BatchUnknown": lambda a, f: f"no batch with root {_hash(a['root'])} on the ledger",
}


def _scoped_text(kind: int, code: Any) -> str:
    try:
        return _SCOPED[RoleKind(kind)][1].format(code=_code(code))
    except ValueError:
        return f"a holder of {_kind(kind)} of {_code(code)}"


@lru_cache(maxsize=1)
def _roles() -> dict[bytes, tuple[str, str | None]]:
    """Every role hash of the registry: the global ones and each kind for every code."""
    from eth_utils.crypto import keccak

    out: dict[bytes, tuple[str, str | None]] = {}
    out[bytes(32)] = ("the registry's admin (the governance account it was deployed with)", None)
    for name in _ROLE_NAMES:
        out[keccak(text=name)] = (_GLOBAL_HOLDERS[name], None)
    letters = string.ascii_uppercase
    codes = [a + b for a in letters for b in letters]
    for label, holder in _SCOPED.values():
        kind = keccak(text=label)
        for code in codes:
            # keccak256(abi.encode(bytes32 kind, bytes2 code)): the code left-aligned in a word.
            out[keccak(kind + code.encode("ascii") + bytes(30))] = (holder.format(code=code), code)
    return out
