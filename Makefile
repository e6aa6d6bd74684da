# Quick start: `make run` (the main job: a one-node devnet) and `make test` (the test suite);
# each sets up .venv first.  `make tour` walks through the offline CLI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run tour test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m core.post.icd
	touch $(STAMP)

# A one-node devnet in $(RUN_DIR): a node and a PoET, genesis in 20 s, first block under a minute
# later, a wallet whose accounts are funded at genesis (the node's API on 127.0.0.1:10092/10095).
# Ctrl-C stops it and the next `make run` continues the same network.  `make run FRESH=1` starts a
# new one (the old directory is deleted: that is what the explicit FRESH=1 is for).
RUN_DIR ?= .run/devnet
run: $(STAMP)
	@if [ -n "$(FRESH)" ]; then rm -rf "$(RUN_DIR)"; fi
	$(BIN)/smesh devnet up --nodes 1 --base-port 10090 --dir "$(RUN_DIR)"

tour: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/tour.sh

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
