# The only commands a newcomer needs. Each one installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EVENT ?= events/scheduled.json
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help demo test test-unit test-integration invoke lint validate build clean bench bench-full security lock audit \
	matrix-check matrix-init sam-local \
	doctor local-services
# The SAM CLI pins its own PyYAML, boto3 and more: it gets a venv of its own.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SEC_VENV := .venv-sec
SEC_STAMP := $(SEC_VENV)/.installed
SAM := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM_VENV)/bin/sam

help:
	@echo "make demo      run one poll end to end locally (moto server + Genesys simulator)"
	@echo "make test      unit and integration tests"
	@echo "make invoke    EVENT=events/scheduled.json [DRY_RUN=true]: run a handler as Lambda would, locally"
	@echo "make matrix-init  write skill_matrix.yaml, a starter matrix with skill names to edit (never overwrites)"
	@echo "make matrix-check FILE=skill_matrix.yaml: validate a skill matrix (exit 1 with every problem)"
	@echo "make doctor    skill-router doctor against the demo's set-up (moto server + simulator) [DENY=permission]"
	@echo "make local-services  moto server :5000 + the Genesys simulator :8080 on the host, for sam local invoke"
	@echo "make sam-local EVENT=events/scheduled.json: sam build + sam local invoke (Docker) against make local-services"
	@echo "make lint      ruff, mypy, cfn-lint"
	@echo "make bench     every headline figure in under 10 minutes (docs/performance.md); logs: .venv/bench/"
	@echo "make bench-full  the same plus the long scenarios (the 5,000 backlog in real time: about an hour)"
	@echo "make validate  sam validate --lint (installs the SAM CLI into .venv-sam)"
	@echo "make security  checkov on template.yaml, bandit on the code (installs into .venv-sec)"
	@echo "make lock      re-pin the layer: layers/deps/requirements.lock with hashes (pip-compile)"
	@echo "make audit     pip-audit the layer's lock file (needs internet access to a vulnerability database)"
	@echo "make build     sam build: the function and the dependency layer, for Lambda's Python 3.13 [USE_CONTAINER=true]"

$(STAMP): pyproject.toml requirements-dev.txt layers/deps/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "skill-router needs Python 3.11 or newer: set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r layers/deps/requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

# Two workers (the machines have 2 cores); a file's tests stay on one worker, with its fixtures.
# The ten slowest tests are listed at the end, so the suite's time stays visible.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile --durations=10

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

invoke: $(STAMP)
	$(PY) scripts/local_invoke.py $(EVENT) $(if $(filter true,$(DRY_RUN)),--dry-run)

doctor: $(STAMP)
	$(PY) scripts/doctor_local.py $(if $(DENY),--deny $(DENY)) $(if $(filter true,$(EVENT_MODE)),--event-mode)

# For `sam local invoke ... --env-vars events/env.local.json` (Docker): the function's container reaches
# these through host.docker.internal. Ctrl-C stops both.
local-services: $(STAMP)
	$(PY) scripts/local_services.py

# sam build, then sam local invoke in a Lambda container (Docker) against `make local-services`
# (running in another terminal), with events/env.local.json. Without AWS's public python3.13 image
# on the machine, a local stand-in is built once (scripts/lambda_image/build.sh).
sam-local: $(STAMP) $(SAM_STAMP)
	$(PY) scripts/sam_local.py $(EVENT)

# A fresh clone has no skill_matrix.yaml: `make matrix-init` writes the starter (never over a file).
matrix-init: $(STAMP)
	$(VENV)/bin/skill-router matrix init skill_matrix.yaml

FILE ?= examples/seed_skill_matrix.yaml
matrix-check: $(STAMP)
	$(VENV)/bin/skill-router matrix validate $(FILE)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml

$(SAM_STAMP): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	@touch $(SAM_STAMP)

validate: $(SAM_STAMP)
	$(SAM) validate --lint

# sam build wants a python3.13 for the function; pyenv machines have one (PYENV_VERSION is ignored elsewhere).
# Without one, say so before SAM does (its "No such file or directory" names nothing); USE_CONTAINER=true
# builds inside SAM's build image instead (Docker, and a registry to pull it from).
PY313_ENV := PYENV_VERSION=3.13.0:$$(python3 -c 'import platform; print(platform.python_version())')
build: $(SAM_STAMP)
ifneq ($(USE_CONTAINER),true)
	@$(PY313_ENV) python3.13 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 || { \
		echo "make build: no python3.13 on PATH, and sam build builds for Lambda's Python 3.13." >&2; \
		echo "  Install one (pyenv install 3.13, deadsnakes, python.org), or build inside Docker:" \
			"make build USE_CONTAINER=true (sam build --use-container)." >&2; exit 1; }
endif
	$(PY313_ENV) $(SAM) build $(if $(filter true,$(USE_CONTAINER)),--use-container)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(SEC_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

# The report on the terminal (and .venv/bench/report.txt); product logs and tracebacks in .venv/bench/bench.log.
# The built layer and the fully compiled SDK are cached in ~/.cache/skill-router-bench, keyed by their inputs.
bench: $(STAMP)
	$(PY) scripts/bench.py

bench-full: $(STAMP)
	$(PY) scripts/bench.py --full

$(SEC_STAMP): requirements-security.txt
	$(PYTHON) -m venv $(SEC_VENV)
	$(SEC_VENV)/bin/python -m pip install --quiet -r requirements-security.txt
	@touch $(SEC_STAMP)

# Every accepted checkov finding is suppressed in template.yaml with its reason.
security: $(SEC_STAMP)
	$(SEC_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(SEC_VENV)/bin/bandit -q -c pyproject.toml -r functions scripts

lock: $(SEC_STAMP)
	cd layers/deps && ../../$(SEC_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
		--no-header --output-file requirements.lock requirements.txt

audit: $(SEC_STAMP)
	@$(SEC_VENV)/bin/pip-audit --no-deps --disable-pip --require-hashes -r layers/deps/requirements.lock \
		|| { echo "make audit: pip-audit could not finish (no route to a vulnerability database?):" \
		"nothing was audited, which is not the same as nothing found."; exit 1; }
