"""Render a :class:`~kpledger.audit.reports.Report` as one self-contained HTML page.

Why one file with the charts inside (base64 PNG): a review mission mails it, archives
it, opens it offline; nothing to fetch, nothing to run. The charts are matplotlib
(Agg backend, no display needed); every number in a chart is also in a table below it.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpledger.audit.reports import Report

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#1d2430;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}
h2{margin-top:2.2rem;border-bottom:2px solid #d7dde6;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.8rem;width:100%;max-width:100%}
th,td{border:1px solid #d7dde6;padding:.22rem .35rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{font-size:.74rem;hyphens:auto}.partial{color:#8a5a00;font-style:italic}
td.num{overflow-wrap:normal}td .meta{font-size:inherit}
th{background:#eef2f7;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#4b5565;font-size:.9rem}.ok{color:#116329;font-weight:600}.bad{color:#a40e26;font-weight:600}
.box{background:#f6f8fa;border:1px solid #d7dde6;border-radius:6px;padding:.7rem 1rem;margin:.8rem 0}
img{max-width:100%;height:auto;border:1px solid #e3e8ef;margin:.4rem 0}
code{font-size:.85em;word-break:break-all}details{margin:.4rem 0}
@media print{body{margin:0;max-width:none}th{position:static}h2{break-after:avoid}tr,img{break-inside:avoid}}
"""
# Columns that hold a participant code: shown with the participant's name beside it.
_CODE_COLUMNS = frozenset({"origin", "destination", "code", "subject_code"})
MAX_ROWS = 500


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _num(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def _plain_axis(axis: Any, *, decimals: int = 0) -> None:
    """Tick labels in plain numbers with thousands separators (never "1e6" or 10²)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.{decimals}f}"))
    axis.set_minor_formatter(NullFormatter())


def _legend_outside(ax: Any, **options: Any) -> None:
    """The legend right of the plot, where it can never cover a bar."""
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False, fontsize=8, **options
    )


def _quarter_label(quarter: str, partial: set[str]) -> str:
    return f"{quarter}\n(partial)" if quarter in partial else quarter


def _participant(code: str, names: Mapping[str, str]) -> str:
    name = names.get(code)
    return f"{code} · {name}" if name else code


def charts(report: Report) -> list[tuple[str, str]]:
    """``(caption, base64 PNG)`` for each chart the report's data supports."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out: list[tuple[str, str]] = []
    names: Mapping[str, str] = report.meta.get("participant_names") or {}
    partial = set(report.meta.get("partial_quarters") or [])
    trade = report.tables.get("trade", [])
    if trade:
        quarters = sorted({r["quarter"] for r in trade})
        labels_q = [_quarter_label(q, partial) for q in quarters]
        origins = sorted({r["origin"] for r in trade})
        usd: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        exported_ct: dict[str, float] = defaultdict(float)
        imported_ct: dict[str, float] = defaultdict(float)
        for r in trade:
            usd[r["origin"]][r["quarter"]] += _num(r["exported_usd"])
            exported_ct[r["quarter"]] += _num(r["exported_carats"])
            imported_ct[r["quarter"]] += _num(r["imported_carats"])
        fig, ax = plt.subplots(figsize=(9, 3.8))
        bottom = [0.0] * len(quarters)
        for origin in origins:
            values = [usd[origin][q] for q in quarters]
            ax.bar(labels_q, values, bottom=bottom, label=_participant(origin, names))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("US dollars")
        _plain_axis(ax.yaxis)
        ax.set_title("Exports by quarter and exporting participant (USD)")
        _legend_outside(ax, title="exporting participant", title_fontsize=8)
        out.append(("Exports by quarter (USD, stacked by exporting participant)", _png(fig)))

        fig, ax = plt.subplots(figsize=(9, 3.8))
        xs = range(len(quarters))
        ax.bar(
            [x - 0.2 for x in xs], [exported_ct[q] for q in quarters], width=0.4, label="exported (issued)"
        )
        ax.bar(
            [x + 0.2 for x in xs], [imported_ct[q] for q in quarters], width=0.4, label="imported (confirmed)"
        )
        ax.set_xticks(list(xs), labels_q)
        ax.set_ylabel("carats")
        _plain_axis(ax.yaxis)
        ax.set_title("Carats exported vs imported per quarter (all participants)")
        _legend_outside(ax)
        out.append(("Carats exported and imported per quarter", _png(fig)))
    prices = report.tables.get("anomalies_price", [])
    norms = report.tables.get("price_norms", [])
    if norms:
        fig, ax = plt.subplots(figsize=(9, 3.8))
        names_p = [n["origin"] for n in norms]
        for i, norm in enumerate(norms):
            low, mid, high = (
                _num(norm["p10_usd_per_carat"]),
                _num(norm["median_usd_per_carat"]),
                _num(norm["p90_usd_per_carat"]),
            )
            ax.plot([i, i], [max(low, 0.01), max(high, 0.01)], color="#7a8699", linewidth=6, alpha=0.5)
            ax.plot([i], [max(mid, 0.01)], marker="_", markersize=22, color="#1d2430")
        flagged = [
            (names_p.index(p["origin"]), max(_num(p["usd_per_carat"]), 0.01))
            for p in prices
            if p["origin"] in names_p
        ]
        if flagged:
            ax.scatter(
                [f[0] for f in flagged], [f[1] for f in flagged], color="#c21f3a", zorder=3, label="flagged"
            )
            _legend_outside(ax)
        ax.set_xticks(range(len(names_p)), names_p)
        ax.set_yscale("log")
        _plain_axis(ax.yaxis)
        ax.set_ylabel("US dollars per carat (log scale)")
        ax.set_title("USD per carat: median and 10-90% range per exporter; flagged certificates")
        out.append(("Price norms and price anomalies", _png(fig)))
    mirror = report.tables.get("mirror", [])
    if mirror:
        pairs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in mirror:
            key = f"{r['origin']}→{r['destination']}"
            for state in ("confirmed", "pending", "disputed", "expired_unconfirmed"):
                column = "of_exports_confirmed_count" if state == "confirmed" else f"of_exports_{state}"
                pairs[key][state] += int(r.get(column) or 0)
        labels = sorted(pairs)
        fig, ax = plt.subplots(figsize=(9, max(2.5, 0.35 * len(labels) + 1)))
        left: list[float] = [0.0] * len(labels)
        colours = {
            "confirmed": "#2f7d4f",
            "pending": "#8aa4c8",
            "disputed": "#e0a030",
            "expired_unconfirmed": "#c21f3a",
        }
        for state, colour in colours.items():
            values = [pairs[label][state] for label in labels]
            ax.barh(labels, values, left=left, color=colour, label=state.replace("_", " "))
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_xlabel("certificates issued")
        _plain_axis(ax.xaxis)
        ax.set_title("Mirror reconciliation: what the exporter issued, by the importer's response")
        _legend_outside(ax)
        out.append(("Mirror reconciliation per pair", _png(fig)))
    return out


def _table(
    rows: Sequence[Mapping[str, Any]],
    empty: str,
    names: Mapping[str, str] | None = None,
    partial: set[str] | frozenset[str] = frozenset(),
) -> str:
    names = names or {}
    if not rows:
        return f"<p class='ok'>{escape(empty)}</p>"
    columns = list(rows[0])
    if "participant" in columns:  # the table names them itself
        names = {}
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    body = []
    for row in rows[:MAX_ROWS]:
        cells = []
        for c in columns:
            value = row.get(c)
            text = "" if value is None else str(value)
            numeric = not isinstance(value, bool) and (
                isinstance(value, int | float) or (isinstance(value, str) and _is_number(value))
            )
            if c in _CODE_COLUMNS and isinstance(value, str) and value in names:
                cells.append(f"<td>{escape(value)} <span class='meta'>{escape(names[value])}</span></td>")
            elif c == "quarter" and value in partial:
                cells.append(f"<td>{escape(text)} <span class='partial'>(partial)</span></td>")
            elif numeric and not c.endswith("block") and c != "block":
                # Break a long number only between digit groups, so narrow pages need no scrolling.
                cells.append(f"<td class=num>{escape(_grouped(text)).replace(',', ',<wbr>')}</td>")
            elif isinstance(value, str) and value.startswith("0x") and len(value) > 20:
                cells.append(
                    f"<td><code title='{escape(text)}'>{escape(text[:10])}…{escape(text[-6:])}</code></td>"
                )
            else:
                cells.append(f"<td{' class=num' if numeric else ''}>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p class='meta'>{len(rows) - MAX_ROWS} more rows in the CSV/JSON output.</p>"
        if len(rows) > MAX_ROWS
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _is_number(text: str) -> bool:
    """Plain decimal text (what the report's amounts and counts are), not "1e5" or "nan"."""
    body = text[1:] if text.startswith("-") else text
    whole, _, fraction = body.partition(".")
    return whole.isdigit() and (fraction == "" or fraction.isdigit()) and whole.isascii()


def render(report: Report) -> str:
    meta, summary, tables = report.meta, report.summary, report.tables
    names: Mapping[str, str] = meta.get("participant_names") or {}
    partial = set(meta.get("partial_quarters") or [])
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(meta['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(meta['title'])}</h1>",
        "<p class='meta'>",
        f"As of <b>{escape(str(meta['as_of']))}</b> · index checkpoint block {meta['checkpoint_block']} "
        f"(<code>{escape(str(meta['checkpoint_hash']))}</code>) · chain {meta['chain_id']}<br>",
        f"Registry <code>{escape(str(meta['registry']))}</code>"
        f" · ledger <code>{escape(str(meta['ledger']))}</code>"
        f" · generated {escape(str(meta['generated_at']))}</p>",
        "<h2>Summary</h2><div class='box'>",
        f"{summary['certificates']:,} certificates · {summary['participants']} participants"
        f" ({', '.join(summary['participants_suspended']) or 'none'} suspended)<br>",
        _totals_line("Exported (issued)", summary, "exported"),
        _totals_line("Imported (confirmed)", summary, "imported"),
        "By status (as the API names them; EXPIRED is derived): "
        + escape(", ".join(f"{k} {v:,}" for k, v in (summary.get("by_status") or {}).items()))
        + "<br>",
        (
            "<span class='partial'>Partial quarters (not a whole quarter of data): "
            f"{escape(', '.join(sorted(partial)))}</span><br>"
            if partial
            else ""
        ),
        "Anomalies: "
        + ", ".join(f"{escape(k.replace('_', ' '))} {v}" for k, v in summary["anomalies"].items())
        + "<br>",
        _verdict(report),
        "</div>",
    ]
    for caption, png in charts(report):
        parts.append(
            f"<figure><img alt='{escape(caption)}' src='data:image/png;base64,{png}'>"
            f"<figcaption class='meta'>{escape(caption)}</figcaption></figure>"
        )
    sections = [
        ("Totals per participant", "participant_totals", "No trade.", None),
        ("Trade per quarter and pair", "trade", "No certificates issued or confirmed.", "exports"),
        ("Mirror reconciliation", "mirror", "Nothing to reconcile.", "mirror"),
        ("Issued and not (yet) confirmed", "unconfirmed", "Every issued certificate was confirmed.", None),
        ("Price norms (USD per carat)", "price_norms", "No exports.", "price"),
        ("Anomaly: price far from the exporter's norm", "anomalies_price", "None.", "price"),
        (
            "Anomaly: expired without confirmation",
            "anomalies_expired_unconfirmed",
            "None.",
            "expired_unconfirmed",
        ),
        ("Anomaly: disputes open too long", "anomalies_long_disputes", "None.", "long_disputes"),
        ("Anomaly: confirmed after expiry", "anomalies_late_confirmations", "None.", "late_confirmations"),
    ]
    methods = meta["methods"]
    for title, key, empty, method in sections:
        parts.append(f"<h2>{escape(title)}</h2>")
        if method is not None:
            parts.append(f"<p class='meta'>{escape(methods[method])}</p>")
        parts.append(_table(tables.get(key, []), empty, names, partial))
    check = meta["suspension_check"]
    parts += [
        "<h2>Certificates during a suspension</h2>",
        f"<p class='meta'>{escape(methods['suspended_trade'])}</p>",
        f"<div class='box'><span class='{'ok' if check['findings'] == 0 else 'bad'}'>"
        f"{escape(check['statement'])}</span></div>",
        "<h3>Suspension periods</h3>",
        _table(tables.get("suspensions", []), "No participant was ever suspended.", names),
        _table(
            tables.get("anomalies_suspended_trade", []), "No certificate involved a suspended participant."
        ),
        "<h2>Exchange keys and inboxes</h2>",
        "<p class='meta'>Publications, rotations and revocations of the participants' exchange keys"
        " and inbox URL changes (ExchangeDirectory), in block order.</p>",
        _table(tables.get("exchange_keys", []), "No exchange key was ever published."),
        "<h2>Invariants of the rebuilt history</h2>",
        f"<p class='meta'>Checked: {escape(_pairs(meta['invariant_checks']))}</p>",
        _table(tables.get("invariants", []), "Every rule holds."),
    ]
    parts.append(_cross_checks(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def _grouped(decimal: str) -> str:
    """``"1323258531.97"`` -> ``"1,323,258,531.97"`` (for people; the data keep plain text)."""
    whole, _, fraction = decimal.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-') or 0):,}" + (f".{fraction}" if fraction else "")


def _totals_line(label: str, summary: Mapping[str, Any], prefix: str) -> str:
    return (
        f"{escape(label)}: {summary[f'{prefix}_count']:,} certificates,"
        f" {_grouped(summary[f'{prefix}_carats'])} ct, USD {_grouped(summary[f'{prefix}_usd'])}<br>"
    )


def _pairs(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())


def _verdict(report: Report) -> str:
    invariants = len(report.tables.get("invariants", []))
    text = "Rules of the ledger: " + (
        "<span class='ok'>all hold</span>"
        if invariants == 0
        else f"<span class='bad'>{invariants} finding(s)</span>"
    )
    if report.cross_checks is not None:
        good = report.cross_checks["ok"]
        text += " · cross-checks against the contracts and their code: " + (
            "<span class='ok'>no difference</span>" if good else "<span class='bad'>differences found</span>"
        )
    return text


def _cross_checks(report: Report) -> str:
    checks = report.cross_checks
    if checks is None:
        note = report.meta.get("cross_check_note") or "not run for this report (needs the chain)"
        text = str(note)
        return f"<h2>Cross-checks</h2><p class='meta'>{escape(text[:1].upper() + text[1:])}.</p>"
    rows = [
        {
            "contract": b["contract"],
            "address": b["address"],
            "verdict": b["verdict"],
            "compiled from": b["compiled_from"],
            "solc": b["deployed_solc"],
            "immutables ok": b["immutables_ok"],
            "notes": "; ".join(b["notes"]),
        }
        for b in checks["bytecode"]
    ]
    checked = _pairs(checks["checked"])
    return "".join(
        [
            "<h2>Cross-checks against the chain</h2>",
            f"<p class='meta'>At block {checks['checkpoint']}. Compared: {escape(checked)}.</p>",
            "<h3>Index vs contracts</h3>",
            _table(
                report.tables.get("cross_check_differences", []), "The index equals the contracts' state."
            ),
            "<h3>Deployed code vs repository sources</h3>",
            _table(rows, "Bytecode not checked."),
        ]
    )
