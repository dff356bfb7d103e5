"""KP statistics and anomaly reports: totals per quarter and pair equal an independent
count, every anomaly kind is found, and the JSON, CSV and HTML outputs hold it."""

from __future__ import annotations

import base64
import csv
import json
import re
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from kpledger.audit import build_report, cross_check, replay
from kpledger.audit.reports import CSV_TABLES, quarter_of, two_decimals
from kpledger.chain import artifacts
from kpledger.types import day_date

DAY = 86_400


def _quarter(stamp: int) -> str:
    moment = datetime.fromtimestamp(stamp, UTC)
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


class Scenario:
    """Certificates chosen to hit every statistic and anomaly, with what is expected."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.exported_hashes: set[bytes] = set()
        self.issued: list[tuple[Any, int]] = []  # (terms, time issued)
        self.received: list[tuple[Any, int]] = []  # (terms, time confirmed)

    def issue(self, auth: Any, terms: Any) -> Any:
        receipt = auth.issue(terms, self.world.bw_exporter.address if terms.origin == "BW" else auth.address)
        self.issued.append((terms, self.world.gov.block_time(receipt.block_number)))
        return terms

    def confirm(self, auth: Any, terms: Any, imported_on: date | None = None) -> None:
        receipt = auth.confirm_receipt(terms.document_hash, imported_on=imported_on)
        self.received.append((terms, self.world.gov.block_time(receipt.block_number)))

    def advance(self, days: int) -> None:
        self.world.chain.time_travel(self.world.now() + days * DAY)

    def run(self) -> dict[str, Any]:
        w = self.world
        normal = [
            self.issue(w.bw_auth, w.terms(carats=100_000 + i, value_cents=80_000_000 + 1000 * i))
            for i in range(6)
        ]
        dear = self.issue(w.bw_auth, w.terms(carats=1_000, value_cents=10_000_000))  # 10,000 USD/ct vs ~800
        cheap = self.issue(w.bw_auth, w.terms(carats=100_000, value_cents=1_000_000))  # 10 USD/ct
        lapsing = self.issue(w.bw_auth, w.terms(days=1))
        late = self.issue(w.bw_auth, w.terms(days=1))
        disputed = self.issue(w.bw_auth, w.terms(days=60))
        w.ae_auth.record_discrepancy(disputed.number, "carats differ")
        voided = self.issue(w.bw_auth, w.terms())
        w.bw_auth.void(voided.number, "issued in error")
        for terms in normal[:3]:
            self.confirm(w.ae_auth, terms)
        self.advance(3)
        self.confirm(w.ae_auth, late, imported_on=day_date(late.expires_at // DAY))  # recorded 2 days on
        self.advance(95)  # next quarter
        w.ae_auth.license_importer("AE", w.stranger.address)
        to_belgium = self.issue(w.ae_auth, w.terms("AE", "BE", carats=55_055, value_cents=12_345_678))
        self.confirm(w.be_auth, to_belgium)
        for terms in normal[3:5]:  # imported in time, recorded long after
            self.confirm(w.ae_auth, terms, imported_on=day_date(terms.expires_at // DAY))
        return {
            "normal": normal,
            "dear": dear,
            "cheap": cheap,
            "lapsing": lapsing,
            "late": late,
            "disputed": disputed,
            "voided": voided,
        }

    def expected_trade(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        voided = {t.document_hash for t, _ in self.issued} - self.exported_hashes
        rows: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for terms, stamp in self.issued:
            if terms.document_hash in voided:
                continue
            row = rows[(_quarter(stamp), terms.origin, terms.destination)]
            row["exported_count"] += 1
            row["exported_carats"] += terms.carats
            row["exported_usd"] += terms.value_cents
        for terms, stamp in self.received:
            row = rows[(_quarter(stamp), terms.origin, terms.destination)]
            row["imported_count"] += 1
            row["imported_carats"] += terms.carats
            row["imported_usd"] += terms.value_cents
        return {
            key: {
                name: (two_decimals(row[name]) if not name.endswith("count") else row[name])
                for name in (
                    "exported_count",
                    "exported_carats",
                    "exported_usd",
                    "imported_count",
                    "imported_carats",
                    "imported_usd",
                )
            }
            for key, row in rows.items()
        }


@pytest.fixture
def scenario(world: Any, db_url: str) -> tuple[Scenario, dict[str, Any]]:
    scene = Scenario(world)
    made = scene.run()
    scene.exported_hashes = {t.document_hash for t, _ in scene.issued} - {made["voided"].document_hash}
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    return scene, made


def _numbers(rows: list[dict[str, Any]]) -> set[str]:
    return {r["number"] for r in rows}


def test_statistics_equal_an_independent_count(scenario: Any, db_url: str) -> None:
    scene, _ = scenario
    report = build_report(db_url)
    got = {
        (r["quarter"], r["origin"], r["destination"]): {
            k: v for k, v in r.items() if k.startswith(("exported", "imported"))
        }
        for r in report.tables["trade"]
    }
    assert got == scene.expected_trade()
    assert len({q for q, _, _ in got}) == 2  # the history spans two quarters
    assert report.summary["exported_count"] == len(scene.exported_hashes)
    assert report.summary["imported_count"] == len(scene.received)


def test_every_anomaly_is_found(scenario: Any, db_url: str) -> None:
    scene, made = scenario
    report = build_report(db_url, dispute_days=30, price_factor=3.0, min_price_samples=5)
    tables = report.tables
    assert _numbers(tables["anomalies_price"]) == {made["dear"].number, made["cheap"].number}
    now = report.meta["as_of_unix"]
    received = {t.document_hash for t, _ in scene.received}
    lapsed = {
        t.number
        for t, _ in scene.issued
        if t.document_hash in scene.exported_hashes and t.document_hash not in received and t.expires_at < now
    }
    assert made["lapsing"].number in lapsed and made["disputed"].number in lapsed
    assert _numbers(tables["anomalies_expired_unconfirmed"]) == lapsed
    assert _numbers(tables["anomalies_long_disputes"]) == {made["disputed"].number}
    late = tables["anomalies_late_confirmations"]
    expected_late = {t.number for t, stamp in scene.received if stamp > t.expires_at}
    assert made["late"].number in expected_late
    assert _numbers(late) == expected_late and {r["via"] for r in late} == {"CertificateReceived"}
    late_row = next(r for r in late if r["number"] == made["late"].number)
    assert late_row["imported_on"] == day_date(made["late"].expires_at // DAY).isoformat()
    assert late_row["days_after_import"] == 2
    assert tables["anomalies_suspended_trade"] == []
    check = report.meta["suspension_check"]
    assert check["findings"] == 0 and check["transitions_checked"] == len(scene.issued)
    assert "no certificate was requested, issued or validated while" in check["statement"]
    assert [s["code"] for s in tables["suspensions"]] == ["VE"]
    norms = {n["origin"]: n for n in tables["price_norms"]}
    assert norms["BW"]["flagging"] == "yes" and norms["AE"]["flagging"].startswith("no")
    assert "median" in report.meta["methods"]["price"]


def test_mirror_reconciliation_shows_the_gaps(scenario: Any, db_url: str) -> None:
    scene, made = scenario
    report = build_report(db_url)
    first = sorted({_quarter(s) for _, s in scene.issued})[0]
    row = next(
        r
        for r in report.tables["mirror"]
        if (r["quarter"], r["origin"], r["destination"]) == (first, "BW", "AE")
    )
    exported = len(
        [t for t, s in scene.issued if t.origin == "BW" and t.document_hash in scene.exported_hashes]
    )
    confirmed_then = len([t for t, s in scene.received if t.origin == "BW" and _quarter(s) == first])
    assert row["exported_by_origin_count"] == exported
    assert row["imported_by_destination_count"] == confirmed_then
    assert row["gap_count"] == exported - confirmed_then
    now = report.meta["as_of_unix"]
    received = {t.document_hash for t, _ in scene.received}
    open_bw = [
        t for t, _ in scene.issued if t.origin == "BW" and t.document_hash in scene.exported_hashes - received
    ]
    lapsed = [t for t in open_bw if t.number != made["disputed"].number and t.expires_at < now]
    assert row["of_exports_disputed"] == 1 and row["of_exports_expired_unconfirmed"] == len(lapsed) == 4
    assert row["of_exports_pending"] == len(open_bw) - 1 - len(lapsed)
    assert row["of_exports_confirmed_count"] == 6  # five normal ones and the late one
    unconfirmed = {r["number"]: r["state"] for r in report.tables["unconfirmed"]}
    assert unconfirmed[made["disputed"].number] == "disputed"
    assert unconfirmed[made["lapsing"].number] == "expired-unconfirmed"
    assert made["voided"].number not in unconfirmed


def test_a_report_as_of_an_earlier_time(scenario: Any, db_url: str) -> None:
    scene, made = scenario
    late_confirmed = next(s for t, s in scene.received if t.number == made["late"].number)
    report = build_report(db_url, as_of=late_confirmed - 1)
    assert made["late"].number in _numbers(report.tables["anomalies_expired_unconfirmed"])
    assert report.tables["anomalies_late_confirmations"] == []
    assert report.summary["imported_count"] == 3
    assert report.meta["as_of_unix"] == late_confirmed - 1


def test_outputs_json_csv_html(scenario: Any, db_url: str, tmp_path: Path, world: Any) -> None:
    checks = cross_check(world.chain, world.gov.deployment, db_url, compiled=artifacts.artifacts())
    report = build_report(db_url, checks=checks)
    data = json.loads(report.to_json())
    assert data["cross_checks"]["ok"] is True
    assert data["trade"] and re.fullmatch(r"\d+\.\d\d", data["trade"][0]["exported_carats"])
    paths = report.write_csv(tmp_path / "csv")
    assert [p.stem for p in paths] == list(CSV_TABLES)
    with (tmp_path / "csv" / "trade.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{k: str(v) for k, v in r.items()} for r in report.tables["trade"]]
    assert (tmp_path / "csv" / "anomalies_suspended_trade.csv").read_text().startswith("rule,subject")
    page = report.to_html()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    for heading in (
        "Trade per quarter",
        "Mirror reconciliation",
        "Certificates during a suspension",
        "Deployed code",
    ):
        assert heading in page
    assert report.write_html(tmp_path / "report.html").read_text(encoding="utf-8") == page
    assert report.write_json(tmp_path / "report.json").exists()


def test_an_empty_index_still_makes_a_report(world: Any, db_url: str) -> None:
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    report = build_report(db_url)
    assert report.summary["certificates"] == 0 and report.tables["trade"] == []
    assert "<html" in report.to_html()
    with pytest.raises(ValueError):
        build_report(db_url, price_factor=1.0)


def test_helpers() -> None:
    assert two_decimals(125050) == "1250.50" and two_decimals(5) == "0.05" and two_decimals(-101) == "-1.01"
    assert quarter_of(0) == "1970-Q1" and quarter_of(7_776_000 + 86_400) == "1970-Q2"
