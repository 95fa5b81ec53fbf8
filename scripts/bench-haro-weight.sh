#!/usr/bin/env bash
# The dashboard's weight against its budgets (issue #23): the first load (index.html and the
# scripts and styles the Dashboard page loads) under 150 KB compressed, and the Backtests page
# with 100 backtests stored (the API bytes it fetches and the chunks it loads) under 200 KB.
# Builds the dashboard (precompressed .br/.gz) and the debug binary, then runs
# haro/scripts/weight.mjs (a real `weaver serve`, headless chromium to see what a page fetches,
# each URL then weighed as sent with br and with gzip).
# Usage: scripts/bench-haro-weight.sh   (needs chromium, node, and scripts/build-strategies.sh run;
# WEAVER_BIN=path weighs that binary without building)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f strategies/dist/sma-cross.wasm ]] || { echo "strategies/dist/sma-cross.wasm missing: run scripts/build-strategies.sh" >&2; exit 1; }
scripts/build-haro.sh
if [[ -z "${WEAVER_BIN:-}" ]]; then
    cargo build --bin weaver
    WEAVER_BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/weaver"
fi
export WEAVER_BIN
node haro/scripts/weight.mjs
