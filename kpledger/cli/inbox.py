"""``kpledger inbox``: the importing authority's inbox on its national exchange node.

The node is named by ``--node URL`` (or ``KPLEDGER_EXCHANGE_NODE``) and the private
routes are opened with a bearer token (``KPLEDGER_EXCHANGE_TOKEN``; the node stores only
its SHA-256). ``confirm`` and ``dispute`` act on chain with this CLI's signing account,
straight from an inbox entry (its batch proof included).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

from kpledger.cli import output
from kpledger.cli.errors import CLIError, UsageProblem
from kpledger.cli.options import JsonOption, common, session
from kpledger.types import ChainTerms

if TYPE_CHECKING:  # the Ethereum stack is imported by the commands that use it
    from kpledger.ledger import BatchProof

app = typer.Typer(
    help="The exchange inbox of this participant's national node: list, show, export, confirm, dispute.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

NodeOption = Annotated[
    str | None,
    typer.Option("--node", help="Exchange node URL. \\[env KPLEDGER_EXCHANGE_NODE]", show_default=False),
]
EntryArg = Annotated[str, typer.Argument(metavar="ID", help="Envelope id (0x + 32 hex) from `inbox list`.")]


def _client(node: str | None) -> tuple[httpx.Client, str]:
    url = node or os.environ.get("KPLEDGER_EXCHANGE_NODE", "")
    token = os.environ.get("KPLEDGER_EXCHANGE_TOKEN", "")
    if not url:
        raise UsageProblem("no exchange node given", hint="pass --node URL or set KPLEDGER_EXCHANGE_NODE")
    if not token:
        raise UsageProblem("no API token", hint="set KPLEDGER_EXCHANGE_TOKEN to a token the node accepts")
    return httpx.Client(timeout=30, headers={"authorization": f"Bearer {token}"}), url.rstrip("/")


def _get(node: str | None, path: str, **params: Any) -> dict[str, Any]:
    client, base = _client(node)
    with client:
        try:
            response = client.get(base + path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise CLIError(f"exchange node {base} unreachable: {exc}") from None
    if response.status_code != 200:
        raise CLIError(f"exchange node answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


@app.command("list")
@common(chain=False)
def list_entries(
    node: NodeOption = None,
    state: Annotated[str | None, typer.Option("--state", help="received, confirmed or disputed.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Envelopes delivered to this participant, oldest first.

    Example: `kpledger inbox list --node http://127.0.0.1:8600`"""
    entries = _get(node, "/v1/exchange/inbox", state=state)["envelopes"]
    if as_json:
        output.json_out(entries)
        return
    for e in entries:
        batch = " (batch member)" if e["batch_member"] else ""
        output.plain(f"{e['id']}  {e['sender']}  {e['number']}  {e['state']}{batch}")
    output.notice(f"{len(entries)} envelope(s)")


@app.command("show")
@common(chain=False)
def show(entry: EntryArg, node: NodeOption = None, as_json: JsonOption = False) -> None:
    """One inbox entry: the decrypted certificate, its proof and the receipt sent back."""
    data = _get(node, f"/v1/exchange/inbox/{entry}")
    if as_json:
        output.json_out(data)
        return
    output.plain(json.dumps(data["document"], indent=2, ensure_ascii=False))
    output.notice(f"from {data['sender']}, {data['state']}, document hash {data['document_hash']}")


@app.command("export")
@common(chain=False)
def export(
    entry: EntryArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("."),
    node: NodeOption = None,
) -> None:
    """Write the certificate (``NUMBER.json``) and its proof (``NUMBER.proof.json``) for
    the national customs system or `kpledger verify`."""
    data = _get(node, f"/v1/exchange/inbox/{entry}")
    stem = data["number"].replace("/", "_").replace(" ", "_")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data["document"], indent=2, ensure_ascii=False) + "\n")
    if data["proof"] is not None:
        (out / f"{stem}.proof.json").write_text(json.dumps(data["proof"], indent=2) + "\n")
    output.result(f"wrote {out / (stem + '.json')}")


def _proof(data: dict[str, Any]) -> BatchProof | None:
    from kpledger.ledger import BatchProof

    proof = data.get("proof")
    if proof is None:
        return None
    leaf = proof["leaf"]
    terms = ChainTerms(
        bytes.fromhex(leaf[0][2:]),
        leaf[1],
        bytes.fromhex(leaf[2][2:]).decode(),
        bytes.fromhex(leaf[3][2:]).decode(),
        int(leaf[4]),
        int(leaf[5]),
        int(leaf[6]),
        int(leaf[7]),
    )
    return BatchProof(
        terms, bytes.fromhex(proof["root"][2:]), tuple(bytes.fromhex(p[2:]) for p in proof["proof"])
    )


@app.command("confirm")
@common()
def confirm(entry: EntryArg, node: NodeOption = None) -> None:
    """Confirm receipt on chain (importing authority) of an inbox entry's certificate."""
    data = _get(node, f"/v1/exchange/inbox/{entry}")
    receipt = session().ledger(sign=True).confirm_receipt(data["document_hash"], batch_proof=_proof(data))
    output.result(f"confirmed receipt of {data['number']} in block {receipt.block_number}")


@app.command("dispute")
@common()
def dispute(
    entry: EntryArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (recorded on chain).")],
    node: NodeOption = None,
) -> None:
    """Record a discrepancy on chain for an inbox entry's certificate."""
    data = _get(node, f"/v1/exchange/inbox/{entry}")
    receipt = (
        session()
        .ledger(sign=True)
        .record_discrepancy(data["document_hash"], reason, batch_proof=_proof(data))
    )
    output.result(f"recorded a discrepancy on {data['number']} in block {receipt.block_number}")
