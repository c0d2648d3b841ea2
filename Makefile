# The two commands: `make run` serves the API and dashboard with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1

.PHONY: run test install dev clean simulate bench backup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	SEED_IF_EMPTY=$${SEED_IF_EMPTY:-1} HOST=$(HOST) PORT=$(PORT) \
		$(BIN)/gunicorn -c gunicorn.conf.py "backend.app:create_app()"

dev: install
	SEED_IF_EMPTY=$${SEED_IF_EMPTY:-1} HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m backend

test: install
	$(BIN)/ruff check backend tests
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Play a floor of cameras against a running server (see README: the edge client).
simulate: install
	$(BIN)/python -m backend.edge.simulate --url http://$(HOST):$(PORT) $(SIMULATE_ARGS)

# Measure 200 cameras' live load, batch ingestion beside plain SQLite, metrics and memory
# against their targets (a few minutes at 1,000,000 events of history; BENCH_EVENTS=100000 for
# a quick run; tests/bench.py lists every setting); then what a dashboard refresh costs at
# 1,000,000 and 10,000,000 events (BENCH_STORE=postgres for PostgreSQL; tests/bench_history.py).
bench: install
	$(BIN)/python tests/bench.py
	$(BIN)/python tests/bench_history.py

# A consistent online copy of the database: make backup BACKUP=/backups/factory.db
backup: install
	$(BIN)/python -m backend.backup $(BACKUP)
