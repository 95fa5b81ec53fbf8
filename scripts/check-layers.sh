#!/usr/bin/env bash
# The layer rule of host/src (host/src/lib.rs): a module imports only modules to its right in
# `cli, app, glados, notify, runs, veda, greta, marvin, walle, events, domain`; only glados speaks HTTP
# (axum, utoipa, ApiError; the fake Alpaca server excepted); only cli uses clap; no file over
# 800 lines. Called by scripts/test.sh; host/tests/it/layers.rs shows it failing on a wrong-way
# import. Usage: scripts/check-layers.sh [SRC_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/lib/check_layers.py "${1:-host/src}"
