# rnnlab: `make lab` to take the course, `make test` to check all of it.
# Both create the virtual environment .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of torch. On machines where plain PyPI serves the CUDA build (a few GB), add
# TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU one; for a GPU see README.md.
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_WORKERS ?= 2

# Two pytest workers on two cores: one thread each, or torch's thread pools fight (10x slower).
TEST_ENV := OMP_NUM_THREADS=1
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: env test test-unit test-notebooks lab bench notebooks student clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PY) -m pip install -e ".[test]"
	touch $@

## Every test: unit tests and the notebooks (executed by nbval), in parallel.
test: env
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(NBVAL) tests notebooks

test-unit: env
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope tests

test-notebooks: env
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(NBVAL) notebooks

## Open the course in JupyterLab.
lab: env
	$(PY) -m jupyter lab notebooks/

## Re-run every numbered notebook on CPU and store its normalized outputs (commit the result).
notebooks: env
	OMP_NUM_THREADS=2 CUDA_VISIBLE_DEVICES= $(PY) tools/notebooks.py execute

## Student copies (solutions replaced by stubs, outputs cleared) in build/student/.
student: env
	$(PY) tools/notebooks.py student --out build/student

## rnnlab vs torch.nn speed, float32, 2 threads (see README.md for the table).
bench: env
	$(PY) benchmarks/bench_rnn.py

clean:
	rm -rf $(VENV) build .pytest_cache
