"""Run one participant's national exchange node as a process.

``python -m kpledger.exchange.server --rpc URL --deployment deployment.json --participant AE
--keyring ae-exchange-keys.json --db ae-exchange.sqlite --port 0 [--inbox-url URL] [--relay]
[--relay-url URL] [--pull-from URL] [--webhook URL=SECRET] [--token-env VAR]``

The authority key comes from the environment (``KPLEDGER_AUTHORITY_KEY`` by default, 64
hex digits), never from an argument (arguments show in ``ps``). On start the node
publishes its keyring's newest key if the directory does not hold it yet, sets its inbox
URL when given, and prints one JSON line ``{"ready": true, "url": ...}`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from kpledger.api.routes.exchange import router, token_digest
from kpledger.chain.deployment import Deployment
from kpledger.errors import ConfigurationError
from kpledger.exchange.keys import Keyring
from kpledger.exchange.node import ExchangeNode, NodeConfig
from kpledger.exchange.store import ExchangeStore
from kpledger.ledger import Ledger


def build_app(node: ExchangeNode) -> FastAPI:
    app = FastAPI(title=f"kpledger exchange node {node.participant}", docs_url=None, redoc_url=None)
    app.include_router(router(node))

    @app.get("/v1/exchange/health")
    def health() -> dict[str, object]:
        return {"participant": node.participant, "inbox": node.store.inbox_count()}

    return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kpledger-exchange-node", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc", required=True)
    parser.add_argument("--deployment", required=True, type=Path)
    parser.add_argument("--participant", required=True)
    parser.add_argument("--keyring", required=True, type=Path)
    parser.add_argument("--db", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--authority-key-env", default="KPLEDGER_AUTHORITY_KEY")
    parser.add_argument("--inbox-url", default=None, help="publish this inbox URL ('' clears it)")
    parser.add_argument("--relay", action="store_true", help="hold envelopes for other participants")
    parser.add_argument("--relay-url", default="", help="push here when a recipient has no inbox URL")
    parser.add_argument("--pull-from", default="", help="pull envelopes held for us by this relay")
    parser.add_argument("--webhook", action="append", default=[], help="URL=SECRET, told of each delivery")
    parser.add_argument("--token-env", default="", help="env var holding an API bearer token to accept")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    text = os.environ.get(args.authority_key_env, "")
    try:
        key = bytes.fromhex(text[2:] if text.startswith("0x") else text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigurationError(f"set {args.authority_key_env} to the authority's key (64 hex digits)")
    deployment = Deployment.load(args.deployment)
    ledger = Ledger.connect(args.rpc, deployment, key)
    store = ExchangeStore(args.db)
    config = NodeConfig(
        relay=args.relay,
        relay_url=args.relay_url,
        webhooks=[(w.split("=", 1)[0], w.split("=", 1)[1].encode()) for w in args.webhook],
    )
    node = ExchangeNode(ledger, args.participant, key, Keyring.load_or_create(args.keyring), store, config)
    if args.token_env and os.environ.get(args.token_env):
        digest = token_digest(os.environ[args.token_env])
        if not store.has_token(digest):
            store.add_token(digest, args.token_env)
    node.publish_own_key()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    url = f"http://{args.host}:{port}"
    if args.inbox_url is not None:
        wanted = args.inbox_url.replace("{url}", url)
        if node.directory.inbox_url(node.participant) != wanted:
            node.directory.set_inbox_url(node.participant, wanted)

    threading.Thread(target=node.run_sender, name="exchange-sender", daemon=True).start()
    if args.pull_from:
        threading.Thread(
            target=_pull_loop, args=(node, args.pull_from), name="exchange-pull", daemon=True
        ).start()
    print(json.dumps({"ready": True, "url": url, "participant": node.participant}), flush=True)
    server = uvicorn.Server(uvicorn.Config(build_app(node), log_level="warning", access_log=False))
    server.run(sockets=[sock])
    node.close()
    return 0


def _pull_loop(node: ExchangeNode, relay_url: str, interval: float = 0.5) -> None:
    while True:
        try:
            node.pull_from(relay_url)
        except Exception as exc:  # the relay may be down: try again
            print(json.dumps({"pull_error": str(exc)}), file=sys.stderr, flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
