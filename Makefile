# Ruwang — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
DOVECOT := /usr/sbin/dovecot
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install lint typecheck migrations-check pytest messages clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei

## make run: install, migrate SQLite, load the demo organisation once, serve on :8000
run: $(STAMP)
	$(BIN)/ruwang migrate --noinput -v 0
	$(BIN)/ruwang collectstatic --noinput -v 0
	$(BIN)/ruwang demo --quiet
	$(BIN)/ruwang serve

## make test: lint, format check, type check, migrations check, the whole suite
test: $(STAMP) lint typecheck migrations-check pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	RUWANG_ENV=test $(BIN)/mypy .

migrations-check: $(STAMP)
	RUWANG_ENV=test $(BIN)/ruwang makemigrations --check --dry-run

# The e-mail tests start a private IMAP server (Debian's dovecot; the system service is not used).
$(DOVECOT):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd

pytest: $(STAMP) $(CHROMIUM) $(DOVECOT)
	RUWANG_ENV=test $(BIN)/pytest -n auto -q

## make messages: refresh the translation catalogues after changing user-visible strings
messages: $(STAMP)
	$(BIN)/ruwang makemessages -l zh_Hans -l en --ignore=.venv --ignore=static/vendor --ignore=staticfiles
	$(BIN)/ruwang compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var/static
