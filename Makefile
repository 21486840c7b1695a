# DecentralML: every install and start step lives here (and in the scripts it calls).
# `make demo` and `make test` are the README's contract: each sets up what it needs first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
CACHE ?= $(HOME)/.cache/decentralml
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
export PIP_CACHE_DIR := $(CACHE)/pip
export npm_config_cache := $(CACHE)/npm
export CARGO_TARGET_DIR := $(CACHE)/target-native
DEVNET := chain/devnet

.PHONY: help setup venv devnet-deps ipfs-install ipfs ipfs-stop bench demo test test-chain test-python lint check-runtime runtime weights \
	devnet devnet-stop devnet-reset postgres postgres-stop browser clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: venv devnet-deps ipfs-install browser ## Install everything the tests and the demo need.

venv: $(VENV)/.installed ## Python virtualenv with the project and its dev tools.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

devnet-deps: $(DEVNET)/node_modules/.installed ## Chopsticks and @polkadot/api (npm, pinned, patched).
$(DEVNET)/node_modules/.installed: $(DEVNET)/package.json $(DEVNET)/package-lock.json $(wildcard $(DEVNET)/patches/*.patch)
	cd $(DEVNET) && npm ci --no-audit --no-fund
	touch $@

ipfs-install: ## Build Kubo (IPFS) into the cache from the Go module proxy (once).
	scripts/ipfs.sh install

ipfs: ipfs-install ## Start Kubo on 127.0.0.1:5001, loopback only (repo in .dml/ipfs).
	scripts/ipfs.sh start

ipfs-stop: ## Stop that Kubo.
	scripts/ipfs.sh stop

DEMO_ARGS ?=
demo: setup ## The whole system on this machine: devnet, IPFS, coordinator, 5 workers (1 poisoned), 5 rounds.
	$(PY) scripts/demo.py --summary $(ROOT)/demo/summary.json $(DEMO_ARGS)

bench: setup ## Benchmarks: REST reads and indexer catch-up, aggregation memory, round time vs plain Flower, own task vs central, robustness, LM federated vs central, LM judging on a sample of windows vs every window, privacy (DP accuracy, sealing cost, sealed rounds), committee agreement and cost, the referee at 10/100/300 workers.
	$(PY) -m bench.run
	$(PY) -m bench.aggregation
	$(PY) -m bench.rounds
	$(PY) -m bench.own_task
	$(PY) -m bench.robustness
	$(PY) -m bench.lm
	$(PY) -m bench.lm_judging
	$(PY) -m bench.privacy
	$(PY) -m bench.sealed_rounds
	$(PY) -m bench.agreement
	$(PY) -m bench.committee
	$(PY) -m bench.scale

test: setup check-runtime lint test-chain test-python ## Every test suite.

check-runtime: ## The committed wasm matches chain/ sources (no Rust needed).
	chain/scripts/check-runtime.sh

lint: venv ## ruff and mypy --strict.
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test-chain: ## Pallet unit and benchmark tests, clippy and rustfmt (native, rustup's cargo).
	cd chain && cargo fmt --all --check
	cd chain && cargo test -p pallet-decentralml --locked --features runtime-benchmarks
	cd chain && cargo clippy -p pallet-decentralml --locked --all-targets --features runtime-benchmarks -- -D warnings

test-python: setup ## Integration tests against the devnet (started by the tests) and PostgreSQL.
	cd $(DEVNET) && DML_TEST_REQUIRE_CHAIN=1 node --test test/
	url=$$(scripts/postgres.sh start) && trap 'scripts/postgres.sh stop' EXIT && \
		DML_TEST_POSTGRES_URL=$$url DML_TEST_REQUIRE_POSTGRES=1 $(PY) -m pytest --durations=40

weights: ## Measure the pallet's weights with frame-omni-bencher into weights.rs (then make runtime).
	chain/scripts/benchmark-pallet.sh

runtime: ## Rebuild the runtime wasm, chain spec and manifest under chain/artifacts (Debian's Rust 1.96).
	chain/scripts/build-runtime.sh

devnet: devnet-deps ## Start the devnet on ws://127.0.0.1:9944 (state persists in .devnet/).
	$(DEVNET)/devnet.sh start

devnet-stop: ## Stop the devnet.
	$(DEVNET)/devnet.sh stop

browser: ## Debian's Chromium and chromedriver for the dashboard's tests (installed if missing, as root).
	scripts/browser.sh

postgres: ## Start PostgreSQL on 127.0.0.1:5432 (installs it from Debian if missing); prints its URL.
	scripts/postgres.sh start

postgres-stop: ## Stop that PostgreSQL.
	scripts/postgres.sh stop

devnet-reset: ## Stop the devnet and delete its state.
	$(DEVNET)/devnet.sh reset

clean: ## Remove the virtualenv and local state (not the caches in ~/.cache/decentralml).
	rm -rf $(VENV) .devnet $(DEVNET)/node_modules
