# `make run` starts the demo natively, `make test` runs the test suite.
# Both create the virtual environment .venv from the pinned requirements first.

VENV := .venv
# Programs started by supervisord find gunicorn and celery on this PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# The demo's configuration: override any of these from the environment,
# e.g. `WEB_PORT=8080 make run`. The Dockerfile sets the container's values.
# (CELERY_BROKER_URL is read by the Python code, which defaults to a local
# RabbitMQ; supervisord.conf needs WEB_HOST, WEB_PORT, WORKER_CONCURRENCY,
# FLOWER_PORT, and EXTRA_WORKERS, which `run` computes from WORKERS.)
export WEB_HOST ?= 127.0.0.1
export WEB_PORT ?= 8000
export WORKER_CONCURRENCY ?= 2
# How many Celery workers consume hello_queue: worker_hello and WORKERS-1 more
# (supervisord.conf's [program:worker]), e.g. `WORKERS=3 make run`.
export WORKERS ?= 1
# Flower, the monitoring UI (DEMO.md step 8).
export FLOWER_PORT ?= 5555
# Flower asks for a user and password: FLOWER_BASIC_AUTH ("user:password",
# Flower's own variable). Unset, `make run` uses user flower and a password it
# makes up once and keeps in this file: git-ignored, readable by you only, the
# same from one run to the next (so that your browser can remember it), and
# never printed (terminal scroll-back and CI logs keep what they are shown).
# `make clean` deletes it; the next `make run` makes another.
FLOWER_PASSWORD_FILE := .run/flower-password
# The browser tests drive Chromium through Playwright. Playwright's own browser
# download needs the internet; Debian's chromium package does not.
export CHROMIUM ?= /usr/bin/chromium

.PHONY: run queue healthcheck test test-tools bench bench-tools figures lint requirements clean

# Debian and Ubuntu ship Python's venv module without ensurepip (the python3-venv
# package), and `python3 -m venv` then fails with a stack trace, leaving a .venv
# without pip behind: ask first, and never keep a half-made .venv.
$(VENV)/bin/python:
	@command -v python3 >/dev/null || { echo "python3 not found: install Python 3.11 or newer, then make $(or $(MAKECMDGOALS),run) again." >&2; exit 1; }
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "$$(python3 --version) is too old:" \
	  "the demo needs Python 3.11 or newer as python3." >&2; exit 1; }
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { echo "$$(python3 --version) cannot create .venv: its venv module" \
	  "lacks ensurepip. On Debian or Ubuntu: sudo apt-get install python3-venv, then make $(or $(MAKECMDGOALS),run) again." >&2; exit 1; }
	python3 -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(VENV)/.run-deps: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	@case "$$WORKERS" in ''|0*|*[!0-9]*) echo "WORKERS must be a whole number from 1 up" \
	  "(how many Celery workers consume hello_queue), not '$$WORKERS'." >&2; exit 2;; esac
	@# One line per problem, before anything starts: a demo of this folder running
	@# already, leftovers of one whose supervisord died (ended), a port in use,
	@# RabbitMQ or Redis not answering.
	@$(VENV)/bin/python scripts/preflight.py
	@mkdir -p .run
	@test -n "$$FLOWER_BASIC_AUTH" || test -s $(FLOWER_PASSWORD_FILE) \
	  || (umask 077 && $(VENV)/bin/python -c 'import secrets; print(secrets.token_urlsafe(16))' > $(FLOWER_PASSWORD_FILE))
	@test -n "$$FLOWER_BASIC_AUTH" \
	  || echo "Flower: http://localhost:$(FLOWER_PORT), user flower, password in $(FLOWER_PASSWORD_FILE)"
	@# The broker's, the result backend's and the management API's URLs, for every
	@# program: from the environment, .env or the defaults (scripts/service_urls.py).
	@eval "$$($(VENV)/bin/python scripts/service_urls.py)" \
	  && FLOWER_BASIC_AUTH="$${FLOWER_BASIC_AUTH:-flower:$$(cat $(FLOWER_PASSWORD_FILE))}" \
	  EXTRA_WORKERS=$$(($$WORKERS - 1)) exec $(VENV)/bin/supervisord -c supervisord.conf

