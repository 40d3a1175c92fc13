# Attune — `make help` lists the targets.  The two that matter: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.10 (Rasa 3.6 supports <= 3.10): pyenv's 3.10.13 when present, else python3.10 on PATH.
PYTHON310 ?= $(shell p=$$(pyenv prefix 3.10.13 2>/dev/null) && echo $$p/bin/python3.10 || command -v python3.10)
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# TensorFlow's start-up chatter is noise for a bot designer.
export TF_CPP_MIN_LOG_LEVEL := 2
# No telemetry or error reports leave the machine (and there is no internet to send them to).
export RASA_TELEMETRY_ENABLED := false
# credentials.yml reads the SMS/WhatsApp settings with ${VAR}, and Rasa refuses to start when one is
# unset: empty (the default here) leaves the channel unconfigured, its webhook answering 503.
export TWILIO_ACCOUNT_SID ?=
export TWILIO_AUTH_TOKEN ?=
export TWILIO_FROM_NUMBER ?=
export TWILIO_WHATSAPP_NUMBER ?=
export ATTUNE_TWILIO_API_BASE ?=

.PHONY: help browser prism setup seed train run stop shell test unit lint typecheck imports validate conversations pytest bench-nlu bench-encoder bench-empathy bench-handoff eval clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml .ci/constraints.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found: install it (pyenv install 3.10.13) or set PYTHON310=/path/to/python3.10"; exit 1; }
	test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c .ci/constraints.txt -e ".[dev]"
	$(PY) -m pip check
	touch $@

setup: $(VENV)/.installed ## Create .venv (Python 3.10) and install everything in one resolve
	@# MiniLM as ONNX (fp32 and int8) from the packaged weights, into the ignored .cache/encoder; a no-op when cached.
	@$(PY) -m bot.components.onnx_export > /dev/null

seed: setup ## Create and seed the demo store (var/store.db) if empty
	$(PY) -m actions.store seed

# Rasa reads data/ recursively (nlu/, stories/, rules/) and skips files without its keys; the emotion
# component reads data/emotions/ itself.  policy/ is read at run time and never needs a retrain.
train: setup ## Train the model if data/, config.yml or domain.yml changed (Rasa skips it otherwise)
	$(RASA) train --data data --fixed-model-name attune --out models

# Ports of `make run` (e.g. `make run RASA_PORT=5105 HANDOFF_PORT=5156` beside another stack).
RASA_PORT ?= 5005
ACTIONS_PORT ?= 5055
HANDOFF_PORT ?= 5056
ACTIONS_METRICS_PORT ?= 9105

run: setup seed train ## Set up, then run Rasa + action server + handoff service on 127.0.0.1 (RASA_PORT= ACTIONS_PORT= HANDOFF_PORT=)
	$(PY) -m bot.launcher --model models/attune.tar.gz --rasa-port $(RASA_PORT) --actions-port $(ACTIONS_PORT) \
		--handoff-port $(HANDOFF_PORT) --actions-metrics-port $(ACTIONS_METRICS_PORT)

stop: ## Stop a `make run` started in the background (SIGINT to the launcher in var/run/launcher.pid)
	@test -s var/run/launcher.pid || { echo "no var/run/launcher.pid: is make run running?"; exit 1; }
	kill -INT $$(cat var/run/launcher.pid)

shell: setup ## Chat with the running assistant in this terminal on 127.0.0.1 (after `make run`; PORT= for another port)
	ATTUNE_PUBLIC_RASA_URL=$${ATTUNE_PUBLIC_RASA_URL-} $(RASA) shell --endpoints var/endpoints.yml --interface 127.0.0.1 --port $(or $(PORT),5015)

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup ## mypy (strict) on bot, actions and handoff
	$(VENV)/bin/mypy

imports: setup ## import-linter: the one-way import contracts in pyproject.toml
	$(VENV)/bin/lint-imports

