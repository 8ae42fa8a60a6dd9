# TaskTracker — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint clean bench bench-run

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

## Install test extras and the Debian services (memcached, nginx) when missing, then lint and
## run the whole suite. The tests start SecantusDB (or use MONGO_URL) and memcached themselves.
test: $(VENV)/.test-installed
	scripts/ensure-services.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

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
