"""What the API accepts and answers: input and output models, kept apart.

Output models mirror the library's values (:class:`kpledger.verify.Verification`,
:class:`kpledger.types.CertificateRecord`, :class:`kpledger.types.Participant`) with
hashes and addresses as ``0x`` text, amounts in carats and US dollars, and times as Unix
seconds; they are documented in the OpenAPI schema, so a client can be generated from
it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from kpledger.certificate import parse_hash
from kpledger.errors import DocumentError, Problem
from kpledger.types import CertificateRecord, Participant, StatusChange, TimelineEntry, exact_amounts
from kpledger.verify import Code, Result, Verification

HASH_PATTERN: Final = r"^(0[xX])?[0-9a-fA-F]{64}$"
NUMBER_PATTERN: Final = r"^[A-Z]{2}[A-Z0-9/ -]{3,32}$"
CODE_PATTERN: Final = r"^[A-Za-z]{2}$"

CertificateStatusName = Literal[
    "REQUESTED", "ISSUED", "RECEIVED", "DISPUTED", "VOIDED", "SUPERSEDED", "EXPIRED"
]
ParticipantStatusName = Literal["UNKNOWN", "ACTIVE", "SUSPENDED"]

# ---------------------------------------------------------------------- inputs


class HashRequest(BaseModel):
    """Verify by document hash: what the web page sends, so the document stays with
    its holder."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"hash": "0x" + "ab" * 32}]})

    hash: str = Field(
        description="SHA-256 of the document: RFC 8785 canonical JSON for a JSON certificate, raw bytes for"
        " any other file; 64 hex digits, optionally after 0x",
        json_schema_extra={"pattern": HASH_PATTERN},
    )

    @field_validator("hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        if value != value.strip():
            raise PydanticCustomError(
                "hash.format", "the hash has spaces around it; send only 0x and the hex digits"
            )
        try:
            return "0x" + parse_hash(value).hex()
        except DocumentError as exc:
            problem = exc.problems[0]
            raise PydanticCustomError(problem.rule, problem.message) from None

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.hash[2:])


class CertificateDocument(BaseModel):
    """A KP certificate document (JSON, format version 1, see docs/format.md),
    sent as it is. It is read with the library's strict rules: duplicate keys, nesting
    deeper than 32, more than 1 MiB or non-UTF-8 are refused (422). It is hashed as
    given (RFC 8785), and its stated terms are compared with the anchored ones."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "required": ["title", "number"],
            "examples": [
                {
                    "title": "Kimberley Process Certificate",
                    "number": "BW 2026 000001",
                    "issuing_authority": "Ministry of Minerals and Energy, Government Diamond Valuator",
                    "exporting_participant": "BW",
                    "importing_participant": "AE",
                    "exporter": {"name": "Kalahari Rough Exports (Pty) Ltd", "address": "Gaborone"},
                    "importer": {"name": "Gulf Rough Trading DMCC", "address": "Dubai"},
                    "origin": ["BW"],
                    "carats": 1520.35,
                    "value_usd": 245870.5,
                    "parcels": 3,
                    "hs_code": "7102.10",
                    "issued_on": "2026-01-05",
                    "expires_on": "2026-02-04",
                }
            ],
        },
    )


class FileUpload(BaseModel):
    """A certificate file: JSON certificates are hashed canonically, any other file
    (a scanned PDF) as raw bytes."""

    file: bytes = Field(json_schema_extra={"format": "binary"}, description="the document file")


# ---------------------------------------------------------------------- outputs


class ProblemOut(BaseModel):
    field: str = Field(description="where: a dotted path in the input ($ is the whole document)")
    rule: str = Field(description="which rule, stable (e.g. json.duplicate_key, hash.length)")
    message: str

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        return cls(field=problem.field, rule=problem.rule, message=problem.message)


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer has this body."""

    error: str = Field(
        description="stable kind: invalid_request, invalid_json, invalid_document, invalid_hash,"
        " invalid_number, invalid_code, not_found, payload_too_large, unsupported_media_type,"
        " method_not_allowed, chain_unavailable, not_configured, internal_error"
    )
    message: str = Field(description="what went wrong, for people")
    problems: list[ProblemOut] = Field(default_factory=list, description="each broken rule of the input")


