"""The same index in PostgreSQL, by URL: a replay there equals the SQLite one row for row.

Uses ``KPLEDGER_TEST_POSTGRES_URL`` when set; otherwise starts a throwaway cluster with
the machine's ``initdb``/``pg_ctl`` (as the ``postgres`` user when run as root), and
skips when neither PostgreSQL nor the psycopg driver is there."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kpledger.audit import build_report, cross_check, replay
from kpledger.chain import artifacts
from tests.audit.test_history import dump
from tests.audit.test_replay import some_history


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    pytest.importorskip("psycopg")
    configured = os.environ.get("KPLEDGER_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    folder = tempfile.mkdtemp(prefix="kpledger-pg-")
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = os.path.join(folder, "data")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(_as_postgres([initdb, "-D", data, "-A", "trust", "-U", "audit", "-E", "UTF8"]), **run)  # type: ignore[call-overload]
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", data, "-o", options, "-w", "-l", f"{folder}/log", "start"]), **run
    )  # type: ignore[call-overload]
    try:
        yield f"postgresql+psycopg://audit@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"]), check=False, timeout=60
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the server for one test."""
    import psycopg

    name = f"audit_{uuid.uuid4().hex[:12]}"
    plain = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_replay_into_postgresql_equals_sqlite(
    world: Any, postgres_url: str, db_url: str, writer: str
) -> None:
    some_history(world)
    result = replay(
        world.chain, world.gov.deployment, postgres_url, progress=False, chunk_blocks=4, writer=writer
    )
    assert result.events > 0
    replay(world.chain, world.gov.deployment, db_url, progress=False)
    assert dump(postgres_url) == dump(db_url)
    assert replay(world.chain, world.gov.deployment, postgres_url, progress=False).events == 0
    checks = cross_check(world.chain, world.gov.deployment, postgres_url, compiled=artifacts.artifacts())
    assert checks.ok, checks.to_dict()
    assert build_report(postgres_url).to_dict()["trade"] == build_report(db_url).to_dict()["trade"]
