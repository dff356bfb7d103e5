"""The import date a receipt records (issue 13, item 3): entered by the importing
authority, checked on chain (not before issue, not after expiry, not in the future) for
``confirmReceipt`` and ``resolveDispute``; carried by the events and the record."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from kpledger.contract_errors import (
    CertificateImportDateAfterExpiry,
    CertificateImportDateBeforeIssue,
    CertificateImportDateInFuture,
)
from kpledger.types import CertificateStatus, day_date, day_number

from .helpers import DAY, next_block_at


def _issued(world: Any, days: int = 30) -> Any:
    terms = world.terms(days=days)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    return terms


def _expiry_day(terms: Any) -> date:
    return day_date(terms.expires_at // DAY)


def _dispute(world: Any, terms: Any) -> None:
    world.ae_auth.record_discrepancy(terms.document_hash, "seal broken")


def _act(world: Any, action: str, terms: Any, day: date | None) -> Any:
    if action == "confirm":
        return world.ae_auth.confirm_receipt(terms.document_hash, imported_on=day)
    return world.ae_auth.resolve_dispute(terms.document_hash, "recounted", imported_on=day)


ACTIONS = ["confirm", "resolve"]


@pytest.mark.parametrize("action", ACTIONS)
def test_the_import_date_is_recorded_and_emitted(world: Any, action: str) -> None:
    terms = _issued(world)
    if action == "resolve":
        _dispute(world, terms)
    today = world.gov.chain_today()
    receipt = _act(world, action, terms, today)
    record = world.gov.certificate(terms.document_hash)
    assert record.status is CertificateStatus.RECEIVED
    assert record.imported_on == today and record.issued_on == today
    (event,) = [e for e in world.gov.events(receipt.block_number, receipt.block_number)]
    assert event[0] == ("CertificateReceived" if action == "confirm" else "DisputeResolved")
    assert event[1]["importedOn"] == day_number(today)


@pytest.mark.parametrize("action", ACTIONS)
def test_an_import_after_expiry_cannot_be_confirmed(world: Any, action: str) -> None:
    terms = _issued(world, days=2)
    if action == "resolve":
        _dispute(world, terms)
    next_block_at(world.gov, world.chain, terms.expires_at + 3 * DAY)
    with pytest.raises(CertificateImportDateAfterExpiry) as refused:
        _act(world, action, terms, None)  # default: imported today, after expiry
    assert refused.value.args_["expiryDay"] == terms.expires_at // DAY
    assert world.gov.certificate(terms.document_hash).stored_status is not CertificateStatus.RECEIVED
    # Imported in time but recorded late: accepted, and the record keeps the import date.
    _act(world, action, terms, _expiry_day(terms))
    record = world.gov.certificate(terms.document_hash)
    assert record.stored_status is CertificateStatus.RECEIVED and record.imported_on == _expiry_day(terms)


@pytest.mark.parametrize("action", ACTIONS)
def test_an_import_date_before_issue_is_refused(world: Any, action: str) -> None:
    terms = _issued(world)
    if action == "resolve":
        _dispute(world, terms)
    issued_on = world.gov.certificate(terms.document_hash).issued_on
    with pytest.raises(CertificateImportDateBeforeIssue):
        _act(world, action, terms, issued_on - timedelta(days=1))
    assert world.gov.certificate(terms.document_hash).imported_on is None


@pytest.mark.parametrize("action", ACTIONS)
def test_an_import_date_in_the_future_is_refused(world: Any, action: str) -> None:
    terms = _issued(world)
    if action == "resolve":
        _dispute(world, terms)
    with pytest.raises(CertificateImportDateInFuture):
        _act(world, action, terms, world.gov.chain_today() + timedelta(days=1))
    assert world.gov.certificate(terms.document_hash).imported_on is None


def test_the_expiry_day_itself_is_in_time(world: Any) -> None:
    terms = _issued(world, days=1)
    next_block_at(world.gov, world.chain, terms.expires_at)  # the last second of validity
    world.ae_auth.confirm_receipt(terms.document_hash)
    assert world.gov.certificate(terms.document_hash).imported_on == _expiry_day(terms)
