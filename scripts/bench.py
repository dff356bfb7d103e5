#!/usr/bin/env python3
"""Throughput of kpledger's write and read paths against baselines, in one run.

    python scripts/bench.py              # full run (make bench), ~5 minutes
    python scripts/bench.py --quick      # small sizes, seconds (the smoke test runs this)
    python scripts/bench.py --no-docs    # print only; do not touch docs/benchmarks.md

It starts its own anvil (the Besu-like profile: zero fees, custom chain id, no block gas
limit, a block every 0.2 s while anything is written), deploys the contracts, and
measures side by side:

- *baseline*: the naive web3.py loop, ``contract.functions.anchor(...).transact(...)``
  from anvil's unlocked dev account, one call after the other, waiting for nothing;
- kpledger ``Ledger.anchor_many`` with one sender and with four concurrent senders
  (threads, each its own licensed exporter account);
- the *raw limit*: the same transactions signed beforehand and sent as batched JSON-RPC;
- the validated batch path a user takes: ``kpledger cert batch DIR`` on 50,000 files end
  to end (a subprocess: CLI start … one bundle file per certificate) and
  ``kpledger.batch`` in-process on the same number of documents (every rule, both cores);
- Merkle batches of 10,000 and 100,000 certificates through a benchmark-only SHORTCUT
  that skips validation (terms read from the JSON values; canonical RFC 8785 hash, leaf,
  tree, every proof, one ``anchorBatch`` transaction), and from given document hashes
  (tree and proofs);
- verification through the library (``kpledger.verify.verify_hash``) and through the
  API (``python -m kpledger.api`` in its own process, as ``scripts/bench_api.py`` runs it);
- scaling: anchoring and verifying (one at a time and in bulk) when the chain already
  holds 1k, 10k and 100k certificates (filled by pre-signed batched sends), and Merkle proof generation per
  leaf over log2 n.

Blocks come from :class:`BlockProducer` (``evm_mine`` every 0.2 s) during the write
stages only. anvil copies its whole state for every block, empty or not: measured idle,
30 % of a core at 10,000 certificates and 63 % at 20,000, a cost of the test node (Besu
does not copy state per block) that would be charged to whatever read runs beside it on
two cores. One extra row repeats ``verify_many`` with the blocks running, to show it.

Every stage reports wall and CPU seconds (this process and the node), certificates/s,
the ratios to the baseline and to the raw limit (same run), gas per certificate and the
peak resident memory of this process during the stage. The table is printed (rich) and
written to docs/benchmarks.md, section "Throughput (scripts/bench.py)".
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import (  # noqa: E402
    await_warm,
    cpu_seconds,
    machine,
    peak_memory_mb,
    process_tree,
    reset_peak_memory,
    run_load,
    start_api,
)
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from kpledger.certificate import document_hash, parse_certificate, sample_certificate  # noqa: E402
from kpledger.chain.http_rpc import HttpRpc  # noqa: E402
from kpledger.chain.node import AnvilNode, free_port  # noqa: E402
from kpledger.chain.sender import Signer  # noqa: E402
from kpledger.ledger import GAS, Ledger  # noqa: E402
from kpledger.merkle import CERTIFICATE_LEAF, DOCUMENT_HASH_LEAF, StandardMerkleTree  # noqa: E402
from kpledger.types import ChainTerms, Receipt  # noqa: E402
from kpledger.verify import Result, Verification, verify_hash, verify_many  # noqa: E402

DAY = 86_400
CHAIN_ID = 1_337  # a custom chain id, as a consortium chain has
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Throughput (scripts/bench.py)"
RAW_CHUNK = 500
BLOCK_TIME = 0.2  # seconds
FILL_BLOCK = 2_000  # certificates per block while growing the chain
SENDERS = 4
VERIFY_CHUNK = 500  # hashes per verify_many call


@dataclass(frozen=True)
class Sizes:
    baseline: int
    single: int
    concurrent: int
    merkle: tuple[int, ...]
    merkle_validated: int
    batch: int
    verify: int
    verify_bulk: int
    api_requests: int
    levels: tuple[int, ...]
    level_anchor: int
    level_verify: int
    proof_sizes: tuple[int, ...]


FULL = Sizes(
    baseline=500,
    single=4_000,
    concurrent=4_000,
    merkle=(10_000, 100_000),
    merkle_validated=10_000,
    batch=50_000,
    verify=2_000,
    verify_bulk=10_000,
    api_requests=3_000,
    levels=(1_000, 10_000, 100_000),
    level_anchor=1_000,
    level_verify=1_000,
    proof_sizes=(1_000, 10_000, 100_000),
)
QUICK = Sizes(
    baseline=20,
    single=100,
    concurrent=100,
    merkle=(300, 1_000),
    merkle_validated=100,
    batch=300,
    verify=40,
    verify_bulk=100,
    api_requests=60,
    levels=(300, 600),
    level_anchor=50,
    level_verify=30,
    proof_sizes=(256, 1_024),
)


@dataclass
class Row:
    """One measured stage."""

    stage: str
    certificates: int
    wall: float
    cpu: float
    node_cpu: float
    peak_mb: float
    gas_per_certificate: float | None = None
    baseline_ratio: float | None = None
    raw_ratio: float | None = None

    @property
    def rate(self) -> float:
        return self.certificates / self.wall


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)
    proofs: list[dict[str, Any]] = field(default_factory=list)
    targets: list[tuple[str, str, bool]] = field(default_factory=list)
    machine: str = ""
    quick: bool = False

    def row(self, stage: str) -> Row:
        return next(r for r in self.rows if r.stage == stage)


# ---------------------------------------------------------------------- measuring


class Stage:
    """Wall and CPU time, node CPU and peak memory of what runs inside ``measure``."""

    def __init__(self, node_pids: list[int]) -> None:
        self.node_pids = node_pids

    @contextmanager
    def measure(self, report: Report, stage: str, certificates: int) -> Iterator[Row]:
        reset_peak_memory()
        row = Row(stage, certificates, 0.0, 0.0, 0.0, 0.0)
        node_before, cpu_before = cpu_seconds(self.node_pids), time.process_time()
        started = time.perf_counter()
        yield row
        row.wall = time.perf_counter() - started
        row.cpu = time.process_time() - cpu_before
        row.node_cpu = cpu_seconds(self.node_pids) - node_before
        row.peak_mb = peak_memory_mb()
        report.rows.append(row)
        print(
            f"  {stage}: {certificates:,} in {row.wall:.2f} s = {row.rate:,.0f}/s"
            f" (CPU {row.cpu:.2f} s, node {row.node_cpu:.2f} s)",
            flush=True,
        )


class BlockProducer:
    """A block every ``BLOCK_TIME`` seconds while :meth:`running` (the node itself runs
    with ``--no-mining``), as ``--block-time`` would, but only while something is being
    written: see the module docstring for why reads run without it."""

    def __init__(self, url: str) -> None:
        self._rpc = HttpRpc(url)
        self._stop = threading.Event()
        self._failure: BaseException | None = None

    @contextmanager
    def running(self) -> Iterator[None]:
        self._stop.clear()
        thread = threading.Thread(target=self._produce, name="block-producer", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()
        if self._failure is not None:
            raise SystemExit(f"the block producer failed: {self._failure}")

    def _produce(self) -> None:
        due = time.monotonic()
        try:
            while True:
                due += BLOCK_TIME
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                self._rpc.call("evm_mine", [])
        except BaseException as exc:  # reported by running(), in the stage's thread
            self._failure = exc


def gas_per(receipts: Sequence[Receipt], certificates: int) -> float:
    return sum(r.gas_used for r in receipts) / certificates


# ---------------------------------------------------------------------- the world


@dataclass
class World:
    node: AnvilNode
    gov: Ledger
    authority: Ledger
    exporters: list[Ledger]
    raw_exporter: Ledger
    baseline_address: str
    expires: int
    deployment_path: Path
    serial: int = 0
    issued: list[bytes] = field(default_factory=list)

    def terms(self, count: int, tag: str) -> list[ChainTerms]:
        """Fresh terms with unique numbers and hashes (BW to AE)."""
        out = []
        for _ in range(count):
            self.serial += 1
            n = self.serial
            digest = hashlib.sha256(f"bench-{tag}-{n}".encode()).digest()
            out.append(
                ChainTerms(
                    digest, f"BW {tag}/{n:08d}", "BW", "AE", 10_000 + n % 997, 1_000_000 + n, 1, self.expires
                )
            )
        return out


def build_world(node: AnvilNode, workdir: Path) -> World:
    keys = node.dev_only_keys(4 + SENDERS)
    gov = Ledger.deploy(node.url, keys[0], receipt_timeout=600)
    gov.admit_participant("BW", "Botswana", 60)
    gov.admit_participant("AE", "United Arab Emirates", 60)
    authority = gov.as_signer(keys[1])
    gov.appoint_authority("BW", authority.address)
    exporters = [gov.as_signer(k) for k in keys[2 : 2 + SENDERS]]
    raw_exporter = gov.as_signer(keys[2 + SENDERS])
    baseline = Signer(keys[3 + SENDERS]).address  # sends through anvil's unlocked account
    for account in [*(e.address for e in exporters), raw_exporter.address, baseline]:
        authority.license_exporter("BW", account)
    deployment_path = workdir / "deployment.json"
    gov.deployment.save(deployment_path)
    expires = gov.block_time(gov.block_number()) + 50 * DAY
    return World(node, gov, authority, exporters, raw_exporter, baseline, expires, deployment_path)


# ---------------------------------------------------------------------- write stages


def naive_baseline(world: World, items: list[ChainTerms]) -> None:
    """What a web3.py user writes first: one ``transact`` per certificate (web3 estimates
    gas, reads fees and the nonce each time), from the node's unlocked account."""
    from web3 import Web3

    from kpledger.chain import artifacts

    w3 = Web3(Web3.HTTPProvider(world.node.url))
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(world.gov.deployment.ledger),
        abi=artifacts.contract("CertificateLedger")["abi"],
    )
    sender = Web3.to_checksum_address(world.baseline_address)
    last = None
    for terms in items:
        last = contract.functions.anchor(terms.as_tuple()).transact({"from": sender})
    assert last is not None
    w3.eth.wait_for_transaction_receipt(last, timeout=600)


