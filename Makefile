# Two commands on a fresh machine: `make test` and `make book` (see README.md).
# Both create .venv if it is missing and install the hash-locked package set into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Profile the book is executed at (profiles/*.yaml); the golden notebooks stay at smoke.
PROFILE ?= bench
export PYTHONHASHSEED := 0

.PHONY: install test unit nbval book html golden bench clean lock

install: $(STAMP)

# requirements.lock pins every package with hashes, so pip takes PyPI's own torch and
# torchvision builds (CPU and GPU alike) and nothing else.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest tests -p no:cacheprovider

# Re-execute the golden notebooks at the smoke profile, in place (their outputs are what nbval checks).
golden: $(STAMP)
	$(BIN)/python tools/run_notebooks.py --profile smoke --in-place notebooks

# Execute every notebook at $(PROFILE) into book/, then build the HTML book into _build/html.
book: $(STAMP)
	$(BIN)/python tools/run_notebooks.py --profile $(PROFILE) --out book/notebooks notebooks
	$(MAKE) html

# Build the HTML book from the notebooks already executed under book/ (no execution).
html: $(STAMP)
	$(BIN)/jupyter-book build . --path-output . -W --keep-going

bench: $(STAMP)
	$(BIN)/python benchmarks/loop_overhead.py

lock:
	pip-compile --generate-hashes --extra dev --strip-extras --allow-unsafe -o requirements.lock pyproject.toml

clean:
	rm -rf _build
