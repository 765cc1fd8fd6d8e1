# omnigen: `make demo` runs a prompt to an MP4 on the embedded emulator; `make test` runs everything.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PROMPT ?= Three tips for keeping houseplants alive through winter: move them away from cold windows, water less often, and skip the fertiliser until spring
export UV_PYTHON := 3.11

.PHONY: setup setup-python setup-system setup-emulators lint test test-fast demo clean

setup: setup-system setup-python setup-emulators

setup-python:
	@command -v uv >/dev/null 2>&1 || test -x $(HOME)/.local/bin/uv || python3 -m pip install --quiet --user "uv==$(UV_VERSION)"
	$(UV) sync --frozen

setup-system:
	@bash scripts/install-system-deps.sh

setup-emulators:
	bash scripts/install-localstack.sh
	bash scripts/install-checkov.sh

lint:
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen mypy shared/src services/ingest/src services/scripter/src services/renderer/src services/webhooks/src cli/src testing/src

test: setup lint
	OMNIGEN_NO_SKIPS=1 $(UV) run --frozen pytest

test-fast: setup-python
	$(UV) run --frozen pytest shared/tests services -q

demo: setup-system setup-python
	$(UV) run --frozen omnigen demo "$(PROMPT)"

clean:
	rm -rf .venv .localstack-venv .checkov-venv .pytest_cache .mypy_cache .ruff_cache
