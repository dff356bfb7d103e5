"""``kpledger cert``: a certificate's life cycle, each step by the role that owns it.

CERT is a certificate JSON file, its number or its document hash (``0x`` + 64 hex).
A batched certificate needs its proof: ``--proof FILE`` (a proof or bundle file), a
bundle file as CERT, or a ``<name>.proof.json`` / ``<name>.bundle.json`` next to the
certificate file, picked up by itself.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from kpledger.certificate import hash_hex
from kpledger.cli import output, refs
from kpledger.cli.errors import CLIError, UsageProblem
from kpledger.cli.options import JsonOption, common, session
from kpledger.errors import DocumentError
from kpledger.types import CertificateRecord, CertificateStatus, ChainTerms, Receipt, exact_amounts

if TYPE_CHECKING:  # the Ethereum stack is imported inside the commands that use a chain
    from kpledger.ledger import Ledger

app = typer.Typer(
    help="Certificates: check offline, print (pdf), anchor, validate, issue, confirm, dispute, resolve, void,"
    " amend, show, batch.\n\nCERT is a certificate file, its number or its document hash.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

Files = Annotated[
    list[Path],
    typer.Argument(
        help="Certificate JSON files.", exists=True, dir_okay=False, readable=True, show_default=False
    ),
]
CertArg = Annotated[str, typer.Argument(metavar="CERT", help="Certificate file, number or 0x document hash.")]
ProofOption = Annotated[
    Path | None,
    typer.Option(
        "--proof",
        exists=True,
        dir_okay=False,
        help="Proof or bundle file of a batched certificate (default: FILE.proof.json or"
        " FILE.bundle.json next to the certificate).",
        show_default=False,
    ),
]
ImportedOnOption = Annotated[
    datetime | None,
    typer.Option(
        "--imported-on",
        formats=["%Y-%m-%d"],
        help="Day the shipment was imported, YYYY-MM-DD (default: today, UTC, by the chain's clock);"
        " not before issue, not after expiry, not in the future.",
        show_default=False,
    ),
]
ReasonOption = Annotated[
    str, typer.Option("--reason", "-r", help="Why (recorded on chain).", show_default=False)
]


# ---------------------------------------------------------------------- offline


@app.command("check")
@common()
def check(
    files: Files,
    validity_days: Annotated[
        int | None,
        typer.Option("--validity-days", min=1, max=366, help="The exporting participant's validity period."),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the documents only, even when a node is available.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate certificate files against the KP rules (exit 1 if any is invalid).

    Offline: the document rules. With a node (`kpledger up`, --rpc), also the rules in
    force on the ledger: the expiry against its date, the exporting participant's status
    and validity period, the importing participant's status. Prints every problem with
    its field and rule.

    Example: `kpledger cert check shipments/*.json`"""
    from kpledger.certificate import parse_certificate

    ledger = None if offline else _ledger_if_reachable()
    results: list[dict[str, Any]] = []
    for path in files:
        try:
            certificate = parse_certificate(refs.read_file(path), validity_days=validity_days)
        except DocumentError as exc:
            problems = [{"field": p.field, "rule": p.rule, "message": p.message} for p in exc.problems]
            results.append({"file": str(path), "valid": False, "problems": problems})
            continue
        problems = []
        if ledger is not None:
            from kpledger.certificate.in_force import gather, problems_in_force

            found = problems_in_force(certificate, gather(ledger, certificate))
            problems = [{"field": p.field, "rule": p.rule, "message": p.message} for p in found]
        results.append(
            {
                "file": str(path),
                "valid": not problems,
                "number": certificate.number,
                "document_hash": hash_hex(certificate.document_hash()),
                "problems": problems,
            }
        )
    checked = "online" if ledger is not None else "offline"
    if as_json:
        output.json_out([{**item, "checked": checked} for item in results])
    else:
        _print_checks(results)
        _say_what_was_checked(ledger is not None, offline)
    if any(not item["valid"] for item in results):
        raise typer.Exit(1)


