# Two entry points for a fresh machine: `make demo` (set up + run the simulated case) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint clean

$(BIN)/insarfusion: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(BIN)/insarfusion

setup: $(BIN)/insarfusion

demo: setup
	$(BIN)/insarfusion demo --out demo_out --force

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo_out .pytest_cache
