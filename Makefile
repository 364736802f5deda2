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
# Offline assets for `make site` / `make slides`: PyPI packages that ship MathJax 3 and reveal.js
# (installed without their dependencies; tools/site.py only copies their static files).
SITE_ASSETS := django-static-mathjax==3.2.2.1 sphinx-revealjs==3.2.1

# Two pytest workers on two cores: one thread each, or torch's thread pools fight (10x slower).
TEST_ENV := OMP_NUM_THREADS=1
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: env test test-unit test-notebooks test-browser lab bench notebooks student site slides clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PY) -m pip install -e ".[test]"
	$(PY) -m pip install --no-deps $(SITE_ASSETS)
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

## The browser test alone: JupyterLab in headless Chromium (apt-get install chromium).
test-browser: env
	$(TEST_ENV) $(PY) -m pytest -m browser tests

## The executed course as static HTML (build/site/index.html) and as reveal.js slides
## (build/slides/index.html); both open offline, straight from the file system.
site: env
	$(PY) tools/site.py site --out build/site

slides: env
	$(PY) tools/site.py slides --out build/slides

## Student copies (solutions replaced by stubs, outputs cleared) in build/student/.
student: env
	$(PY) tools/notebooks.py student --out build/student

## rnnlab vs torch.nn speed, float32, 2 threads (see README.md for the table).
bench: env
	$(PY) benchmarks/bench_rnn.py
	$(PY) benchmarks/bench_lm.py

clean:
	rm -rf $(VENV) build .pytest_cache
