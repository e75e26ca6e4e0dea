# Predictive customer segmentation. `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/default.yaml
DATE   ?=
SET    ?=
SECTIONS ?=
PORT   ?= 5000
EXTRAS ?= dev
comma  := ,

.DEFAULT_GOAL := help
.PHONY: help setup train score validate ui test lint bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@

setup: $(BIN)/.installed ## Create .venv and install the project (done by every target that needs it)

train: setup ## Train segments and models on CONFIG (default: bundled sample), log to MLflow
	$(BIN)/segment train --config $(CONFIG) $(foreach s,$(SET),--set $(s))

score: setup ## Score every customer as of DATE (default: last date in the data) with the champion models
	$(BIN)/segment score --config $(CONFIG) $(if $(DATE),--date $(DATE)) $(foreach s,$(SET),--set $(s))

validate: setup ## Load and clean CONFIG's data and print the data report
	$(BIN)/segment validate --config $(CONFIG)

ui: setup ## Open the MLflow UI on CONFIG's tracking store at http://127.0.0.1:5000 (PORT= to change)
	$(BIN)/segment ui --config $(CONFIG) --port $(PORT)

test: setup ## Run the test suite
	$(BIN)/python -m pytest -q

lint: setup ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup ## Run the benchmarks (SECTIONS= to pick: loading features segments models value scoring performance, or spark); results in bench/results/
	$(BIN)/python -m pip install --quiet -e '.[dev,bench$(if $(filter spark,$(SECTIONS)),$(comma)spark)]'
	$(BIN)/python -m bench $(SECTIONS)

clean: ## Remove the venv, the MLflow store and outputs
	rm -rf $(VENV) mlflow.db mlartifacts output
