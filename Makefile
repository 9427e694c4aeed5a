# Microblog: common tasks. `make run` starts everything in one process; `make test` is what CI runs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8000
# `uv` when it is on PATH; otherwise the one `make setup` installs with pip (run as a module, so a
# fresh PATH without pip's script folder still finds it).
UV ?= $(shell command -v uv >/dev/null 2>&1 && echo uv || echo "python3 -m uv")
PYTEST_ARGS ?=
# `make test` runs pytest on this many xdist workers (the groups that share a stack stay together:
# see the root conftest.py); 0 runs it in this one process.
PYTEST_WORKERS ?= 2
# A failed test is run once more before it counts, and the report names it as rerun: a few
# end-to-end checks hold real-time bounds (a live event within 1 s) that two workers on two cores
# can miss now and then. A test that fails twice fails the run.
PYTEST_RERUNS ?= 1
# The servers the tests start, docker-compose to validate the compose file offline, and the browser
# the web UI's end-to-end tests drive (pip's playwright, launched on Debian's chromium).
SERVER_PACKAGES := postgresql rabbitmq-server docker-compose chromium
COMPOSE_FILE ?= $(firstword $(wildcard compose.yaml compose.yml docker-compose.yml docker-compose.yaml \
	infra/compose.yaml infra/compose.yml infra/docker-compose.yml infra/docker-compose.yaml))
