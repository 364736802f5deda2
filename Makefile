# rnnlab: `make lab` to take the course, `make test` to check all of it.
# Both create the virtual environment .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch's build. TORCH_INDEX=auto (the default) takes the CPU build: on Linux from PyTorch's CPU
# index when it is reachable (plain PyPI would pull the multi-GB CUDA build), elsewhere from
# PyPI. TORCH_INDEX=pypi for plain PyPI (the CUDA build on Linux), TORCH_INDEX=cu126 (or any
# URL) for another index; see README.md "A GPU". Changing TORCH or TORCH_INDEX rebuilds .venv.
TORCH       ?= torch==2.13.0
TORCH_INDEX ?= auto
PYTEST_WORKERS ?= 2
# Offline assets for `make site` / `make slides`: PyPI packages that ship MathJax 3 and reveal.js
# (installed without their dependencies; tools/site.py only copies their static files).
SITE_ASSETS := django-static-mathjax==3.2.2.1 sphinx-revealjs==3.2.1

# Two pytest workers on two cores: one thread each, or torch's thread pools fight (10x slower).
TEST_ENV := OMP_NUM_THREADS=1
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg
# JupyterLab refuses to start as root unless told; containers often run as root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)
# The course in Simplified Chinese: `make lab LANG=zh`. Every spelling of Chinese switches it (zh, zh-CN, zh_CN,
# zh-Hans, a zh_CN.UTF-8 locale); LANG=en (or any other value) opens the English course. Built from
# translations/zh-CN/*.po by tools/translate.py into build/zh-CN/notebooks (rebuilt on every run), then copied
# into notebooks-zh/, the learner's own folder (untracked): a notebook already there is never overwritten.
ZH := $(filter zh%,$(LANG))
ZH_NOTEBOOKS := build/zh-CN/notebooks
ZH_COURSE := notebooks-zh
# The Chinese course's own JupyterLab settings: menus in Chinese (jupyterlab-language-pack-zh-CN), leaving the
# learner's other JupyterLab settings alone.
ZH_LAB_SETTINGS := .jupyter-zh/settings
STUDENT_DIR ?= $(if $(ZH),my-notebooks-zh,my-notebooks)

.PHONY: env test test-portable lint test-unit test-notebooks test-browser lab lab-zh lab-student zh bench notebooks student site slides slides-pdf nbgrader clean FORCE

# The stamp .venv/.installed is written last and records the torch choice. A .venv without it
# (a first run that failed half-way) or built with another TORCH / TORCH_INDEX is rebuilt from
# scratch; a complete one is only updated when pyproject.toml changes.
TORCH_CHOICE := $(TORCH) $(TORCH_INDEX)
ENV_CURRENT := $(shell test "$$(cat $(VENV)/.installed 2>/dev/null)" = "$(TORCH_CHOICE)" && echo yes)

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(if $(ENV_CURRENT),,FORCE)
	@$(PYTHON) tools/bootstrap.py check-python
	@if [ "$$(cat $@ 2>/dev/null)" != "$(TORCH_CHOICE)" ] && [ -e $(VENV) ]; then \
	  echo "rebuilding $(VENV): incomplete, or built for another torch choice"; rm -rf $(VENV); fi
	rm -f $@
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	index="$$($(PYTHON) tools/bootstrap.py torch-index '$(TORCH_INDEX)')"; \
	  echo "torch: $(TORCH) from $${index:-the default index (PyPI or pip's configured mirror)}"; \
	  $(PY) -m pip install $${index:+--extra-index-url "$$index"} "$(TORCH)"
	$(PY) -m pip install -e ".[test]"
	$(PY) -m pip install --no-deps $(SITE_ASSETS)
	echo "$(TORCH_CHOICE)" > $@

FORCE:

## Lint: ruff's checks and formatting (pinned in pyproject.toml); `make test` runs it first.
lint: env
	$(PY) -m ruff check rnnlab tests tools benchmarks
	$(PY) -m ruff format --check rnnlab tests tools benchmarks

## Every test: lint, unit tests, and the notebooks in English and in Chinese (executed by nbval), in parallel.
test: lint zh
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(NBVAL) tests notebooks $(ZH_NOTEBOOKS)

## The zh-CN notebooks (code and outputs of the English ones, translated markdown) in build/zh-CN/notebooks.
zh: env
	$(PY) tools/translate.py build --lang zh-CN --out $(ZH_NOTEBOOKS) > /dev/null

