# The README's two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_KB := config/kb/departments.yaml,config/kb/services.yaml,config/kb/faq.yaml

.PHONY: run test system-deps bench-deps lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## make run: start the gateway on SQLite with the demo knowledge base.
run: $(STAMP)
	GATEWAY_KB_IMPORT_ON_START=$${GATEWAY_KB_IMPORT_ON_START:-$(DEMO_KB)} $(BIN)/gateway serve

## make test: install what the tests need, then run the whole suite (SQLite and PostgreSQL legs).
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# System packages for the browser tests (Chromium) and the IMAP tests (Dovecot), installed as
# root from Debian's packages. Without root the tests that need them say what is missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -x /usr/sbin/dovecot || missing="$$missing dovecot-imapd"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing (install them with apt-get as root; the tests that need them will fail)"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check gateway channels normalizer responder tests bench
	$(BIN)/mypy gateway channels normalizer responder

## make bench: the three benchmarks, each beside its same-run baseline (minutes; loopback only).
bench: $(STAMP) bench-deps
	$(BIN)/python bench/webchat_load.py
	$(BIN)/python bench/twilio_load.py
	$(BIN)/python bench/smtp_load.py

# Postfix provides smtp-source and the reference MTA of the SMTP benchmark; installed unconfigured.
bench-deps:
	@if ! test -x /usr/sbin/smtp-source; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; \
	  else \
	    echo "postfix is missing: the SMTP benchmark will skip its Postfix comparison"; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache
