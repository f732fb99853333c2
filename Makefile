# Every target sets itself up on a fresh machine that has only Python and the package registries.
#
# Two kinds of install:
# - `demo`, `test`, `lint`, `bench`, `docs` (and CI) install the exact versions of requirements/lock.txt,
#   so that an upstream release cannot break them: the lock is what the suite last passed with.
# - `test-latest` installs the newest versions that pyproject's ranges allow, in .venv-latest,
#   and runs the suite there: an upstream break is found on purpose, then `make lock` moves the
#   lock forward once the suite passes.
# pyproject.toml keeps its ranges for people who install the package as a library.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
LOCK := requirements/lock.txt
# torch==2.13.0 first: it is the CPU build already on these machines. Installing the project
# before it would let pip resolve an unpinned torch with gigabytes of CUDA packages.
TORCH := torch==2.13.0

.PHONY: demo test lint bench docs lock test-latest clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# pip, setuptools and wheel come from the lock too, and the project is built with them
# (--no-build-isolation), so the build back-end is pinned as well.
$(STAMP): $(PY) pyproject.toml $(LOCK)
	$(PY) -m pip install --quiet --constraint $(LOCK) pip setuptools wheel
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet --no-build-isolation --constraint $(LOCK) -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m analysis.demo

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP) lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/solvers.py

# The documentation site (mkdocs.yml): the `docs` extra at the lock's versions, then a strict
# build into site/ (a broken link, a missing reference or a bad docstring fails it).
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --no-build-isolation --constraint $(LOCK) -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The lock: resolve pyproject's ranges afresh in a throw-away venv and record every version.
# Deliberately not pip-compile: its resolver reads torch's metadata from the index, where the
# default Linux wheel pulls CUDA packages; freezing a real install records the CPU build we
# run. torch's local label (+cpu) is dropped so that `torch==2.13.0` matches it.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	.venv-lock/bin/python -m pip install --quiet $(TORCH)
	.venv-lock/bin/python -m pip install --quiet --no-build-isolation -e '.[dev,docs]'
	mkdir -p requirements
	{ echo "# Exact versions that make demo / make test / CI install (make lock rewrites this)."; \
	  echo "# Produced from pyproject.toml's ranges by 'make lock'; do not edit by hand."; \
	  .venv-lock/bin/python -m pip freeze --all --exclude-editable \
	    | sed -e 's/^torch==\([0-9.]*\)+.*/torch==\1/' | LC_ALL=C sort -f; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf .venv-lock
	@echo "wrote $(LOCK)"

# The newest releases pyproject allows, no lock: finds an upstream break before a user does.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	.venv-latest/bin/python -m pip install --quiet $(TORCH)
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager \
	  --no-build-isolation -e '.[dev]'
	.venv-latest/bin/python -m ruff check .
	.venv-latest/bin/python -m pytest

clean:
	rm -rf $(VENV) .venv-latest .venv-lock .pytest_cache .hypothesis .ruff_cache build site *.egg-info
