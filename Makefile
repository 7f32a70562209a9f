# The two commands a fresh machine needs (see README.md):
#   make run    install into .venv, then run the main job on the embedded default
#   make test   install into .venv (with the test tools), then lint and run the whole test suite (CI's command)
# For your own loop: make test-fast (lint, then the unit and integration tiers: no servers, under 3 minutes).
# pip runs with -qq: its errors still show, its warnings (an index location this machine lacks, …) do not.
VENV ?= .venv
PYTHON ?= python3
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

.PHONY: run test test-fast lint install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -qq --upgrade pip
	$(VENV)/bin/pip install -qq -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/goodwatch run

lint: install
	$(VENV)/bin/ruff check goodwatch_assets goodwatch_assets_tests benchmarks
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/python -m pytest

test-fast: lint
	$(VENV)/bin/python -m pytest goodwatch_assets_tests/unit goodwatch_assets_tests/integration
