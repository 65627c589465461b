# Two commands do all set-up on a fresh machine:
#   make up    — install, start the local stack on embedded defaults, load the Online Retail data
#   make test  — install (with dev tools) and run the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: up test install install-dev lint bench layer clean

$(VENV)/.installed-runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[local]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed-runtime $@

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

up: install
	$(VENV)/bin/recsys up --demo

test: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

bench: install-dev
	$(VENV)/bin/recsys bench

layer:
	bash layers/build.sh

clean:
	rm -rf $(VENV) build .recsys-data .pytest_cache .mypy_cache .ruff_cache
