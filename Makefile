# The two commands that work on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
# The venv's Python: 3.13, what the functions run (see .ci/find-python); PYTHON=... overrides.
PYTHON ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out
# The real quota is 5 calls a second per operation; the demo simulates a 10x quota to take
# seconds, not minutes (`make demo DEMO_TPS=5` shows the real pace).
DEMO_TPS ?= 50
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := 1
export CDK_DISABLE_VERSION_CHECK := 1
CDK := npx --no-install cdk --no-notices

.PHONY: demo test lint typecheck pytest synth deploy bench bench-fleet bench-year clean docs

# The pinned dependencies, then the project itself (editable, no dependencies): its packages
# and the `ivs-archive` console command in $(VENV)/bin.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	python="$(PYTHON)"; python="$${python:-$$(sh .ci/find-python)}" && $$python -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# --force: a demo run replaces the archive of the one before.
demo: $(STAMP)
	$(VENV)/bin/ivs-archive local generate --seed 7 --out $(DEMO_OUT)/scenario.json
	$(VENV)/bin/ivs-archive local run --scenario $(DEMO_OUT)/scenario.json --out $(DEMO_OUT)/archive --tps $(DEMO_TPS) --force --stats $(DEMO_OUT)/stats.json
	$(VENV)/bin/ivs-archive local query --dir $(DEMO_OUT)/archive

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest -n 2

test: lint typecheck pytest

synth: $(STAMP) node_modules/.installed
	source $(VENV)/bin/activate && $(CDK) synth --quiet

deploy: $(STAMP) node_modules/.installed
	source $(VENV)/bin/activate && $(CDK) deploy

bench: $(STAMP)
	$(PY) -m bench
	$(PY) -m bench --sizes 1000,10000 --participant-order firstJoinTime --baseline-max 0 \
		--out bench/results/first-join-order.json
	$(PY) -m bench --tps 5 --budget 4 --sizes 100 --baseline-max 0 \
		--out bench/results/real-quota.json

# A busy day of an account, through the whole pipeline: a backlog, then the day as it happens.
bench-fleet: $(STAMP)
	$(PY) -m bench fleet --mode backlog
	$(PY) -m bench fleet --mode live
# A simulated year of the archive: landing objects and Iceberg tables before and after compaction.
bench-year: $(STAMP)
	$(PY) -m bench year

clean:
	rm -rf $(VENV) node_modules cdk.out $(DEMO_OUT) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache

docs: $(STAMP)
	$(PY) -m local.readme
	$(PY) -m infra.operators
