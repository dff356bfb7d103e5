"""Exchange benchmark (issue 15): envelopes delivered end to end between two national
node processes on this machine, with baselines measured in the same run.

Usage: python scripts/bench_exchange.py [--quick] [--write]

Rows:
- baseline HTTP: sequential GET round trips to the recipient node (the transport floor);
- baseline seal: envelopes sealed and signed per second in one process (no network);
- throughput: N envelopes committed to the sender's outbox, timed until every one is
  settled by a signed receipt (sign, encrypt, push, recipient verifies the signer and key
  on chain, decrypts, checks the hash against the chain's record, stores, signs the
  receipt; the sender verifies it and settles);
- latency at 100/s: envelopes sealed and pushed by this process paced at 100 per second,
  each timed from sealing to a verified receipt (p50 / p99);
- backlog: the recipient is SIGKILLed, 10,000 envelopes queue in the sender's outbox,
  the recipient restarts; time from its restart until the outbox is drained.
``--write`` replaces the exchange section of docs/benchmarks.md with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kpledger.certificate.model import parse_certificate
from kpledger.certificate.samples import sample_certificate
from kpledger.exchange.envelope import Payload
from kpledger.exchange.federation import Federation, NodeSpec
from kpledger.exchange.receipt import is_valid

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Exchange (issue 15)"


def _issue(fed: Federation, count: int) -> list[dict[str, object]]:
    documents = [sample_certificate(importing_participant="AE") for _ in range(count)]
    bw, exporter = fed.ledger("BW"), fed.ledger("BW:exporter").address
    if hasattr(bw.rpc, "timeout"):  # anvil mines a batch of 200 one block at a time: be patient
        bw.rpc.timeout = 120.0
    for start in range(0, count, 1000):
        chunk = documents[start : start + 1000]
        bw.issue_many([(parse_certificate(d).chain_terms(), exporter) for d in chunk])
    return documents


def _drain(fed: Federation, expected: int, timeout: float) -> float:
    started = time.monotonic()
    counts = fed.wait_settled("BW", expected, timeout=timeout)
    if counts.get("delivered", 0) < expected:
        raise RuntimeError(f"not drained: {counts}")
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    throughput_n = 300 if args.quick else 2000
    latency_n = 200 if args.quick else 1000
    backlog_n = 1000 if args.quick else 10_000
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="kpledger-bench-exchange-") as scratch:
        fed = Federation(Path(scratch), [NodeSpec("BW"), NodeSpec("AE")]).start()
        try:
            sender = fed.sender("BW")
            ae = fed.nodes["AE"].url
            with httpx.Client() as http:
                started = time.perf_counter()
                for _ in range(500):
                    http.get(f"{ae}/v1/exchange/health")
                figures["baseline_http_rps"] = round(500 / (time.perf_counter() - started))

            documents = _issue(fed, throughput_n + latency_n + backlog_n)
            batch, latency_docs, backlog = (
                documents[:throughput_n],
                documents[throughput_n : throughput_n + latency_n],
                documents[throughput_n + latency_n :],
            )

            # Throughput: enqueue all, time until settled.
            started = time.monotonic()
            seal_started = time.perf_counter()
            for document in batch:
                sender.send(Payload(document), "AE")
            figures["baseline_seal_per_s"] = round(throughput_n / (time.perf_counter() - seal_started))
            fed.wait_settled("BW", throughput_n, timeout=300)
            figures["throughput_per_s"] = round(throughput_n / (time.monotonic() - started))

            # Latency at 100/s: this process seals, pushes and verifies each receipt.
            latencies: list[float] = []
            with httpx.Client(timeout=30) as http:
                next_at = time.perf_counter()
                for document in latency_docs:
                    now = time.perf_counter()
                    if now < next_at:
                        time.sleep(next_at - now)
                    next_at += 0.01
                    t0 = time.perf_counter()
                    envelope = sender.send(Payload(document), "AE")  # committed, as a real send is
                    answer = http.post(f"{ae}/v1/exchange/envelopes", content=envelope.to_bytes()).json()
                    assert is_valid(answer["receipt"], sender.ledger, envelope.id_hex, "AE")
                    latencies.append((time.perf_counter() - t0) * 1000)
            latencies.sort()
            figures["latency_p50_ms"] = round(statistics.median(latencies), 1)
            figures["latency_p99_ms"] = round(latencies[int(len(latencies) * 0.99) - 1], 1)
            settled_before = throughput_n + latency_n
            fed.wait_settled("BW", settled_before, timeout=120)

            # Backlog: recipient down, queue, recipient back.
            fed.kill("AE")
            for document in backlog:
                sender.send(Payload(document), "AE")
            fed.start_node("AE")
            figures["backlog"] = backlog_n
            figures["backlog_drain_s"] = round(_drain(fed, settled_before + backlog_n, timeout=600), 1)
            figures["duplicates"] = fed.store("AE").inbox_count() - (settled_before + backlog_n)
        finally:
            fed.close()
    print(json.dumps(figures))
    if args.write:
        _write(figures, quick=args.quick)
    return 0


def _write(figures: dict[str, object], *, quick: bool) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    table = f"""{SECTION}

`make bench-exchange` (scripts/bench_exchange.py{" --quick" if quick else ""}): two national node
processes (BW sender, AE recipient) and a local anvil on this 2-core machine, shared with
other work. Each envelope end to end = seal (HPKE) + EIP-712 sign + commit to the outbox +
HTTP push + recipient: signature recovery, signer and key checks on chain, decrypt, hash
check against the chain's record, inbox commit, signed receipt + sender: receipt check,
settle.

| row | figure | target |
| --- | --- | --- |
| baseline: sequential HTTP GET round trips to the node | {figures["baseline_http_rps"]}/s | — |
| baseline: envelopes sealed + signed + committed, one process | {figures["baseline_seal_per_s"]}/s | — |
| throughput end to end (outbox → signed receipt) | {figures["throughput_per_s"]}/s | ≥ 500/s |
| latency at 100/s, p50 | {figures["latency_p50_ms"]} ms | — |
| latency at 100/s, p99 | {figures["latency_p99_ms"]} ms | ≤ 50 ms |
| backlog of {figures["backlog"]:,} drained, recipient back | {figures["backlog_drain_s"]} s | ≤ 60 s |
| duplicates in the recipient's inbox | {figures["duplicates"]} | 0 |
"""
    if SECTION in text:
        before, _, rest = text.partition(SECTION)
        after = rest.split("\n## ", 1)
        text = before + table + (("\n## " + after[1]) if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + table
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
