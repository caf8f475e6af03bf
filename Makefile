# ΛiD: the quick start is `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BROWSER := $(VENV)/.browser
CHROMIUM ?= /usr/bin/chromium
PROMETHEUS := $(VENV)/.prometheus
PROMTOOL ?= /usr/bin/promtool

.PHONY: run test bench lint typecheck fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/lukhas-id serve

# tests/browser drive Debian's chromium through Playwright (whose own browser download can't be used).
# As root with apt-get it is installed; otherwise the browser tests skip outside CI and fail in CI.
# The stamp is written only once chromium is there, and is remade whenever chromium is missing.
ifeq ($(wildcard $(CHROMIUM)),)
.PHONY: $(BROWSER)
endif
$(BROWSER): | $(BIN)/python
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian chromium for tests/browser"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
			|| echo "make: apt-get install chromium failed; browser tests will not run" >&2; \
	fi
	@if [ -x $(CHROMIUM) ]; then touch $@; else echo "make: no $(CHROMIUM) (needs root and apt-get): browser tests will not run" >&2; fi

# tests/e2e/test_prometheus.py checks the alert rules with promtool and has a real Prometheus scrape ΛiD:
# Debian's prometheus package, installed the same way as chromium (as root with apt-get; else those tests
# skip outside CI and fail in CI). Its service is not started by this: the tests run their own.
ifeq ($(wildcard $(PROMTOOL)),)
.PHONY: $(PROMETHEUS)
endif
$(PROMETHEUS): | $(BIN)/python
	@if [ ! -x $(PROMTOOL) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian prometheus for tests/e2e/test_prometheus.py"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
			|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends prometheus >/dev/null)) \
			|| echo "make: apt-get install prometheus failed; the Prometheus tests will not run" >&2; \
	fi
	@if [ -x $(PROMTOOL) ]; then touch $@; else echo "make: no $(PROMTOOL) (needs root and apt-get): Prometheus tests will not run" >&2; fi

# With line coverage of src/lukhas_id, the processes the tests start included; the report ends the run, which
# fails below 90 % ([tool.coverage.*] in pyproject.toml). Two workers; the tests that start servers run one
# after another on one of them (tests/conftest.py).
test: $(STAMP) $(BROWSER) $(PROMETHEUS)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --cov --cov-report=term

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
