# The only commands a newcomer needs. Each one installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EVENT ?= events/scheduled.json
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help demo test test-unit test-integration invoke lint build clean

help:
	@echo "make demo      run one poll end to end locally (moto server + Genesys simulator)"
	@echo "make test      unit and integration tests"
	@echo "make invoke    EVENT=events/scheduled.json: run the handler as Lambda would, locally"
	@echo "make lint      ruff, mypy, cfn-lint"
	@echo "make build     sam build (needs the AWS SAM CLI)"

$(STAMP): pyproject.toml requirements-dev.txt layers/deps/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "skill-router needs Python 3.11 or newer: set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r layers/deps/requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

invoke: $(STAMP)
	$(PY) scripts/local_invoke.py $(EVENT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml

build:
	PYENV_VERSION=3.13.0:3.11.7 sam build

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
