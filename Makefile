# Logwarden: `make demo` runs it embedded on the bundled sample; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-memory bench-observability sample

$(BIN)/logwarden: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	# pip 23 rejects hashed extras (google-auth[requests]); a pinned newer pip does not.
	$(BIN)/pip install -q pip==26.3
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

demo: $(BIN)/logwarden
	$(BIN)/logwarden run

test: lint
	$(BIN)/pytest

lint: $(BIN)/logwarden
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(BIN)/logwarden
	$(BIN)/python -m tests.benchmarks.embedded

bench-memory: $(BIN)/logwarden
	$(BIN)/python -m tests.benchmarks.memory

# What metrics and tracing cost the embedded dense run (BENCHMARKS.md).
bench-observability: $(BIN)/logwarden
	$(BIN)/python -m tests.benchmarks.observability_cost

sample: $(BIN)/logwarden
	$(BIN)/python -m workers.sample.build
