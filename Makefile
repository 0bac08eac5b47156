# Two commands do everything on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
MANAGE := $(PYTHON) manage.py

.PHONY: run test test-fast setup setup-dev fixtures lint check-migrations pytest clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

fixtures: setup
	$(MANAGE) migrate --noinput
	$(MANAGE) load_module fixtures/modules/*.yaml
	$(if $(wildcard fixtures/quizzes/*.yaml),$(MANAGE) load_quiz $(wildcard fixtures/quizzes/*.yaml))

run: fixtures
	$(MANAGE) seed_demo
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) serve

QUIZ_FILES := $(wildcard fixtures/quizzes/*.yaml)
MODULE_FILES := $(wildcard fixtures/modules/*.yaml)

# The bank checks need no database: CI runs them before anything is migrated.
lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(if $(QUIZ_FILES),$(MANAGE) load_quiz --check $(QUIZ_FILES) --modules $(MODULE_FILES))
	$(if $(QUIZ_FILES),$(MANAGE) lint_quiz $(QUIZ_FILES) --modules $(MODULE_FILES))
	$(BIN)/mypy

check-migrations: setup-dev
	$(MANAGE) makemigrations --check --dry-run

# Two pytest-xdist workers, one a core: each has its own test database (tests/conftest.py)
# and its servers on free ports, so the whole suite takes about half the time.
TEST_WORKERS ?= 2
pytest: setup-dev
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test: lint check-migrations pytest

# The quick loop while coding: unit and Channels tests only, no browser and no server
# process (the `browser` and `live` markers), on two pytest-xdist workers.
FAST_WORKERS ?= 2
test-fast: setup-dev
	$(BIN)/pytest -m "not browser and not live" -n $(FAST_WORKERS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 test-db.sqlite3 .mypy_cache
