# The two commands of the quick start: `make run` and `make test`.
# Everything else is installed into .venv by these targets on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: install run test lint format clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing agentcal and its dependencies into $(VENV) ..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## start the API on http://127.0.0.1:8000 (SQLite in ./.agentcal)
	$(BIN)/agentcal serve $(ARGS)

test: $(STAMP)  ## the whole suite; set AGENTCAL_TEST_DATABASE_URL to run it on PostgreSQL
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)  ## ruff, mypy, and the layout's import rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