COMPOSE_ARGS := $(if $(COMPOSE_FILE),-f $(COMPOSE_FILE))
# What mypy checks (strict, configured in pyproject.toml's [tool.mypy]): the libraries, the gateway
# and every service's code (tests and migrations are excluded there). Its cache (.mypy_cache/)
# makes a run after a small change take seconds.
MYPY_PATHS := libs/common/src libs/devstack/src gateway/src $(sort $(wildcard services/*/src))

.PHONY: help setup servers bench-tools run stack test verify lint up down bench

help:
	@echo "make run     everything in one process on http://127.0.0.1:$(PORT) (SQLite, no servers)"
	@echo "make stack   one process per service over local PostgreSQL and RabbitMQ (foreground)"
	@echo "make test    lint and the whole test suite (what CI runs)"
	@echo "make verify the system under faults, fuzzing and attack (a table of checks; part of make test)"
	@echo "make lint    ruff check, ruff format --check and mypy --strict"
	@echo "make up      containers (docker compose); make down stops them"
	@echo "make bench   the benchmarks: gateway, auth, posts, web, translate, notify, search, reads (results in bench/results/)"
	@echo "make setup   install uv if missing, then the locked dependencies"
	@echo "make servers install PostgreSQL, RabbitMQ, docker-compose and Chromium from Debian if missing (needs root)"

setup:
	@if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then \
		echo "uv not found: installing it with pip"; \
		python3 -m pip install --quiet uv || python3 -m pip install --quiet --break-system-packages uv; \
	fi
	$(UV) sync --frozen

# The tests start their own servers from these packages (in temp dirs, on free ports); the
# cluster Debian's postgresql package creates is never used.
servers:
	@missing=""; \
	for pkg in $(SERVER_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else \
		echo "Missing Debian packages:$$missing (install them as root: apt-get install$$missing)." \
			"Tests that need them will skip."; \
	fi

# wrk is the benchmark's load generator; without it the benchmark falls back to a Python client.
bench-tools:
	@if ! command -v wrk >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends wrk || \
			(apt-get update -q && apt-get install -y -q --no-install-recommends wrk) || \
			echo "wrk could not be installed: the benchmark uses its Python client"; \
	fi

run: setup
	PORT=$(PORT) $(UV) run python -m devstack run

stack: setup servers
	$(UV) run python -m devstack stack

# Every step runs even when one before it fails; the exit status is non-zero if any did.
lint: setup
	@rc=0; \
	echo "== ruff check"; $(UV) run ruff check . || rc=1; \
	echo "== ruff format --check"; $(UV) run ruff format --check . || rc=1; \
	echo "== mypy"; $(UV) run mypy $(MYPY_PATHS) || rc=1; \
	exit $$rc

# Every step runs even when one before it fails, so one CI run reports everything; the exit
# status is non-zero if any failed. pytest's "no tests collected" (5) is not a failure here.
test: setup servers
	@rc=0; \
	echo "== ruff check"; $(UV) run ruff check . || rc=1; \
	echo "== mypy"; $(UV) run mypy $(MYPY_PATHS) || rc=1; \
	echo "== pytest"; $(UV) run pytest -n $(PYTEST_WORKERS) --dist loadgroup --reruns $(PYTEST_RERUNS) $(PYTEST_ARGS); prc=$$?; \
	if [ $$prc -eq 5 ]; then echo "pytest collected no tests"; elif [ $$prc -ne 0 ]; then rc=$$prc; fi; \
	exit $$rc

# The verify suite alone (tests/verify/), one process; it prints its table at the end and writes it
# to .verify/report.md. Here the faults row makes the issue's 10,000 operations (about 10 minutes on
# two cores); `make test` runs the suite's default (3,000), which fits CI's time.
VERIFY_OPERATIONS ?= 10000
verify: setup servers
	VERIFY_OPERATIONS=$(VERIFY_OPERATIONS) $(UV) run pytest tests/verify $(PYTEST_ARGS)

up:
	@if docker compose version >/dev/null 2>&1; then \
		docker compose $(COMPOSE_ARGS) up --build; \
	elif command -v docker-compose >/dev/null 2>&1; then \
		docker-compose $(COMPOSE_ARGS) up --build; \
	else \
		echo "Neither 'docker compose' nor 'docker-compose' is available (try 'make run')."; exit 1; \
	fi

down:
	@if docker compose version >/dev/null 2>&1; then \
		docker compose $(COMPOSE_ARGS) down; \
	elif command -v docker-compose >/dev/null 2>&1; then \
		docker-compose $(COMPOSE_ARGS) down; \
	else \
		echo "Neither 'docker compose' nor 'docker-compose' is available."; exit 1; \
	fi

# The eight benchmarks in sequence (each runs even if one before it failed; the exit status is
# non-zero if any did). Arguments per benchmark: BENCH_ARGS (gateway_overhead.py),
# AUTH_BENCH_ARGS (auth_tokens.py), POSTS_BENCH_ARGS (posts_timeline.py; its defaults generate
# 20,000 and 1,000,000 statuses: a few minutes and about 7.5 GB in the temp dir),
# WEB_BENCH_ARGS (web_pages.py), TRANSLATE_BENCH_ARGS (translate_status.py), NOTIFY_BENCH_ARGS
# (notify_streams.py: 5,000 open streams), SEARCH_BENCH_ARGS (search_bench.py; 100,000 and 1,000,000
# statuses: about half an hour), READS_BENCH_ARGS (reads_and_posts.py: the reads and posting of
# both run modes against the FastAPI hello of the same run, with profiles, and the local mode at a
# million statuses; about 20 minutes).
BENCH_ARGS ?=
AUTH_BENCH_ARGS ?=
POSTS_BENCH_ARGS ?=
WEB_BENCH_ARGS ?=
TRANSLATE_BENCH_ARGS ?=
NOTIFY_BENCH_ARGS ?=
SEARCH_BENCH_ARGS ?=
READS_BENCH_ARGS ?= --profile --sizes 20000,1000000
bench: setup servers bench-tools
	@rc=0; \
	echo "== bench/gateway_overhead.py"; $(UV) run python bench/gateway_overhead.py $(BENCH_ARGS) || rc=1; \
	echo "== bench/auth_tokens.py"; $(UV) run python bench/auth_tokens.py $(AUTH_BENCH_ARGS) || rc=1; \
	echo "== bench/posts_timeline.py"; $(UV) run python bench/posts_timeline.py $(POSTS_BENCH_ARGS) || rc=1; \
	echo "== bench/web_pages.py"; $(UV) run python bench/web_pages.py $(WEB_BENCH_ARGS) || rc=1; \
	echo "== bench/translate_status.py"; $(UV) run python bench/translate_status.py $(TRANSLATE_BENCH_ARGS) || rc=1; \
	echo "== bench/notify_streams.py"; $(UV) run python bench/notify_streams.py $(NOTIFY_BENCH_ARGS) || rc=1; \
	echo "== bench/search_bench.py"; $(UV) run python bench/search_bench.py $(SEARCH_BENCH_ARGS) || rc=1; \
	echo "== bench/reads_and_posts.py"; $(UV) run python bench/reads_and_posts.py $(READS_BENCH_ARGS) || rc=1; \
	exit $$rc