def _ledger_if_reachable() -> Ledger | None:
    """A reader of the recorded deployment when a node is named and answers (None:
    check offline). A node of another chain is refused, not skipped."""
    from kpledger.errors import ConnectionFailed

    current = session()
    url, _ = current.node()
    if url is None or not current.settings.deployment_path.is_file():
        return None
    try:
        return current.ledger()
    except ConnectionFailed:
        return None


def _print_checks(results: list[dict[str, Any]]) -> None:
    for item in results:
        name = escape(item["file"])
        if item["valid"]:
            number = escape(item["number"])
            output.result(f"[green]✓[/green] {name}: valid — {number} {item['document_hash']}")
            continue
        count = len(item["problems"])
        output.result(f"[red]✗[/red] {name}: {count} problem{'s' if count != 1 else ''}")
        for problem in item["problems"]:
            output.result(
                f"    [bold]{escape(problem['field'])}[/bold]: {escape(problem['message'])}"
                f" [dim]\\[{escape(problem['rule'])}][/dim]"
            )
    invalid = sum(1 for item in results if not item["valid"])
    if len(results) > 1:
        output.result(f"{len(results) - invalid} valid, {invalid} invalid")


def _say_what_was_checked(online: bool, asked_offline: bool) -> None:
    from kpledger.certificate.in_force import CHECKED_ONLINE

    if online:
        output.notice(f"[dim]checked the document rules and on the ledger: {'; '.join(CHECKED_ONLINE)}[/dim]")
        return
    why = "--offline" if asked_offline else "no reachable node or deployment record"
    output.notice(
        f"[dim]checked offline ({why}): the document rules only, not {'; '.join(CHECKED_ONLINE)}"
        " — start `kpledger up` or pass --rpc URL to check those too[/dim]"
    )


@app.command("sample")
@common(chain=False)
def sample(
    exporting: Annotated[str, typer.Option("--from", help="Exporting participant.")] = "BW",
    importing: Annotated[str, typer.Option("--to", help="Importing participant.")] = "AE",
    number: Annotated[
        str | None, typer.Option("--number", help="Certificate number (default: a fresh random one).")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="Validity in days from today.")] = 30,
) -> None:
    """Print a valid sample certificate (fictional parties) to start from.

    Example: `kpledger cert sample --from BW --to BE > my-cert.json`"""
    from datetime import UTC, datetime, timedelta

    from kpledger.certificate import sample_certificate

    today = datetime.now(UTC).date()
    code, destination = exporting.upper(), importing.upper()
    document = sample_certificate(
        exporting_participant=code,
        importing_participant=destination,
        number=number or f"{code}-{today:%Y}-S{secrets.randbelow(10**6):06d}",
        # EU is a participant, not a country of origin: its exports are mixed re-exports.
        origin=["MIXED"] if code == "EU" else [code],
        expires_on=(today + timedelta(days=days)).isoformat(),
    )
    from kpledger.certificate import parse_certificate

    try:
        parse_certificate(document)
    except DocumentError as exc:
        raise UsageProblem(f"cannot make that sample: {exc.problems[0]}") from None
    output.plain(json.dumps(document, indent=2, ensure_ascii=False))