def presigned(world: World, ledger: Ledger, calls: list[tuple[str, bytes, int]]) -> list[bytes]:
    """Raw transactions for ``calls`` (to, data, gas) with consecutive nonces, signed now."""
    transactor = ledger.transactor
    rpc = ledger.rpc
    nonce = int(rpc.call("eth_getTransactionCount", [ledger.address, "pending"]), 16)
    signer = transactor.signer
    fees = transactor.fees.fields()
    raws = []
    for offset, (to, data, gas) in enumerate(calls):
        tx = {
            "to": to,
            "data": data,
            "gas": gas,
            "nonce": nonce + offset,
            "chainId": CHAIN_ID,
            "value": 0,
            **fees,
        }
        raws.append(signer.sign(tx)[0])
    transactor.resync_nonce()  # the Ledger must not reuse these nonces
    return raws


def send_raw(rpc: HttpRpc, raws: list[bytes], *, mine: bool = False) -> list[Receipt]:
    """Batched ``eth_sendRawTransaction`` (then one ``evm_mine`` if ``mine``), then
    receipts polled in batches."""
    hashes: list[str] = []
    for at in range(0, len(raws), RAW_CHUNK):
        results = rpc.batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws[at : at + RAW_CHUNK]])
        for result in results:
            if not isinstance(result, str):
                raise SystemExit(f"raw send refused: {result}")
            hashes.append(result)
    if mine:
        rpc.call("evm_mine", [])
    receipts: dict[str, Receipt] = {}
    pending = list(hashes)
    while pending:
        left = []
        for at in range(0, len(pending), RAW_CHUNK):
            chunk = pending[at : at + RAW_CHUNK]
            for tx_hash, result in zip(
                chunk, rpc.batch([("eth_getTransactionReceipt", [h]) for h in chunk]), strict=True
            ):
                if isinstance(result, dict):
                    receipts[tx_hash] = Receipt(
                        tx_hash=bytes.fromhex(tx_hash[2:]),
                        block_number=int(result["blockNumber"], 16),
                        gas_used=int(result["gasUsed"], 16),
                        status=int(result["status"], 16),
                        contract_address=None,
                    )
                else:
                    left.append(tx_hash)
        pending = left
        if pending:
            time.sleep(0.02)
    out = [receipts[h] for h in hashes]
    failed = [r for r in out if r.status != 1]
    if failed:
        raise SystemExit(f"{len(failed)} raw transactions reverted")
    return out


