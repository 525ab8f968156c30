# `make run` starts a local cluster; `make test` runs the whole suite.
# Both create what they need: a .venv with the project, and the system
# packages the suites use (installed with apt-get when running as root).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench deps system-deps clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

deps: $(BIN)/.installed

system-deps:
	./scripts/install-system-deps

run: deps
	$(BIN)/pyb up

test: deps system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: deps
	$(BIN)/ruff check .

bench: deps
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) build src/*.egg-info
