# TaskTracker — the two commands: `make run` and `make test`; `make stack` for the topology.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint clean stack stack-down bench bench-run

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files re-run the install whenever pyproject.toml changes.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[embedded]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@

## Serve the API on HOST:PORT (default 127.0.0.1:8000) with zero external services.
run: $(VENV)/.run-installed
	$(BIN)/tasktracker run

## Install test extras and the Debian services (memcached, nginx) when missing, then lint
## (ruff; lint-imports checks the layering of DESIGN 4) and run the whole suite. The tests start
## SecantusDB (or use MONGO_URL) and memcached themselves.
test: $(VENV)/.test-installed
	scripts/ensure-services.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

## The production topology on this machine, in the background: nginx on STACK_PORT (8080) in
## front of STACK_REPLICAS (2) granian replicas, the agent, and MongoDB (SecantusDB unless
## MONGO_URL), Memcached (unless MEMCACHED_SERVERS) and RabbitMQ (127.0.0.1:5672 or AMQP_URL).
## State, pids and logs in ./var/stack; prints the URL.
stack: $(VENV)/.run-installed
	scripts/ensure-services.sh
	$(BIN)/tasktracker stack up

## Stop exactly what `make stack` started.
stack-down: $(VENV)/.run-installed
	$(BIN)/tasktracker stack down

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# Benchmarks (bench/run.py): wrk through nginx against `make stack`, and the floor app in the
# same run; prints one Markdown table. The API needs rate limits a load test does not trip.
BENCH_API_URL ?= http://127.0.0.1:8080
BENCH_ARGS    ?=
BENCH_LIMITS  := RATE_LIMIT_LOGIN_IP=100000000/minute RATE_LIMIT_LOGIN_ACCOUNT=100000000/minute \
                 RATE_LIMIT_API=100000000/minute

## Start `make stack` with benchmark rate limits, run the benchmarks, stop the stack.
bench: $(VENV)/.test-installed
	scripts/ensure-services.sh
	$(BENCH_LIMITS) $(MAKE) stack
	$(MAKE) bench-run; status=$$?; $(MAKE) stack-down; exit $$status

## Benchmark an API that is already running: BENCH_API_URL, MONGO_URL and MONGO_DB name it.
bench-run: $(VENV)/.test-installed
	$(BIN)/python bench/run.py --api-url $(BENCH_API_URL) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
