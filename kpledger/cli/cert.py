"""``kpledger cert``: a certificate's life cycle, each step by the role that owns it.

CERT is a certificate JSON file, its number or its document hash (``0x`` + 64 hex).
A batched certificate needs its proof: ``--proof FILE``, or a ``<name>.proof.json``
next to the certificate file is picked up by itself.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from kpledger.certificate import hash_hex, parse_certificate
from kpledger.cli import output, refs
from kpledger.cli.errors import CLIError, UsageProblem
from kpledger.cli.options import JsonOption, common, session
from kpledger.errors import DocumentError
from kpledger.ledger import Ledger
from kpledger.merkle import CERTIFICATE_LEAF, StandardMerkleTree, batch_proof_documents
from kpledger.types import CertificateRecord, CertificateStatus, ChainTerms, Receipt

app = typer.Typer(
    help="Certificates: check offline, anchor, validate, issue, confirm, dispute, resolve, void, amend, show,"
    " batch.\n\nCERT is a certificate file, its number or its document hash.",
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
        help="Batch proof file of a batched certificate (default: FILE.proof.json next to the certificate).",
        show_default=False,
    ),
]
ReasonOption = Annotated[
    str, typer.Option("--reason", "-r", help="Why (recorded on chain).", show_default=False)
]


# ---------------------------------------------------------------------- offline


@app.command("check")
@common(chain=False)
def check(
    files: Files,
    validity_days: Annotated[
        int | None,
        typer.Option("--validity-days", min=1, max=366, help="The exporting participant's validity period."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Validate certificate files offline against the KP rules (exit 1 if any is invalid).

    Prints every problem with its field and rule.

    Example: `kpledger cert check shipments/*.json`"""
    results: list[dict[str, Any]] = []
    for path in files:
        try:
            certificate = parse_certificate(refs.read_file(path), validity_days=validity_days)
        except DocumentError as exc:
            problems = [{"field": p.field, "rule": p.rule, "message": p.message} for p in exc.problems]
            results.append({"file": str(path), "valid": False, "problems": problems})
            continue
        results.append(
            {
                "file": str(path),
                "valid": True,
                "number": certificate.number,
                "document_hash": hash_hex(certificate.document_hash()),
                "problems": [],
            }
        )
    if as_json:
        output.json_out(results)
    else:
        for item in results:
            name = escape(item["file"])
            if item["valid"]:
                output.result(
                    f"[green]✓[/green] {name}: valid — {escape(item['number'])} {item['document_hash']}"
                )
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
    if any(not item["valid"] for item in results):
        raise typer.Exit(1)


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
        origin=[code],
        expires_on=(today + timedelta(days=days)).isoformat(),
    )
    try:
        parse_certificate(document)
    except DocumentError as exc:
        raise UsageProblem(f"cannot make that sample: {exc.problems[0]}") from None
    output.plain(json.dumps(document, indent=2, ensure_ascii=False))


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
def confirm(cert: CertArg, proof: ProofOption = None) -> None:
    """Confirm receipt of a shipment (importing authority): ISSUED → RECEIVED.

    Example: `kpledger --dev-account be-authority cert confirm BW-2026-000123.json`"""
    ref = refs.cert_ref(cert, proof)
    ledger = session().ledger(sign=True)
    receipt = ledger.confirm_receipt(ref.ref, batch_proof=ref.proof)
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
) -> None:
    """Accept a disputed shipment after all (importing authority): DISPUTED → RECEIVED.

    Example: `kpledger cert resolve BW-2026-000123 -n "recounted: 3 parcels"`"""
    ref = refs.cert_ref(cert)
    ledger = session().ledger(sign=True)
    receipt = ledger.resolve_dispute(ref.ref, note)
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
            f"{ref.label} is not on the ledger", hint="check the number, or `kpledger verify FILE`"
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
            "--out", "-o", help="Where to write the proof files (default: next to each certificate)."
        ),
    ] = None,
) -> None:
    """Anchor a directory of certificates as one Merkle batch (exporting authority).

    All certificates must share the exporting participant. Writes `NAME.proof.json`
    for each: the importer needs it to verify, confirm or dispute that certificate.

    Example: `kpledger --dev-account bw-authority cert batch shipments/2026-03-02/`"""
    files = sorted(p for p in directory.glob("*.json") if not p.name.endswith(refs.PROOF_SUFFIX))
    if not files:
        raise UsageProblem(f"{directory} holds no certificate .json files")
    loaded: list[tuple[Path, ChainTerms]] = []
    with output.progress() as bar:
        task = bar.add_task("checking certificates", total=len(files))
        for path in files:
            loaded.append((path, refs.certificate_terms(path)[1]))
            bar.advance(task)
    origins = sorted({terms.origin for _, terms in loaded})
    if len(origins) != 1:
        raise CLIError(
            f"a batch holds certificates of one exporting participant; {directory} has {', '.join(origins)}",
            hint="split the directory by exporting participant",
        )
    numbers = [terms.number for _, terms in loaded]
    if len(set(numbers)) != len(numbers):
        raise CLIError(
            "two certificates in the batch share a number", hint="each certificate number is used once"
        )
    tree = StandardMerkleTree.of([list(terms.as_tuple()) for _, terms in loaded], CERTIFICATE_LEAF)
    ledger = session().ledger(sign=True)
    receipt = ledger.anchor_batch(origins[0], bytes.fromhex(tree.root[2:]), len(loaded))
    documents = batch_proof_documents(
        tree, chain_id=ledger.deployment.chain_id, ledger=ledger.deployment.ledger,
        anchor_tx="0x" + receipt.tx_hash.hex(),
    )  # fmt: skip
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    with output.progress() as bar:
        task = bar.add_task("writing proofs", total=len(loaded))
        for (path, _), document in zip(loaded, documents, strict=True):
            target = (out or path.parent) / (path.name.removesuffix(".json") + refs.PROOF_SUFFIX)
            target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            bar.advance(task)
    output.success(
        f"anchored a batch of {len(loaded)} {origins[0]} certificates — root {tree.root},"
        f" block {receipt.block_number}"
    )
    output.result(f"proof files: {escape(str(out or directory))}/*{refs.PROOF_SUFFIX}")


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
    }


_RECORD_FIELDS = (
    "document_hash", "origin", "destination", "carats", "value_usd", "parcels", "expires", "exporter",
    "supersedes", "superseded_by", "batch_root",
)  # fmt: skip


def _print_record(summary: dict[str, Any]) -> None:
    output.result(f"[bold]{escape(str(summary['number']))}[/bold]  {summary['status']}")
    for key in _RECORD_FIELDS:
        if summary.get(key) is not None:
            output.result(f"  {key.replace('_', ' '):<14} {escape(str(summary[key]))}")
