# The course's commands. `make course` runs every lesson, `make test` checks everything.
#
# USE_SYSTEM_TORCH=1 PYTHON=/path/to/python: use that interpreter's environment as it is (a GPU
# image's own CUDA torch, say) instead of building .venv. torch and torchvision are never replaced;
# only what is missing is installed (.ci/system_env.py), from PIP_FIND_LINKS when no index answers.
PYTHON ?= python3
VENV   ?= .venv
USE_SYSTEM_TORCH ?=
# Pinned versions that CI tested; `make test-latest` installs without them.
CONSTRAINTS ?= constraints.txt
# The extras `setup` installs; in someone else's environment, gpu-test and gpu-check install only `test`.
EXTRAS ?= lab,test,lint,browser,docs
ifeq ($(USE_SYSTEM_TORCH),1)
PY    := $(PYTHON)
STAMP := system-env
gpu-test gpu-check: EXTRAS = test
else
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
endif
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Exercise solutions; the wildcard is empty when the folder is missing or empty.
SOLUTIONS := $(sort $(wildcard notebooks/solutions/*.ipynb))
PYTEST_ARGS ?=
# make test lints first; LINT= skips that (e.g. to see test results while lint findings are open).
LINT ?= lint
SMOKE := COURSE_PROFILE=smoke COURSE_LIVE_PLOT=0 MPLBACKEND=Agg
NBVAL := --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -ra
# The oldest releases the course supports: pyproject.toml's floors (make test-oldest).
OLDEST := build/oldest-constraints.txt

# Real data beside the checkout (../shared/data), when present. Absolute, because
# nbval runs each notebook from notebooks/.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export COURSE_DATA_DIR ?= $(SHARED_DATA)
endif

.PHONY: setup system-env course test test-unit test-notebooks test-browser test-latest test-oldest \
        test-colab test-kernels lint format gpu-test gpu-check gpu-wheels gpu-bundle lab constraints clean site

setup: $(STAMP)

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --progress-bar off $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[$(EXTRAS)]"
	touch $@

# Checks the interpreter's environment every time (it is not ours to stamp) and installs only
# what is missing; stops at once, naming every missing package, when it cannot.
system-env:
	$(PYTHON) .ci/system_env.py --extras $(EXTRAS) $(if $(CONSTRAINTS),--constraints $(CONSTRAINTS))

course: $(STAMP)
	$(PY) -m course_utils.course.report run $(NOTEBOOKS) $(SOLUTIONS)

# ruff: lint and format check, configured in pyproject.toml ([tool.ruff]).
LINT_PATHS := course_utils tests tools benchmarks notebooks .ci
lint: $(STAMP)
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

# Rewrites files: the formatter, then the fixes ruff calls safe.
format: $(STAMP)
	$(PY) -m ruff format $(LINT_PATHS)
	$(PY) -m ruff check --fix $(LINT_PATHS)

test: $(STAMP) $(LINT)
	$(SMOKE) $(PY) -m pytest tests notebooks $(NBVAL) $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(SMOKE) $(PY) -m pytest tests --ignore=tests/browser -p no:cacheprovider -ra $(PYTEST_ARGS)

test-notebooks: $(STAMP)
	$(SMOKE) $(PY) -m pytest notebooks $(NBVAL) $(PYTEST_ARGS)

# The learner's view: notebooks run in JupyterLab in headless Chromium (/usr/bin/chromium),
# screenshots in build/screenshots/. `make test` runs them too, or says why it skipped them.
test-browser: $(STAMP)
	COURSE_PROFILE=smoke $(PY) -m pytest tests/browser -p no:cacheprovider -ra $(PYTEST_ARGS)

# The newest releases of everything (no constraints file), in a venv of its own.
# PIP_CONFIG_FILE=/dev/null: ignore a machine-wide pip setting that caps versions.
test-latest:
	PIP_CONFIG_FILE=/dev/null $(MAKE) test VENV=.venv-latest CONSTRAINTS=

# matplotlib 3.10.0 (Colab's, and the floor) calls pyparsing names that pyparsing 3.3 deprecates.
# test-colab and test-oldest allow exactly those warnings, raised inside matplotlib's parsers;
# every other target keeps them errors (course_utils.STRICT_WARNING_FILTERS).
OLD_MATPLOTLIB_WARNINGS := ignore:'(oneOf|parseString|resetCache|enablePackrat|leaveWhitespace|setName|setParseAction|endQuoteChar|unquoteResults)' (argument is )?deprecated:DeprecationWarning:matplotlib\._(fontconfig_pattern|mathtext)

# The oldest releases pyproject.toml allows (each `>=` floor as `==`) on the oldest Python it
# declares (requires-python; found on PATH or through pyenv, or PYTHON_OLDEST=/path/to/python3.X),
# in .venv-oldest.
OLDEST_PY_VERSION := $(shell sed -n 's/^requires-python = ">=\([0-9.]*\)".*/\1/p' pyproject.toml)
PYTHON_OLDEST ?= $(shell .ci/find_python.sh $(OLDEST_PY_VERSION))
test-oldest: export COURSE_ALLOWED_WARNINGS = $(OLD_MATPLOTLIB_WARNINGS)
test-oldest: $(OLDEST)
	@test -n "$(PYTHON_OLDEST)" || { echo "make test-oldest needs Python $(OLDEST_PY_VERSION) (see above)" >&2; exit 2; }
	$(MAKE) test VENV=.venv-oldest CONSTRAINTS=$(OLDEST) PYTHON=$(PYTHON_OLDEST)

# Numerical claims on other CPUs: the unit tests that assert numerical equalities, once with each
# of torch's portable CPU kernel sets (ATEN_CPU_CAPABILITY=default, no SIMD, as on a CPU without
# AVX2; and avx2) instead of the machine's own (AVX-512 on the CI machine). Both always run; it
# fails if either failed. .ci/run runs it after `make test` (about 2 minutes for both; README).
KERNEL_TESTS ?= tests/test_engine.py tests/test_checkpoint.py tests/test_distributed.py \
    tests/test_device_data.py tests/test_metrics.py tests/test_models.py
test-kernels: $(STAMP)
	status=0; for cap in default avx2; do \
	    echo "test-kernels: ATEN_CPU_CAPABILITY=$$cap"; \
	    ATEN_CPU_CAPABILITY=$$cap $(SMOKE) $(PY) -m pytest $(KERNEL_TESTS) -p no:cacheprovider -q -ra $(PYTEST_ARGS) \
	        || status=1; \
	done; exit $$status

# An emulated Colab (README, "Colab"): Colab's Python 3.13 and its releases of everything the course
# and its tests import (.ci/colab-pins.txt, from googlecolab/backend-info), in .venv-colab (about
# 5 GB: PyPI's torch 2.11.0 brings its CUDA libraries). Then (1) every notebook's real first cell,
# installing the course from this checkout's committed HEAD (git+file://), must change none of
# Colab's packages (.ci/colab.py); (2) the widget tests and every lesson and solutions notebook
# run under nbval with that installed copy. Needs Python 3.13 (PATH, pyenv, or COLAB_PYTHON=...)
# and git.
COLAB_VENV ?= .venv-colab
COLAB_PYTHON ?= $(shell .ci/find_python.sh 3.13)
test-colab: export COURSE_ALLOWED_WARNINGS = $(OLD_MATPLOTLIB_WARNINGS)
test-colab: $(COLAB_VENV)/.installed
	$(COLAB_VENV)/bin/python .ci/colab.py $(NOTEBOOKS) $(SOLUTIONS)
	@# PYTHONSAFEPATH and importlib mode: neither the checkout nor tests/ goes on sys.path, so the
	@# tests, like the notebooks' kernels, import the copy the bootstrap cell installed.
	PYTHONSAFEPATH=1 $(COLAB_VENV)/bin/python -c "import course_utils, sys; \
	    sys.exit(0 if 'site-packages' in course_utils.__file__ else 'not the installed copy: ' + course_utils.__file__)"
	PYTHONSAFEPATH=1 $(SMOKE) $(COLAB_VENV)/bin/python -m pytest --import-mode=importlib tests/test_widgets.py \
	    $(NOTEBOOKS) $(SOLUTIONS) $(NBVAL) $(PYTEST_ARGS)

$(COLAB_VENV)/.installed: .ci/colab-pins.txt
	@test -n "$(COLAB_PYTHON)" || { echo "make test-colab needs Python 3.13 (see above)" >&2; exit 2; }
	rm -rf $(COLAB_VENV)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --progress-bar off --no-deps -r .ci/colab-pins.txt
	$(COLAB_VENV)/bin/python -m pip check
	touch $@

$(OLDEST): pyproject.toml .ci/oldest.py
	@mkdir -p $(@D)
	$(PYTHON) .ci/oldest.py pyproject.toml --extras $(EXTRAS) > $@

# Every notebook (solutions too) in the full profile on a GPU machine (CUDA), then the floors.
gpu-test: $(STAMP)
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-test needs CUDA')"
	COURSE_PROFILE=full COURSE_LIVE_PLOT=0 MPLBACKEND=Agg $(PY) -m pytest notebooks tests/test_expected_results.py \
	    $(NBVAL) $(PYTEST_ARGS)

# gpu-test and both benchmarks on CUDA, in one command; writes build/gpu-report.md. Without a GPU
# it stops at once (before any install), saying so.
BENCH_ARGS ?=
gpu-check:
	@$(PYTHON) .ci/gpu_check.py --precheck
	$(MAKE) $(STAMP) EXTRAS=$(EXTRAS)
	$(PY) .ci/gpu_check.py --make "$(MAKE)" --bench-args "$(BENCH_ARGS)" \
	    $(if $(filter 1,$(USE_SYSTEM_TORCH)),--system-python $(PYTHON))

# A wheel folder for a GPU image with Python 3.12 and its own torch, but no package index: every
# package `.[test]` needs except torch, torchvision and their CUDA libraries, as pinned here.
# There: make gpu-check USE_SYSTEM_TORCH=1 PYTHON=python3 PIP_FIND_LINKS=$PWD/build/wheels-py312
# WHEELS_SKIP: what the target image is known to have already (default: a GPU image with
# Python 3.12.3, torch 2.11.0+cu130, numpy, matplotlib, pytest, ...).
WHEELS_PYTHON ?= 3.12
WHEELS_SKIP ?= numpy pillow matplotlib contourpy cycler fonttools kiwisolver pyparsing python-dateutil six \
    packaging psutil pytest pluggy iniconfig tqdm typing-extensions setuptools pygments torchmetrics \
    lightning-utilities attrs coverage pytest-timeout jinja2 markupsafe
gpu-wheels: $(VENV)/.installed
	rm -rf build/wheels-py$(WHEELS_PYTHON)
	$(PY) .ci/system_env.py --download build/wheels-py$(WHEELS_PYTHON) --python-version $(WHEELS_PYTHON) \
	    --extras test --skip "$(WHEELS_SKIP)"

# Everything a GPU machine without an index needs, in build/gpu-bundle (carried there whole):
# the wheels above and ../shared/data as one archive. There: bash .ci/gpu_session.sh
gpu-bundle: gpu-wheels
	rm -rf build/gpu-bundle && mkdir -p build/gpu-bundle
	cp -r build/wheels-py$(WHEELS_PYTHON) build/gpu-bundle/wheels
	tar -czf build/gpu-bundle/data.tar.gz -C $(SHARED_DATA) MNIST/raw cifar10_subset.npz
	du -sh build/gpu-bundle/*

lab: $(STAMP)
	$(PY) -m jupyterlab notebooks

constraints: $(STAMP)
	{ echo "# What CI installed and tested (make test). Regenerate with: make constraints"; \
	  $(PY) -m pip freeze --exclude-editable | grep -v -i '^course'; } > constraints.txt

clean:
	rm -rf build

# The course as a static web site, build/site/index.html, from the notebooks that `make course`
# executed (build/notebooks/) and the results it recorded (build/results/): nothing runs again.
site: $(STAMP)
	$(PY) docs/make_site.py
