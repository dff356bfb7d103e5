#!/usr/bin/env python3
"""Benchmark the CLI's start-up and its bulk verification.

    python scripts/bench_cli.py                  # 7 runs a command, 2,000 files
    python scripts/bench_cli.py --runs 3 --files 500 --json

Start-up: each command runs in a fresh process (the console script of this
interpreter's environment) ``--runs`` times; the median wall time is printed beside
the baseline measured in the same run, ``python -c pass`` (the interpreter alone), and
the budget (offline commands 0.25 s, chain commands 0.5 s). Chain commands talk to a
local anvil started here with a deployment recorded in a temporary data directory.

Bulk: ``--files`` certificates are issued on that anvil (pipelined), written as files,
and verified by the code of ``kpledger verify FILE...`` (:func:`kpledger.cli.bulk.run`)
in this process, once to warm it up and once measured: files/s from a warm start, the
files read and hashed here and every hash verified at one block.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OFFLINE_BUDGET = 0.25
CHAIN_BUDGET = 0.5
BULK_TARGET = 2_000.0


def timed(command: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of ``runs`` runs of ``command`` (each must exit 0 or 1)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (median)")
    parser.add_argument(
        "--files", type=int, default=2_000, help="certificate files for the bulk verification"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line of the figures")
    args = parser.parse_args()

    from kpledger.certificate import sample_certificate
    from kpledger.chain.node import AnvilNode
    from kpledger.cli import bulk
    from kpledger.devkeys import dev_only_key
    from kpledger.ledger import Ledger

    cli = str(Path(sys.executable).with_name("kpledger"))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kpledger-bench-cli-") as tmp, AnvilNode(accounts=10) as node:
        work = Path(tmp)
        gov = Ledger.deploy(node.url, dev_only_key(0))
        gov.admit_participant("BW", "Botswana", 60)
        gov.admit_participant("AE", "United Arab Emirates", 60)
        authority = gov.as_signer(dev_only_key(1))
        gov.appoint_authority("BW", authority.address)
        data_dir = work / "data"
        gov.deployment.save(data_dir / "deployment.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KPLEDGER_")}
        env.update(KPLEDGER_DATA_DIR=str(data_dir), KPLEDGER_RPC=node.url)
        offline_env = {**env, "KPLEDGER_DATA_DIR": str(work / "empty")}
        offline_env.pop("KPLEDGER_RPC")

        files_dir = work / "files"
        files_dir.mkdir()
        documents = [sample_certificate(number=f"BW-BENCH-{i:06d}") for i in range(args.files)]
        paths = []
        for document in documents:
            path = files_dir / f"{document['number']}.json"
            path.write_text(json.dumps(document), encoding="utf-8")
            paths.append(path)
        from kpledger.certificate import parse_certificate

        terms = [parse_certificate(p.read_bytes()).chain_terms() for p in paths]
        exporter = gov.as_signer(dev_only_key(2)).address
        for start in range(0, len(terms), 500):
            authority.issue_many([(t, exporter) for t in terms[start : start + 500]])
        one = str(paths[0])

        baseline = timed([sys.executable, "-c", "pass"], env, args.runs)
        commands = [
            ("--help", [cli, "--help"], OFFLINE_BUDGET, offline_env),
            ("hash FILE", [cli, "hash", one], OFFLINE_BUDGET, offline_env),
            ("cert check FILE (offline)", [cli, "cert", "check", one], OFFLINE_BUDGET, offline_env),
            ("cert sample", [cli, "cert", "sample"], OFFLINE_BUDGET, offline_env),
            ("participant list", [cli, "participant", "list"], CHAIN_BUDGET, env),
            ("verify FILE", [cli, "verify", one], CHAIN_BUDGET, env),
            ("cert check FILE (online)", [cli, "cert", "check", one], CHAIN_BUDGET, env),
        ]
        for name, command, budget, command_env in commands:
            seconds = timed(command, command_env, args.runs)
            rows.append({"command": name, "seconds": round(seconds, 3), "budget": budget,
                         "within": seconds <= budget})  # fmt: skip

        reader = Ledger.connect(node.url, gov.deployment)
        with contextlib.redirect_stdout(io.StringIO()):
            bulk.run(reader, paths, as_json=True)  # warm-up: imports, caches, connections
            started = time.perf_counter()
            code = bulk.run(reader, paths, as_json=True)
            bulk_seconds = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"bulk verification: exit code {code}, expected every file VALID")
    rate = args.files / bulk_seconds
    figures = {"baseline_python_seconds": round(baseline, 3), "commands": rows,
               "bulk_files": args.files, "bulk_seconds": round(bulk_seconds, 3),
               "bulk_files_per_second": round(rate), "bulk_target": BULK_TARGET}  # fmt: skip
    if args.json:
        print(json.dumps(figures))
        return
    print(f"baseline `python -c pass`: {baseline:.3f} s (median of {args.runs})")
    print(f"{'command':<28} {'median s':>9} {'budget s':>9}  within")
    for row in rows:
        within = "yes" if row["within"] else "NO"
        print(f"{row['command']:<28} {row['seconds']:>9.3f} {row['budget']:>9.2f}  {within}")
    print(
        f"verify {args.files} files (warm): {bulk_seconds:.3f} s = {rate:,.0f} files/s"
        f" (target {BULK_TARGET:,.0f}: {'met' if rate >= BULK_TARGET else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