## The notebooks (English and Chinese) on other CPUs' kernels: ATen's, MKL's and oneDNN's generic code paths (no
## AVX) and AVX2 only (no AVX-512), each with 1 and with 2 threads. Every compared output must match in all four
## runs, so what a notebook stores holds on any learner's machine, not only on the CPU that wrote it. .ci/run runs it.
# Each run: ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA, threads (2 threads: one pytest worker).
PORTABLE_RUNS := default,SSE4_2,SSE41,1 default,SSE4_2,SSE41,2 avx2,AVX2,AVX2,1 avx2,AVX2,AVX2,2
comma := ,
portable_env = ATEN_CPU_CAPABILITY=$(word 1,$(1)) MKL_ENABLE_INSTRUCTIONS=$(word 2,$(1)) ONEDNN_MAX_CPU_ISA=$(word 3,$(1)) OMP_NUM_THREADS=$(word 4,$(1))
define portable_run
	@echo "== the notebooks with $(call portable_env,$(1))"
	$(call portable_env,$(1)) $(PY) -m pytest -q -p no:cacheprovider -n $(if $(filter 1,$(word 4,$(1))),$(PYTEST_WORKERS),1) --dist loadscope $(NBVAL) notebooks $(ZH_NOTEBOOKS)

endef

test-portable: zh
	$(foreach run,$(PORTABLE_RUNS),$(call portable_run,$(subst $(comma), ,$(run))))

test-unit: env
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope tests

test-notebooks: zh
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(NBVAL) notebooks $(ZH_NOTEBOOKS)

## Open the course in JupyterLab (the notebooks with solutions and stored outputs); LANG=zh: in Chinese.
lab: env $(if $(ZH),zh)
ifneq ($(ZH),)
	@echo "打开中文版课程 (LANG=$(LANG)): $(ZH_COURSE)/, JupyterLab 菜单为中文。英文版: make lab LANG=en"
	$(PY) tools/notebooks.py course --src $(ZH_NOTEBOOKS) --out $(ZH_COURSE)
	$(PY) tools/bootstrap.py lab-locale zh_CN $(ZH_LAB_SETTINGS)
	RNNLAB_LANG=zh-CN JUPYTERLAB_SETTINGS_DIR=$(ZH_LAB_SETTINGS) $(PY) -m jupyter lab $(LAB_FLAGS) $(ZH_COURSE)/
else
	@echo "Opening the English course (notebooks/). In Chinese: make lab LANG=zh"
	$(PY) -m jupyter lab $(LAB_FLAGS) notebooks/
endif

## 简体中文版课程 (same as `make lab LANG=zh`).
lab-zh:
	$(MAKE) lab LANG=zh

## Your own copies, exercises as stubs, in my-notebooks/ (created once, never overwritten: your
## work stays yours, and `git pull` updates notebooks/ without touching it). Then JupyterLab there.
lab-student: env
	$(PY) tools/notebooks.py student --out $(STUDENT_DIR) --keep-existing $(if $(ZH),--lang zh-CN)
	$(if $(ZH),$(PY) tools/bootstrap.py lab-locale zh_CN $(ZH_LAB_SETTINGS))
	$(if $(ZH),RNNLAB_LANG=zh-CN JUPYTERLAB_SETTINGS_DIR=$(ZH_LAB_SETTINGS) )$(PY) -m jupyter lab $(LAB_FLAGS) $(STUDENT_DIR)/

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

## Every deck as a PDF in build/slides-pdf/ (zh-CN/ too), one slide per page: headless Chromium (apt-get install chromium).
slides-pdf: env
	$(PY) tools/site.py slides-pdf --out build/slides-pdf

## Student copies (solutions replaced by stubs, outputs cleared) in build/student/.
student: env
	$(PY) tools/notebooks.py student --out build/student

## The course as an nbgrader course in build/nbgrader/ (LANG=zh: the Chinese edition): each notebook an
## assignment whose solutions are graded answers and whose checks are locked tests. Then, there:
## nbgrader generate_assignment 02_rnncell_loops; nbgrader autograde 02_rnncell_loops.
nbgrader: env
	$(PY) tools/notebooks.py nbgrader --out build/nbgrader$(if $(ZH),-zh --lang zh-CN)

## rnnlab vs torch.nn speed, float32, 2 threads, and minGRU scan vs loop vs GRU (see README.md for the tables).
bench: env
	$(PY) benchmarks/bench_rnn.py
	$(PY) benchmarks/bench_lm.py
	$(PY) benchmarks/bench_parallel.py

clean:
	rm -rf $(VENV) build .pytest_cache
