# Two commands do all set-up on a fresh machine:
#   make up    — install, start the local stack on embedded defaults, load the Online Retail data
#   make test  — install (with dev tools) and run the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: up test install install-dev lint bench layer layer-lock localstack-init clean

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

# The Lambda layer: build/layer/ (template.yaml's ContentUri) and build/layer.zip.
layer:
	bash layers/build.sh

# Re-resolve layers/requirements.txt into layers/requirements.lock, then build.
layer-lock:
	LAYER_RELOCK=1 bash layers/build.sh

# Regenerate LocalStack's init script from template.yaml (a test checks it is current).
localstack-init: install
	$(PY) -m recsys.local.localstack > localstack/init/ready.d/10-recsys.sh

clean:
	rm -rf $(VENV) build .recsys-data .pytest_cache .mypy_cache .ruff_cache
