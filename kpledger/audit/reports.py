"""KP statistics and anomaly reports from the auditor's index.

Why the report folds transitions instead of reading the certificates table: a report
can be asked "as of" a past time, and the same fold (``recompute_certificate``) then
gives every certificate's state at that time with the replay's own rules.

Definitions (also written into every report, ``meta.methods``):

- Exports of participant A to B in a quarter: certificates from A to B that reached
  ISSUED in that quarter (time of the issuing block; for a batched certificate, its
  batch's block), not voided or superseded by the report's time; an amendment's
  replacement counts instead of the certificate it replaced.
- Imports of B from A in a quarter: certificates from A to B that B confirmed
  (RECEIVED directly or after a resolved dispute) in that quarter, by the time of the
  confirming block.
- Mirror reconciliation per quarter and pair: A's exports against B's imports; the
  gap, and, for the certificates A issued, how many B has confirmed, has not yet
  confirmed (still valid), holds in dispute, or let expire unconfirmed.
- Price anomaly: a certificate's USD per carat (value in cents / carats in hundredths)
  against the median of its exporting participant's exports; flagged when the ratio is
  at least ``price_factor`` or at most 1 / ``price_factor``, for participants with at
  least ``min_price_samples`` exports (the ledger holds no HS code or quality, so the
  norm is per exporting participant).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from kpledger.audit import schema as s
from kpledger.audit.checks import CheckReport
from kpledger.audit.fold import (
    DISPUTED,
    ISSUED,
    RECEIVED,
    SUPERSEDED,
    VOIDED,
    recompute_certificate,
)
from kpledger.audit.invariants import TRADE_RULE, check_invariants
from kpledger.audit.state import AuditIndex, to_unix
from kpledger.types import CertificateStatus, ParticipantStatus, day_date

DAY = 86_400
CSV_TABLES = (
    "trade",
    "mirror",
    "unconfirmed",
    "price_norms",
    "anomalies_price",
    "anomalies_expired_unconfirmed",
    "anomalies_long_disputes",
    "anomalies_late_confirmations",
    "anomalies_suspended_trade",
    "participant_totals",
    "suspensions",
    "invariants",
    "cross_check_differences",
)


def two_decimals(hundredths: int) -> str:
    """``125050`` -> ``"1250.50"``: carats from hundredths, USD from cents, exactly."""
    sign = "-" if hundredths < 0 else ""
    value = abs(int(hundredths))
    return f"{sign}{value // 100}.{value % 100:02d}"


def quarter_of(stamp: int) -> str:
    moment = datetime.fromtimestamp(stamp, UTC)
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def iso(stamp: int | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Totals:
    count: int = 0
    carats: int = 0
    cents: int = 0

    def add(self, cert: Mapping[str, Any]) -> None:
        self.count += 1
        self.carats += int(cert["carats"])
        self.cents += int(cert["value_cents"])

    def columns(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}_count": self.count,
            f"{prefix}_carats": two_decimals(self.carats),
            f"{prefix}_usd": two_decimals(self.cents),
        }


@dataclass
class Report:
    """A KP statistics and anomaly report; every table is a list of flat rows."""

    meta: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    summary: dict[str, Any] = field(default_factory=dict)
    cross_checks: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "summary": self.summary, **self.tables, "cross_checks": self.cross_checks}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    def write_json(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.to_json() + "\n", encoding="utf-8")
        return target

    def write_csv(self, directory: str | Path) -> list[Path]:
        """One CSV file per table (header row even when empty); returns their paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in CSV_TABLES:
            rows = self.tables.get(name, [])
            path = folder / f"{name}.csv"
            columns = list(rows[0]) if rows else _EMPTY_COLUMNS.get(name, [])
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
            written.append(path)
        return written

    def to_html(self) -> str:
        """A self-contained HTML page with tables and embedded PNG charts."""
        from kpledger.audit.html import render

        return render(self)

    def write_html(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.to_html(), encoding="utf-8")
        return target


