# Account RTM: every command a person or CI needs. Only python3 and make are assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# dagster-dbt's dev-mode manifest refresh looks for `dbt` on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export RTM_ONLINE_API_KEY ?= sample-local-key
# Key of the keyed hash that replaces personal data at ingestion (contract tag
# `pseudonymize`). The sample's own; a company sets a secret of its own in the environment.
export RTM_PSEUDONYMIZATION_KEY ?= sample-company-pseudonymization-key
# No usage tracking from dbt, Dagster or Great Expectations.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := true
MANIFEST := dbt_project/target/manifest.json

.PHONY: install run full-refresh dev test lint manifest sample bench bench-match clean validate screenshots docs iowa

$(BIN)/rtm: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/rtm

# An older DuckDB, alone in its own venv: the tests open the published file with it, as
# the DuckDB 1.4 drivers bundled in BI tools would (issue 7: BI readers never broken).
COMPAT_VENV := .venv-compat
$(COMPAT_VENV)/bin/python:
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install --quiet "duckdb>=1.4,<1.5"

install: $(BIN)/rtm $(COMPAT_VENV)/bin/python ## create .venv (+ .venv-compat) and install the project with its dev tools

$(MANIFEST): $(BIN)/rtm $(shell find dbt_project/models dbt_project/macros -type f 2>/dev/null) dbt_project/dbt_project.yml
	cd dbt_project && ../$(BIN)/dbt parse --quiet --profiles-dir .

manifest: $(MANIFEST) ## build dbt's manifest once, so Dagster does not parse dbt at load time

run: install manifest ## generate the sample company if needed, run the nightly job, print a summary
	$(BIN)/rtm run

iowa: install manifest ## the whole pipeline on Iowa's real liquor sell-out (../shared/data/iowa_liquor; BRAND="SAZERAC COMPANY  INC" picks another vendor), into warehouse/iowa_liquor
	$(BIN)/rtm run --example iowa_liquor $(if $(BRAND),--brand "$(BRAND)")

full-refresh: install manifest ## the nightly job with every incremental model rebuilt (after a config or logic change)
	$(BIN)/rtm run --full-refresh

dev: install manifest ## open the Dagster UI on the same data (http://127.0.0.1:3000)
	$(BIN)/rtm online-server & echo $$! > .dagster_home/online-server.pid; \
	trap 'kill $$(cat .dagster_home/online-server.pid) 2>/dev/null' EXIT INT TERM; \
	$(BIN)/dagster dev -w workspace.yaml

sample: install ## regenerate the sample company (ACCOUNTS=15000 SEED=42)
	$(BIN)/rtm sample --accounts $${ACCOUNTS:-15000} --seed $${SEED:-42}

test: install manifest ## the test suite
	$(BIN)/pytest -q

# dbt's data catalog (models, columns with their descriptions, tests, lineage, the types and
# row counts of the working database): written to dbt_project/target (index.html,
# catalog.json, and static_index.html, one file to mail or open offline), then served on
# loopback. Reads the working database: run it when no nightly run holds it.
DOCS_PORT ?= 8080
docs: install manifest ## generate the data catalog (dbt docs) and serve it on http://127.0.0.1:$(DOCS_PORT)
	cd dbt_project && RTM_DUCKDB_PATH=$${RTM_WAREHOUSE:-$(CURDIR)/warehouse}/rtm.duckdb \
		../$(BIN)/dbt docs generate --static --profiles-dir .
	cd dbt_project && ../$(BIN)/dbt docs serve --profiles-dir . --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

# The browser test on the test company, keeping its screenshots as the README's images.
screenshots: install manifest ## refresh docs/img/*.png (headless Chromium: apt-get install chromium chromium-driver)
	RTM_SCREENSHOTS_DIR=$(CURDIR)/docs/img $(BIN)/pytest -q -p no:cacheprovider tests/test_browser.py

validate: install manifest ## dagster definitions validate
	$(BIN)/dagster definitions validate -w workspace.yaml

lint: install ## ruff on Python, sqlfluff on dbt models
	$(BIN)/ruff check orchestration tests
	$(BIN)/ruff format --check orchestration tests
	cd dbt_project && ../$(BIN)/sqlfluff lint models

bench: install manifest ## full pipeline on 20k and 200k accounts (BENCH_FULL=1 adds 1M)
	$(BIN)/python -m orchestration.bench

bench-match: install manifest ## account linking: precision/recall/F1 on the sample, time and memory at 20k/200k (BENCH_FULL=1 adds 1M)
	$(BIN)/python -m orchestration.linking.bench

clean: ## remove generated data and build output (keeps .venv)
	rm -rf warehouse dbt_project/target dbt_project/logs
