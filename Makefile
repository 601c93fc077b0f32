# Patron: two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
UV_VERSION := 0.13.8
export PATH := $(HOME)/.local/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen
CUSTOMERS ?= 20000

.PHONY: help install install-browser demo serve test test-fast lint format bench peers clean

help:
	@echo "make demo   - install, build the demo shop on SQLite, serve http://127.0.0.1:8000"
	@echo "make test   - install and run the whole test suite (SQLite, PostgreSQL, browser)"
	@echo "make lint   - ruff, mypy, import-linter"
	@echo "make bench  - benchmarks, JSON results in benchmarks/results/"

$(UV):
	python3 -m pip install --user --quiet "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --frozen

# Debian's chromium drives the browser tests (Playwright never downloads a browser here);
# the CJK fonts make the Chinese pages render (and their screenshots read) as users see them.
install-browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
	  echo "installing Debian chromium and CJK fonts for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

demo: install
	$(RUN) patron demo --customers $(CUSTOMERS)

serve: install
	$(RUN) patron serve

test: install install-browser
	$(RUN) pytest -n 2 --dist loadgroup -q

test-fast: install
	$(RUN) pytest -n 2 -q -m "not browser and not slow"

lint: install
	$(RUN) ruff check src tests benchmarks migrations
	$(RUN) ruff format --check src tests benchmarks migrations
	$(RUN) mypy
	$(RUN) lint-imports

format: install
	$(RUN) ruff check --fix src tests benchmarks migrations
	$(RUN) ruff format src tests benchmarks migrations

# The peers the benchmarks compare against (lifetimes, ...) in their own environment: their
# pins conflict with Patron's.
peers: .venv-peers/.installed
.venv-peers/.installed: benchmarks/peers-requirements.txt
	python3 -m venv .venv-peers
	.venv-peers/bin/pip install -q -r benchmarks/peers-requirements.txt
	touch $@

bench: install peers
	$(RUN) python -m benchmarks.run

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
