# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv when it is
# missing or older than pyproject.toml, then does its job.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test lint unit integration dev bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/waypost demo

# Coverage is reported, not enforced: it says which rooms the tests never enter.
test: $(STAMP) lint
	$(BIN)/pytest --cov --cov-report=term:skip-covered

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

bench: $(STAMP)
	$(BIN)/waypost bench $(ARGS)

dev: $(STAMP)
	$(BIN)/waypost dev

clean:
	rm -rf $(VENV) .waypost .pytest_cache .mypy_cache .ruff_cache .coverage
