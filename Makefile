# The two commands a newcomer needs:
#   make demo   create .venv, install vnnews, run the quickstart job on the bundled samples
#   make test   run the test suite (what CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint docs mutation clean

$(STAMP): pyproject.toml constraints.txt setup.py $(wildcard csrc/*)  # (the C kernels are built by the install)
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first, from the pinned version, so nothing pulls a CUDA build
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/vnnews run configs/quickstart.yaml

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow" --ignore=notebooks

docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# Mutation testing of the run core (hours on two cores; resumes where it stopped): mutation/run.py
mutation: install
	$(PIP) install -q -c constraints.txt -e '.[dev,mutation]'
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) mutation/run.py

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf results reports .pytest_cache build/site
