# kpledger — every target sets up what it needs; a fresh clone needs only `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: setup test lint slither compile check-artifacts clean chromium bench-api bench test-deep geth bench-network bench-exchange

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# `npm ci` installs exactly what the committed package-lock.json lists and never rewrites
# it, so setting up a fresh clone leaves `git status` clean (tests/test_setup_clean.py).
# After changing package.json: `npm install`, then commit the lock it writes.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

compile: setup
	$(PY) scripts/compile.py

check-artifacts: setup
	$(PY) scripts/compile.py --check

lint: setup slither
	$(VENV)/bin/ruff check kpledger tests scripts
	$(VENV)/bin/mypy

# Slither runs solc by the name `solc`: point that name at the solc-js wrapper.
slither: setup
	mkdir -p $(VENV)/solcjs-bin && ln -sf ../../scripts/solcjs.cjs $(VENV)/solcjs-bin/solc
	PATH="$(CURDIR)/$(VENV)/solcjs-bin:$$PATH" $(VENV)/bin/slither contracts/ --solc-standard-json \
		--solc-remaps "@openzeppelin/=node_modules/@openzeppelin/" --exclude-dependencies --fail-medium

# Debian's Chromium for the page's end-to-end tests (never `playwright install`: it
# downloads a browser, which this network does not allow), and the printed certificate's
# test tools: zbarimg (zbar-tools) decodes its QR code, pdftoppm/pdftotext (poppler-utils)
# render and read it.
chromium:
	test -x /usr/bin/chromium -a -x /usr/bin/zbarimg -a -x /usr/bin/pdftoppm || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium zbar-tools poppler-utils; }

# go-ethereum 1.13.15 (the last release that seals Clique blocks) for the consortium network
# and its fault tests: built once from the Go module proxy into
# $${XDG_CACHE_HOME:-~/.cache}/kpledger/geth-1.13.15/geth, reused afterwards (~4 min to build).
geth:
	scripts/build_geth.sh

test: setup chromium lint geth
	$(PY) -m pytest $(PYTEST_ARGS)

# Anchoring through a 4-validator Clique network beside anvil in the same run.
bench-network: setup geth
	$(PY) scripts/bench_network.py --write-docs

bench-api: setup
	$(PY) scripts/bench_api.py

# The stateful contract test's deep profile: thousands of random examples of 30 steps,
# everything swept after every step (~1 s an example; KPLEDGER_DEEP_EXAMPLES=N to size it).
test-deep: setup
	KPLEDGER_DEEP=1 $(PY) -m pytest tests/contracts/test_state_machine.py -q -s $(PYTEST_ARGS)

# Throughput against baselines (own anvil; ~5 minutes); writes its section of
# docs/benchmarks.md. `make bench BENCH_ARGS=--quick` for a quick look.
BENCH_ARGS ?=
bench: setup
	$(PY) scripts/bench.py $(BENCH_ARGS)

# Exchange between two national node processes (issue 15; ~3 minutes): throughput,
# p99 at 100/s, a 10,000-envelope backlog; BENCH_ARGS=--write records docs/benchmarks.md.
bench-exchange: setup
	$(PY) scripts/bench_exchange.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules artifacts cache

# Start a local ledger: anvil node (state in .kpledger/), contracts, API and page on
# http://127.0.0.1:8000, demo data on first start. Ctrl-C stops it and keeps the state.
# Extra flags: make run RUN_ARGS="--port 9000 --no-demo".
RUN_ARGS ?=
.PHONY: run
run: setup
	$(VENV)/bin/kpledger up $(RUN_ARGS)
