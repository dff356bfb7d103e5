"""``GET /health``: is the service up, and which chain and contracts does it read?"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

from fastapi import APIRouter, Depends

from kpledger.api.deps import ledger_source
from kpledger.api.models import ContractsOut, ErrorOut, HealthOut
from kpledger.api.source import LedgerSource
from kpledger.ledger import Ledger

router = APIRouter(tags=["service"])


def _version() -> str:
    try:
        return metadata.version("kpledger")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


VERSION = _version()


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": ErrorOut, "description": "the chain or the deployment cannot be reached"}},
    summary="Liveness, chain id, latest block, contract addresses",
)
def health(source: Annotated[LedgerSource, Depends(ledger_source)]) -> HealthOut:
    """200 when the node answers and the contracts are where the deployment record says;
    503 with the reason otherwise."""

    def read(ledger: Ledger, head: int) -> HealthOut:
        ledger.check_deployment()  # chain id and contract code, at this block (cached per block)
        deployment = ledger.deployment
        return HealthOut(
            status="ok",
            version=VERSION,
            chain_id=deployment.chain_id,
            latest_block=head,
            deployment_block=deployment.block,
            contracts=ContractsOut(registry=deployment.registry, ledger=deployment.ledger),
            cached_verifications=len(source.cache) if source.cache is not None else 0,
            warming=source.warming,
        )

    return source.read(read)
