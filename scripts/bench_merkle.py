"""Benchmark kpledger.merkle: build a batch tree and every proof, from document hashes.

    .venv/bin/python scripts/bench_merkle.py [n ...]      # default: 1,000 10,000 100,000 1,000,000

For each n it prints the best of a few runs of ``StandardMerkleTree.of(...).all_proofs()``,
as leaves/s and as µs per leaf divided by log2(n). Hashing is O(n) (3n keccak calls) and the
proofs are O(n log n) (n lists of log2(n) nodes), so the last column stays roughly flat, or
falls, as n grows: a quadratic step would make it grow with n.

Times are CPU seconds of this process (``time.process_time``), since this machine is shared;
wall-clock seconds are printed beside them. The certificate-tuple encoding is measured too
(up to 100,000 leaves), since a ledger batch carries whole certificate tuples.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from kpledger.merkle import CERTIFICATE_LEAF, DOCUMENT_HASH_LEAF, KECCAK_BACKEND, StandardMerkleTree

COLUMNS = (("leaves", 10), ("encoding", 12), ("cpu s", 8), ("wall s", 8), ("leaves/s", 10), ("µs/leaf", 8))


def _best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    """Best (CPU, wall) seconds over ``repeats`` runs."""
    best_cpu = best_wall = math.inf
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall


def main(sizes: list[int]) -> None:
    print(f"keccak backend: {KECCAK_BACKEND}")
    print(" ".join(f"{name:>{width}}" for name, width in COLUMNS), f"{'µs/leaf/log2(n)':>16}")
    for n in sizes:
        hashes = [os.urandom(32) for _ in range(n)]
        runs: list[tuple[str, list[list[Any]], tuple[str, ...]]] = [
            ("bytes32", [[h] for h in hashes], DOCUMENT_HASH_LEAF)
        ]
        if n <= 100_000:
            certificates = [
                [h, f"BW-2025/{i:06d}", b"BW", b"AE", 125050 + i, 9_800_000, 3, 1_767_225_600]
                for i, h in enumerate(hashes)
            ]
            runs.append(("certificate", certificates, CERTIFICATE_LEAF))
        for name, leaves, types in runs:

            def run(leaves: list[list[Any]] = leaves, types: tuple[str, ...] = types) -> None:
                StandardMerkleTree.of(leaves, types).all_proofs()

            cpu, wall = _best_of(5 if n <= 100_000 else 2, run)
            per_leaf = cpu / n * 1e6
            print(
                f"{n:>10,} {name:>12} {cpu:>8.3f} {wall:>8.3f} {n / cpu:>10,.0f} {per_leaf:>8.2f}"
                f" {per_leaf / max(1.0, math.log2(n)):>16.3f}"
            )


if __name__ == "__main__":
    main(
        [int(arg.replace(",", "").replace("_", "")) for arg in sys.argv[1:]]
        or [1_000, 10_000, 100_000, 1_000_000]
    )
