#!/usr/bin/env bash
# Runs the whole test suite: builds the strategy components the tests load, checks that the
# Postgres the contract tests need is reachable, then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null

# Deployment: compose files against the compose spec, Dockerfile lint, nginx -t, env docs (no
# Docker engine needed; pinned tools from PyPI into the target dir).
scripts/check-deploy.sh

# Marvin: build the example strategies and hostile test guests into strategies/dist/ (the
# integration tests load them and fail loudly when they are missing).
scripts/build-strategies.sh
# Marvin: the WIT contract must stay usable from Python (componentize-py 0.25.1 bindings).
scripts/check-wit-python.sh

export WEAVER_TEST_PG_URL="${WEAVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

cargo test --workspace

# GLaDOS: schemathesis against a live `weaver serve` and its /openapi.json; 0 server errors.
scripts/check-api-schemathesis.sh