@app.command("pdf")
@common(chain=False)
def pdf(
    file: Annotated[
        Path, typer.Argument(metavar="CERT.json", help="Certificate JSON file.", show_default=False)
    ],
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="PDF file to write (default: CERT.pdf).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Verification page the QR code links to (default: public_url setting, the running"
            " `kpledger up`, or http://host:port).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print a certificate: an A4 PDF of every Annex I element, with a QR code linking to its
    verification page (`<base>/v/<number>?h=<hash>`) and the document hash in text.

    Example: `kpledger cert pdf my-cert.json -o my-cert.pdf`"""
    from kpledger.errors import ConfigurationError
    from kpledger.printing import certificate_pdf, verification_link

    certificate = refs.load_certificate(file)
    base = base_url or session().public_url()
    target = out if out is not None else file.with_suffix(".pdf")
    try:
        data = certificate_pdf(certificate, base_url=base)
    except ConfigurationError as exc:
        raise UsageProblem(str(exc)) from None
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise UsageProblem(f"cannot write {target}: {exc.strerror}") from None
    link = verification_link(base, certificate.number, certificate.document_hash())
    output.result(
        f"[green]✓[/green] {escape(str(target))}: {escape(certificate.number)} — QR links to {escape(link)}"
    )


# ---------------------------------------------------------------------- exporter


@app.command("anchor")
@common()
def anchor(files: Files) -> None:
    """Anchor certificates for validation (exporter): they become REQUESTED.

    Example: `kpledger --dev-account bw-exporter cert anchor BW-2026-000123.json`"""
    loaded = [refs.certificate_terms(path) for path in files]
    ledger = session().ledger(sign=True)
    for path, (_, terms) in zip(files, loaded, strict=True):
        receipt = ledger.anchor(terms)
        _done(ledger, terms.document_hash, f"anchored {terms.number} ({path.name})", receipt)


# ---------------------------------------------------------------------- exporting authority


@app.command("validate")
@common()
def validate(
    certs: Annotated[list[str], typer.Argument(metavar="CERT...", help="Certificates to validate.")],
) -> None:
    """Validate requested certificates (exporting authority): REQUESTED → ISSUED.

    Example: `kpledger --dev-account bw-authority cert validate BW-2026-000123.json`"""
    ledger = session().ledger(sign=True)
    for text in certs:
        ref = refs.cert_ref(text)
        receipt = ledger.validate(ref.ref)
        _done(ledger, ledger.resolve(ref.ref), f"validated {ref.label}", receipt)


@app.command("issue")
@common()
def issue(
    files: Files,
    exporter: Annotated[
        str,
        typer.Option(
            "--exporter", "-e", help="The licensed exporter's address (or demo role).", show_default=False
        ),
    ],
    send: Annotated[
        Path | None,
        typer.Option(
            "--send",
            help="Also send each certificate to its importing authority through the national"
            " exchange node whose data directory this is (its outbox; the node delivers).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Issue certificates directly (exporting authority): they become ISSUED.

    Example: `kpledger --dev-account bw-authority cert issue cert.json --exporter bw-exporter`"""
    address = refs.account(exporter)
    loaded = [refs.certificate_terms(path) for path in files]
    ledger = session().ledger(sign=True)
    if len(loaded) == 1:
        terms = loaded[0][1]
        receipt = ledger.issue(terms, address)
        _done(ledger, terms.document_hash, f"issued {terms.number}", receipt)
        if send is not None:
            _send(ledger, files, send)
        return
    items = [(terms, address) for _, terms in loaded]
    with output.progress() as bar:
        task = bar.add_task("issuing", total=len(items))
        for start in range(0, len(items), 100):
            chunk = items[start : start + 100]
            ledger.issue_many(chunk)
            bar.advance(task, len(chunk))
    output.success(f"issued {len(items)} certificates")
    if send is not None:
        _send(ledger, files, send)


def _send(ledger: Ledger, files: list[Path], node_dir: Path) -> None:
    """Commit one envelope per certificate to the node's outbox (delivered by the node)."""
    from kpledger.certificate.parsing import load_document
    from kpledger.exchange.envelope import Payload
    from kpledger.exchange.keys import Keyring
    from kpledger.exchange.node import ExchangeNode
    from kpledger.exchange.store import ExchangeStore

    database = node_dir / "exchange.sqlite"
    if not database.is_file():
        raise UsageProblem(f"no exchange node store at {database}", hint="--send takes the node's data dir")
    assert ledger.signer is not None
    for path in files:
        document = dict(load_document(refs.read_file(path)))
        origin = str(document["exporting_participant"])
        node = ExchangeNode(ledger, origin, ledger.signer, Keyring(), ExchangeStore(database))
        envelope = node.send(Payload(document), str(document["importing_participant"]))
        output.success(f"sent {envelope.number} to {envelope.recipient}: envelope {envelope.id_hex}")


@app.command("void")
@common()
def void(cert: CertArg, reason: ReasonOption, proof: ProofOption = None) -> None:
    """Void a certificate (exporting authority): → VOIDED.

    Example: `kpledger --dev-account bw-authority cert void BW-2026-000123 -r "issued in error"`"""
    ref = refs.cert_ref(cert, proof)
    ledger = session().ledger(sign=True)
    receipt = ledger.void(ref.ref, reason, batch_proof=ref.proof)
    _done(ledger, _hash(ledger, ref), f"voided {ref.label}", receipt)


@app.command("amend")
@common()
def amend(
    cert: CertArg,
    replacement: Annotated[
        Path,
        typer.Argument(
            help="The corrected certificate file.", exists=True, dir_okay=False, show_default=False
        ),
    ],
    reason: ReasonOption,
    proof: ProofOption = None,
) -> None:
    """Replace a certificate by a corrected one (exporting authority): old → SUPERSEDED, new → ISSUED.

    Example: `kpledger cert amend BW-2026-000123 corrected.json -r "carat weight corrected"`"""
    ref = refs.cert_ref(cert, proof)
    _, terms = refs.certificate_terms(replacement)
    ledger = session().ledger(sign=True)
    receipt = ledger.amend(ref.ref, terms, reason, batch_proof=ref.proof)
    _done(ledger, _hash(ledger, ref), f"amended {ref.label}", receipt)
    _done(ledger, terms.document_hash, f"replacement {terms.number}", receipt)


# ---------------------------------------------------------------------- importing authority


@app.command("confirm")
@common()
def confirm(cert: CertArg, proof: ProofOption = None, imported_on: ImportedOnOption = None) -> None:
    """Confirm receipt of a shipment (importing authority): ISSUED → RECEIVED, with the
    day it was imported. A shipment imported after expiry cannot be confirmed: record a
    discrepancy instead (`cert dispute`).

    Example: `kpledger --dev-account be-authority cert confirm BW-2026-000123.json --imported-on 2026-08-02`
    (default: imported today, UTC)."""
    ref = refs.cert_ref(cert, proof)
    ledger = session().ledger(sign=True)
    day = imported_on.date() if imported_on is not None else None
    receipt = ledger.confirm_receipt(ref.ref, imported_on=day, batch_proof=ref.proof)
    _done(ledger, _hash(ledger, ref), f"confirmed receipt of {ref.label}", receipt)


@app.command("dispute")
@common()
def dispute(cert: CertArg, reason: ReasonOption, proof: ProofOption = None) -> None:
    """Record a discrepancy (importing authority): ISSUED → DISPUTED.

    Example: `kpledger cert dispute BW-2026-000123 -r "seal broken, 2 parcels instead of 3"`"""
    ref = refs.cert_ref(cert, proof)
    ledger = session().ledger(sign=True)
    receipt = ledger.record_discrepancy(ref.ref, reason, batch_proof=ref.proof)
    _done(ledger, _hash(ledger, ref), f"recorded a discrepancy on {ref.label}", receipt)


@app.command("resolve")
@common()
def resolve(
    cert: CertArg,
    note: Annotated[str, typer.Option("--note", "-n", help="How it was resolved (optional).")] = "",
    imported_on: ImportedOnOption = None,
) -> None:
    """Accept a disputed shipment after all (importing authority): DISPUTED → RECEIVED,
    with the day it was imported (checked as for `cert confirm`).

    Example: `kpledger cert resolve BW-2026-000123 -n "recounted: 3 parcels" --imported-on 2026-08-02`"""
    ref = refs.cert_ref(cert)
    ledger = session().ledger(sign=True)
    day = imported_on.date() if imported_on is not None else None
    receipt = ledger.resolve_dispute(ref.ref, note, imported_on=day)
    _done(ledger, _hash(ledger, ref), f"resolved the dispute on {ref.label}", receipt)


# ---------------------------------------------------------------------- reading


@app.command("show")
@common()
def show(cert: CertArg, proof: ProofOption = None, as_json: JsonOption = False) -> None:
    """Show a certificate as the ledger holds it, with its timeline.

    Example: `kpledger cert show BW-2026-000123`"""
    ref = refs.cert_ref(cert, proof)
    ledger = session().ledger()
    record = ledger.certificate(ref.ref)
    if record is None and ref.proof is not None:
        terms = ref.proof.terms
        batch = ledger.batch(ref.proof.root)
        if batch is None or not ledger.verify_batch_certificate(ref.proof):
            raise CLIError(
                f"{ref.label}: the proof does not match an anchored batch", hint="check the proof file"
            )
        summary = {
            **_terms_dict(terms),
            "status": "ISSUED (batched, not yet revealed)",
            "batch_root": "0x" + ref.proof.root.hex(),
            "batch_block": batch.anchored_block,
        }
        if as_json:
            output.json_out({"certificate": summary, "timeline": []})
        else:
            _print_record(summary)
        return
    if record is None:
        raise CLIError(
            f"{ref.label} is not on the ledger",
            hint=refs.BATCH_HINT if ref.proof is None else "check the number, or `kpledger verify FILE`",
        )
    timeline = ledger.timeline(record.document_hash)
    entries = [
        {
            "event": e.event,
            "status": e.status.name,
            "block": e.block_number,
            "time": output.when(e.timestamp),
            "actor": e.actor,
            "detail": e.detail,
        }
        for e in timeline
    ]
    summary = _record_dict(record)
    if as_json:
        output.json_out({"certificate": summary, "timeline": entries})
        return
    _print_record(summary)
    output.table(
        "timeline",
        ("event", "status", "block", "time", "by", "detail"),
        [
            (output.event_name(e.event), e.status.name, e.block_number, time, e.actor, e.detail)
            for e, time in zip(timeline, (output.when(e.timestamp) for e in timeline), strict=True)
        ],
    )


# ---------------------------------------------------------------------- batches


@app.command("batch")
@common()
def batch(
    directory: Annotated[
        Path, typer.Argument(help="Directory of certificate JSON files.", exists=True, file_okay=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write the holders' files (default: next to each certificate)."
        ),
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="`bundle`: one NAME.bundle.json per certificate (document + proof);"
            " `proof`: a NAME.proof.json beside it.",
        ),
    ] = "bundle",
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Processes validating (default: one per core).")
    ] = None,
) -> None:
    """Anchor a directory of certificates as one Merkle batch (exporting authority).

    Every certificate is checked first (every format rule, one exporting participant,
    unique numbers and documents, none already on the ledger or batched); any problem
    refuses the whole batch, listing them all. Then writes `NAME.bundle.json` for each:
    the importer needs it to verify, confirm or dispute that certificate. Existing
    bundle or proof files are never overwritten.

    Example: `kpledger --dev-account bw-authority cert batch shipments/2026-03-02/`"""
    from kpledger.batch import BatchRefused, certificate_files, run_batch

    if layout not in ("bundle", "proof"):
        raise UsageProblem(f"--layout {layout!r}: give `bundle` or `proof`")
    files = certificate_files(directory)
    if not files:
        raise UsageProblem(f"{directory} holds no certificate .json files")
    ledger = session().ledger(sign=True)
    with output.progress() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            anchored = run_batch(
                ledger, files, out=out, layout="bundle" if layout == "bundle" else "proof",
                workers=workers, progress=progress,
            )  # fmt: skip
        except BatchRefused as exc:
            bar.stop()
            _report_refusal(exc)
    prepared = anchored.prepared
    output.success(
        f"anchored a batch of {len(prepared.members)} {prepared.origin} certificates —"
        f" root {prepared.tree.root}, block {anchored.receipt.block_number}"
    )
    suffix = refs.BUNDLE_SUFFIX if layout == "bundle" else refs.PROOF_SUFFIX
    output.result(f"{layout} files: {escape(str(out or directory))}/*{suffix}")


