# Each target runs the idempotent set-up first, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-x86 test-gpu test-arm64 lint bench

setup:
	@bash build/setup.sh

run: setup
	$(VENV)/bin/edge-gateway serve

lint: setup
	$(VENV)/bin/ruff check gateway tests bench build
	$(VENV)/bin/ruff format --check gateway tests bench build
	$(VENV)/bin/mypy

# The whole suite here, then the unit suite and a pipeline smoke on aarch64 under emulation.
test: test-x86 test-arm64

# The 25 slowest tests close the log: where CI's 60 minutes go, run by run.
test-x86: lint
	$(PY) -m pytest -m "not gpu" --durations=25

test-gpu: setup
	$(PY) -m pytest -m gpu

# The unit suite and a pipeline smoke on aarch64 under qemu-user emulation (x86_64 hosts; README "Platforms").
test-arm64: setup
	@bash build/test-arm64.sh

bench: setup
	$(PY) bench/serving.py
	$(PY) bench/memory.py
	$(PY) bench/peers.py
	$(PY) bench/cameras.py
	$(PY) -m bench.alerts
	$(PY) -m bench.fleet
	$(PY) -m bench.audit_time_index
	$(PY) -m bench.motion_mask
	$(PY) bench/accuracy.py
	$(PY) bench/console.py
	$(PY) bench/tracking.py
	$(PY) bench/tracking_cost.py
