# Vericlaim: the two set-up commands on a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
DEMO_OUT ?= vericlaim-demo

.PHONY: demo test lint bench serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

demo: $(STAMP)
	@mkdir -p $(DEMO_OUT)
	$(BIN)/vericlaim check examples/claim/claim-photo.jpg --reference examples/claim/listing-photo.jpg \
		--report $(DEMO_OUT)/report.html --json-out $(DEMO_OUT)/verdict.json ; status=$$?; \
		if [ $$status -gt 0 ] && [ $$status -ne 0 ]; then exit $$status; fi
	@echo "Report written to $(DEMO_OUT)/report.html (verdict JSON: $(DEMO_OUT)/verdict.json)"

test: $(DEVSTAMP)
	$(BIN)/python -m pytest -q

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

serve: $(STAMP)
	$(BIN)/vericlaim serve

bench: $(DEVSTAMP)
	$(BIN)/python -m benchmarks.run --data ../shared/data --out docs/benchmarks.md --jobs 2
	$(BIN)/python -m benchmarks.stages --data ../shared/data --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.noref --data ../shared/data --out docs/benchmarks.md --jobs 2
	$(BIN)/python -m benchmarks.lookalike --data ../shared/data --out docs/benchmarks.md --jobs 2
	$(BIN)/python -m benchmarks.stress --data ../shared/data --out docs/benchmarks.md --jobs 2
	$(BIN)/python -m benchmarks.redraw --data ../shared/data --out docs/benchmarks.md --jobs 2

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
