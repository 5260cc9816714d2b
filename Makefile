# `make demo` and `make test` work on a fresh clone: each bootstraps .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pin the CPU build that lies on this machine's disk; installed first, so the package's torch range adds nothing.
TORCH := torch==2.13.0
DEMO_OUT := runs/demo
DEMO_PROMPT := The

.PHONY: install dev test lint demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo's venv holds what the README shows after it: training, generation, the plots and `lstmgen serve`.
$(VENV)/.core-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[plots,server]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.core-installed

dev: $(VENV)/.dev-installed

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q

# ruff, configured in pyproject.toml: pyflakes, pycodestyle's errors and the import order.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests stress benchmarks

# About three minutes of training on the embedded default corpus, then samples at four temperatures.
demo: $(VENV)/.core-installed
	$(BIN)/lstmgen train --out $(DEMO_OUT) --overwrite --time-budget 3 --sample-prompt "$(DEMO_PROMPT)"
	$(BIN)/lstmgen info $(DEMO_OUT)
	@for t in 0.2 0.5 1.0 1.2; do \
		echo; echo "=== temperature $$t"; \
		$(BIN)/lstmgen generate $(DEMO_OUT) --prompt "$(DEMO_PROMPT)" --length 300 --temperature $$t --seed 1 || exit 1; \
	done

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
