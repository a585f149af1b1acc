# Two entry points a new user needs: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo test unit lint bench backends-up backends-down clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

tests/drivers/node/node_modules/.installed: tests/drivers/node/package.json
	cd tests/drivers/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed tests/drivers/node/node_modules/.installed

## The demo: real Cassandra + DynamoDB Local on loopback, a sidecar, and an app talking through it.
demo: $(VENV)/.installed
	$(PY) deploy/local/demo.py

## Everything CI runs: lint, types, unit and integration tests against the real back ends.
test: install
	$(PY) -m ruff check cql_protocol proxy translators tests
	$(PY) -m mypy
	$(PY) -m pytest -q -ra --durations=15

unit: $(VENV)/.installed
	$(PY) -m pytest -q tests/unit

lint: $(VENV)/.installed
	$(PY) -m ruff check cql_protocol proxy translators tests
	$(PY) -m mypy

bench: $(VENV)/.installed
	$(PY) tests/bench/bench_passthrough.py

backends-up:
	$(PYTHON) deploy/local/backends up

backends-down:
	$(PYTHON) deploy/local/backends down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/drivers/node/node_modules
