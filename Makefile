# The two commands: `make book` and `make test`. Both create .venv with the exact pins on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

.PHONY: book test unit nbval strict toc notebooks venv clean

venv: $(STAMP)

# torch==2.13.0 goes in the same pip command as `-e .`: resolved alone, an unpinned torch pulls CUDA wheels.
$(STAMP): requirements.txt pyproject.toml
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
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tools/nbval_sanitize.cfg \
		-n 2 --dist loadfile -p no:cacheprovider -o addopts="" $(NOTEBOOKS)

strict: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going --quiet

# Re-execute notebooks in place with deterministic outputs: `make notebooks` (all) or `make notebooks NB=book/x.ipynb`.
notebooks: $(STAMP)
	$(BIN)/python tools/execute.py $(or $(NB),$(NOTEBOOKS))

clean:
	rm -rf _build
