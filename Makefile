# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := Resources/SampleData
STAMP := $(VENV)/.installed

.PHONY: demo readme test test-py39 test-py312 bench fuzz clean

# Slicer 5.6/5.8 ship Python 3.9, 5.10+ Python 3.12: `make test` also runs the engine tests (and, on 3.12,
# the module on Slicer 5.10+'s code) under those interpreters, found in pyenv or given as PY39=/PY312=.
PYENV_ROOT ?= $(HOME)/.pyenv
PY39 ?= $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.9.*/bin/python3.9)))
PY312 ?= $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.12.*/bin/python3.12)))
ENGINE_TESTS := Testing/test_python_versions.py Testing/test_clustering.py Testing/test_features.py Testing/test_grid.py \
	Testing/test_masking.py Testing/test_metrics.py Testing/test_model_selection.py Testing/test_mrf.py \
	Testing/test_preprocessing.py Testing/test_statistics.py Testing/test_lesion.py Testing/test_quality_options.py Testing/test_nifti1.py \
	-k "not brats_dev_case"
# Only with the Slicer reference sources beside the project: without them the releases are not parametrised
# and "-k" would deselect every test (pytest's exit status 5).
RELEASE_TESTS_312 := Testing/test_slicer_releases.py -k "v5.10 or v5.12 or main"

# $(call other_python,interpreter,venv,version,extras,tests): create the venv once, run the tests; skip if absent.
define other_python
	@if [ -z "$(1)" ] || [ ! -x "$(1)" ]; then \
		echo "SKIPPED: Python $(3) tests: no python$(3) found (looked in $(PYENV_ROOT)/versions/$(3).*; set PY$(subst .,,$(3))=/path/to/python$(3))"; \
	else \
		if [ ! -f $(2)/.installed ] || [ pyproject.toml -nt $(2)/.installed ]; then \
			$(1) -m venv $(2) && $(2)/bin/python -m pip install --quiet -e ".$(4)" pytest && touch $(2)/.installed || exit 1; \
		fi; \
		echo "== Python $(3): $(2)" && $(2)/bin/python -m pytest -q -p no:cacheprovider $(5); \
	fi
endef

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The demo: the sample, then the demo cohort (the sample four times, three with a manifest mistake) into
# demo_output/cohort/ with its review.html; batch's exit status 1 says that a case failed, as missing-file must.
demo: $(STAMP)
	$(BIN)/unsupervised-segment run $(SAMPLE)/t1.nii.gz $(SAMPLE)/t1_contrast.nii.gz $(SAMPLE)/flair.nii.gz $(SAMPLE)/adc.nii.gz \
		--names t1 t1c flair adc --method gmm -k 3 --preview --output-dir demo_output
	$(BIN)/unsupervised-segment batch $(SAMPLE)/demo_cohort.csv --lesion -k 3 --mrf-beta 0 --no-report --preview --workers 2 \
		--output-dir demo_output/cohort || [ $$? -eq 1 ]

# The README's demo output block, from the demo's first command (Testing/test_readme.py checks it), and its
# pictures (Resources/Screenshots/: report.png and the previews) from the same run.
README_DEMO := $(BIN)/unsupervised-segment run $(SAMPLE)/t1.nii.gz $(SAMPLE)/t1_contrast.nii.gz $(SAMPLE)/flair.nii.gz \
	$(SAMPLE)/adc.nii.gz --names t1 t1c flair adc --method gmm -k 3 --preview -q --output-dir demo_output
readme: $(STAMP)
	$(README_DEMO) > demo_output.txt
	$(BIN)/python Resources/Scripts/readme_demo.py demo_output.txt
	rm -f demo_output.txt
	cp demo_output/report.png demo_output/preview_3d.png demo_output/preview_axial.png Resources/Screenshots/

test: $(STAMP)
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-py39 test-py312

test-py39:
	$(call other_python,$(PY39),.venv39,3.9,,$(ENGINE_TESTS))

test-py312:
	$(call other_python,$(PY312),.venv312,3.12,[preview],$(ENGINE_TESTS))
ifneq ($(wildcard ../shared/slicer-reference),)
	$(call other_python,$(PY312),.venv312,3.12,[preview],$(RELEASE_TESTS_312))
else
	@echo "SKIPPED: Slicer release tests on Python 3.12: no ../shared/slicer-reference beside the project (every test would be deselected)"
endif

bench: $(STAMP)
	$(BIN)/python bench/engine.py

# The long run of the fault properties (make test runs 150 examples): generated images through the command line.
fuzz: $(STAMP)
	FAULT_EXAMPLES=2000 $(BIN)/python -m pytest -q -p no:cacheprovider Testing/test_fault_properties.py -k generated

clean:
	rm -rf $(VENV) .venv39 .venv312 demo_output .pytest_cache