# Rasa's own `data validate --fail-on-warnings` lets unused responses pass and buries a real warning
# among them; this runs the same checks, silences only the responses code sends (listed and tested in
# bot/components/data_validation.py) and fails on anything else.
validate: setup ## rasa data validate: every warning shown and counted, any warning fails
	$(PY) -m bot.components.data_validation

conversations: train ## Conversation tests in tests/test_*.yml, failing on any wrong prediction
	$(RASA) test core --stories tests/ --model models/attune.tar.gz --fail-on-prediction-errors --out var/results

# Browser tests drive Debian's chromium (never a downloaded browser); installed here if missing.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get install -y --no-install-recommends chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

browser: $(CHROMIUM) ## Install Debian's chromium for the browser tests (if missing)

# The Twilio contract test serves Twilio's OpenAPI description (../shared/twilio) with Stoplight Prism from npm,
# pinned and installed into the ignored .cache/prism (no package.json or lock file in the repo).
PRISM_VERSION := 5.14.2
PRISM := .cache/prism/node_modules/.bin/prism
$(PRISM):
	npm install --prefix .cache/prism --no-audit --no-fund --no-save --no-package-lock @stoplight/prism-cli@$(PRISM_VERSION)
	test -x $@

prism: $(PRISM) ## Install Stoplight Prism (npm, pinned) for the Twilio contract test (if missing)

# The browser test of the standard web chat widget (tests/integration/test_rasa_webchat.py) serves
# rasa-webchat's prebuilt bundle from npm, pinned and installed into the ignored .cache/rasa-webchat like
# Prism (no package.json or lock file in the repo; no install scripts run: only lib/index.js is used).
.PHONY: rasa-webchat
RASA_WEBCHAT_VERSION := 1.0.1
RASA_WEBCHAT := .cache/rasa-webchat/node_modules/rasa-webchat/lib/index.js
$(RASA_WEBCHAT):
	npm install --prefix .cache/rasa-webchat --no-audit --no-fund --no-save --no-package-lock --ignore-scripts rasa-webchat@$(RASA_WEBCHAT_VERSION)
	test -f $@

rasa-webchat: $(RASA_WEBCHAT) ## Install the rasa-webchat widget (npm, pinned) for its browser test (if missing)

# The accessibility checks (tests/integration/test_console_access.py) inject axe-core's axe.min.js from npm into
# each console and chat page, pinned and installed into the ignored .cache/axe-core like Prism (no package.json
# or lock file in the repo; no install scripts run: only axe.min.js is used).
.PHONY: axe
AXE_VERSION := 4.10.3
AXE := .cache/axe-core/node_modules/axe-core/axe.min.js
$(AXE):
	npm install --prefix .cache/axe-core --no-audit --no-fund --no-save --no-package-lock --ignore-scripts axe-core@$(AXE_VERSION)
	test -f $@

axe: $(AXE) ## Install axe-core (npm, pinned) for the browser accessibility checks (if missing)

# The scale-out test (tests/scale) starts a throwaway PostgreSQL and Redis from Debian's packages
# itself; they are installed here if missing.
POSTGRES ?= $(or $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin/postgres))),/usr/lib/postgresql/15/bin/postgres)
REDIS_SERVER ?= /usr/bin/redis-server
# The Pika broker fault test (tests/handoff/analytics/test_pika_faults.py) starts a private RabbitMQ node.
RABBITMQ_SERVER ?= /usr/sbin/rabbitmq-server
$(POSTGRES):
	$(SUDO) apt-get install -y --no-install-recommends postgresql || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends postgresql; }
$(REDIS_SERVER):
	$(SUDO) apt-get install -y --no-install-recommends redis-server || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends redis-server; }
$(RABBITMQ_SERVER):
	$(SUDO) apt-get install -y --no-install-recommends rabbitmq-server || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends rabbitmq-server; }

