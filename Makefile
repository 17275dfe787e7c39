# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo install test bench lint chromium spamassassin clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## install: the environment only (.venv with the newsletter command), for a deployment
install: $(STAMP)

## demo: build the environment and make the sample issue end to end (no account needed)
demo: $(STAMP)
	$(BIN)/newsletter run --demo

## test: the whole suite (installs Chromium and SpamAssassin for their tests when missing)
test: $(STAMP) chromium spamassassin
	$(BIN)/ruff check newsletter tests bench
	$(BIN)/pytest

## bench: every benchmark under bench/, each printing a table and a ratio
bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check newsletter tests bench

# Debian's chromium for the headless preview test; needs root (CI runs as root) or sudo.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "chromium could not be installed"; exit 1; }

# Debian's SpamAssassin for the spam-score test (tests/test_spam.py); needs root or sudo.
spamassassin:
	@command -v spamassassin >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq spamassassin >/dev/null; }
	@command -v spamassassin >/dev/null 2>&1 || { echo "spamassassin could not be installed"; exit 1; }

clean:
	rm -rf $(VENV) var
