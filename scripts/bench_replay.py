"""Benchmark the auditor's replay: events/s into SQLite and the time to replay N
certificates (3 events each: requested, validated, received), then the cost of an
incremental catch-up.

Generation and replay are measured separately. Generation runs on anvil (from
node_modules) with pre-signed, pipelined transactions from several exporters and
authorities; the replay reads the chain over HTTP exactly as an auditor would.

    .venv/bin/python scripts/bench_replay.py --certs 100000
    .venv/bin/python scripts/bench_replay.py --certs 10000 --keep-state /tmp/bench-anvil

``--keep-state DIR`` persists the anvil chain so that later runs replay it without
generating it again (``--reuse``). A reused chain is loaded, never written back: the
catch-up's extra certificates live in that run only, so every run replays the same chain.

Wall time depends on whatever else runs on the machine, so the figures include the CPU
time of the replaying process, of its writer process (``--writer``, see
``kpledger.audit.writer``) and of anvil, with the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kpledger.audit import AuditIndex, build_report, replay
from kpledger.chain.deployment import Deployment
from kpledger.chain.node import STATE_FILE, AnvilNode
from kpledger.chain.sender import Call
from kpledger.errors import TransactionTimeout
from kpledger.ledger import GAS, Ledger
from kpledger.types import ChainTerms

DAY = 86_400
PAIRS = [("BW", "AE"), ("AE", "BE"), ("BE", "IN"), ("IN", "AE"), ("RU", "BE"), ("ZA", "CN")]
CODES = sorted({c for pair in PAIRS for c in pair})
BATCH = 1_000


def _receipt_args(today: int, terms: ChainTerms) -> list[Any]:
    """``confirmReceipt`` arguments: imported today (days since 1970)."""
    return [terms.document_hash, today]


def _submit(ledger: Ledger, name: str, args: Sequence[Sequence[Any]]) -> list[bytes]:
    fn = ledger.ledger_abi.fn(name)
    calls = [Call(ledger.deployment.ledger, fn.encode(list(a)), GAS[name]) for a in args]
    return ledger.transactor.submit_many(calls)


def _mine_all(node: AnvilNode, ledger: Ledger, hashes: list[bytes]) -> None:
    """Mine until every transaction has a receipt (anvil runs with --no-mining and a
    large block gas limit, so one block usually takes a whole stage)."""
    for _ in range(50):
        node.mine()
        try:
            receipts = ledger.transactor.wait_many(hashes, timeout=0.5)
        except TransactionTimeout:
            continue
        bad = [r for r in receipts if r.status != 1]
        if bad:
            raise SystemExit(f"{len(bad)} transactions reverted")
        return
    raise SystemExit("transactions were not mined")


class Generator:
    """Participants with one authority and one exporter each; certificates flow
    request -> validate -> confirm in pipelined batches of ``BATCH``."""

    def __init__(self, node: AnvilNode, gov: Ledger) -> None:
        self.node = node
        self.gov = gov
        keys = node.dev_only_keys(1 + 2 * len(CODES))
        self.authority = {c: gov.as_signer(keys[1 + i]) for i, c in enumerate(CODES)}
        self.exporter = {c: gov.as_signer(keys[1 + len(CODES) + i]) for i, c in enumerate(CODES)}
        self.serial = 0

    def setup(self) -> None:
        for code in CODES:
            self.gov.admit_participant(code, f"Participant {code}", 60)
            self.gov.appoint_authority(code, self.authority[code].address)
            self.authority[code].license_exporter(code, self.exporter[code].address)

    def _terms(self, origin: str, destination: str, now: int) -> ChainTerms:
        self.serial += 1
        number = f"{origin} B{self.serial:09d}"
        digest = hashlib.sha256(f"bench-{self.serial}".encode()).digest()
        carats = 1_000 + (self.serial * 7919) % 500_000
        value = carats * (100 + (self.serial * 104729) % 400)
        return ChainTerms(
            digest, number, origin, destination, carats, value, 1 + self.serial % 9, now + 50 * DAY
        )

    def certificates(self, count: int) -> float:
        """Create ``count`` certificates; returns seconds spent. Each stage (request,
        validate, confirm) of a batch is signed, sent in JSON-RPC batches, and mined."""
        started = time.perf_counter()
        done = 0
        while done < count:
            size = min(BATCH, count - done)
            now = self.gov.block_time(self.gov.block_number())
            today = now // DAY
            per_pair: dict[tuple[str, str], list[ChainTerms]] = {}
            for i in range(size):
                pair = PAIRS[(done + i) % len(PAIRS)]
                per_pair.setdefault(pair, []).append(self._terms(*pair, now))
            # (function, who signs it for an origin/destination pair, its arguments)
            stages: tuple[
                tuple[str, Callable[[str, str], Ledger], Callable[[ChainTerms], list[Any]]], ...
            ] = (
                ("anchor", lambda o, d: self.exporter[o], lambda t: [t.as_tuple()]),
                ("validate", lambda o, d: self.authority[o], lambda t: [t.document_hash]),
                ("confirmReceipt", lambda o, d: self.authority[d], functools.partial(_receipt_args, today)),
            )
            for name, signer, args in stages:
                hashes: list[bytes] = []
                for (origin, destination), terms in per_pair.items():
                    hashes += _submit(signer(origin, destination), name, [args(t) for t in terms])
                _mine_all(self.node, self.gov, hashes)
            done += size
            print(f"  generated {done:,}/{count:,} certificates", end="\r", flush=True)
        print()
        return time.perf_counter() - started


def _anvil_cpu(node: AnvilNode) -> float:
    """CPU seconds anvil has used so far (Linux ``/proc``; 0 elsewhere)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{node.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class CpuClock:
    """CPU seconds of this process, of its finished children (the writer process; anvil
    is still running, so not among them) and of anvil, over one measured run."""

    def __init__(self, node: AnvilNode) -> None:
        self.node = node
        self.process = time.process_time()
        times = os.times()
        self.children = times.children_user + times.children_system
        self.anvil = _anvil_cpu(node)

    def figures(self, events: int) -> dict[str, Any]:
        times = os.times()
        process = time.process_time() - self.process
        writer = times.children_user + times.children_system - self.children
        replay_cpu = process + writer
        return {
            "process_cpu_seconds": round(process, 2),
            "writer_process_cpu_seconds": round(writer, 2),
            "replay_cpu_seconds": round(replay_cpu, 2),
            "replay_events_per_cpu_second": round(events / replay_cpu) if replay_cpu else None,
            "anvil_cpu_seconds": round(_anvil_cpu(self.node) - self.anvil, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--certs", type=int, default=10_000)
    parser.add_argument("--extra", type=int, default=1_000, help="certificates added for the catch-up run")
    parser.add_argument("--keep-state", type=Path, help="persist the anvil chain in this directory")
    parser.add_argument("--reuse", action="store_true", help="replay the chain kept in --keep-state")
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--writer", choices=("auto", "thread", "process"), default="auto", help="who writes the index"
    )
    args = parser.parse_args()

    data_dir = args.keep_state or Path(tempfile.mkdtemp(prefix="kpledger-bench-"))
    reuse = args.reuse and (data_dir / "deployment.json").exists()
    extra_args = ["--gas-limit", "4000000000"]
    if reuse:  # load the kept chain, never write it back (see the module docstring)
        extra_args += ["--load-state", str(data_dir / STATE_FILE)]
    node = AnvilNode(
        zero_fees=True,
        accounts=1 + 2 * len(CODES),
        data_dir=data_dir,
        persist=args.keep_state is not None and not reuse,
        extra_args=extra_args,
        startup_timeout=600,  # a kept chain of 100,000 certificates is a 1.3 GB state file
    )
    node.start()
    figures: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_start": round(os.getloadavg()[0], 1),
        "certificates": args.certs,
    }
    try:
        record = data_dir / "deployment.json"
        if reuse:
            deployment = Deployment.load(record)
            gov = Ledger.connect(node.url, deployment, node.dev_only_keys(1)[0])
            generator = Generator(node, gov)
            generator.serial = args.certs * 10
            node.request("evm_setAutomine", [False])
        else:
            gov = Ledger.deploy(node.url, node.dev_only_keys(1)[0])
            deployment = gov.deployment
            deployment.save(record)
            generator = Generator(node, gov)
            generator.setup()
            node.request("evm_setAutomine", [False])  # from here on, one block per stage
            seconds = generator.certificates(args.certs)
            figures["generate_seconds"] = round(seconds, 1)
            figures["generate_tx_per_second"] = round(3 * args.certs / seconds)
        figures["blocks"] = gov.block_number()

        db = args.db or Path(tempfile.mkdtemp(prefix="kpledger-bench-db-")) / "audit.db"
        if db.exists():
            db.unlink()
        url = f"sqlite:///{db}"
        figures["load_average_before_replay"] = round(os.getloadavg()[0], 1)
        clock = CpuClock(node)
        full = replay(node.url, deployment, url, progress=True, writer=args.writer)
        figures["replay"] = full.to_dict()
        figures.update(clock.figures(full.events))
        figures["load_average_after_replay"] = round(os.getloadavg()[0], 1)
        print(
            f"full replay: {full.events:,} events in {full.seconds:.1f} s"
            f" = {full.events_per_second:,.0f} events/s;"
            f" CPU {figures['replay_cpu_seconds']} s (+ anvil {figures['anvil_cpu_seconds']} s)"
        )

        again = replay(node.url, deployment, url, progress=False, writer=args.writer)
        figures["noop_seconds"] = round(again.seconds, 3)
        print(f"re-run with nothing new: {again.seconds * 1000:.0f} ms")

        if args.extra:
            generator.certificates(args.extra)
            clock = CpuClock(node)
            more = replay(node.url, deployment, url, progress=False, writer=args.writer)
            figures["catch_up"] = {**more.to_dict(), **clock.figures(more.events)}
            print(
                f"catch-up: {more.events:,} new events in {more.seconds:.2f} s"
                f" = {more.events_per_second:,.0f} events/s"
            )

        started = time.perf_counter()
        report = build_report(url)
        figures["report_seconds"] = round(time.perf_counter() - started, 1)
        with AuditIndex(url) as index:
            figures["index_rows"] = index.counts()
        figures["db_megabytes"] = round(db.stat().st_size / 2**20, 1)
        print(f"report: {figures['report_seconds']} s; {report.summary['certificates']:,} certificates")
    finally:
        node.stop() if args.keep_state else node.close()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
