# Two commands on a fresh machine: `make test` and `make book` (see README.md).
# Both create .venv if it is missing and install the hash-locked package set into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Profile the book is executed at (profiles/*.yaml); the golden notebooks stay at smoke.
PROFILE ?= bench
# Where the book's runs execute (growth.executors), e.g. EXECUTOR=gpus or EXECUTOR=slurm:jobs,slurm_partition=gpu;
# unset: each notebook's own worker processes on this CPU.
EXECUTOR ?=
export PYTHONHASHSEED := 0
# pytest's workers: one per core, each test file on one of them (XDIST= runs the tests in one process).
XDIST  ?= -n auto --dist loadfile

.PHONY: install test unit nbval book html book-clean golden check-goldens bench clean lock browser book-check

install: $(STAMP)

# requirements.lock pins every package with hashes, so pip takes PyPI's own torch and
# torchvision builds (CPU and GPU alike) and nothing else.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# CI=true as in tools/run_notebooks.py, which wrote the golden outputs: progress bars stay off.
# pytest-xdist spreads the test files over one worker per core (every test, and nbval, runs at one
# thread: conftest.py); a file stays on one worker, so a notebook's cells run in order in one kernel.
# Then the built book in a browser (book-check).
test: $(STAMP)
	CI=true $(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider $(XDIST)
	$(MAKE) book-check

unit: $(STAMP)
	$(BIN)/python -m pytest tests -p no:cacheprovider $(XDIST)

# Re-execute the golden notebooks at the smoke profile, in place (their outputs are what nbval checks),
# every run computed anew, with the portable CPU kernels (the runner's default; growth/machine.py).
golden: $(STAMP)
	$(BIN)/python tools/run_notebooks.py --profile smoke --fresh --in-place notebooks

# Check that the golden notebooks reproduce under every CPU kernel setting a user's machine could
# land on, and on emulated Intel and AMD AVX2 CPUs where qemu-user is installed (tools/check_goldens.py).
check-goldens: $(STAMP)
	$(BIN)/python tools/check_goldens.py

# Execute every notebook at $(PROFILE) into book/, then build the HTML book into _build/html.
# Finished runs are reused and interrupted ones resumed (growth/runs.py): `make book` killed at any
# point and started again picks up where it stopped. FRESH=1 computes every run anew.
book: $(STAMP)
	$(BIN)/python tools/run_notebooks.py --profile $(PROFILE) $(if $(FRESH),--fresh) $(if $(EXECUTOR),--executor $(EXECUTOR)) --out book/notebooks notebooks
	$(MAKE) html

# MathJax ships with the book, so that its pages render their math with no network: npm installs the
# version pinned (with its hash) in book/package-lock.json, only when that file changed, and the one
# self-contained file the pages load (TeX input, SVG output: no font files) goes to book/_static/,
# which the build copies into _build/html/_static/ (mathjax_path in _config.yml).
MATHJAX   := book/_static/mathjax/tex-svg-full.js
NPM_STAMP := book/node_modules/.installed

# Build the HTML book into _build/html from the notebooks already executed under book/notebooks/
# (execution is off in _config.yml), after writing the Claims page from the verdicts they recorded. -W: any warning fails the build, after --keep-going has
# reported them all; --all rebuilds every page, so an unchanged page's warnings are not hidden.
html: $(STAMP) $(MATHJAX)
	$(BIN)/python tools/claims_page.py
	$(BIN)/jupyter-book build . --toc book/_toc.yml --config _config.yml -W --keep-going --all

$(NPM_STAMP): book/package.json book/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm not found. The book ships MathJax from the npm registry (book/package-lock.json): install Node.js and npm (Debian/Ubuntu: sudo apt-get install npm), then run make again." >&2; exit 1; }
	npm ci --prefix book --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(MATHJAX): $(NPM_STAMP)
	mkdir -p $(@D)
	cp book/node_modules/mathjax/es5/tex-svg-full.js book/node_modules/mathjax/LICENSE $(@D)/
	touch $@

# Install the browser book-check renders the pages with (Debian's chromium; tools/install_browser.sh).
browser:
	sh tools/install_browser.sh

# Build the book, then check every page in headless Chromium at 1280 and 800 px (tools/check_book.py):
# tables render as tables, math as math with no network, images load, no parameter cell shows,
# nothing scrolls sideways.
book-check: html
	$(MAKE) browser
	$(BIN)/python tools/check_book.py

# Remove the built book (HTML, doctrees), keeping the executed notebooks.
book-clean:
	rm -rf _build/html _build/.doctrees _build/jupyter_execute

bench: $(STAMP)
	$(BIN)/python benchmarks/loop_overhead.py
	$(BIN)/python benchmarks/growth_step.py
	$(BIN)/python benchmarks/width_step.py

# Regenerate requirements.lock (pip-tools), then environment.yml from it (conda users, same pins).
lock:
	pip-compile --generate-hashes --no-emit-find-links --no-emit-index-url --extra dev --strip-extras --allow-unsafe -o requirements.lock pyproject.toml
	$(PYTHON) tools/lock_to_env.py requirements.lock environment.yml

clean:
	rm -rf _build
