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
# make data and make import-mcs2019 keep an existing DATA unless FORCE=1
FORCE ?=
# the folder of MCS2019's original files (test_df.csv, track_order_df.csv, ...) for make import-mcs2019
FROM ?=
PYTEST_ARGS ?=
# make train-aggregator: the learned aggregator (gated or attention, training/model.py), its epochs, its file;
# AGGREGATOR is also the model make validate scores
ARCH ?= gated
EPOCHS ?= 40
AGGREGATOR ?= models/aggregator.onnx
# make check: the references' descriptor dimension the models and the output must have (empty: any)
DIMENSION ?=
# the npm package whose weights models/encoder.onnx is converted from (make models)
FACE_API_VERSION ?= 1.7.15
# the submission image (make build, run, wheels): docker where an engine answers, else podman;
# BASE=cuda is the Dockerfile's Ubuntu 18.04 CUDA base, BASE=local the debootstrapped Debian one,
# the default unless the engine already holds the CUDA base (no registry needed)
IMAGE ?= localhost/mcs-submission:latest
# extra options of `python -m submission run` for make run: RUN_ARGS="--cpus 2 --memory 8g"
RUN_ARGS ?=
# the runner's podman command (submission/engines/commands.py), read once; needs no venv
PODMAN := $(shell $(PYTHON) submission/engines/commands.py podman)
# detected once (`:=`), not at every use; a value given on the command line wins. Each probe
# has a deadline: a daemon that hangs must not hang every make command.
ifndef CONTAINER
CONTAINER := $(shell timeout 20 docker info >/dev/null 2>&1 && echo docker || echo podman)
endif
# CONTAINER=buildah: the organizers' build runner, run by an unprivileged user (a subuid range in
# /etc/subuid): vfs storage needs no privilege, each RUN step runs in a rootless user namespace
BUILDAH := buildah --storage-driver vfs
CONTAINER_CMD = $(if $(filter podman,$(CONTAINER)),$(PODMAN),$(if $(filter buildah,$(CONTAINER)),$(BUILDAH),$(CONTAINER)))
IMAGE_INSPECT = $(if $(filter buildah,$(CONTAINER)),$(BUILDAH) inspect --type image,$(CONTAINER_CMD) image inspect)
CUDA_BASE_IMAGE := $(shell sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
ifndef BASE
BASE := $(shell timeout 60 $(IMAGE_INSPECT) $(CUDA_BASE_IMAGE) >/dev/null 2>&1 && echo cuda || echo local)
endif
# the submission archive a participant uploads (make pack)
PACK ?= build/submission.tar.gz
GITLAB_CI_LOCAL_VERSION ?= 4.73.0

BIN := $(VENV)/bin
PY := $(BIN)/python
# the references' descriptor dimension, read only by the targets that use it: the runner's --dim
# (a wrong one is the run's invalid_output, not a failure of the scorer later; empty without
# DATA/gt) and the check stage of make ci-local
REFERENCE_DIM = $(shell $(PY) -c "from evaluate.groundtruth import load_groundtruth; print(load_groundtruth('$(DATA)/gt').dim)")
DIM_OPTION = $(if $(wildcard $(DATA)/gt),--dim $(REFERENCE_DIM))
STAMP := $(VENV)/.installed
# a dataset is there when its competition.yaml is: targets that read DATA depend on it
DATASET := $(DATA)/competition.yaml

.DEFAULT_GOAL := help
.PHONY: help eval venv venv-image test lint score validate models check-models check wheels build run pack ci-local data \
	check-data import-mcs2019 bench bench-gpu bench-aggregators train-aggregator _context _base _context-hash

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

## Lint: ruff, mypy and hadolint (Dockerfile, warning level)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts evaluate submission models pipeline challenge bench training solution.py
	$(BIN)/hadolint --failure-threshold warning Dockerfile

#################################################################################
# Models (the generated files are committed; only a rebuild needs npm)          #
#################################################################################

FACE_API_TGZ := build/vladmandic-face-api-$(FACE_API_VERSION).tgz

$(FACE_API_TGZ):
	mkdir -p build
	cd build && npm pack --silent @vladmandic/face-api@$(FACE_API_VERSION)

## Rebuild the kit's models/encoder.onnx and the baseline (mean) models/aggregator.onnx from the npm package
models: $(STAMP) $(FACE_API_TGZ)
	$(PY) -m models.export_encoder $(FACE_API_TGZ)
	$(PY) -m models.export_aggregator

## Check every models/*.onnx against the contract on the image's onnxruntime 1.16; record them in models/manifest.json
check-models: $(STAMP) $(IMAGE_STAMP)
	$(PY) -m models.check_models --python $(IMAGE_VENV)/bin/python

## The pipeline's submission check on this checkout: files, Python 3.8, models, solution.py on tiny data (bwrap)
check: $(STAMP) $(IMAGE_STAMP)
	$(PY) -m submission check --submission . $(if $(DIMENSION),--dimension $(DIMENSION))

#################################################################################
# The submission image                                                          #
#################################################################################

ifeq ($(BASE),local)
BASE_IMAGE ?= localhost/mcs-base:bookworm
BASE_PYTHON ?= python3
WHEEL_PYTHON ?= 3.11
else
# empty: the Dockerfile's own default (NVIDIA's CUDA 11.8 image for Ubuntu 18.04)
BASE_IMAGE ?=
BASE_PYTHON ?= python3.8
WHEEL_PYTHON ?= 3.8
endif
WHEELHOUSE := wheels/cp$(subst .,,$(WHEEL_PYTHON))
# the last pip for Python 3.8; bionic's own pip 9 cannot install manylinux2014 wheels
IMAGE_PIP ?= 25.0.1
# SOURCE: the folder holding the Dockerfile and the submitted files. The pipeline's build job runs
# the organizers' Makefile with SOURCE=the participant's checkout: the branch's Makefile never runs.
SOURCE ?= .
# What is submitted: the one declaration, contracts/submitted_files.txt (bwrap's staging reads
# it too), listed by the system's Python so the three use one matcher.
SUBMITTED_FILES := $(shell $(PYTHON) -m contracts.submitted $(SOURCE))
# What the Dockerfile copies. The build context is a folder of hard links to these (the
# submitted files under submitted/) and to the wheelhouse of this BASE only: the checkout with
# both wheelhouses would send 427 MB.
CONTEXT_FILES := images/entrypoint.sh requirements/image.txt
CONTEXT_DIR := build/context-$(BASE)
# hard links, except for buildah's unprivileged user, who may not link files it does not own
# (fs.protected_hardlinks): it copies them
CONTEXT_COPY := $(if $(filter buildah,$(CONTAINER)),--reflink=auto,--link)
# what the image is made of, in a label, so a test can tell whether the image is up to date
CONTEXT_HASH = $(shell cat $(SOURCE)/Dockerfile $(CONTEXT_FILES) $(addprefix $(SOURCE)/,$(SUBMITTED_FILES)) \
	| sha256sum | cut -c1-16)-$(BASE)

$(WHEELHOUSE)/.complete: requirements/image.txt | $(STAMP)
	rm -rf $(WHEELHOUSE)
	$(PY) -m pip download --quiet --only-binary=:all: --implementation cp --python-version $(WHEEL_PYTHON) \
		--platform manylinux2014_x86_64 --dest $(WHEELHOUSE) -r requirements/image.txt pip==$(IMAGE_PIP)
	touch $@

_context-hash:
	@echo $(CONTEXT_HASH)

## Download the image's wheels for Python WHEEL_PYTHON into wheels/ (the build installs them offline)
wheels: $(WHEELHOUSE)/.complete

_base:
ifeq ($(BASE),local)
	images/make-base-image.sh $(BASE_IMAGE) $(CONTAINER)
endif

# rebuilt at every build: linking is instant, and a stale link could outlive an edited file; SOURCE's
# files are copied (it may be another filesystem), a link among them as a link, never followed
_context: wheels
	rm -rf $(CONTEXT_DIR)
	mkdir -p $(CONTEXT_DIR)
	cp $(CONTEXT_COPY) --parents $(CONTEXT_FILES) $(WHEELHOUSE)/*.whl $(CONTEXT_DIR)
	mkdir -p $(CONTEXT_DIR)/submitted
	cd $(SOURCE) && cp --no-dereference --parents $(SUBMITTED_FILES) $(abspath $(CONTEXT_DIR))/submitted

## Build IMAGE with CONTAINER (docker, podman or buildah); context: what the Dockerfile copies, one wheelhouse (225 MB)
build: _context _base
	$(CONTAINER_CMD) build $(if $(filter local,$(BASE)),--network none) $(if $(filter buildah,$(CONTAINER)),--isolation rootless) \
		$(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) --build-arg PYTHON=$(BASE_PYTHON) \
		--build-arg WHEELHOUSE=$(WHEELHOUSE) --label mcs.context-hash=$(CONTEXT_HASH) --tag $(IMAGE) \
		--file $(SOURCE)/Dockerfile $(CONTEXT_DIR)

## Run IMAGE on DATA/test through the runner (DevBattle flags, no network, the GPU if any; RUN_ARGS) into RUN_DIR
run: $(STAMP) $(DATASET)
	$(PY) -m submission run --engine $(CONTAINER) --image $(IMAGE) --data $(DATA)/test --out $(RUN_DIR) --force \
		$(DIM_OPTION) $(RUN_ARGS)

# the submitted files, and what builds the image from them
PACK_FILES := $(SUBMITTED_FILES) Dockerfile .dockerignore images/entrypoint.sh requirements/image.txt

## Write PACK, the archive a participant uploads (solution, models, Dockerfile); never overwrites one
pack:
	$(if $(wildcard $(PACK)),$(error $(PACK) already exists: move it away or name another one with PACK=...))
	mkdir -p $(dir $(PACK))
	tar --create --gzip --file $(PACK) $(PACK_FILES)
	@echo "wrote $(PACK): $(PACK_FILES)"

#################################################################################
# The GitLab pipeline, locally                                                  #
#################################################################################

GITLAB_CI_LOCAL := build/node/node_modules/.bin/gitlab-ci-local

$(GITLAB_CI_LOCAL):
	npm install --prefix build/node --no-audit --no-fund --silent gitlab-ci-local@$(GITLAB_CI_LOCAL_VERSION)

## Run the merge-request pipeline here with gitlab-ci-local: shell executor, bwrap, CPU, DATA (settings in build/ci-local)
ci-local: $(STAMP) $(IMAGE_STAMP) $(GITLAB_CI_LOCAL) $(DATASET)
	$(if $(shell git remote get-url origin 2>/dev/null),,$(error gitlab-ci-local needs a git remote named origin \
		(any URL): git remote add origin https://gitlab.example.org/team/solution.git))
	$(PY) -m pipeline local-pipeline --out build/ci-local --tools $(CURDIR) --data $(DATA) --engine bwrap \
		--runs $(abspath build/ci-local/runs) --scores $(abspath build/ci-local/scores) \
		--store $(abspath build/ci-local/store.sqlite) --dimension $(REFERENCE_DIM)
	$(GITLAB_CI_LOCAL) --file build/ci-local/gitlab-ci.yml --concurrency 1 --ignore-predefined-vars CI_PIPELINE_SOURCE \
		--variable CI_PIPELINE_SOURCE=merge_request_event

#################################################################################
# Challenge data                                                                #
#################################################################################

MAKE_DATA = $(PY) -m evaluate make-data --preset $(PRESET) --seed $(SEED) --out $(DATA) --force

# made on first use by every target that reads DATA
$(DATASET): | $(STAMP)
	$(MAKE_DATA)

## Write the synthetic dataset DATA (PRESET, SEED); kept when DATA/competition.yaml exists unless FORCE=1
data: $(STAMP)
	@if [ -f $(DATASET) ] && [ "$(FORCE)" != 1 ]; then \
		echo "$(DATA) exists: kept (make data FORCE=1 rewrites it)"; \
	else \
		$(MAKE_DATA); \
	fi

## Check DATA against the data contract: every problem with its fix (how organizers bring real data)
check-data: $(STAMP)
	$(PY) -m evaluate check-data $(DATA)

## Import MCS2019's original files from FROM into DATA (ids kept); every problem at once; FORCE=1 replaces DATA
import-mcs2019: $(STAMP)
	$(if $(FROM),,$(error FROM is not set: make import-mcs2019 FROM=DIR DATA=data/mcs2019, DIR holding test_df.csv, \
		track_order_df.csv, test_gt_df.csv, gt_descriptors.npy, train_df.csv, train_df_descriptors.npy and data/))
	$(PY) -m evaluate import-mcs2019 --from $(FROM) --out $(DATA) $(if $(filter 1,$(FORCE)),--force)

#################################################################################
# Training an aggregator (host only: PyTorch never enters the image)            #
#################################################################################

## Train ARCH on DATA/train only (persons held out to validate): AGGREGATOR and its models/manifest.json entry
train-aggregator: $(STAMP) $(DATASET)
	$(PY) -m training --data $(DATA) --arch $(ARCH) --epochs $(EPOCHS) --out $(AGGREGATOR)

#################################################################################
# The main job                                                                  #
#################################################################################

## The whole job: venv, demo data if missing, the baseline in the best sandbox, score, a table
eval: $(STAMP) $(DATASET)
	$(PY) -m submission run --engine $(ENGINE) --data $(DATA)/test --out $(RUN_DIR) --force $(DIM_OPTION)
	@$(MAKE) --no-print-directory score DATA=$(DATA) RUN_DIR=$(RUN_DIR)

#################################################################################
# Scoring                                                                       #
#################################################################################

## Score RUN_DIR/output/descriptors.npz against DATA/gt: score.json, metrics.txt, roc.png and a table
score: $(STAMP)
	$(PY) -m evaluate score --descriptors $(RUN_DIR)/output/descriptors.npz --gt $(DATA)/gt --out $(RUN_DIR) --config $(DATA)/competition.yaml

# options of `make validate` (which scores AGGREGATOR on the train persons): VALIDATE_ARGS="--fpr 1e-3 --worst 10"
VALIDATE_ARGS ?=

## Score AGGREGATOR on the train persons of DATA (the metric of its competition.yaml); the worst tracks, their frames
validate: $(STAMP) $(DATASET)
	$(PY) -m evaluate validate --data $(DATA) --aggregator $(AGGREGATOR) $(VALIDATE_ARGS)

#################################################################################
# Benchmarks                                                                    #
#################################################################################

## Scorer, pipeline, sandbox and data generation beside their baselines: bench/results.json and bench/RESULTS.md (about 6 min)
bench: $(STAMP)
	$(PY) -m bench --out bench --data $(DATA)/test

## The aggregators alone (mean+L2, median, drop-3, learned) on data/bench (make data PRESET=bench DATA=data/bench)
bench-aggregators: $(STAMP)
	$(PY) -m bench --out bench --only aggregators --aggregator-data data/bench

## The same on a GPU host (CUDA, IO binding, fp16): bench/results-gpu.json; stops at once without a GPU
bench-gpu: $(STAMP)
	$(PY) -m bench --gpu --out bench --data $(DATA)/test

#################################################################################
# Help                                                                          #
#################################################################################

## Print the targets and the settings in force (target names in colour on a terminal only)
help:
	@echo "Targets:"
	@if [ -t 1 ]; then on=$$(printf '\033[36m'); off=$$(printf '\033[0m'); else on=; off=; fi; \
	awk -v on="$$on" -v off="$$off" '/^## /{doc=substr($$0,4); next} /^[a-zA-Z0-9_-]+:/{if(doc){split($$1,t,":"); printf "  %s%-14s%s %s\n", on, t[1], off, doc}; doc=""}' $(MAKEFILE_LIST)
	@echo
	@echo "Settings (make TARGET NAME=value):"
	@echo "  DATA=$(DATA)  RUN_DIR=$(RUN_DIR)  ENGINE=$(ENGINE)  PRESET=$(PRESET)  SEED=$(SEED)  VENV=$(VENV)"
	@echo "  FROM=$(FROM)  (make import-mcs2019: the folder of MCS2019's original files)  FORCE=$(FORCE)"
	@echo "  IMAGE=$(IMAGE)  CONTAINER=$(CONTAINER)  BASE=$(BASE)  WHEEL_PYTHON=$(WHEEL_PYTHON)  PACK=$(PACK)"
	@echo "  SOURCE=$(SOURCE)  (make build: the folder of the Dockerfile and what it copies)"
	@echo "  RUN_ARGS=$(RUN_ARGS)  (make run: more options of python -m submission run, e.g. \"--cpus 2 --memory 8g\")"
	@echo "  BASE is local (the Debian base made here) unless $(CONTAINER) holds $(CUDA_BASE_IMAGE)"