_EMPTY_COLUMNS: dict[str, list[str]] = {
    "anomalies_price": [
        "document_hash",
        "number",
        "origin",
        "destination",
        "usd_per_carat",
        "norm_usd_per_carat",
        "ratio",
    ],
    "anomalies_expired_unconfirmed": [
        "document_hash",
        "number",
        "origin",
        "destination",
        "status",
        "expires_at",
        "days_overdue",
    ],
    "anomalies_long_disputes": [
        "document_hash",
        "number",
        "origin",
        "destination",
        "disputed_at",
        "days_open",
    ],
    "anomalies_late_confirmations": [
        "document_hash",
        "number",
        "origin",
        "destination",
        "expires_at",
        "imported_on",
        "confirmed_at",
        "days_after_import",
        "via",
    ],
    "anomalies_suspended_trade": ["rule", "subject", "message", "block"],
    "invariants": ["rule", "subject", "message", "block"],
    "cross_check_differences": ["kind", "key", "field", "index", "contract"],
    "unconfirmed": ["document_hash", "number", "origin", "destination", "state"],
    "suspensions": ["code", "suspended_block", "suspended_at", "readmitted_block", "readmitted_at"],
}


def _load(engine: Engine, until: int | None) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Every certificate as of ``until`` (Unix time; None = everything indexed), and the
    event that closed each received certificate."""
    c, t, b = s.certificates, s.certificate_transitions, s.batches
    with engine.connect() as conn:
        certs = {r["document_hash"]: dict(r) for r in conn.execute(select(c)).mappings()}
        batches = {
            r: (int(bn), int(at))
            for r, bn, at in conn.execute(select(b.c.root, b.c.anchored_block, b.c.anchored_at))
        }
        query = select(t).order_by(t.c.block_number, t.c.tx_index, t.c.log_index, t.c.id)
        if until is not None:
            query = query.where(t.c.timestamp <= until)
        steps: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in conn.execute(query).mappings():
            steps[row["document_hash"]].append(dict(row))
    states: dict[str, dict[str, Any]] = {}
    closing: dict[str, str] = {}
    for document_hash, timeline in steps.items():
        cert = certs.get(document_hash)
        if cert is None or timeline[0]["event"] not in ("CertificateRequested", "CertificateIssued"):
            continue
        states[document_hash] = recompute_certificate(cert, timeline, batches.get)
        for step in timeline:
            if step["event"] in ("CertificateReceived", "DisputeResolved"):
                closing[document_hash] = step["event"]
    return states, closing


def _exported(cert: Mapping[str, Any]) -> bool:
    return cert["issued_at"] is not None and cert["stored_status"] not in (VOIDED, SUPERSEDED)


def build_report(
    db_url: str | Engine,
    *,
    as_of: date | datetime | int | None = None,
    dispute_days: int = 30,
    price_factor: float = 3.0,
    min_price_samples: int = 5,
    checks: CheckReport | None = None,
) -> Report:
    """Statistics and anomalies from the index at ``db_url``, as of ``as_of`` (default:
    the time of the index's checkpoint block). ``checks`` (from
    :func:`kpledger.audit.checks.cross_check`) is embedded when given."""
    if price_factor <= 1:
        raise ValueError("price_factor must be > 1")
    with AuditIndex(db_url) as index:
        checkpoint = index.checkpoint()
        now = to_unix(as_of) if as_of is not None else index.block_time(checkpoint.block)
        until = now if as_of is not None else None
        certs, closing = _load(index.engine, until)
        meta_rows = _meta(index.engine)
        participants = (
            {p.code: p for p in index.participants(at=now)}
            if as_of is not None
            else {p.code: p for p in index.participants()}
        )
        checked: dict[str, int] = {}
        invariants = check_invariants(index.engine, checked)
        suspensions = _suspensions(index.engine, until)
        exchange_keys = _exchange_keys(index.engine)
    trade_findings = [f for f in invariants if f.rule == TRADE_RULE]
    traded = checked.get("trade_transitions", 0)
    tables: dict[str, list[dict[str, Any]]] = {}
    tables["trade"] = _trade(certs)
    tables["participant_totals"] = _participant_totals(certs, participants)
    tables["mirror"], tables["unconfirmed"] = _mirror(certs, now)
    tables["price_norms"], tables["anomalies_price"] = _prices(certs, price_factor, min_price_samples)
    tables["anomalies_expired_unconfirmed"] = _expired_unconfirmed(certs, now)
    tables["anomalies_long_disputes"] = _long_disputes(certs, now, dispute_days)
    tables["anomalies_late_confirmations"] = _late_confirmations(certs, closing)
    tables["anomalies_suspended_trade"] = [_finding_row(f) for f in trade_findings]
    tables["suspensions"] = suspensions
    tables["exchange_keys"] = exchange_keys
    tables["invariants"] = [_finding_row(f) for f in invariants]
    tables["cross_check_differences"] = (
        [{**asdict(d), "index": _text(d.index), "contract": _text(d.contract)} for d in checks.differences]
        if checks is not None
        else []
    )
    meta = {
        "title": "Kimberley Process certificate ledger: audit report",
        "generated_at": iso(int(datetime.now(UTC).timestamp())),
        "as_of": iso(now),
        "as_of_unix": now,
        "checkpoint_block": checkpoint.block,
        "checkpoint_hash": checkpoint.hash,
        "chain_id": int(meta_rows.get("chain_id", 0)),
        "registry": meta_rows.get("registry"),
        "ledger": meta_rows.get("ledger"),
        "parameters": {
            "dispute_days": dispute_days,
            "price_factor": price_factor,
            "min_price_samples": min_price_samples,
        },
        "units": "carats and USD with two decimals, as text (exact: stored on chain in hundredths and cents)",
        "methods": _methods(dispute_days, price_factor, min_price_samples),
        "suspension_check": {
            "transitions_checked": traded,
            "findings": len(trade_findings),
            "statement": _suspension_statement(traded, trade_findings, suspensions),
        },
        "invariant_checks": checked,
        "participant_names": {code: p.name for code, p in participants.items()},
        "partial_quarters": partial_quarters(_first_activity(certs), now),
    }
    summary = _summary(certs, participants, tables, now)
    return Report(meta, tables, summary, checks.to_dict() if checks is not None else None)


def _first_activity(certs: Mapping[str, Mapping[str, Any]]) -> int | None:
    stamps = [c[k] for c in certs.values() for k in ("requested_at", "issued_at") if c.get(k) is not None]
    return min(stamps) if stamps else None


def _quarter_bounds(stamp: int) -> tuple[int, int]:
    """First and last second (UTC) of the quarter holding ``stamp``."""
    moment = datetime.fromtimestamp(stamp, UTC)
    first_month = 3 * ((moment.month - 1) // 3) + 1
    start = datetime(moment.year, first_month, 1, tzinfo=UTC)
    end = datetime(
        moment.year + (first_month == 10), 1 if first_month == 10 else first_month + 3, 1, tzinfo=UTC
    )
    return int(start.timestamp()), int(end.timestamp()) - 1


def partial_quarters(first: int | None, now: int) -> list[str]:
    """Quarters the report covers only in part: the one of the ledger's first activity
    when it began after the quarter did, and the one of the report's time unless it is
    the quarter's last second. Their figures are not a whole quarter's."""
    partial = set()
    if first is not None and first > _quarter_bounds(first)[0]:
        partial.add(quarter_of(first))
    if now < _quarter_bounds(now)[1]:
        partial.add(quarter_of(now))
    return sorted(partial)


def _participant_totals(
    certs: Mapping[str, Mapping[str, Any]], participants: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Exports and imports per participant over the whole report (exact, from hundredths and cents)."""
    exported: dict[str, _Totals] = defaultdict(_Totals)
    imported: dict[str, _Totals] = defaultdict(_Totals)
    for cert in certs.values():
        if _exported(cert):
            exported[cert["origin"]].add(cert)
        if cert["stored_status"] == RECEIVED:
            imported[cert["destination"]].add(cert)
    codes = list(participants) + sorted((exported.keys() | imported.keys()) - participants.keys())
    rows = []
    for code in codes:
        participant = participants.get(code)
        rows.append(
            {
                "code": code,
                "participant": participant.name if participant is not None else "",
                **exported.get(code, _Totals()).columns("exported"),
                **imported.get(code, _Totals()).columns("imported"),
            }
        )
    return rows


