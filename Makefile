# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo install test bench lint chromium spamassassin mailserver caniemail clean

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

## test: the whole suite (installs Chromium, SpamAssassin, Postfix + Dovecot and the caniemail linter for their tests when missing)
test: $(STAMP) chromium spamassassin mailserver caniemail
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

# Debian's Postfix and Dovecot for the real mail loop (tests/test_mail_loop.py); needs root or sudo.
# Nothing is configured or started system-wide: Postfix is preseeded "No configuration", and while
# apt runs, a policy-rc.d (only if the machine has none, removed right after) keeps Dovecot's service
# from starting. The tests run private instances under a temporary folder (tests/servers/mailserver.py).
mailserver:
	@{ [ -x /usr/sbin/postfix ] && [ -x /usr/lib/dovecot/imap ]; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); POLICY=/usr/sbin/policy-rc.d; MINE=; \
	  if [ ! -e $$POLICY ]; then printf '#!/bin/sh\nexit 101\n' | $$SUDO tee $$POLICY >/dev/null && \
	    $$SUDO chmod 755 $$POLICY && MINE=1; fi; \
	  echo "postfix postfix/main_mailer_type select No configuration" | $$SUDO debconf-set-selections && \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postfix dovecot-imapd >/dev/null; \
	  rc=$$?; [ -z "$$MINE" ] || $$SUDO rm -f $$POLICY; [ $$rc = 0 ]; }
	@{ [ -x /usr/sbin/postfix ] && [ -x /usr/lib/dovecot/imap ]; } || { echo "postfix and dovecot-imapd could not be installed"; exit 1; }

# caniemail data (npm @jsx-email/doiuse-email, pinned by tools/caniemail/package-lock.json) for the
# email-client test (tests/test_email_clients.py); needs node >= 18 and npm, installs into tools/caniemail.
caniemail: tools/caniemail/node_modules/.installed

tools/caniemail/node_modules/.installed: tools/caniemail/package.json tools/caniemail/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed for the caniemail lint (node >= 18)"; exit 1; }
	cd tools/caniemail && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) var tools/caniemail/node_modules
