# ledgerflow: the two commands of the quick start are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
BENCH_NODE_STAMP := bench/node_modules/.installed
BENCH_ARGS ?=
FLOOR_ARGS ?=
CLI_ARGS ?=
ASL_OUT := build/asl
TRANSACTIONS ?= 300
FAULTS ?= transient
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export NO_MKDOCS_2_WARNING := 1

.PHONY: install run test lint typecheck validate-asl synth docs unit e2e bench clean
ENV ?= dev

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP)

## The main job: the whole integration on the embedded engine (no AWS account needed).
run: $(STAMP)
	$(VENV)/bin/ledgerflow run --local --transactions $(TRANSACTIONS) --faults $(FAULTS)

## Lint: ruff's rules, its formatter (check only), and the import direction of every package.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(PY) -m mypy

validate-asl: $(STAMP) $(NODE_STAMP)
	rm -rf $(ASL_OUT)
	$(PY) -m orchestration.spec.asl $(ASL_OUT) >/dev/null
	for f in $(ASL_OUT)/*.asl.json; do node_modules/.bin/asl-validator --silent --json-path "$$f" || exit 1; echo "valid: $$f"; done

## Synthesize the CDK app offline (no AWS credentials needed) into cdk.out/.
synth: $(STAMP)
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='{"env": "$(ENV)"}' $(PY) -m orchestration.infra
	@ls cdk.out/*.template.json

## The documentation site (docs/), built strictly: a broken link or snippet fails.
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --quiet --site-dir build/site

## The tests: lint, types, ASL validation, CDK synth, the docs build, then pytest (unit, e2e, infra).
test: lint typecheck validate-asl synth docs
	$(PY) -m pytest -n 2 --dist loadgroup

unit: $(STAMP)
	$(PY) -m pytest tests/unit -n 2

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

$(BENCH_NODE_STAMP): bench/package.json bench/package-lock.json
	npm ci --prefix bench --no-audit --no-fund --loglevel=error
	touch $(BENCH_NODE_STAMP)

## Benchmarks (not part of make test; figures depend on the machine's load, which every result records):
## the engine floor side by side, end-to-end throughput, then `ledgerflow run --local` as typed.
## Results land in bench/results/. Quick check:
## make bench BENCH_ARGS=--quick FLOOR_ARGS="--items 300" CLI_ARGS="--transactions 1000 --repeat 1"
bench: $(STAMP) $(BENCH_NODE_STAMP)
	$(PY) bench/engine_floor.py $(FLOOR_ARGS)
	$(PY) bench/throughput.py $(BENCH_ARGS)
	$(PY) bench/cli_run.py $(CLI_ARGS)

clean:
	rm -rf $(VENV) node_modules bench/node_modules build cdk.out .pytest_cache .mypy_cache .ruff_cache