def anchor_calls(world: World, items: list[ChainTerms]) -> list[tuple[str, bytes, int]]:
    encode = world.gov.ledger_abi.fn("anchor").encode
    return [(world.gov.deployment.ledger, encode([t.as_tuple()]), GAS["anchor"]) for t in items]


def fill(world: World, count: int) -> None:
    """Issue ``count`` certificates quickly to grow the chain: pre-signed, sent in
    batches, each ``FILL_BLOCK`` mined at once as one block."""
    encode = world.gov.ledger_abi.fn("issue").encode
    exporter = world.raw_exporter.address
    rpc = world.gov.rpc
    for at in range(0, count, FILL_BLOCK):
        items = world.terms(min(FILL_BLOCK, count - at), "F")
        ledger = world.gov.deployment.ledger
        calls = [(ledger, encode([t.as_tuple(), exporter]), GAS["issue"]) for t in items]
        send_raw(rpc, presigned(world, world.authority, calls), mine=True)  # type: ignore[arg-type]
        world.issued += [t.document_hash for t in items]


# ---------------------------------------------------------------------- Merkle stages


def documents(count: int) -> list[dict[str, Any]]:
    """Certificate JSON values as an exporting authority holds them, all different."""
    rnd = random.Random(count)
    out = []
    for _ in range(count):
        carats = Decimal(rnd.randint(1, 10**7)).scaleb(-2)
        value = Decimal(rnd.randint(0, 10**9)).scaleb(-2)
        out.append(
            sample_certificate(
                today=date(2026, 3, 1),
                carats=int(carats) if carats == carats.to_integral() else float(carats),
                value_usd=int(value) if value == value.to_integral() else float(value),
                parcels=rnd.randint(1, 40),
            )
        )
    return out


