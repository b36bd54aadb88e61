# `make book` sets everything up and builds the whole book; `make test` runs every test.
# Both create .venv on first use and reinstall only when requirements.txt or pyproject.toml change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Installed before everything else, so no other package can pull a torch of its own choice.
# On a machine without a local wheel, pick the build you want, e.g. TORCH="torch==2.13.0 --index-url ...".
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup book book-all test clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)
	# Pin the torch now installed, so nothing below can replace it.
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__)" > $(VENV)/constraints.txt
	$(BIN)/python -m pip install -q -c $(VENV)/constraints.txt -r requirements.txt -e .
	touch $(STAMP)

# Executes every chapter (cached: unchanged notebooks are not run again) with warnings as errors.
# The kernels get one OpenMP thread unless OMP_NUM_THREADS is set: on a busy 2-core machine, two torch
# threads that wait on each other ran chapter 10 13 times slower than one thread.
book: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/jupyter-book build . -W -n --keep-going

# The same, from scratch: every page rewritten and every static file copied again.
book-all: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/jupyter-book build . -W -n --keep-going --all

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build
