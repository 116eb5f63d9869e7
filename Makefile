# Two commands: `make demo` serves the app with the sample catalogue; `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# uv installs in seconds where pip takes most of a minute; never let it fetch an interpreter.
export UV_PYTHON_DOWNLOADS := never
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python

.PHONY: demo test lint format bench-engine bench-accuracy bench-api bench-import bench-load bench-scale clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(VENV)/.installed: pyproject.toml setup.py recommender/engine/_select.c | $(BIN)/uv
	$(UV) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml setup.py recommender/engine/_select.c | $(BIN)/uv
	$(UV) -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: export RECOMMENDER_ENV ?= development
demo: $(VENV)/.installed
	$(BIN)/recommender db upgrade
	$(BIN)/recommender import catalogue --sample --if-empty
	@echo "Serving at http://$(HOST):$(PORT)"
	$(BIN)/recommender serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev lint
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-engine: $(VENV)/.installed-dev
	$(BIN)/python bench/engine.py

bench-accuracy: $(VENV)/.installed-dev
	$(UV) -e '.[bench]'
	$(BIN)/python bench/accuracy.py

bench-api: $(VENV)/.installed-dev
	$(BIN)/python bench/api.py

bench-import: $(VENV)/.installed-dev
	$(BIN)/python bench/import_speed.py

# 60 s of mixed load on SQLite, then on a scratch database of the PostgreSQL server at PG_URL
# when it is given (e.g. PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
PG_URL ?=
# FAULT=redis-hang|pg-restart|worker-kill|import injects that fault mid-run (bench/load_faults.py);
# pg-restart runs on a private PostgreSQL cluster of its own (root, PostgreSQL server binaries).
bench-load: $(VENV)/.installed-dev
	$(BIN)/python bench/load.py --seconds 60 $(if $(FAULT),--fault $(FAULT))
	$(if $(PG_URL),$(if $(filter pg-restart,$(FAULT)),,$(BIN)/python bench/load.py --seconds 60 --database-url '$(PG_URL)' $(if $(FAULT),--fault $(FAULT))))

# Generated data goes to /tmp/recommender-scale (never the repository); SCALE_ARGS to change it,
# e.g. make bench-scale SCALE_ARGS="--size 25m --backend sqlite".
SCALE_ARGS ?= --size medium --backend both
bench-scale: $(VENV)/.installed-dev
	$(BIN)/python bench/scale.py $(SCALE_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis
