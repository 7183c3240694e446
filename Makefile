# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install broker run test lint unit faults bench clean

$(BIN)/eventyard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/eventyard  ## create .venv and install eventyard with everything the tests need

broker:  ## make sure RabbitMQ answers (start the local one if it is stopped)
	scripts/ensure-rabbitmq

run: install broker  ## run all five services against the local RabbitMQ
	$(BIN)/eventyard topology apply
	$(BIN)/eventyard run all

lint: install  ## ruff and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: install broker lint  ## everything CI runs: lint, then the whole suite
	$(BIN)/pytest

unit: install  ## only the tests that need no broker
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
