# Each target runs the idempotent set-up first, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-gpu lint bench

setup:
	@bash build/setup.sh

run: setup
	$(VENV)/bin/edge-gateway serve

lint: setup
	$(VENV)/bin/ruff check gateway tests bench build
	$(VENV)/bin/ruff format --check gateway tests bench build
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -m "not gpu"

test-gpu: setup
	$(PY) -m pytest -m gpu

bench: setup
	$(PY) bench/serving.py
	$(PY) bench/cameras.py
	$(PY) -m bench.alerts
	$(PY) bench/accuracy.py
	$(PY) bench/console.py
