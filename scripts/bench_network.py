"""Writes through a 4-validator Clique network (geth 1.13.15) beside anvil, in one run.

Usage: python scripts/bench_network.py [--quick] [--write-docs]

What each figure includes: a *single* write is sign + eth_sendRawTransaction + polling until
its receipt (the Transactor's ``send``), one after another; a *batch* is ``submit_many`` of
N writes in one JSON-RPC batch + ``wait_many`` for every receipt. The writes are 30 000-gas
tagged transactions signed by kpledger's Transactor, so this measures the chain's write
path (transport, pool, sealing, receipts) rather than the contracts' gas. anvil runs with
a 1 s block time (like the network's period) as the baseline. *Final* is the time from
submission until the write's block is ``DEPTH`` blocks deep (Clique: ⌊n/2⌋+1 = 3 for 4 validators).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kpledger.chain.failover import FailoverRpc, split_urls
from kpledger.chain.node import AnvilNode
from kpledger.chain.revert import RevertDecoder
from kpledger.chain.sender import Call, Signer, Transactor
from kpledger.network.cluster import CliqueNetwork

DEPTH = 3
SECTION = "## Consortium network (scripts/bench_network.py)"
READING = (
    "Why a single write takes ~4 s on Clique: geth raises a txpool price limit of 0 to 1 wei, so"
    " a zero-tip write is kept only by the node it was sent to (eth_sendRawTransaction is local"
    " there) and is sealed when that node seals, about every fourth block with four validators."
    " A 1-wei tip from funded accounts would let every validator take it (about one block, as on"
    " anvil). A batch lands in one block; *final* counts from the batch's submission (signing and"
    " sending 1000 included) to 3 blocks on top. Measured on the shared 2-core machine while other"
    " test suites ran."
)


def _call(i: int) -> Call:
    return Call("0x000000000000000000000000000000000000dEaD", b"bench-%d" % i, gas=30_000)


def measure(target: str, singles: int, batch: int) -> dict[str, float]:
    rpc = FailoverRpc(split_urls(target))
    sender = Transactor(rpc, Signer(secrets.token_bytes(32)), RevertDecoder(), poll_interval=0.02)
    start = time.perf_counter()
    times = []
    for i in range(singles):
        t0 = time.perf_counter()
        sender.send(_call(i))
        times.append(time.perf_counter() - t0)
    single_rate = singles / (time.perf_counter() - start)
    t0 = time.perf_counter()
    hashes = sender.submit_many([_call(10_000 + i) for i in range(batch)])
    receipts = sender.wait_many(hashes)
    batch_seconds = time.perf_counter() - t0
    last = max(r.block_number for r in receipts)
    while int(rpc.call("eth_blockNumber", []), 16) < last + DEPTH:
        time.sleep(0.02)
    final_seconds = time.perf_counter() - t0
    blocks = {r.block_number for r in receipts}
    gas = [int(rpc.call("eth_getBlockByNumber", [hex(b), False])["gasUsed"], 16) for b in sorted(blocks)]
    return {
        "single_per_s": single_rate,
        "single_median_s": statistics.median(times),
        "batch_per_s": batch / batch_seconds,
        "batch_blocks": len(blocks),
        "block_gas_max": max(gas),
        "final_s": final_seconds,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    singles, batch = (5, 200) if args.quick else (20, 1000)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="kpledger-bench-net-") as tmp:
        network = CliqueNetwork.open(Path(tmp) / "net", validators=4)
        with network:
            network.wait_for_block(2)
            results["clique-4 (geth 1.13.15, 1 s)"] = measure(",".join(network.urls), singles, batch)
        with AnvilNode(block_time=1, zero_fees=True) as anvil:
            results["anvil (1 s blocks)"] = measure(anvil.url, singles, batch)
    rows = [
        "| chain | single writes/s | single median s | batch writes/s | batch blocks | max block gas |"
        f" final at depth {DEPTH} s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['single_per_s']:.2f} | {r['single_median_s']:.3f} | {r['batch_per_s']:.0f} |"
            f" {r['batch_blocks']:.0f} | {r['block_gas_max']:.0f} | {r['final_s']:.2f} |"
        )
    base = results["anvil (1 s blocks)"]
    clique = results["clique-4 (geth 1.13.15, 1 s)"]
    ratio = (
        f"Clique / anvil (1 s): single {clique['single_per_s'] / base['single_per_s']:.2f}x,"
        f" batch {clique['batch_per_s'] / base['batch_per_s']:.2f}x ({singles} singles, batch of {batch})."
    )
    table = "\n".join(rows)
    print(table)
    print(ratio)
    if args.write_docs:
        _write_section(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md", table, ratio)
    return 0


def _write_section(path: Path, table: str, ratio: str) -> None:
    text = path.read_text()
    doc = (__doc__ or "").split("\n\n", 2)[2].strip()
    body = f"{SECTION}\n\n{doc}\n\n{table}\n\n{ratio}\n\n{READING}\n"
    if SECTION in text:
        head, rest = text.split(SECTION, 1)
        tail = rest.split("\n## ", 1)
        text = head + body + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip() + "\n\n" + body
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
