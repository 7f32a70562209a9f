# The two commands a fresh machine needs (see README.md):
#   make run    install into .venv, then run the main job on the embedded default
#   make test   install into .venv (with the test tools), then run the test suite
VENV ?= .venv
PYTHON ?= python3
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

.PHONY: run test install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/goodwatch run

test: install
	$(VENV)/bin/ruff check goodwatch_assets goodwatch_assets_tests benchmarks
	$(VENV)/bin/python -m pytest