# Once, before `docker compose up`: .env, from .env.example, with a fresh password for
# RabbitMQ's user and one for Flower's, and the cluster's Erlang cookie (step 10).
# git and docker ignore it; nothing secret is committed or baked into the image. An
# existing .env is kept as it is.
.env:
	@umask 077 && rabbitmq=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))') \
	  && flower=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))') \
	  && cookie=$$(python3 -c 'import secrets; print(secrets.token_hex(32))') \
	  && sed -e "s/^RABBITMQ_DEFAULT_PASS=$$/RABBITMQ_DEFAULT_PASS=$$rabbitmq/" \
	    -e "s/^FLOWER_BASIC_AUTH=$$/FLOWER_BASIC_AUTH=flower:$$flower/" \
	    -e "s/^RABBITMQ_ERLANG_COOKIE=$$/RABBITMQ_ERLANG_COOKIE=$$cookie/" .env.example > $@.tmp && mv $@.tmp $@
	@echo "Made .env: RabbitMQ user $$(sed -n 's/^RABBITMQ_DEFAULT_USER=//p' $@) and, for docker compose up," \
	  "Flower user flower, with fresh passwords (read them there). Next: docker compose up -d --wait rabbitmq redis, then make run (or docker compose up --build)."

# hello_queue's depth, from the terminal: Celery's own `amqp` shell does a
# passive queue.declare, which only asks (it never creates the queue) and
# answers with the messages Ready and the consumers attached, this instant.
# It asks the RabbitMQ that `make run` uses (scripts/service_urls.py).
queue: $(VENV)/.run-deps
	@eval "$$($(VENV)/bin/python scripts/service_urls.py)" \
	  && $(VENV)/bin/celery --app worker.celery_app amqp queue.declare hello_queue yes 2>&1 | grep -v '^-> '

# The container's health check (the Dockerfile's HEALTHCHECK), against the demo
# that `make run` runs: one line, and exit status 0 (healthy) or 1 (unhealthy).
healthcheck: $(VENV)/.run-deps
	@$(VENV)/bin/python scripts/healthcheck.py

# The suite runs in TEST_PROCESSES processes at once (pytest-xdist), each with demo
# stacks of its own (tests/support/checkout.py): the tests mostly wait on tasks and
# brokers, so three share two cores well. A module's tests stay together in one
# process, and all of tests/containers/ too (--dist loadfile, tests/support/scheduling.py),
# in the order they are collected.
# TEST_PROCESSES=0 runs them all in this one process.
TEST_PROCESSES ?= 3
# Each run's JUnit report, which the flake hunt counts (tests/support/flake_hunt.py).
JUNIT = measured/junit/$(shell date +%Y%m%d-%H%M%S)-$$$$.xml

test: $(VENV)/.test-deps test-tools
	$(VENV)/bin/pytest -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder \
	  --junitxml=$(JUNIT)

# Installs the Debian packages that the shell code $(1) prints (the missing ones
# only) where we may: as root, with apt-get. Elsewhere it does nothing, and the
# check after it says what to install.
apt-install = missing="$(1)"; [ -z "$$missing" ] || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }

# The tests drive Chromium (the browser tests) and socat (a proxy in front of
# RabbitMQ that a test can cut, since the machine's RabbitMQ must not be stopped).
test-tools:
	@$(call apt-install,$$(test -x "$(CHROMIUM)" || echo chromium)$$(command -v socat >/dev/null || echo ' socat'))
	@test -x "$(CHROMIUM)" || { echo "The browser tests need Chromium at $(CHROMIUM): install Debian's" \
	  "chromium package, or set CHROMIUM to a Chromium or Chrome executable." >&2; exit 1; }
	@command -v socat >/dev/null || { echo "The broker-trouble tests need socat: install your system's socat package." >&2; exit 1; }

# Figures, not pass/fail: requests/s, messages/s, the drain, latency and
# start-up of the demo on this machine, printed and written to
# measured/BENCHMARKS.md (bench/). wrk, the HTTP load generator, is Debian's package.
bench: $(VENV)/.test-deps bench-tools
	$(VENV)/bin/python -m bench

bench-tools:
	@$(call apt-install,$$(command -v wrk >/dev/null || echo wrk))
	@command -v wrk >/dev/null || { echo "make bench needs wrk: install your system's wrk package." >&2; exit 1; }

# For maintainers, on purpose: copy the figures of the last `make test` (each
# passing scenario's row, kept in measured/reliability/) into RELIABILITY.md's
# table, and those of the last `make bench` (measured/BENCHMARKS.md) into
# BENCHMARKS.md. `make test` and `make bench` never write tracked files
# themselves: a modified tracked file makes a learner's `git checkout` of a step fail.
figures: $(VENV)/.run-deps
	$(VENV)/bin/python -m tests.support.reliability
	@if test -f measured/BENCHMARKS.md; then cp measured/BENCHMARKS.md BENCHMARKS.md \
	  && echo "BENCHMARKS.md: from the last make bench."; else echo "No measured/BENCHMARKS.md: run make bench first." >&2; fi

lint: $(VENV)/.test-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml docker-compose.cluster.yml

# Re-pin requirements*.txt from requirements*.in (needs pip-tools).
requirements:
	$(VENV)/bin/pip install --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) .run test-artifacts measured