# The deploy units' test (tests/test_deploy_units.py) checks them with systemd-analyze.
SYSTEMD_ANALYZE ?= /usr/bin/systemd-analyze
$(SYSTEMD_ANALYZE):
	$(SUDO) apt-get install -y --no-install-recommends systemd || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends systemd; }

.PHONY: datastores scale-test
datastores: $(POSTGRES) $(REDIS_SERVER) $(RABBITMQ_SERVER) ## Install Debian's PostgreSQL, Redis and RabbitMQ for the scale-out and broker tests (if missing)

scale-test: train datastores ## Two Rasa + two action servers on Postgres + Redis behind a load balancer
	ATTUNE_TEST_MODEL=models/attune.tar.gz $(VENV)/bin/pytest -q tests/scale

pytest: train browser prism rasa-webchat axe datastores $(SYSTEMD_ANALYZE) ## pytest: unit, service, integration, browser, scale-out, faults, bounded fuzzing
	ATTUNE_TEST_MODEL=models/attune.tar.gz $(VENV)/bin/pytest -q

# Everything that needs no trained model, browser, database server or Prism: the tests that start real
# processes are marked integration (the stack, the browser, Postgres/Redis, Prism), the property-based ones fuzz.
unit: setup ## Fast tests: no trained model, browser, database server or Prism (not integration, not fuzz)
	$(VENV)/bin/pytest -q -n 2 -m "not integration and not fuzz"

test: setup lint typecheck imports validate conversations pytest ## Set up and run the whole test suite (CI runs this)

bench-nlu: setup ## NLU benchmark: Attune pipeline vs Rasa's default (DATA=path to an intents JSONL)
	$(PY) -m bench.nlu --data $(or $(DATA),../shared/data/intents_banking77.dev.jsonl)

bench-encoder: setup ## MiniLM backends vs torch: cosine parity, p50/p95 and RSS, BANKING77 accuracy
	$(PY) -m bench.encoder parity
	$(PY) -m bench.encoder speed
	$(PY) -m bench.encoder accuracy --data $(or $(DATA),../shared/data/intents_banking77.dev.jsonl)

bench-language: setup ## Language detection: p50/p95 per message, English wrongly flagged, foreign samples caught
	$(PY) -m bench.language

bench-fallback: setup ## FallbackClassifier threshold/ambiguity by 5-fold cross-validation of data/nlu
	$(PY) -m bench.fallback_threshold

bench-empathy: train ## Latency the emotion component and per-turn action add per message (p50/p95)
	$(PY) -m bench.empathy

.PHONY: bench-shadow
bench-shadow: setup ## Shadow mode: what a candidate empathy policy adds per message, p50/p95 (goal <= 2 ms p95; ARGS=--turns N)
	$(PY) -m bench.shadow $(ARGS)

.PHONY: bench-drift
bench-drift: setup ## Drift control on simulated days: false alarms of a stable stream, detection delay of known shifts (ARGS=--days N --trials N)
	$(PY) -m bench.drift_simulation $(ARGS)

bench-handoff: setup ## Handoff service: accepted/s, console queue p95 with 10 000 handoffs, outbox recovery
	$(PY) -m bench.handoff

.PHONY: bench-console-pages
bench-console-pages: setup ## Console pages p50/p95 (queue, handoff, search, history, resolved) with 10 000 handoffs, 100 000 messages
	$(PY) -m bench.console_pages $(ARGS)

.PHONY: bench-dashboard bench-dashboard-pg
bench-dashboard: setup ## Supervisor dashboard p50/p95 over 1 000 000 generated turns (roll-ups, SQLite)
	$(PY) -m bench.dashboard $(ARGS)

bench-dashboard-pg: setup datastores ## The same on a private PostgreSQL (goal p95 <= 300 ms; writes bench/results/dashboard-postgres.json)
	$(PY) -m bench.dashboard --database postgres $(ARGS)

