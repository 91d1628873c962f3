# The course's commands. `make course` runs every lesson, `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Pinned versions that CI tested; `make test-latest` installs without them.
CONSTRAINTS ?= constraints.txt
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

# Real data beside the checkout (../shared/data), when present. Absolute, because
# nbval runs each notebook from notebooks/.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export COURSE_DATA_DIR ?= $(SHARED_DATA)
endif

.PHONY: setup course test test-unit test-notebooks test-browser test-latest gpu-test lab constraints clean site

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[lab,test,docs]"
	touch $@

course: $(STAMP)
	$(BIN)/python -m course_utils.report run $(NOTEBOOKS)

test: $(STAMP)
	COURSE_PROFILE=smoke COURSE_LIVE_PLOT=0 MPLBACKEND=Agg $(BIN)/python -m pytest tests notebooks \
	    --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -ra

test-unit: $(STAMP)
	COURSE_PROFILE=smoke COURSE_LIVE_PLOT=0 MPLBACKEND=Agg $(BIN)/python -m pytest tests \
	    --ignore=tests/browser -p no:cacheprovider -ra

test-notebooks: $(STAMP)
	COURSE_PROFILE=smoke COURSE_LIVE_PLOT=0 MPLBACKEND=Agg $(BIN)/python -m pytest notebooks \
	    --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -ra

# The learner's view: notebooks run in JupyterLab in headless Chromium (/usr/bin/chromium),
# screenshots in build/screenshots/. `make test` runs them too, or says why it skipped them.
test-browser: $(STAMP)
	COURSE_PROFILE=smoke $(BIN)/python -m pytest tests/browser -p no:cacheprovider -ra

# The newest releases of everything (no constraints file), in a venv of its own.
test-latest:
	$(MAKE) test VENV=.venv-latest CONSTRAINTS=

# Every notebook in the full profile on a GPU machine (CUDA), with the same checks.
gpu-test: $(STAMP)
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-test needs CUDA')"
	COURSE_PROFILE=full COURSE_LIVE_PLOT=0 MPLBACKEND=Agg $(BIN)/python -m pytest notebooks tests/test_expected_results.py \
	    --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -ra

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

constraints: $(STAMP)
	{ echo "# What CI installed and tested (make test). Regenerate with: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^course'; } > constraints.txt

clean:
	rm -rf build

# The course as a static web site, build/site/index.html, from the notebooks that `make course`
# executed (build/notebooks/) and the results it recorded (build/results/): nothing runs again.
site: $(STAMP)
	$(BIN)/python docs/make_site.py
