# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := Resources/SampleData
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

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

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
