"""Benchmark kpledger.merkle: tree + every proof for a batch of document hashes.

Prints leaves/s for several batch sizes and the time per leaf divided by log2(n): if the
build is O(n log n) that last column stays roughly flat as n grows (the n log n part is the
proofs: n proofs of log2(n) nodes each; hashing itself is O(n)).

    .venv/bin/python scripts/bench_merkle.py [n ...]
"""

from __future__ import annotations

import math
import os
import sys
import time

from kpledger.merkle import CERTIFICATE_LEAF, DOCUMENT_HASH_LEAF, KECCAK_BACKEND, StandardMerkleTree


def _best_of(repeats: int, fn: object) -> float:
    assert callable(fn)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(sizes: list[int]) -> None:
    print(f"keccak backend: {KECCAK_BACKEND}")
    print(f"{'leaves':>10} {'encoding':>12} {'seconds':>9} {'leaves/s':>11} {'µs/leaf':>8} {'µs/leaf/log2n':>14}")
    for n in sizes:
        hashes = [os.urandom(32) for _ in range(n)]
        certificates = [
            [h, f"BW-2025/{i:06d}", b"BW", b"AE", 125050 + i, 9_800_000, 3, 1_767_225_600]
            for i, h in enumerate(hashes)
        ]
        repeats = 5 if n <= 100_000 else 2
        for name, leaves, types in (
            ("bytes32", [[h] for h in hashes], DOCUMENT_HASH_LEAF),
            ("certificate", certificates, CERTIFICATE_LEAF),
        ):
            if name == "certificate" and n > 100_000:
                continue

            def run(leaves: list[list[object]] = leaves, types: tuple[str, ...] = types) -> None:
                StandardMerkleTree.of(leaves, types).all_proofs()

            seconds = _best_of(repeats, run)
            per_leaf = seconds / n * 1e6
            print(
                f"{n:>10,} {name:>12} {seconds:>9.3f} {n / seconds:>11,.0f} {per_leaf:>8.2f}"
                f" {per_leaf / max(1.0, math.log2(n)):>14.3f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000, 1_000_000])
