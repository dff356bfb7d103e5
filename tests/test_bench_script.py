"""``scripts/bench.py --quick`` and a small ``scripts/bench_api.py`` run end to end, so the
benchmarks cannot rot.

Speeds depend on the machine and are not asserted; what is asserted is that every stage
ran (a row each, with sane numbers), the targets were evaluated, and only the script's
own section of the Markdown file was replaced.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from rich.console import Console

from kpledger.chain.node import NodeBinaryMissing, find_anvil

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.anvil


VERDICTS_SEEN = {"VALID", "USED", "NOT_ANCHORED"}
"""What the benchmark's verify requests may answer (a confirmed certificate reads USED)."""


def _bench_module(name: str = "bench") -> ModuleType:
    try:
        find_anvil()
    except NodeBinaryMissing as exc:
        pytest.skip(f"anvil missing: {exc}")
    spec = importlib.util.spec_from_file_location(f"kpledger_{name}_script", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_quick_bench_produces_every_row_and_only_its_own_docs_section(tmp_path: Path) -> None:
    bench = _bench_module()
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# Benchmarks\n\n## Contracts: gas per write\n\nkept above\n\n"
        f"{bench.SECTION}\n\nstale figures\n\n## Audit replay\n\nkept below\n",
        encoding="utf-8",
    )
    console = Console(record=True, width=200)

    report = bench.main(["--quick", "--docs", str(docs)], console=console)

    stages = [row.stage for row in report.rows]
    assert stages == [
        "baseline: naive web3.py loop, 1 sender",
        "kpledger anchor_many, 1 sender",
        "kpledger anchor_many, 4 senders",
        "raw limit: pre-signed, batched JSON-RPC",
        "Merkle 300 SHORTCUT: bench-only terms from JSON values, no validation",
        "Merkle 1,000 SHORTCUT: bench-only terms from JSON values, no validation",
        "Merkle 100 from JSON values, incl. model validation, 1 process",
        "kpledger.batch 300 documents in-process, validated, anchored (no files)",
        "kpledger cert batch DIR, 300 files end to end",
        "Merkle 300 from document hashes (tree + proofs)",
        "Merkle 1,000 from document hashes (tree + proofs)",
        "verify through the library, one at a time",
        "verify through the library, verify_many",
        "verify through the API (2 workers, 8 connections)",
        "verify_many while the node makes a block every 0.2 s",
    ]
    for row in report.rows:
        assert row.certificates > 0 and row.wall > 0 and row.rate > 0, row
        assert row.baseline_ratio is not None and row.raw_ratio is not None
        assert row.peak_mb > 0
    assert report.row("baseline: naive web3.py loop, 1 sender").baseline_ratio == pytest.approx(1.0)
    # Gas per certificate: ~133k for a single anchor, a fraction per certificate in a batch.
    single = report.row("kpledger anchor_many, 1 sender").gas_per_certificate
    shortcut = report.row("Merkle 1,000 SHORTCUT: bench-only terms from JSON values, no validation")
    batched = shortcut.gas_per_certificate
    assert single is not None and 100_000 < single < 200_000
    assert batched is not None and 0 < batched < 1_000
    assert [s["held"] for s in report.scaling] == sorted(s["held"] for s in report.scaling)
    assert len(report.scaling) == 2 and len(report.proofs) == 2
    assert len(report.targets) == 7

    printed = console.export_text()
    assert "kpledger throughput" in printed
    assert "raw limit: pre-signed, batched JSON-RPC" in printed

    text = docs.read_text(encoding="utf-8")
    assert text.count(bench.SECTION) == 1
    assert "stale figures" not in text
    assert "kept above" in text and text.rstrip().endswith("kept below")
    assert text.index("kept above") < text.index(bench.SECTION) < text.index("## Audit replay")
    assert "| kpledger anchor_many, 1 sender | 100 |" in text
    assert "Quick run" in text


@pytest.mark.parametrize("block_time", ["0", "1"], ids=["block-per-write", "empty-blocks"])
def test_the_api_benchmark_loads_the_verify_route(
    capsys: pytest.CaptureFixture[str], block_time: str
) -> None:
    bench_api = _bench_module("bench_api")
    arguments = ["--certificates", "60", "--requests", "200", "--warmup", "20", "--concurrency", "4"]
    assert bench_api.main([*arguments, "--workers", "1", "--block-time", block_time, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["requests"] == 200 and figures["certificates"] == 60
    assert set(figures["outcomes"]) <= VERDICTS_SEEN and figures["outcomes"]["VALID"] > 100
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["block_time"] == (None if block_time == "0" else 1.0)
    steady = figures["paced"]  # then 200 requests paced at 2,000/s
    assert sum(steady["outcomes"].values()) == 200 and set(steady["outcomes"]) <= VERDICTS_SEEN
    assert 0 < steady["p50_ms"] <= steady["p99_ms"] <= steady["max_ms"]
