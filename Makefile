# Runner and scorer for the MCS2019-style video face recognition challenge.
# `make` alone prints the targets and the settings in force.

#################################################################################
# Settings (override on the command line: make eval DATA=data/other)          #
#################################################################################
PYTHON ?= python3
VENV ?= .venv
DATA ?= data/demo
RUN_DIR ?= out
ENGINE ?= auto
PRESET ?= demo
SEED ?= 0
PYTEST_ARGS ?=
# the npm package whose weights models/encoder.onnx is converted from (make models)
FACE_API_VERSION ?= 1.7.15

BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help eval venv venv-image test lint score models

#################################################################################
# Environment                                                                   #
#################################################################################

$(STAMP): requirements/host.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

## Create .venv and install the pinned dependencies (every other target does this first)
venv: $(STAMP)

IMAGE_VENV ?= .venv-image
IMAGE_STAMP := $(IMAGE_VENV)/.installed

$(IMAGE_STAMP): requirements/image.txt
	$(PYTHON) -m venv $(IMAGE_VENV)
	$(IMAGE_VENV)/bin/pip install --quiet -r requirements/image.txt
	touch $@

## Create .venv-image with the submission image's pins (onnxruntime 1.16, numpy 1.24) on the host Python
venv-image: $(IMAGE_STAMP)

#################################################################################
# Checks                                                                        #
#################################################################################

## Run the test suite (what CI runs)
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## Lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts evaluate submission models solution.py

#################################################################################
# Models (the generated files are committed; only a rebuild needs npm)          #
#################################################################################

FACE_API_TGZ := build/vladmandic-face-api-$(FACE_API_VERSION).tgz

$(FACE_API_TGZ):
	mkdir -p build
	cd build && npm pack --silent @vladmandic/face-api@$(FACE_API_VERSION)

## Rebuild models/encoder.onnx, models/aggregator.onnx and models/manifest.json from the npm package
models: $(STAMP) $(FACE_API_TGZ)
	$(PY) -m models.export_encoder $(FACE_API_TGZ)
	$(PY) -m models.export_aggregator

#################################################################################
# The main job                                                                  #
#################################################################################

## The whole job: venv, demo data if missing, the baseline in the best sandbox, score, a table
eval: $(STAMP)
	@test -f $(DATA)/competition.yaml || $(MAKE) --no-print-directory data DATA=$(DATA)
	$(PY) -m submission run --engine $(ENGINE) --data $(DATA)/test --out $(RUN_DIR) --force
	@$(MAKE) --no-print-directory score DATA=$(DATA) RUN_DIR=$(RUN_DIR)

#################################################################################
# Scoring                                                                       #
#################################################################################

## Score RUN_DIR/output/descriptors.npz against DATA/gt: score.json, metrics.txt, roc.png and a table
score: $(STAMP)
	$(PY) -m evaluate score --descriptors $(RUN_DIR)/output/descriptors.npz --gt $(DATA)/gt --out $(RUN_DIR) --config $(DATA)/competition.yaml

#################################################################################
# Help                                                                          #
#################################################################################

## Print the targets and the settings in force
help:
	@echo "Targets:"
	@awk '/^## /{doc=substr($$0,4); next} /^[a-zA-Z_-]+:/{if(doc){split($$1,t,":"); printf "  \033[36m%-12s\033[0m %s\n", t[1], doc}; doc=""}' $(MAKEFILE_LIST)
	@echo
	@echo "Settings (make TARGET NAME=value):"
	@echo "  DATA=$(DATA)  RUN_DIR=$(RUN_DIR)  ENGINE=$(ENGINE)  PRESET=$(PRESET)  SEED=$(SEED)  VENV=$(VENV)"
