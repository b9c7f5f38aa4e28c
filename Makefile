# The two commands: `make book` and `make test`. Both create .venv with the exact pins on first use.
# Python 3.11 (the pins were resolved for it): python3.11 if there is one, else python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
# nbval compares every stored output with a fresh run; -o addopts="" drops the unit tests' doctest options.
# PYTHONHASHSEED=0 and OMP_NUM_THREADS=1 as in tools/execute.py (set and dict orders; two notebooks share 2 cores).
NBVAL := PYTHONHASHSEED=0 OMP_NUM_THREADS=1 $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tools/nbval_sanitize.cfg \
         -p no:cacheprovider -o addopts=""

.DEFAULT_GOAL := help
.PHONY: help book test unit toc nbval strict notebooks lab venv clean

help:
	@echo "make book       build the HTML book into _build/html (creates .venv on first use)"
	@echo "make test       unit tests + doctests, toc check, nbval on every notebook, strict book build"
	@echo "make notebooks  re-execute notebooks in place (all, or NB=book/NN_name.ipynb)"
	@echo "make lab        open the chapters in JupyterLab"
	@echo "make clean      remove _build"

venv: $(STAMP)

# torch==2.13.0 goes in the same pip command as `-e .`: resolved alone, an unpinned torch pulls CUDA wheels.
$(STAMP): requirements.txt pyproject.toml
	@echo "Installing the pinned environment into $(VENV) (first run: about a minute)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --quiet
	@echo "Open: file://$(CURDIR)/_build/html/index.html"

test: unit toc nbval strict

unit: $(STAMP)
	$(BIN)/python -m pytest tests ntklib -q -n 2

toc: $(STAMP)
	$(BIN)/python tools/check_toc.py

nbval: $(STAMP)
	$(NBVAL) -q -n 2 --dist loadfile $(NOTEBOOKS)

# Every page re-read (--all), every warning an error; stored tracebacks, stderr, unexecuted cells fail first.
strict: $(STAMP)
	$(BIN)/python tools/check_notebooks.py
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going --quiet

# Re-execute notebooks in place with deterministic outputs: `make notebooks` (all) or `make notebooks NB=book/x.ipynb`.
notebooks: $(STAMP)
	$(BIN)/python tools/execute.py $(or $(NB),$(NOTEBOOKS))

lab: $(STAMP)
	$(BIN)/jupyter lab book

clean:
	rm -rf _build
