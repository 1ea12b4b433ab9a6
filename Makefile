# `make serve` and `make test` are all a newcomer needs; both set up what is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck bench clean

install: $(STAMP)
	@scripts/system-packages.sh build
	@scripts/console-assets.sh
	$(BIN)/llmaas setup

# Re-install only when the pins change; a second `make install` takes seconds.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

serve: install
	$(BIN)/llmaas serve

test: install
	@scripts/system-packages.sh test
	@scripts/console-assets.sh test
	$(BIN)/pytest

# Style, types (strict, tests and benchmarks included) and the layers of .importlinter; CI runs it.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy --strict src tests bench
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.gateway_overhead
	$(BIN)/python -m bench.engine_throughput
	$(BIN)/python -m bench.metering_cost
	$(BIN)/python -m bench.routing_overhead

clean:
	rm -rf $(VENV) .llmaas
