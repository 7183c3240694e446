# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install tools broker redis postgres run demo test lint unit faults bench clean

$(BIN)/eventyard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/eventyard  ## create .venv and install eventyard with everything the tests need

tools:  ## test-only tools: promtool (Debian's prometheus), chromium and the AsyncAPI parser (npm)
	@command -v promtool >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
	  >/dev/null 2>&1; } || echo "promtool not installed: its tests will be skipped"
	@# The browser tests drive Debian's chromium with Playwright; Playwright's own browser
	@# download (`playwright install`) is never used.
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
	  >/dev/null 2>&1; } || echo "chromium not installed: the browser tests will be skipped"
	@test -d tools/asyncapi/node_modules/@asyncapi/parser || { command -v npm >/dev/null 2>&1 && \
	  npm ci --prefix tools/asyncapi --silent --no-audit --no-fund; } || \
	  echo "npm not available: the AsyncAPI parser test will be skipped"

broker:  ## make sure RabbitMQ answers (start the local one if it is stopped)
	scripts/ensure-rabbitmq

redis:  ## make sure Redis answers, for the tests of intake's shared dedupe store
	scripts/ensure-redis

postgres:  ## make sure PostgreSQL answers, for the tests of the attempts log's PostgreSQL store
	scripts/ensure-postgres

# Without an eventyard.toml of your own, `make run` uses the demo's integrations file (stand-ins
# on loopback that `eventyard demo` serves), its stand-in secrets and a short retry ladder.
ifeq ($(wildcard eventyard.toml),)
RUN_ENV := set -a && . cli/demo/demo.env && set +a && export EVENTYARD_CONFIG=cli/demo/eventyard.demo.toml &&
else
RUN_ENV := export EVENTYARD_CONFIG=eventyard.toml &&
endif

run: install broker  ## run all five services against the local RabbitMQ
	@$(RUN_ENV) echo "integrations file: $$EVENTYARD_CONFIG" && \
	  $(BIN)/eventyard topology apply && exec $(BIN)/eventyard run all

demo: install broker  ## the narrated demo (starts the services itself if none answer)
	$(BIN)/eventyard demo

lint: install  ## ruff and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: install tools broker redis postgres lint  ## everything CI runs: lint, then the whole suite
	@# Two workers, a test file each at a time (the tests share nothing but the broker, on
	@# vhosts of their own); the fault suite alone after, as it stops and starts nodes.
	$(BIN)/pytest -m "not faults" -n 2 --dist loadfile
	$(BIN)/pytest -m faults

unit: install  ## only the tests that need no broker
	$(BIN)/pytest tests/unit

faults: install broker  ## only the fault suite (its own nodes, a 3-node cluster, a fault proxy)
	$(BIN)/pytest -m faults tests/faults

bench: install broker  ## the benchmarks (issue 7): interleaved comparisons, table + JSON
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
