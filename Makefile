# The two commands of the quick start: `make run` and `make test`.
# Everything else is installed into .venv by these targets on first use: `make run` only
# what the server needs, the other targets also the test and lint tools (the `dev` extra).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A stamp per install, named after the dependency files: editing them reinstalls.
HASH    := $(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
RUNTIME := $(VENV)/.installed-runtime-$(HASH)
DEV     := $(VENV)/.installed-dev-$(HASH)

.PHONY: install run test lint format clean

$(RUNTIME): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing agentcal and what it needs to run into $(VENV) ..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	@rm -f $(VENV)/.installed-* && touch $(RUNTIME)

# The dev install includes the runtime one, so it leaves both stamps.
$(DEV): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing agentcal with its test and lint tools into $(VENV) ..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $(RUNTIME) $(DEV)

install: $(DEV)  ## everything, for development (what CI installs)

run: $(RUNTIME)  ## start the API on http://127.0.0.1:8000 (SQLite in ./.agentcal)
	$(BIN)/agentcal serve $(ARGS)

test: $(DEV)  ## the whole suite; set AGENTCAL_TEST_DATABASE_URL to run it on PostgreSQL
	$(BIN)/pytest $(ARGS)

lint: $(DEV)  ## ruff, mypy, and the layout's import rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
