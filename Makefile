# Tally. The README's two commands: `make run` (the demo on http://127.0.0.1:5000) and `make test`.
# Everything runs from the virtualenv in .venv, created with $(PYTHON) (3.11 or newer) when missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet

.DEFAULT_GOAL := help
.PHONY: help run test lint migrate seed serve worker cron install install-dev system-deps system-deps-test translations catalogs

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The demo's local test Stripe (localstripe, tests/servers/stripe.py): started by `make run` in the background
# and stopped with it; TALLY_DEMO_STRIPE=off leaves it out (docs/payments.md).
STRIPE_PORT ?= 8420
STRIPE_LOG = $${TALLY_INSTANCE_PATH:-instance}/localstripe.log
# The demo's fakes of Adyen and GoCardless (tests/fakes/adyen.py, tests/fakes/gocardless.py): started by `make run` in
# the background and stopped with it, like the local Stripe; TALLY_DEMO_ADYEN=off / TALLY_DEMO_GOCARDLESS=off leave
# them out, an http URL names another server (docs/payments.md).
ADYEN_PORT ?= 8421
ADYEN_LOG = $${TALLY_INSTANCE_PATH:-instance}/adyen_fake.log
GOCARDLESS_PORT ?= 8422
GOCARDLESS_LOG = $${TALLY_INSTANCE_PATH:-instance}/gocardless_fake.log
# The demo host product (web/demo_host.py): a SaaS page on another origin showing the demo customer's widgets,
# started by `make run` after the seed (which writes its API key) and stopped with it; TALLY_DEMO_HOST=off leaves
# it out (docs/embedding.md).
DEMO_HOST_PORT ?= 5001
DEMO_HOST_LOG = $${TALLY_INSTANCE_PATH:-instance}/demo_host.log

run: install system-deps  ## migrate, seed the demo and serve it on http://127.0.0.1:5000 (SQLite, jobs in process, a local test Stripe, fakes of Adyen and GoCardless, a demo host page on http://localhost:5001)
	$(FLASK) db upgrade
	@export TALLY_BASE_URL=$${TALLY_BASE_URL:-http://$(HOST):$(PORT)}; pids=""; \
	trap 'kill $$pids 2>/dev/null' EXIT; trap 'kill $$pids 2>/dev/null; exit 130' INT TERM; \
	case "$${TALLY_DEMO_STRIPE:-on}" in off|http*) ;; *) \
	  echo "Starting the local test Stripe on http://127.0.0.1:$(STRIPE_PORT) (log: $(STRIPE_LOG))"; \
	  $(BIN)/python -m tests.servers.stripe --port $(STRIPE_PORT) >$(STRIPE_LOG) 2>&1 & pids="$$pids $$!"; \
	  export TALLY_DEMO_STRIPE=http://127.0.0.1:$(STRIPE_PORT);; \
	esac; \
	case "$${TALLY_DEMO_ADYEN:-on}" in off|http*) ;; *) \
	  echo "Starting the fake Adyen on http://127.0.0.1:$(ADYEN_PORT) (log: $(ADYEN_LOG))"; \
	  $(BIN)/python -m tests.fakes.adyen --port $(ADYEN_PORT) >$(ADYEN_LOG) 2>&1 & pids="$$pids $$!"; \
	  export TALLY_DEMO_ADYEN=http://127.0.0.1:$(ADYEN_PORT);; \
	esac; \
	case "$${TALLY_DEMO_GOCARDLESS:-on}" in off|http*) ;; *) \
	  echo "Starting the fake GoCardless on http://127.0.0.1:$(GOCARDLESS_PORT) (log: $(GOCARDLESS_LOG))"; \
	  $(BIN)/python -m tests.fakes.gocardless --port $(GOCARDLESS_PORT) >$(GOCARDLESS_LOG) 2>&1 & pids="$$pids $$!"; \
	  export TALLY_DEMO_GOCARDLESS=http://127.0.0.1:$(GOCARDLESS_PORT);; \
	esac; \
	case "$${TALLY_DEMO_HOST:-on}" in off) ;; *) export TALLY_DEMO_HOST=http://localhost:$(DEMO_HOST_PORT);; esac; \
	$(FLASK) seed-demo || exit 1; \
	if [ "$$TALLY_DEMO_HOST" != off ]; then \
	  $(BIN)/python -m web.demo_host --tally $$TALLY_BASE_URL --port $(DEMO_HOST_PORT) \
	    --key-file $${TALLY_INSTANCE_PATH:-instance}/demo_host_key >$(DEMO_HOST_LOG) 2>&1 & pids="$$pids $$!"; \
	  echo "Demo host page (the widgets embedded in a SaaS product): http://localhost:$(DEMO_HOST_PORT)  (log: $(DEMO_HOST_LOG))"; \
	fi; \
	echo "Tally is starting on http://$(HOST):$(PORT)  (Ctrl-C to stop)"; \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install-dev system-deps-test  ## the whole test suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev  ## ruff and the import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