_EXPIRY: dict[str, int] = {}


def terms_of(document: dict[str, Any], digest: bytes) -> ChainTerms:
    """The ledger terms a document states, read from its fields with the model's rules
    (amounts in hundredths, expiry at the last second of its day). The model's full
    validation is measured separately (the "incl. validation" row)."""
    expires = _EXPIRY.get(document["expires_on"])
    if expires is None:
        day = date.fromisoformat(document["expires_on"])
        expires = _EXPIRY[document["expires_on"]] = calendar.timegm(day.timetuple()) + DAY - 1
    return ChainTerms(
        digest,
        document["number"],
        document["exporting_participant"],
        document["importing_participant"],
        int(Decimal(str(document["carats"])).scaleb(2)),
        int(Decimal(str(document["value_usd"])).scaleb(2)),
        document["parcels"],
        expires,
    )


def merkle_from_documents(world: World, docs: list[dict[str, Any]], validate: bool) -> Receipt:
    """Hash, terms, leaf, tree, every proof, one anchorBatch transaction."""
    if validate:
        terms = [parse_certificate(d).chain_terms() for d in docs]
    else:
        terms = [terms_of(d, document_hash(d)) for d in docs]
    tree = StandardMerkleTree.of([t.as_tuple() for t in terms], CERTIFICATE_LEAF)
    proofs = tree.all_proofs()
    assert len(proofs) == len(docs)
    return world.authority.anchor_batch("BW", bytes.fromhex(tree.root[2:]), len(docs))


# ---------------------------------------------------------------------- verification


def verify_library(world: World, hashes: list[bytes]) -> None:
    """One ``verify_hash`` after the other: what a customs desk checking one
    certificate at a time costs."""
    for digest in hashes:
        _valid(verify_hash(world.gov, digest))


def verify_library_bulk(world: World, hashes: list[bytes]) -> None:
    """``verify_many`` over chunks: a bank or an importing authority checking a day's
    certificates, the reads of a chunk shared in batched JSON-RPC."""
    for at in range(0, len(hashes), VERIFY_CHUNK):
        for result in verify_many(world.gov, hashes[at : at + VERIFY_CHUNK]):
            _valid(result)


def _valid(result: Verification) -> None:
    if result.verdict is not Result.VALID:
        raise SystemExit(f"verification of {result.document_hash} gave {result.code}: {result.message}")