class FragmentOut(BaseModel):
    name: Literal["integrity", "status", "identity", "chain"]
    result: Result
    code: Code
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class CertificateOut(BaseModel):
    """A certificate's terms as the ledger holds them (a batched certificate not yet
    revealed has no record: then the fields its proof does not carry are null).

    ``carats`` and ``value_usd`` are display numbers; the exact amounts the ledger holds
    are ``carats_hundredths`` and ``value_cents`` (integers) and the decimal strings
    ``carats_text`` and ``value_usd_text`` (docs/format.md §3)."""

    number: str
    document_hash: str | None = None
    origin: str = Field(description="exporting participant (ISO 3166-1 alpha-2 or EU)")
    destination: str = Field(description="importing participant")
    status: CertificateStatusName
    carats: float = Field(description="display value; exact: carats_hundredths / carats_text")
    value_usd: float = Field(description="display value; exact: value_cents / value_usd_text")
    carats_hundredths: int = Field(description="carat weight in hundredths of a carat (the ledger's integer)")
    value_cents: int = Field(description="value in US cents, as the ledger holds it")
    carats_text: str = Field(description='carat weight as an exact decimal string, e.g. "1520.35"')
    value_usd_text: str = Field(description='value in US dollars, exact decimal string, e.g. "245870.50"')
    parcels: int
    expires_at: int = Field(description="Unix time of the last second of the expiry day (UTC)")
    exporter: str | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    batch_root: str | None = None
    issued_on: str | None = Field(
        default=None, description="UTC day of issue, YYYY-MM-DD (a batch member: its batch's day)"
    )
    imported_on: str | None = Field(
        default=None, description="import date the importing authority entered on receipt, YYYY-MM-DD"
    )


class TimelineEntryOut(BaseModel):
    event: str
    status: CertificateStatusName
    block_number: int
    timestamp: int
    tx_hash: str | None = Field(description="null for a batch anchoring seen through its batch record")
    actor: str | None
    detail: str | None = None

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineEntryOut:
        return cls(
            event=entry.event,
            status=entry.status.name,  # type: ignore[arg-type]
            block_number=entry.block_number,
            timestamp=entry.timestamp,
            tx_hash="0x" + entry.tx_hash.hex() if entry.tx_hash else None,
            actor=entry.actor,
            detail=entry.detail,
        )


class VerificationOut(BaseModel):
    """The library's verification: three fragments (integrity, status, identity), each
    VALID, INVALID or ERROR with a stable code; the verdict is VALID only when all are."""

    document_hash: str
    verdict: Result
    code: Code = Field(description="VALID, or the code of the first failing fragment")
    message: str
    fragments: list[FragmentOut]
    certificate: CertificateOut | None
    timeline: list[TimelineEntryOut]
    checked_at_block: int | None

    @classmethod
    def of(cls, verification: Verification) -> VerificationOut:
        return cls.model_validate(verification.to_dict())


class CertificateRecordOut(CertificateOut):
    document_hash: str
    stored_status: CertificateStatusName = Field(
        description="status as stored (EXPIRED is derived, never stored)"
    )
    requested_block: int | None
    issued_block: int | None
    responded_block: int | None
    closed_block: int | None

    @classmethod
    def of(cls, record: CertificateRecord) -> CertificateRecordOut:
        return cls(
            number=record.number,
            document_hash="0x" + record.document_hash.hex(),
            origin=record.origin,
            destination=record.destination,
            status=record.status.name,  # type: ignore[arg-type]
            stored_status=record.stored_status.name,  # type: ignore[arg-type]
            carats=record.carats / 100,
            value_usd=record.value_cents / 100,
            **exact_amounts(record.carats, record.value_cents),
            parcels=record.parcels,
            expires_at=record.expires_at,
            exporter=record.exporter,
            supersedes=_hex(record.supersedes),
            superseded_by=_hex(record.superseded_by),
            batch_root=_hex(record.batch_root),
            issued_on=_day(record.issued_on),
            imported_on=_day(record.imported_on),
            requested_block=record.requested_block,
            issued_block=record.issued_block,
            responded_block=record.responded_block,
            closed_block=record.closed_block,
        )


class CertificateDetailOut(BaseModel):
    certificate: CertificateRecordOut
    timeline: list[TimelineEntryOut]
    checked_at_block: int


class StatusChangeOut(BaseModel):
    status: ParticipantStatusName
    block_number: int
    timestamp: int

    @classmethod
    def of(cls, change: StatusChange) -> StatusChangeOut:
        return cls(status=change.status.name, block_number=change.block_number, timestamp=change.timestamp)  # type: ignore[arg-type]


class ParticipantOut(BaseModel):
    code: str
    name: str
    status: ParticipantStatusName
    validity_days: int = Field(description="validity period of its certificates")
    admitted_block: int
    history: list[StatusChangeOut] = Field(description="every status change, oldest first")

    @classmethod
    def of(cls, participant: Participant) -> ParticipantOut:
        return cls(
            code=participant.code,
            name=participant.name,
            status=participant.status.name,  # type: ignore[arg-type]
            validity_days=participant.validity_days,
            admitted_block=participant.admitted_block,
            history=[StatusChangeOut.of(c) for c in participant.history],
        )


class ParticipantDetailOut(BaseModel):
    participant: ParticipantOut
    checked_at_block: int


class ParticipantListOut(BaseModel):
    participants: list[ParticipantOut]
    checked_at_block: int


class ContractsOut(BaseModel):
    registry: str
    ledger: str


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    chain_id: int
    latest_block: int
    deployment_block: int
    contracts: ContractsOut
    cached_verifications: int = Field(
        0, description="verifications this process holds in memory (see kpledger.verify_cache)"
    )
    warming: bool = Field(False, description="this process is still filling its verification cache")


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _hex(value: bytes | None) -> str | None:
    return "0x" + value.hex() if value is not None else None
