#!/usr/bin/env python3
"""Benchmark the verification route: a local anvil with N anchored certificates, the API
in its own uvicorn process(es), and a load generator in this process (keep-alive
connections, one request in flight per connection) posting ``{"hash": …}``.

    python scripts/bench_api.py                       # 10,000 certificates, 5,000 requests
    python scripts/bench_api.py --workers 1 --concurrency 8
    python scripts/bench_api.py --state-dir .bench    # keep the seeded chain for the next run

Two measurements: first a closed loop (``--concurrency`` connections, each sending its next
request when the last is answered: the most the API answers), then an open loop of
``--rate`` requests/s whatever the answers do (latency counted from each request's due time,
so a stall shows in full: the latency a steady stream of verifications sees). Prints
requests/s and latency percentiles of both (and ``--json`` for a machine-readable line).
The mix is 90 % anchored certificates (a fifth of them with a confirmed receipt, so two
timeline entries) and 10 % unknown hashes, each hash drawn at random. Everything runs on
this machine: the node, the API and the load generator share its cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kpledger.chain.deployment import Deployment  # noqa: E402
from kpledger.chain.http_rpc import HttpRpc  # noqa: E402
from kpledger.chain.node import AnvilNode, free_port  # noqa: E402
from kpledger.chain.sender import Call  # noqa: E402
from kpledger.ledger import GAS, Ledger  # noqa: E402
from kpledger.types import ChainTerms, day_number  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import (  # noqa: E402
    await_warm,
    cpu_seconds,
    percentile,
    process_tree,
    run_load,
    run_paced,
    start_api,
)

DAY = 86_400
ROUTES = (("BW", "AE"), ("AE", "BE"), ("BE", "BW"), ("RU", "AE"), ("CA", "BE"))
NAMES = {
    "BW": "Botswana",
    "AE": "United Arab Emirates",
    "BE": "Belgium",
    "RU": "Russian Federation",
    "CA": "Canada",
}
CHUNK = 500
SEED_BLOCK_TIME = 1.0  # seconds: seeding 10,000 certificates a block per write would take minutes


# ---------------------------------------------------------------------- the chain


def seed(node: AnvilNode, count: int, received_share: float) -> tuple[Deployment, list[str]]:
    """Deploy, admit the participants, issue ``count`` certificates pipelined, confirm a
    share of them. Returns the deployment and the anchored hashes."""
    keys = node.dev_only_keys(1 + 2 * len(NAMES))
    gov = Ledger.deploy(node.url, keys[0], receipt_timeout=300)
    codes = sorted(NAMES)
    authorities: dict[str, Ledger] = {}
    exporters: dict[str, str] = {}
    for i, code in enumerate(codes):
        gov.admit_participant(code, NAMES[code], 60)
        authority = gov.as_signer(keys[1 + 2 * i])
        exporter = gov.as_signer(keys[2 + 2 * i])
        gov.appoint_authority(code, authority.address)
        authority.license_exporter(code, exporter.address)
        authorities[code], exporters[code] = authority, exporter.address
    expires = gov.block_time(gov.block_number()) + 60 * DAY
    by_origin: dict[str, list[ChainTerms]] = {code: [] for code in codes}
    hashes: list[str] = []
    for n in range(count):
        origin, destination = ROUTES[n % len(ROUTES)]
        digest = hashlib.sha256(f"bench-certificate-{n}".encode()).digest()
        by_origin[origin].append(
            ChainTerms(
                digest,
                f"{origin} 2026/B{n:07d}",
                origin,
                destination,
                10_000 + n,
                1_000_000 + 97 * n,
                1 + n % 7,
                expires,
            )
        )
        hashes.append("0x" + digest.hex())
    started = time.monotonic()
    for origin, items in by_origin.items():
        for at in range(0, len(items), CHUNK):
            authorities[origin].issue_many([(t, exporters[origin]) for t in items[at : at + CHUNK]])
    issued = time.monotonic() - started
    confirmed = 0
    for items in by_origin.values():
        share = items[: int(len(items) * received_share)]
        for destination in {t.destination for t in share}:
            mine = [t for t in share if t.destination == destination]
            for at in range(0, len(mine), CHUNK):
                confirm_many(authorities[destination], mine[at : at + CHUNK])
            confirmed += len(mine)
    print(
        f"seeded {count:,} certificates in {issued:.1f}s, confirmed {confirmed:,} receipts;"
        f" head at block {gov.block_number():,}",
        flush=True,
    )
    return gov.deployment, hashes


def confirm_many(authority: Ledger, items: list[ChainTerms]) -> None:
    """Confirm receipts pipelined (the Ledger has ``issue_many`` but no ``confirm_many``)."""
    encode = authority.ledger_abi.fn("confirmReceipt").encode
    to, gas = authority.deployment.ledger, GAS["confirmReceipt"]
    today = day_number(authority.chain_today())
    calls = [Call(to, encode([t.document_hash, today]), gas) for t in items]
    authority.transactor.send_many(calls)


def bodies_for(hashes: list[str], count: int, rnd: random.Random) -> list[bytes]:
    out = []
    for i in range(count):
        if rnd.random() < 0.1:
            digest = "0x" + hashlib.sha256(f"unknown-{i}-{rnd.random()}".encode()).hexdigest()
        else:
            digest = rnd.choice(hashes)
        out.append(json.dumps({"hash": digest}).encode())
    return out


# ---------------------------------------------------------------------- main


CACHE_SETTINGS = {
    "warm": {"KPLEDGER_WARM_CACHE": "true"},
    "lazy": {"KPLEDGER_WARM_CACHE": "false"},
    "off": {"KPLEDGER_VERIFY_CACHE_ENTRIES": "0", "KPLEDGER_WARM_CACHE": "false"},
}
"""The API's verification cache (kpledger.verify_cache) per ``--cache`` mode."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument(
        "--received-share", type=float, default=0.2, help="share of certificates with a receipt"
    )
    parser.add_argument("--requests", type=int, default=5_000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--rate",
        type=float,
        default=2_000,
        help="then a steady stream of this many requests/s (open loop; 0: skip)",
    )
    parser.add_argument("--paced-connections", type=int, default=16, help="connections for --rate")
    parser.add_argument(
        "--block-time",
        type=float,
        default=0.0,
        help="make a block every N seconds, empty or not (default 0: a block per write, as the"
        " node of `make run`; anvil copies its whole state for every block, ~60 ms on one core"
        " at 10,000 certificates, which lands in the latency tail of whatever shares the cores)",
    )
    parser.add_argument("--state-dir", type=Path, help="keep (and reuse) the seeded chain here")
    parser.add_argument("--seed", type=int, default=8785)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument(
        "--cache",
        choices=sorted(CACHE_SETTINGS),
        default="warm",
        help="the API's verification cache: filled at start (warm, the default), only by requests"
        " (lazy), or none (off: every verification reads the chain)",
    )
    args = parser.parse_args(argv)

    data_dir = args.state_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"kpledger-bench-{os.getpid()}"
    data_dir.mkdir(parents=True, exist_ok=True)
    deployment_path = data_dir / "deployment.json"
    hashes_path = data_dir / "hashes.json"
    reuse = args.state_dir is not None and deployment_path.exists() and hashes_path.exists()
    node = AnvilNode(
        port=free_port(),
        block_time=args.block_time or SEED_BLOCK_TIME,
        zero_fees=True,
        persist=True,
        data_dir=data_dir / "anvil",
        accounts=1 + 2 * len(NAMES),
        startup_timeout=120,
    )
    node.start()
    api: subprocess.Popen[bytes] | None = None
    try:
        if reuse:
            hashes = json.loads(hashes_path.read_text())
            print(f"reusing the seeded chain in {data_dir} ({len(hashes):,} certificates)", flush=True)
        else:
            deployment, hashes = seed(node, args.certificates, args.received_share)
            deployment.save(deployment_path)
            hashes_path.write_text(json.dumps(hashes))
        if not args.block_time:  # seeded in 1 s blocks; from now on a block per write only
            HttpRpc(node.url).batch([("evm_setIntervalMining", [0]), ("evm_setAutomine", [True])])
        port = free_port()
        os.environ.update(CACHE_SETTINGS[args.cache])  # the API process inherits them
        api = start_api(port, args.workers, node.url, deployment_path)
        print(f"API cache {args.cache}: ready after {await_warm(port):.1f} s", flush=True)
        rnd = random.Random(args.seed)
        run_load(port, bodies_for(hashes, args.warmup, rnd), args.concurrency)
        api_pids = process_tree(api.pid)
        node_pids = [node.pid] if node.pid else []
        before = (cpu_seconds(api_pids), cpu_seconds(node_pids), time.process_time())
        latencies, outcomes, elapsed = run_load(
            port, bodies_for(hashes, args.requests, rnd), args.concurrency
        )
        after = (cpu_seconds(api_pids), cpu_seconds(node_pids), time.process_time())
        if args.rate:
            paced, paced_outcomes, paced_elapsed = run_paced(
                port, bodies_for(hashes, args.requests, rnd), args.rate, args.paced_connections
            )
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        node.stop()
        if args.state_dir is None:
            node.close()
    latencies.sort()
    figures = {
        "requests": len(latencies),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "cache": args.cache,
        "block_time": args.block_time or None,
        "certificates": len(hashes),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "outcomes": outcomes,
        "cpus": os.cpu_count(),
        "cpu_ms_per_request": {
            name: round((after[i] - before[i]) / len(latencies) * 1000, 3)
            for i, name in enumerate(("api", "node", "load_generator"))
        },
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if args.rate:
        paced.sort()
        figures["paced"] = {
            "rate": args.rate,
            "connections": args.paced_connections,
            "achieved_per_second": round(len(paced) / paced_elapsed, 1),
            "p50_ms": round(percentile(paced, 0.50) * 1000, 2),
            "p90_ms": round(percentile(paced, 0.90) * 1000, 2),
            "p99_ms": round(percentile(paced, 0.99) * 1000, 2),
            "max_ms": round(paced[-1] * 1000, 2),
            "outcomes": paced_outcomes,
        }
    print(
        f"{figures['requests']:,} verifications, {args.concurrency} connections, {args.workers} worker(s):"
        f" {figures['requests_per_second']:,.0f} requests/s;"
        f" latency p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms,"
        f" max {figures['max_ms']} ms; outcomes {outcomes}"
    )
    cpu = figures["cpu_ms_per_request"]
    cores = os.cpu_count() or 1
    print(
        f"CPU per request: API {cpu['api']} ms, node {cpu['node']} ms,"
        f" load generator {cpu['load_generator']} ms"
        f" (ceiling on {cores} cores: {cores * 1000 / sum(cpu.values()):,.0f} requests/s);"
        f" load average {figures['load_average_1min']}"
    )
    if args.rate:
        steady = figures["paced"]
        print(
            f"steady {args.rate:,.0f} requests/s on {args.paced_connections} connections (open loop, latency"
            f" from each request's due time): {steady['achieved_per_second']:,.0f} requests/s answered;"
            f" latency p50 {steady['p50_ms']} ms, p90 {steady['p90_ms']} ms, p99 {steady['p99_ms']} ms,"
            f" max {steady['max_ms']} ms"
        )
        outcomes = {k: outcomes.get(k, 0) + paced_outcomes.get(k, 0) for k in {*outcomes, *paced_outcomes}}
    if args.json:
        print(json.dumps(figures))
    failed = sum(v for k, v in outcomes.items() if k.startswith("HTTP"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
