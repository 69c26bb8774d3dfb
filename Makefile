# The two set-up commands: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast docs bench bench-difficulty lint clean

$(STAMP): pyproject.toml scripts/install-torch.sh scripts/install-fonts.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	scripts/install-torch.sh $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	scripts/install-fonts.sh
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/k49 demo --out demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist worksteal

# The unit tests alone, for the edit loop (under a minute on 2 cores): no test marked slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not slow"

# The documentation site, in docs/_build/html (open index.html); warnings are errors.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

bench: $(STAMP)
	mkdir -p benchmarks/results
	$(BIN)/python benchmarks/bench_synthetic.py --json > benchmarks/results/synthetic.json
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_report.py --json > benchmarks/results/report.json
	$(BIN)/python benchmarks/bench_storage.py --out benchmarks/results/storage.json
	$(BIN)/python benchmarks/bench_serve.py --out benchmarks/results/serve.json

# The synthetic set's calibration against the published K49 figures (about an hour on 2 cores).
bench-difficulty: $(STAMP)
	$(BIN)/python benchmarks/bench_difficulty.py --knn-compare --ablation

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/conf.py docs/_ext
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) demo build docs/_build src/*.egg-info
