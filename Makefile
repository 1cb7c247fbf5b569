# Forecourt — common tasks. The two set-up commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint format typecheck generate bench bench-identity layer-size clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## install everything, start the local stack and run the demo
	$(BIN)/forecourt demo

test: $(STAMP)  ## lint, type-check and run the default test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

test-slow: $(STAMP)  ## load, long fuzzing and browser tests
	$(BIN)/pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

generate: $(STAMP)  ## regenerate what derives from schemas/
	$(BIN)/forecourt schemas generate

bench: $(STAMP)
	$(BIN)/python bench/ingest_bench.py

bench-identity: $(STAMP)  ## identity resolution vs Splink on labelled people (installs Splink)
	$(BIN)/pip install --quiet -e '.[local,dev,bench]'
	$(BIN)/python bench/identity_bench.py --million

layer-size: $(STAMP)
	$(BIN)/python -m forecourt.layer_size

clean:
	rm -rf $(VENV) build .aws-sam .forecourt
