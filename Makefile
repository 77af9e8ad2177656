# vigil developer tasks. `make run` then `make test` is all a newcomer needs.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

RULES := examples/rules/direct_outbound_smb.toml
SAMPLE := examples/data
# make run keeps its alert store in the work tree, not in the user's data directory.
RUN_DB := .vigil/run-alerts.db

.PHONY: help install run test bench lint chromium

help:
	@echo "make install  create $(VENV) and install vigil with its dev tools (once; again when pyproject.toml changes)"
	@echo "make run      hunt with the Direct Outbound SMB Connection rule over $(SAMPLE)/ and print the alerts"
	@echo "make test     run the test suite (installs Debian's chromium for the console's browser test if missing)"
	@echo "make bench    time vigil against a plain orjson decode of 1,000,000 events (BENCH_EVENTS, BENCH_REPEAT),"
	@echo "              the same rule over the columnar event store, 1,000 generated rules in one hunt (files and"
	@echo "              store; BENCH_RULES, VIGIL_RULES_DIR) and its peak memory over 10,000,000 events"
	@echo "              (BENCH_MEMORY_EVENTS, 0 skips), and EVTX-to-ECS reading against the bare evtx parser"
	@echo "              (BENCH_EVTX_PASSES), and vigil serve's sustained ingest with 100 rules (BENCH_SERVICE_*)"
	@echo "make lint     ruff check, ruff format --check, mypy"

install: $(STAMP)

# The stamp makes a repeated `make install` instant; editing pyproject.toml re-installs.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

run: install
	@$(BIN)/python -m compileall -q src >/dev/null
	@mkdir -p $(dir $(RUN_DB)) && rm -f $(RUN_DB)
	$(BIN)/vigil hunt --rules $(RULES) $(SAMPLE)/ --alert-db $(RUN_DB) --format table

# Debian's chromium for the web console's browser test (which skips, with a reason, without it).
chromium:
	@sh scripts/install_chromium.sh

# Byte-compiled once here: with PYTHONDONTWRITEBYTECODE set (as in some CI images) every vigil
# process the tests start would otherwise compile the package from source (~0.25 s each).
test: install chromium
	@$(BIN)/python -m compileall -q src >/dev/null
	$(BIN)/pytest

bench: install
	@$(BIN)/python -m compileall -q src >/dev/null
	$(BIN)/python benchmarks/bench_query.py
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_corpus.py
	$(BIN)/python benchmarks/bench_evtx.py
	$(BIN)/python benchmarks/bench_service.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
