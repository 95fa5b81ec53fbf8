#!/usr/bin/env bash
# The README's run command: builds the example strategies and the dashboard (haro/dist, embedded
# in the release binary), then starts `weaver serve` (dashboard at http://127.0.0.1:8080/).
# Everything is configured by WEAVER_* variables (see README "Configuration"); with none set,
# Weaver serves on 127.0.0.1:8080 with SQLite in ./weaver-data and needs no keys.
# Usage: scripts/run.sh [extra `weaver serve` arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-strategies.sh
scripts/build-haro.sh
export WEAVER_STRATEGIES_DIR="${WEAVER_STRATEGIES_DIR:-strategies/dist}"
exec cargo run --release --bin weaver -- serve "$@"
