"""Fixtures of the API tests: the app on the in-process chain, a live server in a
thread for the browser tests, and headless Chromium (Debian's ``chromium``, driven by
Playwright from PyPI; never ``playwright install``)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from kpledger.api import ApiSettings, create_app
from kpledger.certificate import parse_certificate, sample_document_bytes
from kpledger.types import ChainTerms
from tests.conftest import World

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=".*httpx2"
    )  # starlette: httpx is deprecated for its test client
    from fastapi.testclient import TestClient

CHROMIUM = os.environ.get("KPLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NOWHERE = "http://127.0.0.1:9"  # discard port: nothing answers JSON-RPC there


@dataclass(frozen=True)
class Anchored:
    """A real certificate document anchored on the test chain."""

    data: bytes
    number: str
    terms: ChainTerms

    @property
    def hash(self) -> str:
        return "0x" + self.terms.document_hash.hex()


def chain_terms(data: bytes) -> ChainTerms:
    terms = parse_certificate(data).chain_terms()
    return terms if isinstance(terms, ChainTerms) else ChainTerms(**asdict(terms))


def anchor(world: World, **overrides: Any) -> Anchored:
    """Issue a sample certificate (BW -> AE by default) through BW's authority."""
    data = sample_document_bytes(**overrides)
    terms = chain_terms(data)
    world.bw_auth.issue(terms, world.bw_exporter.address)
    return Anchored(data, terms.number, terms)


def settings(**values: Any) -> ApiSettings:
    """Settings that ignore the environment's KPLEDGER_* (tests must not depend on it)."""
    values.setdefault("rpc", NOWHERE)
    values.setdefault("deployment", Path("/nonexistent/deployment.json"))
    values.setdefault("head_poll_interval", 0.0)  # every request sees the chain as it is now
    values.setdefault("warm_cache", False)  # no background thread on the in-process chain
    return ApiSettings(_env_prefix="KPLEDGER_TESTS_IGNORE_", **values)


def client_for(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(world.gov, settings())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with client_for(app) as test_client:
        yield test_client


# ---------------------------------------------------------------------- live server


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="kpledger-api-test", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live(world: World) -> Iterator[LiveServer]:
    """The API on the test chain, served over HTTP for the browser."""
    with LiveServer(create_app(world.gov, settings())) as server:
        yield server


@pytest.fixture(scope="session")
def page_server() -> Iterator[LiveServer]:
    """The page alone (no chain behind it): for running the page's hashing code."""
    with LiveServer(create_app(None, settings())) as server:
        yield server


# ---------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"{CHROMIUM} not found: `apt-get install -y chromium` (as root; `make test` does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US", timezone_id="UTC")
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def hashing_page(browser: Any, page_server: LiveServer) -> Iterator[Any]:
    """One page with the verification page loaded, for calling its hashing code."""
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(page_server.url + "/")
    opened.wait_for_function(
        "window.kpledger !== undefined && document.documentElement.dataset.ready === 'true'"
    )
    try:
        yield opened
    finally:
        context.close()
