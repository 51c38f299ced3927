# Border-crossing ledger: developer entry points. `make help` lists them.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
STAMP := .venv/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: $(STAMP) ## install everything: apt packages, Maven jars, Python venv with pinned packages, the compiled domain
	@bash infra/setup.sh
	@$(PY) -m infra.build_native

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv .venv
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q -e '.[dev]'
	@touch $(STAMP)

run: setup ## the main job: Kafka + chDB, a simulated day through the worker into the store, audit summary
	@.venv/bin/ledger run

lint: setup ## ruff lint and format check, mypy strict on the packages
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy

test: setup lint ## everything CI runs: lint, type checks, every test tier (domain compiled), unit tests again interpreted
	@.venv/bin/pytest -q --durations=25
	@echo "unit tests again, the domain interpreted from its sources (LEDGER_NATIVE=0):"
	@LEDGER_NATIVE=0 .venv/bin/pytest -q tests/unit

test-unit: setup ## unit tests only (no services)
	@.venv/bin/pytest -q tests/unit

bench: bench-engine bench-producers bench-sink bench-stream bench-audit bench-trust ## all benchmarks (figures as ratios against same-run baselines)

bench-engine: setup ## pure rules engine: events/s per core, memory per 100k travellers
	@$(PY) -m benchmarks.bench_engine

bench-producers: setup ## simulator and publisher events/s against a raw kafka-python baseline
	@$(PY) -m benchmarks.bench_producers

bench-sink: setup ## sink rows/s into chDB and the server against bare INSERT baselines
	@$(PY) -m benchmarks.bench_sink

bench-audit: setup ## audit store: load rows/s and question latency, maintained tables vs plain (EVENTS=1000000)
	@$(PY) -m benchmarks.bench_audit --events $(or $(EVENTS),1000000)

bench-stream: setup ## worker events/s against a raw consumer, decision latency at 2,000 events/s
	@$(PY) -m benchmarks.bench_stream

bench-trust: setup ## sink rows/s with the Merkle log on vs off, ledger verify leaves/s, tree vs pymerkle
	@$(PY) -m benchmarks.bench_trust

capacity: setup ## capacity plan (docs/capacity.md) from var/bench/stream.json and sink.json
	@$(PY) -m benchmarks.capacity

up: setup ## start Kafka and the ClickHouse server in the background
	@.venv/bin/ledger infra up all

down: ## stop the services started by `make up` or `ledger run`
	@.venv/bin/ledger infra down all

clean: ## remove local data (var/) but keep caches
	rm -rf var

.PHONY: help setup run lint test test-unit bench bench-engine bench-producers bench-sink bench-stream bench-audit bench-trust capacity up down clean
