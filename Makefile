# Two commands do all set-up on a fresh machine:
#   make up    — install, start the local stack on embedded defaults, load the Online Retail data
#   make test  — install (with dev tools) and run the whole test suite
# Any CPython >= 3.11 on the PATH (3.11 first: every wheel the tests use exists for it);
# PYTHON=/path/to/python overrides the search.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.14 python3 python; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  2>/dev/null && { echo $$p; break; }; done)
VENV   ?= .venv
PY     := $(VENV)/bin/python
NO_PYTHON := no CPython >= 3.11 found on the PATH. Install one (Debian/Ubuntu: apt-get install \
  python3; or: pip install uv; uv python install 3.12), then run make again, or point \
  PYTHON at it: make PYTHON=/path/to/python3.12 ...

.PHONY: up test install install-dev chromium lint bench layer layer-lock localstack-init clean

$(VENV)/.installed-runtime: pyproject.toml
	@$(if $(PYTHON),:,echo "make: $(NO_PYTHON)" >&2; exit 1)
	@echo "==> $(VENV): creating it with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "==> installing recsys and the local stack's packages (a few minutes the first time)"
	@$(PY) -m pip install --quiet -e ".[local]"
	@touch $@

$(VENV)/.installed-dev: pyproject.toml
	@$(if $(PYTHON),:,echo "make: $(NO_PYTHON)" >&2; exit 1)
	@echo "==> $(VENV): creating it with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "==> installing recsys with its test and lint tools (a few minutes the first time)"
	@$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(VENV)/.installed-runtime $@

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

up: install
	$(VENV)/bin/recsys up --demo

# The browser tests (demo shop, dashboard, API docs) drive Debian's headless Chromium. As root
# with apt (CI), it is installed when missing; elsewhere those tests skip, saying so.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "==> installing Debian's chromium for the browser tests"; \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "==> no chromium: the browser tests will be skipped"; fi; }

# pytest on two workers, a test file each at a time (a module's fixtures are set up once), and
# the 15 slowest tests listed so that a new slow one shows in CI's log.
test: install-dev chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

bench: install-dev
	$(VENV)/bin/recsys bench

# The Lambda layer into build/layer/ and build/layer.zip (`sam build` runs the same build.sh
# into .aws-sam/build/SharedLayer through layers/Makefile).
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