def _report_refusal(exc: Any) -> None:
    count = len(exc.problems)
    for problem in exc.problems[:50]:
        output.result(
            f"[red]✗[/red] {escape(problem.source)}: [bold]{escape(problem.field)}[/bold]:"
            f" {escape(problem.message)} [dim]\\[{escape(problem.rule)}][/dim]"
        )
    if count > 50:
        output.result(f"… and {count - 50} more")
    first = exc.problems[0]
    raise CLIError(
        f"batch refused, nothing anchored: {count} problem{'s' if count != 1 else ''}; first: {first}",
        hint="fix every problem listed (a batch holds one exporting participant's certificates)",
    )


# ---------------------------------------------------------------------- helpers


def _hash(ledger: Ledger, ref: refs.CertRef) -> bytes:
    if ref.proof is not None:
        return ref.proof.terms.document_hash
    return ledger.resolve(ref.ref)


def _done(ledger: Ledger, document_hash: bytes, what: str, receipt: Receipt) -> None:
    record = ledger.certificate(document_hash)
    status = record.status.name if record is not None else "?"
    colour = "green" if record is not None and record.status in _GOOD else "yellow"
    output.success(f"{escape(what)} → [{colour}]{status}[/{colour}] (block {receipt.block_number})")


_GOOD = (CertificateStatus.ISSUED, CertificateStatus.RECEIVED, CertificateStatus.REQUESTED)


