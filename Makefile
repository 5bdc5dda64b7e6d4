# Two commands matter: `make run` (the engine against the built-in simulator) and `make test`
# (linters, type checks and the test suite). Both create .venv and install the project first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: install run sim test lint test-slow clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/aries-engine run engine.toml $(ARGS)

sim: $(STAMP)
	$(BIN)/aries-engine sim $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
