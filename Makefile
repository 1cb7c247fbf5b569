# Forecourt — common tasks. The two set-up commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: constraints demo test test-slow lint format typecheck generate bench bench-identity layer-size clean install

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt -e '.[local,dev]'
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
	FORECOURT_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q -n 2 tests/unit/test_fuzz_normalizers.py tests/unit/test_fuzz_ingest.py

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
	$(BIN)/pip install --quiet --constraint constraints.txt -e '.[local,dev,bench]'
	$(BIN)/python bench/identity_bench.py --million

layer-size: $(STAMP)
	$(BIN)/python -m forecourt.layer_size

constraints:  ## re-pin constraints.txt from a fresh unpinned install (then run make test and commit)
	rm -rf .venv-pin
	$(PYTHON) -m venv .venv-pin
	.venv-pin/bin/pip install --quiet --upgrade pip
	.venv-pin/bin/pip install --quiet -e '.[local,dev]'
	{ sed -n '/^#/p' constraints.txt; .venv-pin/bin/pip freeze --exclude-editable | grep -v '^forecourt'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-pin

clean:
	rm -rf $(VENV) .venv-pin build .aws-sam .forecourt
