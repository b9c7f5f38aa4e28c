# The two commands: `make book` and `make test`. Both create .venv with the exact pins on first use.
# CPython 3.11, 3.12 or 3.13: the first of python3.11, python3.12, python3.13, python3 on PATH
# (or `make PYTHON=/path/to/python ...`). tools/check_python.py refuses any other version.
PYTHON ?= $(firstword $(foreach p,python3.11 python3.12 python3.13 python3,$(shell command -v $(p) 2>/dev/null)) python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# PyTorch's CPU-only wheels. On PyPI, Linux's torch wheel bundles CUDA (15 nvidia-* packages and
# triton, about 4 GB); from this index pip takes torch-X+cpu. On Linux it is torch's only index, so
# if it cannot be reached the install stops instead of falling back to PyPI's CUDA build (a local
# wheel folder in PIP_FIND_LINKS still counts); macOS and Windows get their usual wheel from PyPI.
TORCH_INDEX := https://download.pytorch.org/whl/cpu
TORCH_PIN   := $(shell grep -E '^torch==' requirements.txt)
TORCH_STEP  := --no-deps $(if $(filter Linux,$(shell uname -s)),--index-url,--extra-index-url) $(TORCH_INDEX) $(TORCH_PIN)
# Whether .venv's python runs and is supported; if not, the install below runs again.
VENV_OK := $(shell $(BIN)/python tools/check_python.py --quiet >/dev/null 2>&1 && echo yes)
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
# nbval compares every stored output with a fresh run; -o addopts="" drops the unit tests' doctest options.
# PYTHONHASHSEED=0 and OMP_NUM_THREADS=1 as in tools/execute.py (set and dict orders; two notebooks share 2 cores).
NBVAL := PYTHONHASHSEED=0 OMP_NUM_THREADS=1 $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tools/nbval_sanitize.cfg \
         -p no:cacheprovider -o addopts=""

.DEFAULT_GOAL := help
.PHONY: help book test unit toc check nbval strict browser notebooks lab venv clean distclean install-check FORCE

help:
	@echo "make book       build the HTML book into _build/html (creates .venv on first use)"
	@echo "make test       unit tests + doctests, toc and notebook checks, nbval on every notebook,"
	@echo "                strict book build, browser test"
	@echo "make check      stored outputs and install cells of every notebook (part of make test)"
	@echo "make install-check  a fresh venv's install takes torch's CPU build and no CUDA package"
	@echo "make notebooks  re-execute notebooks in place (all, or NB=book/NN_name.ipynb)"
	@echo "make lab        open the chapters in JupyterLab"
	@echo "make browser    headless Chromium reads every built page at 1400 and 400 px"
	@echo "make clean      remove _build (keeps .venv)"
	@echo "make distclean  remove _build and .venv (the next command reinstalls)"

venv: $(STAMP)

# A .venv of an unsupported Python, or one whose python no longer runs, is removed and made again
# (VENV_OK); a half-finished install has no stamp, so the next run installs again (pip skips what is
# there). Two pip steps: torch's own, from the CPU index and without dependencies (so no CUDA
# package can come with it), then every pin with ntklib; torch is then already satisfied.
$(STAMP): requirements.txt pyproject.toml $(if $(VENV_OK),,FORCE)
	@$(PYTHON) tools/check_python.py
	@if [ -e $(VENV) ] && ! $(BIN)/python tools/check_python.py --quiet 2>/dev/null; then \
	    echo "$(VENV) was made with an unsupported or missing Python: removing it"; rm -rf $(VENV); fi
	@echo "Installing the pinned environment into $(VENV) with $$($(PYTHON) -V) (first run: a minute or two)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_STEP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --quiet
	@echo "Open: file://$(CURDIR)/_build/html/index.html"

test: unit toc check nbval strict browser

unit: $(STAMP)
	$(BIN)/python -m pytest tests ntklib -q -n 2

toc: $(STAMP)
	$(BIN)/python tools/check_toc.py

nbval: $(STAMP)
	$(NBVAL) -q -n 2 --dist loadfile $(NOTEBOOKS)

# Stored outputs first (a traceback, stderr text in full, an invalid escape, a line wider than the
# page): these read better than the nbval diff of the same problem.
check: $(STAMP)
	$(BIN)/python tools/check_notebooks.py
	$(BIN)/python tools/install_cell.py --check

# Every page re-read (--all), every warning an error.
strict: $(STAMP)
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going --quiet

# What a fresh Linux machine would install, with this machine's local wheel folder switched off: the
# dependencies of the second pip step, resolved from the registry, must hold no nvidia-* or triton.
install-check: $(STAMP)
	$(BIN)/python tools/check_install.py $(TORCH_STEP)

FORCE:

# Re-execute notebooks in place with deterministic outputs: `make notebooks` (all) or `make notebooks NB=book/x.ipynb`.
notebooks: $(STAMP)
	$(BIN)/python tools/execute.py $(or $(NB),$(NOTEBOOKS))

lab: $(STAMP)
	$(BIN)/jupyter lab book

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV)

# Headless Chromium (Debian's chromium) reads every built page at 1400 and 400 px: math, menus,
# hidden solutions, widths, figures. Reads the build that `make book` or `make strict` left.
browser: $(STAMP)
	$(BIN)/python tools/check_browser.py
