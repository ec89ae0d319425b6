# The two README commands. Each creates/refreshes the virtualenv, installs the project, then runs.
#   make run [ARGS="overrides"]   train the default job (frozen WHT MLP on digits), or any overrides
#   make test                     the test suite (fast; slow tests: make test-all)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.frozen-bench-installed
# torch first, pinned, so pip does not pick a different build for torchvision/torchaudio
TORCH := torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0

.PHONY: run test test-all setup

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev,launchers,optuna,trackers,export]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/frozen-bench run $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q -m "" $(ARGS)
