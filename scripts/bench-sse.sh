#!/usr/bin/env bash
# The event stream under a connect storm (issue #20): starts the release server on a fresh data
# dir with GOOG's daily candles, stores some thousands of events (paper runs of sma-cross on the
# simulated exchange, replayed as fast as the strategy goes), then connects N clients to
# GET /events/stream at once without a cursor (scripts/lib/bench_sse.py, raw asyncio sockets) and
# prints: the bytes sent to all of them, the latency of GET /strategies during the storm, the
# server's CPU seconds over 10 s with the N clients connected and idle (utime + stime from
# /proc/<pid>/stat), and its RSS. The server binds port 0 and the script reads the address it
# logs (scripts/lib/serve.sh).
# Usage: scripts/bench-sse.sh [clients=2000] [runs=3]   (honours CARGO_TARGET_DIR and
# WEAVER_SSE_REPLAY_EVENTS (default 1000); needs scripts/build-strategies.sh to have been run;
# WEAVER_BENCH_PROFILE=dev measures the dev build, WEAVER_BENCH_BIN=path measures that binary
# without building)
set -euo pipefail
cd "$(dirname "$0")/.."

clients="${1:-2000}"
runs="${2:-3}"
cap="${WEAVER_SSE_REPLAY_EVENTS:-1000}"
target_dir="${CARGO_TARGET_DIR:-target}"
csv="testdata/generated/ohlcv/GOOG.csv"
[[ -f strategies/dist/sma-cross.wasm ]] || { echo "strategies/dist/sma-cross.wasm missing: run scripts/build-strategies.sh" >&2; exit 1; }
[[ -f "$csv" ]] || { echo "$csv missing: run scripts/testdata.sh" >&2; exit 1; }
# A socket per client, and the server's own: raise the soft limit as far as the hard one allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) > clients + 200 )) || { echo "ulimit -n $(ulimit -n) is too low for $clients clients" >&2; exit 1; }

profile="${WEAVER_BENCH_PROFILE:-release}"
bin="${WEAVER_BENCH_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --profile "$profile" -p weaver --bin weaver
    bin="$target_dir/$([[ $profile == dev ]] && echo debug || echo "$profile")/weaver"
fi
data="$(mktemp -d)"
mkdir -p "$data/strategies"
cp strategies/dist/sma-cross.wasm "$data/strategies/"
export WEAVER_DATA_DIR="$data" WEAVER_BIND="127.0.0.1:0" WEAVER_LOG="warn,weaver::app=info" \
    WEAVER_STRATEGIES_DIR="$data/strategies" WEAVER_RUN_BAR_INTERVAL_MS=0 WEAVER_SAMPLE_DATA=off \
    WEAVER_MAX_CONNECTIONS=$((clients + 100)) WEAVER_SSE_REPLAY_EVENTS="$cap"
unset WEAVER_DATABASE_URL WEAVER_API_KEY

"$bin" data import "$csv" --symbol GOOG --timeframe 1Day >/dev/null
"$bin" serve --log-format json >/dev/null 2>"$data/serve.log" &
pid=$!
cleanup() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
source scripts/lib/serve.sh
wait_for_serve bench-sse "$pid" "$data/serve.log" || exit 1
base="http://$addr"

for _ in $(seq 1 600); do
    curl -fsS "$base/strategies?name=sma-cross" | grep -q '"status":"ready"' && break
    sleep 0.5
done
for _ in $(seq 1 "$runs"); do
    id="$(curl -fsS -X POST -H 'content-type: application/json' \
        -d '{"strategy": "sma-cross", "mode": "paper", "venue": "sim", "symbols": ["GOOG"], "timeframe": "1Day", "params": {"fast": 5, "slow": 20}}' \
        "$base/runs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    for _ in $(seq 1 1200); do
        curl -fsS "$base/runs/$id" | grep -q '"status":"running"' || break
        sleep 0.1
    done
done
# Every stored event, by paging the tail (which starts from the oldest).
events="$(python3 - "$base" <<'PY'
import json, sys, urllib.request
base, after, n = sys.argv[1], "", 0
while True:
    page = json.load(urllib.request.urlopen(f"{base}/events/tail?limit=1000" + (f"&after={after}" if after else "")))
    if not page["events"]:
        break
    n += len(page["events"])
    after = page["next"]
print(n)
PY
)"
expected=$(( events < cap ? events : cap ))
echo "stored events: $events; WEAVER_SSE_REPLAY_EVENTS=$cap; binary: $bin"
python3 scripts/lib/bench_sse.py "$addr" "$pid" "$clients" "$expected"
