# veo-relay: `make run` starts the service on the embedded default, `make test` runs the suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/veo serve $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)   # every figure of docs/BENCHMARKS.md at moderate sizes (about 10 minutes; bench/chaos.py alone runs the issue's full sizes in ~7)
	$(BIN)/python bench/store.py --events 100000
	$(BIN)/python bench/scheduler_model.py --seed 1
	$(BIN)/python bench/poller.py --n 100 --contract auto
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/chaos.py --jobs 100 --kills 8 --crashes 10
	$(BIN)/python bench/pool.py --scale 0.1
	$(BIN)/python bench/hostile.py --seconds 10 --fuzz 10000
	$(BIN)/python bench/reads.py
	$(BIN)/python bench/sim_state.py --sizes 500 5000
	$(BIN)/python bench/gemini.py --jobs 30 --rpm 30 --render 15

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
