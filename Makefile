# Two entry points for a fresh machine: `make demo` (set up + run the simulated case) and `make test`.
# `make docs` builds the documentation into docs/_build/html (offline, warnings are errors).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup setup-docs demo test docs lint clean

$(BIN)/insarfusion: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(BIN)/insarfusion

# the docs extra (Sphinx, numpydoc): for `make test`, which builds the docs too, and `make docs`
$(BIN)/sphinx-build: $(BIN)/insarfusion
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,docs]"
	touch $(BIN)/sphinx-build

setup: $(BIN)/insarfusion

setup-docs: $(BIN)/sphinx-build

demo: setup
	$(BIN)/insarfusion demo --out demo_out --force

test: setup setup-docs
	$(BIN)/python -m pytest -q

docs: setup-docs
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "documentation: docs/_build/html/index.html"

lint: setup
	$(BIN)/ruff check src tests benchmarks docs

clean:
	rm -rf $(VENV) demo_out .pytest_cache docs/_build
