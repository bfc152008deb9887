# `make run` and `make test` set everything up on first use: a .venv with the pinned packages.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# `mlflow run . --env-manager local` starts `python` from PATH: make it the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: setup run test test-fast lint ui screenshots clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,server]'
	touch $@

run: setup
	mlflow run . --env-manager local --experiment-name custom-dense

lint: setup
	ruff check .
	ruff format --check .

test: lint
	pytest

test-fast: lint
	pytest -m "not slow"

ui: setup
	mlflow ui --host 127.0.0.1

# The README's pictures of the UI, from the browser test (needs Debian's chromium).
screenshots: setup
	CUSTOM_DENSE_SCREENSHOTS=$(CURDIR)/docs/screenshots pytest tests/e2e/test_ui.py -p no:cacheprovider

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