migrate: install  ## apply the database migrations (DATABASE_URL)
	$(FLASK) db upgrade

seed: install  ## (re)load the demo organization: make seed ARGS=--reset
	$(FLASK) seed-demo $(ARGS)

serve: install  ## production web server: gunicorn as gunicorn.conf.py says (2 processes per core x 4 threads)
	$(BIN)/gunicorn -b $(HOST):$(PORT) wsgi:app

worker: install  ## an RQ worker (run as many as needed): needs REDIS_URL
	@test -n "$(REDIS_URL)" || { echo "set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0"; exit 2; }
	$(BIN)/rq worker -w jobs.worker.TallyWorker --with-scheduler --url "$(REDIS_URL)"

cron: install  ## the billing clock schedule: run exactly ONE of these; needs REDIS_URL
	@test -n "$(REDIS_URL)" || { echo "set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0"; exit 2; }
	TZ=UTC $(BIN)/rq cron jobs.cron --url "$(REDIS_URL)"

.PHONY: bench
bench: install  ## benchmarks (ingest, usage at 1M events, the billing clock for 10k subscriptions, the dunning run for 10k customers) on PostgreSQL `tally_bench`: bench/README.md
	@command -v wrk >/dev/null || { echo "installing wrk (the load generator)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }
	$(BIN)/python -m bench $(ARGS)

install: $(VENV)/.installed-runtime catalogs
install-dev: $(VENV)/.installed-dev catalogs

# The customer-facing languages (docs/languages.md): the .po files under wording/locales are committed, the .mo files
# gettext reads are compiled here (by every install: `make run`, `make test`, .ci/run).
catalogs: $(VENV)/.installed-runtime  ## compile the translation catalogs (wording/locales/*/LC_MESSAGES/tally.mo)
	$(BIN)/pybabel -q compile -d wording/locales -D tally

translations: $(VENV)/.installed-runtime  ## re-extract the customer-facing sentences (babel.cfg) and update every catalog
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k NN_:1,2 -k say --no-location --sort-output \
		--project=Tally --copyright-holder="Tally contributors" -o wording/locales/messages.pot .
	$(BIN)/pybabel -q update -i wording/locales/messages.pot -d wording/locales -D tally --ignore-obsolete
	$(BIN)/pybabel -q compile -d wording/locales -D tally

$(BIN)/pip:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Tally needs Python 3.11 or newer as $(PYTHON) (make PYTHON=python3.11 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV) || \
		{ echo "could not create $(VENV): on Debian/Ubuntu, apt-get install python3-venv"; exit 1; }

$(VENV)/.installed-runtime: requirements.txt | $(BIN)/pip
	$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/pip
	$(PIP) -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-runtime

# Debian packages: WeasyPrint's libraries (invoice PDFs) and, for the browser test, Chromium.
# Installed only when missing; with sudo when not root.
RUNTIME_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
TEST_DEBS := $(RUNTIME_DEBS) chromium poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:  ## install the Debian libraries PDFs need, if missing
	@missing=$$(for p in $(RUNTIME_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; fi

system-deps-test:  ## the same, plus Chromium and poppler for the browser and PDF tests
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; fi