.PHONY: bench-ingest bench-ingest-amqp
bench-ingest: setup ## Analytics ingestion behind the SQL broker: lag p50/p95/max at 50 events/s, catch-up events/s (writes bench/results/analytics_ingest.json)
	$(PY) -m bench.analytics_ingest $(or $(ARGS),--rate 50 --seconds 30 --backlog 10000)

bench-ingest-amqp: setup datastores ## The same through RabbitMQ (Pika broker, private node; writes bench/results/analytics_ingest-amqp.json)
	$(PY) -m bench.analytics_ingest --broker amqp $(or $(ARGS),--rate 50 --seconds 30 --backlog 10000)

.PHONY: bench-console
bench-console: train browser ## Live console in Chromium: new handoff on an agent's screen and reply in the web chat, p50/p95 ms
	$(PY) -m bench.console_live $(ARGS)

.PHONY: fuzz bench-faults
fuzz: train ## The heavy fuzz run: >= 10 000 hostile inputs per channel and per handoff-API route group
	ATTUNE_TEST_MODEL=models/attune.tar.gz ATTUNE_FUZZ_EXAMPLES=$(or $(EXAMPLES),10000) $(VENV)/bin/pytest -q -s -m fuzz

bench-faults: train ## Kill -9 each process under 50 concurrent handoff requests: lost, duplicated, recovery time
	$(PY) -m bench.faults $(ARGS)

.PHONY: bench-e2e bench-soak
bench-e2e: train ## Attune vs plain Rasa over REST at 1-32 users: p50/p95/p99, msg/s, CPU, RSS (ARGS=--quick)
	$(PY) -m bench.e2e $(ARGS)

.PHONY: bench-e2e-broker
bench-e2e-broker: train ## Attune with the event broker off vs on, interleaved: added p50/p95 per message (ARGS=--repeats 5)
	$(PY) -m bench.e2e_broker $(ARGS)

bench-soak: train ## Soak Attune with steady traffic, sampling memory (MINUTES=20; not in CI)
	$(PY) -m bench.soak --minutes $(or $(MINUTES),20) $(ARGS)

.PHONY: bench-growth
bench-growth: train ## One long conversation, Attune vs plain Rasa: latency at turns 10/100/200, tracker bytes, CPU (ARGS=--turns N)
	$(PY) -m bench.growth $(ARGS)

eval: setup ## Empathy eval on ../shared/data dev files (metrics + JSON/HTML reports in bench/results/)
	$(VENV)/bin/attune eval dialogues ../shared/data/frustration_dialogues.dev.jsonl --json bench/results/eval-uss.json
	$(VENV)/bin/attune eval dialogues ../shared/data/frustration_dialogues_twcs.dev.jsonl --json bench/results/eval-twcs.json
	$(VENV)/bin/attune eval emotions ../shared/data/emotions.dev.jsonl --json bench/results/eval-goemotions.json

.PHONY: eval-bias
eval-bias: setup ## Frustration false positives/negatives per writing style (bench/data/style_variants.yml)
	$(VENV)/bin/attune eval bias bench/data/style_variants.yml --json bench/results/eval-bias.json

.PHONY: fit-frustration
fit-frustration: setup ## Fit the frustration weights on data/frustration/, settings chosen on the dev files; prints a patch (ARGS=--write applies it)
	$(VENV)/bin/attune fit frustration --dev ../shared/data/frustration_dialogues.dev.jsonl ../shared/data/frustration_dialogues_twcs.dev.jsonl $(ARGS)

.PHONY: bench-replay
bench-replay: setup ## Replay the TWCS dev threads into the running stack: share offered a person per rating (MODEL=, ARGS=--limit N)
	$(PY) -m bench.replay_threads --model $(or $(MODEL),models/attune.tar.gz) $(ARGS)

clean: ## Remove the venv, models, caches and local databases
	rm -rf $(VENV) models var .rasa .pytest_cache .mypy_cache .ruff_cache
