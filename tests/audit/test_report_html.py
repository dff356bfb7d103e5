"""The audit report reads well: legends beside (never over) the bars, plain axis units,
thousands separators, participant names beside codes, partial quarters marked, totals per
participant, the API's status names (EXPIRED included), and tables that fit the page in
Chromium (no sideways scrolling)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kpledger.audit import build_report
from kpledger.audit.html import _legend_outside, _plain_axis
from kpledger.audit.reports import partial_quarters
from tests.api.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.audit.test_reports import scenario  # noqa: F401  (the fixture)


def _utc(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


def test_partial_quarters_are_the_first_and_the_current_unless_whole() -> None:
    assert partial_quarters(_utc(2026, 5, 3), _utc(2026, 11, 1)) == ["2026-Q2", "2026-Q4"]
    assert partial_quarters(_utc(2026, 4, 1), _utc(2026, 12, 31, 23, 59, 59)) == []
    assert partial_quarters(None, _utc(2026, 1, 1)) == ["2026-Q1"]


def test_legend_is_outside_the_plot_and_axes_are_plain() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [12_000_000, 80_000_000], label="BW · Botswana")
    _plain_axis(ax.yaxis)
    _legend_outside(ax)
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the axes: it cannot cover a bar
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "80,000,000" in labels and not any("e" in label for label in labels)
    assert ax.yaxis.get_offset_text().get_text() == ""
    plt.close(fig)


def test_report_tables_read_well(scenario: Any, db_url: str) -> None:  # noqa: F811
    report = build_report(db_url)
    totals = {row["code"]: row for row in report.tables["participant_totals"]}
    assert sum(int(r["exported_count"]) for r in totals.values()) == report.summary["exported_count"]
    assert sum(int(r["imported_count"]) for r in totals.values()) == report.summary["imported_count"]
    assert totals["BW"]["participant"] == "Botswana"
    cents = sum(int(r["exported_usd"].replace(".", "")) for r in totals.values())
    assert cents == int(report.summary["exported_usd"].replace(".", ""))
    statuses = report.summary["by_status"]
    assert set(statuses) <= {"REQUESTED", "ISSUED", "RECEIVED", "DISPUTED", "VOIDED", "SUPERSEDED", "EXPIRED"}
    assert statuses.get("EXPIRED", 0) >= len(report.tables["anomalies_expired_unconfirmed"]) > 0
    assert {r["status"] for r in report.tables["anomalies_expired_unconfirmed"]} == {"EXPIRED"}
    page = report.to_html()
    # Hashes and addresses (in <code>) may hold "1e6" by chance; the figures may not.
    prose = re.sub(r"<code>[^<]*</code>|0x[0-9a-fA-F]+", "", page)
    assert "USD million" not in prose
    assert not re.search(r"\b\d+(\.\d+)?e[+-]?\d+\b", prose), "a figure in scientific notation"
    assert "BW <span class='meta'>Botswana</span>" in page
    assert "Totals per participant" in page
    assert re.search(r"<td class=num>\d{1,3}(,<wbr>\d{3})+\.\d\d</td>", page)
    for quarter in report.meta["partial_quarters"]:
        assert f"{quarter} <span class='partial'>(partial)</span>" in page


# Run in a child process: the page tests keep one Playwright (and its event loop) open for
# the whole session, and a second sync Playwright cannot start inside it.
_MEASURE = """
import json, sys
from playwright.sync_api import sync_playwright
page_file, shots, chromium, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
out = []
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=chromium, args=args)
    for width in (1200, 800):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto("file://" + page_file)
        if shots:
            page.screenshot(path=f"{shots}/audit-{width}.png", full_page=True)
        out.append([width, *page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")])
        page.close()
    browser.close()
print(json.dumps(out))
"""


def test_report_fits_the_page_in_chromium(scenario: Any, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"{CHROMIUM} not found: `make chromium` installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    page_file = build_report(db_url).write_html(tmp_path / "report.html")
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(page_file), os.environ.get("KPLEDGER_SCREENSHOTS", ""), CHROMIUM,
         json.dumps(CHROMIUM_ARGS)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for width, scroll, client in json.loads(done.stdout):
        assert scroll <= client, (width, scroll, client)
