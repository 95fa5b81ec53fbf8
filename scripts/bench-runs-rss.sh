#!/usr/bin/env bash
# RSS of `weaver serve` idle and with N concurrent paper runs (goal: 20 runs <= 200 MB).
# Starts the release server on a fresh data dir, imports GOOG's daily candles, lets the example
# strategies register, starts N sma-cross runs on the simulated exchange (paced so they stay
# active), then reads VmRSS / VmHWM from /proc/<pid>/status.
# Usage: scripts/bench-runs-rss.sh [runs=20] [pace_ms=200]   (honours CARGO_TARGET_DIR; needs
# scripts/build-strategies.sh to have been run; WEAVER_BENCH_PROFILE=dev measures the dev build,
# WEAVER_BENCH_BIN=path measures that binary without building)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
pace="${2:-200}"
target_dir="${CARGO_TARGET_DIR:-target}"
csv="${WEAVER_BENCH_CSV:-testdata/generated/ohlcv/GOOG.csv}"
[[ -f strategies/dist/sma-cross.wasm ]] || { echo "strategies/dist/sma-cross.wasm missing: run scripts/build-strategies.sh" >&2; exit 1; }
[[ -f "$csv" ]] || { echo "$csv missing: run scripts/testdata.sh" >&2; exit 1; }

profile="${WEAVER_BENCH_PROFILE:-release}"
bin="${WEAVER_BENCH_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --profile "$profile" -p weaver --bin weaver
    bin="$target_dir/$([[ $profile == dev ]] && echo debug || echo "$profile")/weaver"
fi
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# Only sma-cross is registered (WEAVER_BENCH_ALL_STRATEGIES=1 registers every example, whose
# compilation, the Python one's above all, dominates the idle figure).
mkdir -p "$data/strategies"
if [[ -n "${WEAVER_BENCH_ALL_STRATEGIES:-}" ]]; then
    cp strategies/dist/*.wasm "$data/strategies/"
else
    cp strategies/dist/sma-cross.wasm "$data/strategies/"
fi
export WEAVER_DATA_DIR="$data" WEAVER_BIND="127.0.0.1:$port" WEAVER_LOG=warn \
    WEAVER_STRATEGIES_DIR="$data/strategies" WEAVER_RUN_BAR_INTERVAL_MS="$pace"
unset WEAVER_DATABASE_URL

"$bin" data import "$csv" --symbol GOOG --timeframe 1Day >/dev/null
"$bin" serve >"$data/serve.log" 2>&1 &
pid=$!
cleanup() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

rss() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "/proc/$pid/status"; }

for _ in $(seq 1 300); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
# The example strategies compile in the background; wait for sma-cross.
for _ in $(seq 1 600); do
    curl -fsS "$base/strategies?name=sma-cross" | grep -q '"status":"ready"' && break
    sleep 0.5
done
sleep 2
idle="$(rss VmRSS)"

body='{"strategy": "sma-cross", "mode": "paper", "venue": "sim", "symbols": ["GOOG"], "timeframe": "1Day", "params": {"fast": 10, "slow": 30}}'
for _ in $(seq 1 "$runs"); do
    curl -fsS -X POST -H 'content-type: application/json' -d "$body" "$base/runs" >/dev/null
done
sleep 10
active="$(curl -fsS "$base/accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["runs"])')"
with_runs="$(rss VmRSS)"
peak="$(rss VmHWM)"
echo "idle RSS: ${idle} MB"
echo "RSS with ${active} active paper runs (pace ${pace} ms): ${with_runs} MB (peak ${peak} MB)"
if (( active != runs )); then
    echo "expected $runs active runs, found $active" >&2
    exit 1
fi
