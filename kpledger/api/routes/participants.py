"""``GET /v1/participants…``: KP participants, their status and its history."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path

from kpledger.api.deps import ledger_source
from kpledger.api.errors import ApiError
from kpledger.api.models import (
    CODE_PATTERN,
    ErrorOut,
    ParticipantDetailOut,
    ParticipantListOut,
    ParticipantOut,
)
from kpledger.api.source import LedgerSource
from kpledger.errors import NotFound, Problem

router = APIRouter(prefix="/v1/participants", tags=["participants"])

_CODE: Final = re.compile(CODE_PATTERN.strip("^$"))
_UNAVAILABLE: Final[dict[int | str, dict[str, Any]]] = {
    503: {"model": ErrorOut, "description": "the ledger cannot be read right now"},
}


@router.get("", response_model=ParticipantListOut, responses=_UNAVAILABLE, summary="All participants")
def participants(source: Annotated[LedgerSource, Depends(ledger_source)]) -> ParticipantListOut:
    """Every participant ever admitted, with its current status and status history."""
    return source.read(
        lambda ledger, head: ParticipantListOut(
            participants=[ParticipantOut.of(p) for p in ledger.participants()], checked_at_block=head
        )
    )


@router.get(
    "/{code}",
    response_model=ParticipantDetailOut,
    responses={
        404: {"model": ErrorOut, "description": "no participant with this code"},
        422: {"model": ErrorOut, "description": "the code is not two letters"},
        **_UNAVAILABLE,
    },
    summary="One participant",
)
def participant(
    code: Annotated[
        str,
        Path(
            description="ISO 3166-1 alpha-2 code, or EU (any case)",
            json_schema_extra={"pattern": CODE_PATTERN},
        ),
    ],
    source: Annotated[LedgerSource, Depends(ledger_source)],
) -> ParticipantDetailOut:
    """A participant's status and its history (was it active at block N?)."""
    if not _CODE.fullmatch(code):
        raise ApiError(
            422,
            "invalid_code",
            f"{code[:20]!r} is not a participant code",
            [Problem("code", "code.format", "a participant code is two letters: ISO 3166-1 alpha-2, or EU")],
        )
    upper = code.upper()

    def read(ledger: Any, head: int) -> ParticipantDetailOut:
        found = ledger.participant(upper)
        if found is None:
            raise NotFound(f"{upper} is not a KP participant on this ledger (checked at block {head})")
        return ParticipantDetailOut(participant=ParticipantOut.of(found), checked_at_block=head)

    return source.read(read)
