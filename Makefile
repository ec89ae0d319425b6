# The two README commands. Each creates/refreshes the virtualenv, installs the project, then runs.
#   make run [ARGS="overrides"]   train the default job (frozen WHT MLP on digits), or any overrides
#   make test                     the test suite (fast; slow tests: make test-all)
#   CPU=1                         (any target) PyTorch's CPU-only wheels of the pinned versions, from
#                                 its CPU index: no CUDA libraries in the venv (for a host without a GPU)
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned, so pip does not pick a different build for torchvision/torchaudio
TORCH := torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0
CPU_INDEX := https://download.pytorch.org/whl/cpu
ifeq ($(CPU),1)
# the +cpu builds of the same versions (PEP 440: torch==2.11.0 is satisfied by 2.11.0+cpu); named
# with their local label so that pip replaces a CUDA build already in the venv
TORCH := torch==2.11.0+cpu torchvision==0.26.0+cpu torchaudio==2.11.0+cpu
TORCH_INDEX := --index-url $(CPU_INDEX)
STAMP := $(VENV)/.frozen-bench-installed-cpu
else
STAMP := $(VENV)/.frozen-bench-installed
endif

.PHONY: run test test-all setup

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_INDEX) $(TORCH) || { \
	  echo "frozen-bench: could not install $(TORCH)$(if $(TORCH_INDEX), from $(CPU_INDEX); without CPU=1 pip takes PyPI's default (CUDA) build,)" >&2; exit 1; }
	$(PY) -m pip install -q -e '.[dev,launchers,optuna,trackers,export]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/frozen-bench run $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q -m "" $(ARGS)
