# The commands people type. `make run` and `make test` set up everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv bench-venv test-bench test-all bench bench-pipeline bench-dispatch bench-reporting bench-intake reports-rebuild run demo admin dlq shard-cleanup chaos chaos-cluster cluster test test-unit test-integration test-e2e test-browser screens i18n asyncapi lint format clean

help:
	@echo "make run               start every service and the gateway on http://127.0.0.1:$${PORT:-8000}"
	@echo "make demo              drive a realistic scenario through the running system"
	@echo "make test              all tests (unit, integration, end-to-end, browser) against real RabbitMQ and MongoDB"
	@echo "make test-bench        each benchmark at its tiniest sizes (make test-all: both)"
	@echo "make test-unit | test-integration | test-e2e | test-browser"
	@echo "make screens           refresh the screenshots of every main screen under docs/screens/"
	@echo "make i18n [ARGS=--check]  extract new messages into the English catalogue (or check it is complete)"
	@echo "make admin             create the first admin (asks for user name and password)"
	@echo "make dlq [ARGS='replay 2 3']  list or replay dead letters"
	@echo "make shard-cleanup [ARGS=--dry-run]  move the old per-event queues of sharded handlers to their shards"
	@echo "make chaos [ARGS='--orders 60']  fault suite: kills processes, restarts broker and database"
	@echo "make chaos-cluster [ARGS='--orders 40']  the same on a three-node RabbitMQ cluster of its own: nodes SIGKILLed one after another"
	@echo "make cluster           start a three-node RabbitMQ cluster on 5701-5703 and print its AMQP_URI (Ctrl-C deletes it)"
	@echo "make bench             every benchmark at its default sizes (about an hour), then bench/results/README.md with plots"
	@echo "make bench-pipeline [ARGS='--orders 120 --processes 1 2']  orders through every service against the broker's and database's own rates"
	@echo "make bench-dispatch [ARGS='--seed 7']  the planner on a city-sized month against a reference bound"
	@echo "make bench-reporting [ARGS='--responses 1000000']  dashboard questions at 10k/100k/1M responses"
	@echo "make bench-intake [ARGS='--seconds 20']  audience burst on the public survey endpoint against a bare hello"
	@echo "make reports-rebuild   rebuild the statistics from the event archive (shows progress)"
	@echo "make asyncapi          regenerate contracts/asyncapi.json from the schemas"
	@echo "make lint              ruff"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench-venv: $(BENCH_STAMP)

bench: bench-venv test-bench
	bash scripts/ensure_rabbit.sh
	bash scripts/ensure_bench_tools.sh
	$(PY) -m bench.pipeline
	$(PY) -m bench.intake
	$(PY) -m bench.dispatch
	$(PY) -m bench.reporting
	$(PY) -m bench.report

bench-pipeline: bench-venv
	bash scripts/ensure_rabbit.sh
	$(PY) -m bench.pipeline $(ARGS)

bench-dispatch: bench-venv
	$(PY) -m bench.dispatch $(ARGS)

bench-reporting: venv
	$(PY) -m bench.reporting $(ARGS)

bench-intake: venv
	bash scripts/ensure_rabbit.sh
	bash scripts/ensure_bench_tools.sh
	$(PY) -m bench.intake $(ARGS)

reports-rebuild: venv
	$(PY) scripts/rebuild_reports.py $(ARGS)

run: venv
	$(PY) scripts/run.py

demo: venv
	$(PY) scripts/demo.py

admin: venv
	$(PY) scripts/create_admin.py

dlq: venv
	$(PY) scripts/dlq.py $(ARGS)

shard-cleanup: venv
	$(PY) -m scripts.shard_cleanup $(ARGS)

chaos: venv
	bash scripts/ensure_rabbit.sh
	$(PY) scripts/chaos.py $(ARGS)

chaos-cluster: venv
	$(PY) scripts/chaos_cluster.py $(ARGS)

cluster: venv
	$(PY) -m scripts.cluster $(ARGS)

test: venv
	bash scripts/ensure_rabbit.sh
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q --ignore=tests/bench

# each benchmark at its tiniest sizes (a benchmark that no longer runs fails); `make bench` runs it first
test-bench: bench-venv
	bash scripts/ensure_rabbit.sh
	bash scripts/ensure_bench_tools.sh
	$(PY) -m pytest -q tests/bench

test-all: test test-bench

test-browser: venv
	bash scripts/ensure_rabbit.sh
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q tests/browser

screens: venv
	bash scripts/ensure_rabbit.sh
	bash scripts/ensure_chromium.sh
	$(PY) scripts/screens.py $(ARGS)

i18n: venv
	$(PY) scripts/i18n.py $(ARGS)

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-integration: venv
	bash scripts/ensure_rabbit.sh
	$(PY) -m pytest -q tests/integration

test-e2e: venv
	bash scripts/ensure_rabbit.sh
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q tests/e2e

asyncapi: venv
	$(PY) -m contracts.asyncapi > contracts/asyncapi.json

lint: venv
	$(VENV)/bin/ruff check .

format: venv
	$(VENV)/bin/ruff format .

clean:
	rm -rf var .pytest_cache