def _meta(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {str(k): str(v) for k, v in conn.execute(select(s.meta.c.key, s.meta.c.value))}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _finding_row(finding: Any) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "subject": finding.subject,
        "message": finding.message,
        "block": finding.block,
    }


def _trade(certs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    exported: dict[tuple[str, str, str], _Totals] = defaultdict(_Totals)
    imported: dict[tuple[str, str, str], _Totals] = defaultdict(_Totals)
    for cert in certs.values():
        pair = (cert["origin"], cert["destination"])
        if _exported(cert):
            exported[(quarter_of(cert["issued_at"]), *pair)].add(cert)
        if cert["stored_status"] == RECEIVED:
            imported[(quarter_of(cert["closed_at"]), *pair)].add(cert)
    rows = []
    for key in sorted(exported.keys() | imported.keys()):
        quarter, origin, destination = key
        rows.append(
            {
                "quarter": quarter,
                "origin": origin,
                "destination": destination,
                **exported.get(key, _Totals()).columns("exported"),
                **imported.get(key, _Totals()).columns("imported"),
            }
        )
    return rows


def _state(cert: Mapping[str, Any], now: int) -> str:
    status = cert["stored_status"]
    if status == RECEIVED:
        return "confirmed"
    if status == DISPUTED:
        return "disputed"
    return "expired-unconfirmed" if now > cert["expires_at"] else "pending"


def _mirror(
    certs: Mapping[str, Mapping[str, Any]], now: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    exports: dict[tuple[str, str, str], _Totals] = defaultdict(_Totals)
    imports: dict[tuple[str, str, str], _Totals] = defaultdict(_Totals)
    matched: dict[tuple[str, str, str], _Totals] = defaultdict(_Totals)
    states: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    unconfirmed = []
    for cert in certs.values():
        pair = (cert["origin"], cert["destination"])
        if cert["stored_status"] == RECEIVED:
            imports[(quarter_of(cert["closed_at"]), *pair)].add(cert)
        if not _exported(cert):
            continue
        key = (quarter_of(cert["issued_at"]), *pair)
        exports[key].add(cert)
        state = _state(cert, now)
        states[key][state] += 1
        if state == "confirmed":
            matched[key].add(cert)
        else:
            unconfirmed.append(
                {
                    "document_hash": cert["document_hash"],
                    "number": cert["number"],
                    "origin": cert["origin"],
                    "destination": cert["destination"],
                    "issued_quarter": key[0],
                    "issued_at": iso(cert["issued_at"]),
                    "expires_at": iso(cert["expires_at"]),
                    "state": state,
                    "carats": two_decimals(cert["carats"]),
                    "usd": two_decimals(cert["value_cents"]),
                }
            )
    rows = []
    for key in sorted(exports.keys() | imports.keys()):
        quarter, origin, destination = key
        a, b, m = exports.get(key, _Totals()), imports.get(key, _Totals()), matched.get(key, _Totals())
        counts = states.get(key, {})
        rows.append(
            {
                "quarter": quarter,
                "origin": origin,
                "destination": destination,
                **a.columns("exported_by_origin"),
                **b.columns("imported_by_destination"),
                "gap_count": a.count - b.count,
                "gap_carats": two_decimals(a.carats - b.carats),
                "gap_usd": two_decimals(a.cents - b.cents),
                **m.columns("of_exports_confirmed"),
                "of_exports_pending": counts.get("pending", 0),
                "of_exports_disputed": counts.get("disputed", 0),
                "of_exports_expired_unconfirmed": counts.get("expired-unconfirmed", 0),
            }
        )
    unconfirmed.sort(key=lambda r: (r["issued_at"], r["number"]))
    return rows, unconfirmed


def _prices(
    certs: Mapping[str, Mapping[str, Any]], factor: float, min_samples: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_origin: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for cert in certs.values():
        if _exported(cert):
            by_origin[cert["origin"]].append(cert)
    norms, flagged = [], []
    for origin in sorted(by_origin):
        items = by_origin[origin]
        prices = sorted(c["value_cents"] / c["carats"] for c in items)
        median = statistics.median(prices)
        enough = len(prices) >= min_samples
        norms.append(
            {
                "origin": origin,
                "certificates": len(prices),
                "median_usd_per_carat": f"{median:.2f}",
                "p10_usd_per_carat": f"{_quantile(prices, 0.1):.2f}",
                "p90_usd_per_carat": f"{_quantile(prices, 0.9):.2f}",
                "flagging": "yes"
                if enough and median > 0
                else "no: too few certificates"
                if not enough
                else "no: zero norm",
            }
        )
        if not enough or median <= 0:
            continue
        for cert in items:
            price = cert["value_cents"] / cert["carats"]
            ratio = price / median
            if ratio >= factor or ratio <= 1 / factor:
                flagged.append(
                    {
                        "document_hash": cert["document_hash"],
                        "number": cert["number"],
                        "origin": origin,
                        "destination": cert["destination"],
                        "issued_at": iso(cert["issued_at"]),
                        "carats": two_decimals(cert["carats"]),
                        "usd": two_decimals(cert["value_cents"]),
                        "usd_per_carat": f"{price:.2f}",
                        "norm_usd_per_carat": f"{median:.2f}",
                        "ratio": f"{ratio:.3f}",
                    }
                )
    flagged.sort(key=lambda r: (r["origin"], r["issued_at"] or "", r["number"]))
    return norms, flagged


def _quantile(sorted_values: list[float], q: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _cert_columns(cert: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "document_hash": cert["document_hash"],
        "number": cert["number"],
        "origin": cert["origin"],
        "destination": cert["destination"],
    }


def _expired_unconfirmed(certs: Mapping[str, Mapping[str, Any]], now: int) -> list[dict[str, Any]]:
    rows = [
        {
            **_cert_columns(c),
            "status": CertificateStatus.EXPIRED.name,
            "stored_status": CertificateStatus(c["stored_status"]).name,
            "issued_at": iso(c["issued_at"]),
            "expires_at": iso(c["expires_at"]),
            "days_overdue": (now - c["expires_at"]) // DAY,
        }
        for c in certs.values()
        if c["stored_status"] in (ISSUED, DISPUTED) and now > c["expires_at"]
    ]
    return sorted(rows, key=lambda r: (r["expires_at"], r["number"]))


def _long_disputes(certs: Mapping[str, Mapping[str, Any]], now: int, days: int) -> list[dict[str, Any]]:
    rows = [
        {
            **_cert_columns(c),
            "disputed_at": iso(c["responded_at"]),
            "days_open": (now - c["responded_at"]) // DAY,
        }
        for c in certs.values()
        if c["stored_status"] == DISPUTED and now - c["responded_at"] > days * DAY
    ]
    return sorted(rows, key=lambda r: (r["disputed_at"], r["number"]))


def _late_confirmations(
    certs: Mapping[str, Mapping[str, Any]], closing: Mapping[str, str]
) -> list[dict[str, Any]]:
    rows = [
        {
            **_cert_columns(c),
            "expires_at": iso(c["expires_at"]),
            "imported_on": None if c["imported_on"] is None else day_date(c["imported_on"]).isoformat(),
            "confirmed_at": iso(c["closed_at"]),
            "days_after_import": None
            if c["imported_on"] is None
            else c["closed_at"] // DAY - c["imported_on"],
            "hours_late": (c["closed_at"] - c["expires_at"]) // 3600,
            "via": closing.get(c["document_hash"], ""),
        }
        for c in certs.values()
        if c["stored_status"] == RECEIVED and _confirmed_late(c)
    ]
    return sorted(rows, key=lambda r: (r["confirmed_at"], r["number"]))


def _confirmed_late(cert: Mapping[str, Any]) -> bool:
    """Recorded after the certificate expired, or (from a ledger that did not check
    import dates) imported after its expiry day: the import date is what the importing
    authority entered, the recording time is the block's."""
    imported = cert["imported_on"]
    if imported is not None and imported > cert["expires_at"] // DAY:
        return True
    return bool(cert["closed_at"] > cert["expires_at"])


def _suspensions(engine: Engine, until: int | None) -> list[dict[str, Any]]:
    h = s.participant_status_history
    query = select(h.c.code, h.c.event, h.c.block_number, h.c.timestamp).order_by(
        h.c.block_number, h.c.tx_index, h.c.log_index
    )
    if until is not None:
        query = query.where(h.c.timestamp <= until)
    rows: list[dict[str, Any]] = []
    open_rows: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for code, event, block, stamp in conn.execute(query):
            if event == "ParticipantSuspended":
                row = {
                    "code": code,
                    "suspended_block": block,
                    "suspended_at": iso(stamp),
                    "readmitted_block": None,
                    "readmitted_at": None,
                }
                open_rows[code] = row
                rows.append(row)
            elif event == "ParticipantReadmitted" and code in open_rows:
                row = open_rows.pop(code)
                row["readmitted_block"], row["readmitted_at"] = block, iso(stamp)
    return rows


def _exchange_keys(engine: Engine) -> list[dict[str, Any]]:
    """Every publication, rotation and revocation of an exchange key and every inbox
    URL change (ExchangeDirectory, issue 15), oldest first, from the replayed events."""
    e = s.events
    query = (
        select(e.c.block_number, e.c.name, e.c.subject, e.c.args)
        .where(e.c.contract == "directory")
        .order_by(e.c.block_number, e.c.tx_index, e.c.log_index)
    )
    rows: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for block, name, subject, raw in conn.execute(query):
            args = json.loads(raw)
            rows.append(
                {
                    "block": block,
                    "code": _code_text(subject),
                    "event": name,
                    "key_id": args.get("keyId"),
                    "replaced_by": args.get("replacedBy"),
                    "by": args.get("by"),
                    "detail": args.get("reason") or args.get("url") or "",
                }
            )
    return rows


def _code_text(value: Any) -> str:
    text = str(value)
    if text.startswith("0x") and len(text) == 6:
        try:
            return bytes.fromhex(text[2:]).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return text
    return text


def _suspension_statement(checked: int, findings: Iterable[Any], suspensions: list[dict[str, Any]]) -> str:
    found = list(findings)
    periods = f"{len(suspensions)} suspension period(s)"
    if not found:
        return (
            f"Checked all {checked} request/issue/validation transitions against the status history "
            f"({periods}): no certificate was requested, issued or validated while its origin or "
            "destination was suspended or unknown."
        )
    return f"{len(found)} of {checked} checked transitions happened while a party was not active ({periods})."


def _api_status(cert: Mapping[str, Any], now: int) -> str:
    """The status name the API and the contract's reads give: EXPIRED derived, as
    ``CertificateLedger._derivedStatus`` does, for an open certificate past its expiry."""
    status = CertificateStatus(cert["stored_status"])
    open_ = status in (CertificateStatus.REQUESTED, CertificateStatus.ISSUED, CertificateStatus.DISPUTED)
    return CertificateStatus.EXPIRED.name if open_ and now > cert["expires_at"] else status.name


def _summary(
    certs: Mapping[str, Mapping[str, Any]],
    participants: Mapping[str, Any],
    tables: Mapping[str, list[Any]],
    now: int,
) -> dict[str, Any]:
    exported, imported = _Totals(), _Totals()
    by_stored: dict[str, int] = defaultdict(int)
    by_status: dict[str, int] = defaultdict(int)
    for cert in certs.values():
        by_stored[CertificateStatus(cert["stored_status"]).name] += 1
        by_status[_api_status(cert, now)] += 1
        if _exported(cert):
            exported.add(cert)
        if cert["stored_status"] == RECEIVED:
            imported.add(cert)
    return {
        "certificates": len(certs),
        "by_stored_status": dict(sorted(by_stored.items())),
        "by_status": dict(sorted(by_status.items())),
        "participants": len(participants),
        "participants_suspended": sorted(
            c for c, p in participants.items() if p.status == ParticipantStatus.SUSPENDED
        ),
        **exported.columns("exported"),
        **imported.columns("imported"),
        "anomalies": {
            name.removeprefix("anomalies_"): len(rows)
            for name, rows in tables.items()
            if name.startswith("anomalies_")
        },
        "invariant_findings": len(tables["invariants"]),
    }


def _methods(dispute_days: int, price_factor: float, min_samples: int) -> dict[str, str]:
    return {
        "exports": (
            "Certificates from A to B that reached ISSUED in the quarter (time of the issuing block; "
            "for a batched certificate, its batch's block), except those voided or superseded by the "
            "report's time; an amendment's replacement counts instead of the certificate it replaced."
        ),
        "imports": (
            "Certificates from A to B that B confirmed in the quarter (RECEIVED directly or after a "
            "resolved dispute), by the time of the confirming block."
        ),
        "mirror": (
            "Per quarter and pair, A's exports against B's imports (the gap is exports minus imports); "
            "and of the certificates A issued in the quarter, how many B confirmed, has still to "
            "confirm (valid), holds in dispute, or let expire unconfirmed."
        ),
        "price": (
            "USD per carat = value in cents / carats in hundredths. A participant's norm is the median "
            "over its exports. A certificate is flagged when its USD per carat is at least "
            f"{price_factor:g} times the norm or at most 1/{price_factor:g} of it; participants with "
            f"fewer than {min_samples} exports are not judged. The ledger holds no HS code or quality, "
            "so the norm is per exporting participant."
        ),
        "expired_unconfirmed": (
            "Issued (or disputed) certificates whose expiry passed before the report's time."
        ),
        "long_disputes": (
            f"Certificates still DISPUTED more than {dispute_days} days after the dispute was recorded."
        ),
        "late_confirmations": "Certificates whose receipt was recorded (or whose dispute was resolved) after"
        " their expiry, or whose import date is after their expiry day; the import date is the one the"
        " importing authority entered on chain, and days_after_import counts from it to the recording.",
        "suspended_trade": (
            "Every request, direct issue and validation checked against both participants' status "
            "history at its position in the chain (block, transaction, log); batched certificates at "
            "their batch's anchoring, as the contract checks them."
        ),
    }