def _terms_dict(terms: ChainTerms) -> dict[str, Any]:
    return {
        "number": terms.number,
        "document_hash": hash_hex(terms.document_hash),
        "origin": terms.origin,
        "destination": terms.destination,
        "carats": terms.carats / 100,
        "value_usd": terms.value_cents / 100,
        **exact_amounts(terms.carats, terms.value_cents),
        "parcels": terms.parcels,
        "expires": output.when(terms.expires_at),
    }


def _record_dict(record: CertificateRecord) -> dict[str, Any]:
    return {
        **_terms_dict(record.terms),
        "status": record.status.name,
        "exporter": record.exporter,
        "supersedes": hash_hex(record.supersedes) if record.supersedes else None,
        "superseded_by": hash_hex(record.superseded_by) if record.superseded_by else None,
        "batch_root": hash_hex(record.batch_root) if record.batch_root else None,
        "issued_on": record.issued_on.isoformat() if record.issued_on else None,
        "imported_on": record.imported_on.isoformat() if record.imported_on else None,
    }


_RECORD_FIELDS = (
    "document_hash", "origin", "destination", "carats", "value_usd", "parcels", "expires", "exporter",
    "supersedes", "superseded_by", "batch_root", "issued_on", "imported_on",
)  # fmt: skip


_LABELS = {
    "origin": "exporting participant",
    "destination": "importing participant",
    "exporter": "exporter account",
}


def _print_record(summary: dict[str, Any]) -> None:
    output.result(f"[bold]{escape(str(summary['number']))}[/bold]  {summary['status']}")
    for key in _RECORD_FIELDS:
        if summary.get(key) is not None:
            label = _LABELS.get(key, key.replace("_", " "))
            output.result(f"  {label:<22} {escape(_shown(key, summary[key]))}")


def _shown(key: str, value: Any) -> str:
    """Amounts as people write them: ``1,520.35 ct``, ``US$ 245,870.50``."""
    if key == "carats":
        return f"{value:,.2f} ct"
    if key == "value_usd":
        return f"US$ {value:,.2f}"
    return str(value)
