"""Shared parts of the benchmark scripts (``bench.py``, ``bench_api.py``): the API in its
own process, an HTTP load generator for ``POST /v1/verify``, per-process CPU time and
peak memory from ``/proc``, and a description of the machine.

Why a module of its own: both benchmarks must measure the API the same way, so a
figure in one is comparable with the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- the API process


def start_api(port: int, workers: int, rpc: str, deployment: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, KPLEDGER_RPC=rpc, KPLEDGER_DEPLOYMENT=str(deployment), PYTHONPATH=str(ROOT))
    command = [
        sys.executable,
        "-m",
        "kpledger.api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the API exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the API did not become healthy within 60 s")


def await_warm(port: int, timeout: float = 300) -> float:
    """Wait until the API's workers have filled their verification caches (``/health``
    says ``warming: false`` ten times in a row, whichever worker answers). Returns the
    seconds waited."""
    started = time.monotonic()
    quiet = 0
    while quiet < 10:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the API was still warming its cache after {timeout:.0f} s")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            warming = json.loads(answer.read()).get("warming", False)
        quiet = 0 if warming else quiet + 1
        time.sleep(0.05 if warming else 0.01)
    return time.monotonic() - started


# ---------------------------------------------------------------------- load


async def _verify(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, outcomes: dict[str, int]
) -> None:
    """One ``POST /v1/verify`` on a kept-alive connection; its outcome is counted."""
    writer.write(
        b"POST /v1/verify HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    payload = await reader.readexactly(length)
    status = head[9:12].decode()
    if status != "200":
        key = f"HTTP {status}"
    elif b'"verdict":"VALID"' in payload:
        key = "VALID"
    elif b'"verdict":"USED"' in payload:
        key = "USED"
    elif b'"code":"NOT_ANCHORED"' in payload:
        key = "NOT_ANCHORED"
    else:
        key = "other"
    outcomes[key] = outcomes.get(key, 0) + 1


async def one_connection(
    port: int, bodies: list[bytes], latencies: list[float], outcomes: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in bodies:
            started = time.perf_counter()
            await _verify(reader, writer, body, outcomes)
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


def run_load(port: int, bodies: list[bytes], concurrency: int) -> tuple[list[float], dict[str, int], float]:
    """:func:`load` on an event loop of its own thread, so a caller that already runs a
    loop in this thread (a test session, a notebook) can measure too."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _load(port, bodies, concurrency)).result()


async def _load(
    port: int, bodies: list[bytes], concurrency: int
) -> tuple[list[float], dict[str, int], float]:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    shares = [bodies[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(one_connection(port, share, latencies, outcomes) for share in shares))
    return latencies, outcomes, time.perf_counter() - started


def run_paced(
    port: int, bodies: list[bytes], rate: float, connections: int
) -> tuple[list[float], dict[str, int], float]:
    """Open-loop load: request i is due at ``i / rate`` seconds, whatever the answers before
    it did, and its latency counts from when it was due, not from when a connection was
    free to send it. A closed loop (:func:`run_load`) slows down with the server and so
    hides its stalls ("coordinated omission"); this measures the latency a steady stream
    of ``rate`` requests per second sees. Returns (latencies, outcomes, seconds)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _paced(port, bodies, rate, connections)).result()


async def _paced(
    port: int, bodies: list[bytes], rate: float, connections: int
) -> tuple[list[float], dict[str, int], float]:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    due: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (item := await due.get()) is not None:
            await _verify(reader, writer, item[1], outcomes)
            latencies.append(time.perf_counter() - item[0])

    workers = [asyncio.create_task(connection(*stream)) for stream in streams]
    started = time.perf_counter()
    sent = 0
    while sent < len(bodies):  # release every request that is due, then sleep ~1 ms
        now = time.perf_counter()
        while sent < len(bodies) and started + sent / rate <= now:
            due.put_nowait((started + sent / rate, bodies[sent]))
            sent += 1
        await asyncio.sleep(0.001)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    for _, writer in streams:
        writer.close()
    return latencies, outcomes, time.perf_counter() - started


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (the uvicorn workers), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def reset_peak_memory() -> None:
    """Reset this process's peak resident set (Linux ``clear_refs``), so :func:`peak_memory_mb`
    reports the peak of what runs from now on; a no-op where the kernel refuses."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    """Peak resident set of this process since the last :func:`reset_peak_memory`, in MB
    (``VmHWM``; the whole-life ``ru_maxrss`` where /proc is unavailable)."""
    try:
        match = re.search(r"VmHWM:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
    except OSError:
        match = None
    if match is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return int(match.group(1)) / 1024


def machine() -> str:
    """One line naming the machine: CPU model, cores, memory, OS, Python, load average."""
    model = platform.processor() or platform.machine()
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if found:
            model = found.group(1).strip()
    except OSError:
        pass
    try:
        total = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        memory = f", {int(total.group(1)) / 1024**2:.1f} GiB RAM" if total else ""
    except OSError:
        memory = ""
    return (
        f"{model}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()};"
        f" Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f} at the start"
    )
