# `make run` and `make test` set everything up on first use: a .venv with the locked packages.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# `mlflow run . --env-manager local` starts `python` from PATH: make it the venv's.
export PATH := $(BIN):$(PATH)
# What the lock holds: the lab on TensorFlow for the CPU, JAX and PyTorch (its other Keras
# backends), the team server, the tests, the docs.
LOCK_EXTRAS := --extra lab --extra tensorflow-cpu --extra jax --extra torch --extra ray --extra server \
	--extra test --extra docs
# PyTorch's Linux wheels on PyPI are CUDA builds that pull in several GB of CUDA packages. The
# lock pins torch without them: pip then takes a CPU-only build of that release where one is
# offered (a --find-links folder, or --extra-index-url https://download.pytorch.org/whl/cpu),
# else the CUDA build with the CUDA packages it names.
TORCH_RELEASE := 2.13.0
CUDA_PACKAGES := cuda-bindings cuda-pathfinder cuda-toolkit nvidia-cublas nvidia-cuda-cccl \
	nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft \
	nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 \
	nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx triton

.PHONY: setup run test test-fast test-backends lint docs lock ui screenshots clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Exact versions for Linux x86_64 and Python 3.11, from pyproject.toml's ranges.
lock: setup
	printf 'torch==$(TORCH_RELEASE)\n' | $(BIN)/uv pip compile pyproject.toml $(LOCK_EXTRAS) \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --prerelease if-necessary-or-explicit --upgrade --quiet \
		-c /dev/stdin $(foreach name,$(CUDA_PACKAGES),--no-emit-package $(name)) \
		-o requirements.lock

run: setup
	mlflow run . --env-manager local --experiment-name custom-dense

lint: setup
	ruff check .
	ruff format --check .

# The tests that run in process first, in two pytest workers (a test file to each), then
# tests/e2e: processes, servers, whole sweeps, in three workers (their subprocesses often
# wait; the tests of a module that share fixtures keep to one worker).
test: lint
	pytest --ignore=tests/e2e -n 2 --dist loadfile
	pytest tests/e2e -n 3 --dist loadgroup --durations=15

test-fast: lint
	pytest -m "not slow"

# The library's tests on Keras's other backends (`make test` runs them on TensorFlow).
test-backends: setup
	KERAS_BACKEND=jax pytest tests/library -p no:cacheprovider
	KERAS_BACKEND=torch pytest tests/library -p no:cacheprovider

docs: setup
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict

# The MLflow UI over ./mlflow.db, said ready once it answers.
ui: setup
	custom-dense-ui

# The docs' pictures of the UI, from the browser test (needs Debian's chromium).
screenshots: setup
	CUSTOM_DENSE_SCREENSHOTS=$(CURDIR)/docs/screenshots pytest tests/e2e/test_ui.py -p no:cacheprovider

clean:
	rm -rf $(VENV) build site src/*.egg-info .pytest_cache .ruff_cache