def verify_api(
    world: World, hashes: list[bytes], requests: int, rnd: random.Random
) -> tuple[int, dict[str, int]]:
    port = free_port()
    api = start_api(port, 2, world.node.url, world.deployment_path)
    try:
        await_warm(port)  # the API fills its verification cache at start (kpledger.verify_cache)
        bodies = [json.dumps({"hash": "0x" + rnd.choice(hashes).hex()}).encode() for _ in range(requests)]
        run_load(port, bodies[: max(10, requests // 10)], 8)  # warm up
        pids = process_tree(api.pid)
        before = cpu_seconds(pids)
        latencies, outcomes, elapsed = run_load(port, bodies, 8)
        api_cpu = cpu_seconds(pids) - before
    finally:
        api.terminate()
        api.wait(30)
    verify_api.last = (elapsed, api_cpu)  # type: ignore[attr-defined]
    return len(latencies), outcomes


# ---------------------------------------------------------------------- the run


def start_node(workdir: Path) -> AnvilNode:
    # Blocks every 0.2 s (BlockProducer) with no block gas limit, as a busy consortium
    # chain: a block takes whatever the pool holds. Not automine: anvil copies its whole
    # state for every block, so one block per transaction costs the node time that grows
    # with the chain (52 ms a transaction at 100,000 certificates), which measures anvil,
    # not kpledger. Only the last 8 states are kept: anvil holds every block's state in
    # memory otherwise (10 GB at ~60,000 certificates); every read here is of the latest state.
    node = AnvilNode(
        port=free_port(), chain_id=CHAIN_ID, zero_fees=True, no_mining=True, accounts=4 + SENDERS,
        data_dir=workdir, extra_args=("--disable-block-gas-limit", "--prune-history", "8"),
        startup_timeout=120,
    )  # fmt: skip
    node.start()
    return node


def run(sizes: Sizes, report: Report, workdir: Path) -> None:
    """The side-by-side stages, then the scaling on a node of its own (anvil's cost per
    block grows with its state, which would weigh on every stage after a large fill)."""
    node = start_node(workdir / "anvil")
    try:
        blocks = BlockProducer(node.url)
        with blocks.running():
            world = build_world(node, workdir)
        stage = Stage([node.pid] if node.pid else [])
        rnd = random.Random(8)
        print(f"anvil at {node.url}, chain id {CHAIN_ID}, zero fees, {BLOCK_TIME} s blocks", flush=True)
        # Certificates to verify (10,000 in the full run, as the API issue's target states).
        fill(world, max(sizes.verify, sizes.verify_bulk))
        with blocks.running():
            write_stages(world, stage, sizes, report)
            batch_stages(world, stage, sizes, report, workdir)
        read_stages(world, stage, sizes, report, rnd)
        sample = rnd.sample(world.issued, sizes.verify_bulk)
        with (
            blocks.running(),
            stage.measure(
                report, f"verify_many while the node makes a block every {BLOCK_TIME} s", len(sample)
            ),
        ):
            verify_library_bulk(world, sample)
    finally:
        node.close()
    node = start_node(workdir / "anvil-scaling")
    try:
        blocks = BlockProducer(node.url)
        with blocks.running():
            world = build_world(node, workdir)
        scaling(world, blocks, Stage([node.pid] if node.pid else []), sizes, report, random.Random(9))
    finally:
        node.close()
    merkle_scaling(sizes, report)


def write_stages(world: World, stage: Stage, sizes: Sizes, report: Report) -> None:
    """Baseline, library and raw anchoring, Merkle batches from JSON values."""
    items = world.terms(sizes.baseline, "B")
    with stage.measure(report, "baseline: naive web3.py loop, 1 sender", len(items)):
        naive_baseline(world, items)

    items = world.terms(sizes.single, "S")
    with stage.measure(report, "kpledger anchor_many, 1 sender", len(items)) as row:
        receipts = world.exporters[0].anchor_many(items)
    row.gas_per_certificate = gas_per(receipts, len(items))

    shares = [world.terms(sizes.concurrent // SENDERS, f"C{i}") for i in range(SENDERS)]
    results: list[list[Receipt]] = [[] for _ in range(SENDERS)]
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            results[index] = world.exporters[index].anchor_many(shares[index])
        except BaseException as exc:
            errors.append(exc)

    with stage.measure(report, f"kpledger anchor_many, {SENDERS} senders", sum(map(len, shares))) as row:
        threads = [threading.Thread(target=send, args=(i,)) for i in range(SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    row.gas_per_certificate = gas_per([r for rs in results for r in rs], row.certificates)

    items = world.terms(sizes.single, "R")
    raws = presigned(world, world.raw_exporter, anchor_calls(world, items))
    with stage.measure(report, "raw limit: pre-signed, batched JSON-RPC", len(items)) as row:
        receipts = send_raw(world.gov.rpc, raws)  # type: ignore[arg-type]
    row.gas_per_certificate = gas_per(receipts, len(items))

    for count in sizes.merkle:
        docs = documents(count)
        with stage.measure(report, shortcut_stage(count), count) as row:
            receipt = merkle_from_documents(world, docs, validate=False)
        row.gas_per_certificate = receipt.gas_used / count
    docs = documents(sizes.merkle_validated)
    with stage.measure(
        report,
        f"Merkle {sizes.merkle_validated:,} from JSON values, incl. model validation, 1 process",
        len(docs),
    ) as row:
        receipt = merkle_from_documents(world, docs, validate=True)
    row.gas_per_certificate = receipt.gas_used / len(docs)


def shortcut_stage(count: int) -> str:
    return f"Merkle {count:,} SHORTCUT: bench-only terms from JSON values, no validation"


def library_batch_stage(count: int) -> str:
    return f"kpledger.batch {count:,} documents in-process, validated, anchored (no files)"


def cli_batch_stage(count: int) -> str:
    return f"kpledger cert batch DIR, {count:,} files end to end"


def numbered_documents(count: int, tag: str) -> list[bytes]:
    """Certificate files as an exporter hands them over: pretty-printed JSON, each with
    its own number and amounts (so each has its own hash)."""
    rnd = random.Random(count)
    return [
        json.dumps(
            sample_certificate(
                today=date.today(),
                number=f"BW-{tag}-{i:07d}",
                carats=rnd.randint(1, 10**7) / 100,
                value_usd=rnd.randint(0, 10**9) / 100,
                parcels=rnd.randint(1, 40),
            ),
            indent=2,
        ).encode()
        for i in range(count)
    ]


def batch_stages(world: World, stage: Stage, sizes: Sizes, report: Report, workdir: Path) -> None:
    """The validated path a user takes, in-process and through the CLI.

    In-process: ``prepare_batch`` on file bytes (strict load, every rule, hash, terms,
    leaf, on both cores; the chain checked for numbers and hashes already used) and
    ``anchor_prepared`` (tree, the anchorBatch transaction), then every proof document.
    End to end: ``kpledger cert batch DIR`` as a subprocess on files already on disk —
    CLI start, listing, reading, validation, chain check, tree, anchoring, proofs and one
    bundle file written per certificate. CPU s includes the worker processes (and the CLI
    process); peak MB is the largest process's."""
    from kpledger.batch import anchor_prepared, prepare_batch

    docs = numbered_documents(sizes.batch, "LIB")
    children = _children_cpu()
    with stage.measure(report, library_batch_stage(sizes.batch), len(docs)) as row:
        prepared = prepare_batch(docs, ledger=world.authority, write_files=False)
        anchored = anchor_prepared(world.authority, prepared)
        assert sum(1 for _ in anchored.proof_documents()) == len(docs)
    row.cpu += _children_cpu() - children
    row.gas_per_certificate = anchored.receipt.gas_used / len(docs)
    del docs, prepared, anchored

    folder = workdir / "batch-files"
    folder.mkdir(exist_ok=True)
    for index, data in enumerate(numbered_documents(sizes.batch, "CLI")):
        (folder / f"BW-CLI-{index:07d}.json").write_bytes(data)
    env = {
        **os.environ,
        "KPLEDGER_DATA_DIR": str(workdir),
        "KPLEDGER_RPC": world.node.url,
        # DEV-ONLY key of the local anvil's BW authority (public; never valid elsewhere).
        "KPLEDGER_PRIVATE_KEY": "0x" + world.node.dev_only_keys(2)[1].hex(),
    }
    children = _children_cpu()
    with stage.measure(report, cli_batch_stage(sizes.batch), sizes.batch) as row:
        done = subprocess.run(
            [sys.executable, "-m", "kpledger.cli", "cert", "batch", str(folder)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"kpledger cert batch failed: {done.stderr[-2000:]}")
    row.cpu += _children_cpu() - children
    row.peak_mb = max(row.peak_mb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    bundles = sum(1 for p in folder.iterdir() if p.name.endswith(".bundle.json"))
    assert bundles == sizes.batch, bundles


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_stages(world: World, stage: Stage, sizes: Sizes, report: Report, rnd: random.Random) -> None:
    """Merkle trees from hashes (no chain at all) and verification: no blocks are made."""
    for count in sizes.merkle:
        leaves = [[hashlib.sha256(b"%d" % i).digest()] for i in range(count)]
        with stage.measure(report, f"Merkle {count:,} from document hashes (tree + proofs)", count):
            StandardMerkleTree.of(leaves, DOCUMENT_HASH_LEAF).all_proofs()

    sample = rnd.sample(world.issued, sizes.verify)
    with stage.measure(report, "verify through the library, one at a time", len(sample)):
        verify_library(world, sample)
    sample = rnd.sample(world.issued, sizes.verify_bulk)
    with stage.measure(report, "verify through the library, verify_many", len(sample)):
        verify_library_bulk(world, sample)
    with stage.measure(
        report, "verify through the API (2 workers, 8 connections)", sizes.api_requests
    ) as row:
        answered, outcomes = verify_api(world, world.issued, sizes.api_requests, rnd)
    if outcomes != {"VALID": answered}:
        raise SystemExit(f"API verification outcomes: {outcomes}")
    elapsed, api_cpu = verify_api.last  # type: ignore[attr-defined]
    row.wall, row.cpu = elapsed, row.cpu + api_cpu  # the load only, not the API's start


def scaling(
    world: World, blocks: BlockProducer, stage: Stage, sizes: Sizes, report: Report, rnd: random.Random
) -> None:
    """Anchoring and verifying rates at growing chain sizes (flat = cost per certificate
    does not grow with the chain)."""
    for level in sizes.levels:
        if world.serial < level:
            fill(world, level - world.serial)
        held = world.serial
        scratch = Report()
        items = world.terms(sizes.level_anchor, "L")
        with blocks.running(), stage.measure(scratch, "anchor", len(items)) as anchor:
            receipts = world.exporters[0].anchor_many(items)
        sample = rnd.sample(world.issued, sizes.level_verify)
        with stage.measure(scratch, "verify", len(sample)) as verify:
            verify_library(world, sample)
        sample = rnd.sample(world.issued, sizes.level_verify)
        with stage.measure(scratch, "verify_many", len(sample)) as bulk:
            verify_library_bulk(world, sample)
        report.scaling.append(
            {
                "held": held,
                "anchor_rate": anchor.rate,
                "anchor_cpu_ms": anchor.cpu / anchor.certificates * 1000,
                "anchor_node_cpu_ms": anchor.node_cpu / anchor.certificates * 1000,
                "gas": gas_per(receipts, len(items)),
                "verify_rate": verify.rate,
                "verify_cpu_ms": verify.cpu / verify.certificates * 1000,
                "verify_node_cpu_ms": verify.node_cpu / verify.certificates * 1000,
                "bulk_rate": bulk.rate,
                "bulk_cpu_ms": bulk.cpu / bulk.certificates * 1000,
                "bulk_node_cpu_ms": bulk.node_cpu / bulk.certificates * 1000,
            }
        )


def merkle_scaling(sizes: Sizes, report: Report) -> None:
    """CPU µs per leaf over log2 n for tree + all proofs (flat = O(n log n))."""
    for n in sizes.proof_sizes:
        leaves = [[hashlib.sha256(b"p%d" % i).digest()] for i in range(n)]
        best = math.inf
        for _ in range(3):
            started = time.process_time()
            StandardMerkleTree.of(leaves, DOCUMENT_HASH_LEAF).all_proofs()
            best = min(best, time.process_time() - started)
        report.proofs.append({"n": n, "rate": n / best, "per_log": best / n * 1e6 / math.log2(n)})


# ---------------------------------------------------------------------- results


def ratios(report: Report) -> None:
    baseline = report.row("baseline: naive web3.py loop, 1 sender").rate
    raw = report.row("raw limit: pre-signed, batched JSON-RPC").rate
    for row in report.rows:
        row.baseline_ratio = row.rate / baseline
        row.raw_ratio = row.rate / raw


def check_targets(report: Report, sizes: Sizes) -> None:
    single = report.row("kpledger anchor_many, 1 sender")
    largest = max(sizes.merkle)
    smallest = min(sizes.merkle)
    from_hashes = report.row(f"Merkle {largest:,} from document hashes (tree + proofs)")
    batch = report.row(shortcut_stage(smallest))
    end_to_end = report.row(cli_batch_stage(sizes.batch))
    in_process = report.row(library_batch_stage(sizes.batch))
    library = report.row("verify through the library, verify_many")
    assert single.baseline_ratio is not None and single.raw_ratio is not None
    assert batch.gas_per_certificate is not None
    report.targets = [
        ("single anchoring ≥ 10 x baseline", f"{single.baseline_ratio:.1f} x", single.baseline_ratio >= 10),
        ("single anchoring ≥ 40 % of raw limit", f"{single.raw_ratio:.0%}", single.raw_ratio >= 0.4),
        (
            f"`kpledger cert batch DIR` end to end ≥ 25,000/s ({sizes.batch:,} files)",
            f"{end_to_end.rate:,.0f}/s",
            end_to_end.rate >= 25_000,
        ),
        (
            f"in-process validated batch ≥ 30,000/s ({sizes.batch:,})",
            f"{in_process.rate:,.0f}/s",
            in_process.rate >= 30_000,
        ),
        (
            f"Merkle from hashes ≥ 200,000 leaves/s ({largest:,})",
            f"{from_hashes.rate:,.0f}/s wall, {largest / from_hashes.cpu:,.0f}/s CPU",
            from_hashes.rate >= 200_000,
        ),
        (
            f"gas per certificate ≤ 10 ({smallest:,} per batch)",
            f"{batch.gas_per_certificate:.1f}",
            batch.gas_per_certificate <= 10,
        ),
        ("verification through the library ≥ 5,000/s", f"{library.rate:,.0f}/s", library.rate >= 5_000),
    ]


def table(report: Report) -> Table:
    out = Table(title="kpledger throughput (certificates/s)")
    for name in (
        "stage",
        "certs",
        "certs/s",
        "x baseline",
        "% of raw",
        "gas/cert",
        "wall s",
        "CPU s",
        "node CPU s",
        "peak MB",
    ):
        out.add_column(name, justify="left" if name == "stage" else "right")
    for row in report.rows:
        out.add_row(*cells(row))
    return out


def cells(row: Row) -> list[str]:
    return [
        row.stage,
        f"{row.certificates:,}",
        f"{row.rate:,.0f}",
        f"{row.baseline_ratio:,.1f}" if row.baseline_ratio is not None else "",
        f"{row.raw_ratio:.0%}" if row.raw_ratio is not None else "",
        f"{row.gas_per_certificate:,.1f}" if row.gas_per_certificate is not None else "",
        f"{row.wall:.2f}",
        f"{row.cpu:.2f}",
        f"{row.node_cpu:.2f}",
        f"{row.peak_mb:,.0f}",
    ]


def markdown(report: Report) -> str:
    lines = [
        SECTION,
        "",
        "`make bench` (`python scripts/bench.py`) starts its own anvil (zero fees, chain id"
        f" {CHAIN_ID}, a block every {BLOCK_TIME} s while a write stage runs and none during reads"
        " (see the notes below), no block gas limit) and measures every stage"
        " in the same run, so the ratios compare like with like. Certificates/s are wall-clock;"
        " CPU s is this process (for the API row:"
        " plus the API's processes; for the two `kpledger.batch` rows: plus the worker processes"
        " and the CLI process), node CPU s is anvil; peak MB is this process's peak resident"
        " memory during the stage (the CLI row: the largest process's)."
        " **The validated path a user takes is the headline:** the `kpledger cert batch DIR` row"
        " runs the CLI as a subprocess on pretty-printed certificate files already on disk and"
        " includes CLI start, listing, reading, the strict loader, every format rule,"
        " the hash, the chain check (numbers and hashes already used), the leaf, the tree,"
        " the `anchorBatch` transaction, the proofs and one bundle file written per certificate;"
        " the `kpledger.batch … in-process` row is `prepare_batch` on file bytes (same checks, both"
        " cores) plus `anchor_prepared` and every proof document, no files."
        ' The "SHORTCUT" rows are a benchmark-only path that **skips validation**: terms read'
        " straight from the JSON values, then the canonical hash, leaf, tree, every proof and the"
        " `anchorBatch` transaction; no user path takes it. The"
        ' "incl. model validation, 1 process" row is the shortcut with `parse_certificate` per'
        " document in this one process.",
        "",
        f"Machine: {report.machine}."
        + (" **Quick run (small sizes): not for comparison.**" if report.quick else ""),
        "",
        "| stage | certificates | certificates/s | x baseline | % of raw limit | gas/certificate"
        " | wall s | CPU s | node CPU s | peak MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in report.rows]
    lines += [
        "",
        "Scaling with the chain's size (anchoring through `anchor_many`, one sender; verifying"
        " through the library one at a time (`verify_hash`) and in bulk (`verify_many`); ms are"
        " CPU per certificate, client / node):",
        "",
        "| certificates on chain | anchor/s | anchor CPU ms | gas/cert | verify_hash/s"
        " | verify_hash CPU ms | verify_many/s | verify_many CPU ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {s['held']:,} | {s['anchor_rate']:,.0f}"
        f" | {s['anchor_cpu_ms']:.3f} / {s['anchor_node_cpu_ms']:.3f} | {s['gas']:,.0f}"
        f" | {s['verify_rate']:,.0f} | {s['verify_cpu_ms']:.3f} / {s['verify_node_cpu_ms']:.3f}"
        f" | {s['bulk_rate']:,.0f} | {s['bulk_cpu_ms']:.3f} / {s['bulk_node_cpu_ms']:.3f} |"
        for s in report.scaling
    ]
    lines += [
        "",
        "Merkle tree + all proofs from document hashes, CPU time, best of 3 (O(n log n) when the"
        " last column stays flat):",
        "",
        "| leaves | leaves/s (CPU) | µs per leaf / log2 n |",
        "| ---: | ---: | ---: |",
    ]
    lines += [f"| {p['n']:,} | {p['rate']:,.0f} | {p['per_log']:.3f} |" for p in report.proofs]
    lines += ["", "Targets (issue 8):", "", "| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value} | {'yes' if met else '**no**'} |" for name, value, met in report.targets]
    return "\n".join(lines) + "\n"


def write_docs(text: str, path: Path = DOCS) -> None:
    """Replace this script's section of docs/benchmarks.md (or append it), leaving the
    other sections as they are."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = current.find(SECTION)
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        following = current.find("\n## ", start + len(SECTION))
        updated = current[:start] + text + (current[following:] if following >= 0 else "")
    path.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None, *, console: Console | None = None) -> Report:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, for the smoke test)")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the Markdown file to update")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    report = Report(machine=machine(), quick=args.quick)
    with tempfile.TemporaryDirectory(prefix="kpledger-throughput-") as workdir:
        run(sizes, report, Path(workdir))
    ratios(report)
    check_targets(report, sizes)
    console = console or Console(width=160)
    console.print(table(report))
    for name, value, met in report.targets:
        console.print(f"{'[green]met' if met else '[red]not met'}[/]  {name}: {value}")
    if not args.no_docs:
        write_docs(markdown(report), args.docs)
        console.print(f"written to {args.docs}")
    return report


if __name__ == "__main__":
    main()
