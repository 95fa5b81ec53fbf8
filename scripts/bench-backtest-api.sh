#!/usr/bin/env bash
# Latency of a backtest through the API: POST /backtests (sma-cross over 1,000 stored daily bars)
# until GET /backtests/{id} says it is done, measured from the client, repeated; prints p50, p90,
# p99, min and max in milliseconds.
#
# Setup: `weaver serve` (release build) on a fresh SQLite data directory, registering the bundled
# examples from strategies/dist at start (run scripts/build-strategies.sh first); the bars come
# from POST /candles/synth. Two unmeasured runs warm the compile cache and the pools first. The
# client (python3, one keep-alive connection) polls GET /backtests/{id} every BENCH_POLL_MS, so
# a figure is at most one poll interval above the server-side time.
#
# Usage: scripts/bench-backtest-api.sh
# Env: BENCH_PROFILE (release; debug for a smoke run), WEAVER_BIN (measure this binary instead of
#      building one, e.g. a copy built from another commit), BENCH_RUNS (default 20),
#      BENCH_BARS (default 1000), BENCH_POLL_MS (default 1),
#      BENCH_SAMPLES_OUT (append every measured latency, in ms, one a line, to this file: for
#      pooling rounds, e.g. alternating two binaries on a busy machine).
# Exits non-zero when the setup fails or a backtest does not end `done`.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${BENCH_RUNS:-20}"
bars="${BENCH_BARS:-1000}"
poll_ms="${BENCH_POLL_MS:-1}"
command -v python3 >/dev/null || { echo "bench-backtest-api: python3 is required" >&2; exit 1; }
[[ -f strategies/dist/sma-cross.wasm ]] || {
    echo "bench-backtest-api: strategies/dist/sma-cross.wasm missing: run scripts/build-strategies.sh" >&2
    exit 1
}

if [[ -n "${WEAVER_BIN:-}" ]]; then
    weaver="$WEAVER_BIN"
else
    target="${CARGO_TARGET_DIR:-target}"
    profile="${BENCH_PROFILE:-release}"
    if [[ "$profile" == release ]]; then
        cargo build --quiet --release -p weaver --bin weaver
    else
        cargo build --quiet -p weaver --bin weaver
    fi
    weaver="$target/$profile/weaver"
fi

data="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server"
        wait "$server" || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

export WEAVER_DATA_DIR="$data/db"
# Port 0 and the address the server logs (scripts/lib/serve.sh): no port to pick or collide on.
export WEAVER_BIND="127.0.0.1:0"
export WEAVER_STRATEGIES_DIR="$PWD/strategies/dist"
export WEAVER_SAMPLE_DATA=off
unset WEAVER_API_KEY WEAVER_DATABASE_URL
"$weaver" serve --log-format json >/dev/null 2>"$data/serve.log" &
server=$!
source scripts/lib/serve.sh
wait_for_serve bench-backtest-api "$server" "$data/serve.log" || exit 1
port="${addr##*:}"

python3 - "$port" "$runs" "$bars" "$poll_ms" "${BENCH_SAMPLES_OUT:-}" <<'PY'
import http.client, json, math, sys, time

port, runs, bars, poll_ms = (int(a) for a in sys.argv[1:5])
samples_out = sys.argv[5]
conn = None

def call(method, path, body=None):
    global conn
    for attempt in range(2):
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            headers = {"content-type": "application/json"} if body is not None else {}
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        except (ConnectionError, http.client.HTTPException, OSError):
            conn = None
            if attempt:
                raise

deadline = time.monotonic() + 300
while True:
    status, rows = call("GET", "/strategies?name=sma-cross")
    if status == 200 and any(s["status"] == "ready" for s in rows):
        break
    if status == 200 and rows and all(s["status"] == "rejected" for s in rows):
        sys.exit(f"bench-backtest-api: sma-cross was rejected: {rows}")
    if time.monotonic() > deadline:
        sys.exit("bench-backtest-api: sma-cross did not become ready")
    time.sleep(0.2)

status, body = call("POST", "/candles/synth", {"symbol": "BENCH", "timeframe": "1Day", "bars": bars})
if status >= 300:
    sys.exit(f"bench-backtest-api: POST /candles/synth answered {status}: {body}")

request = {"strategy": "sma-cross", "symbols": ["BENCH"], "timeframe": "1Day", "warmup": 19}

def one():
    started = time.perf_counter()
    status, body = call("POST", "/backtests", request)
    if status != 202:
        sys.exit(f"bench-backtest-api: POST /backtests answered {status}: {body}")
    path = f"/backtests/{body['id']}"
    while True:
        _, b = call("GET", path)
        if b["status"] in ("done", "failed", "cancelled"):
            elapsed = (time.perf_counter() - started) * 1000
            if b["status"] != "done":
                sys.exit(f"bench-backtest-api: backtest {body['id']} ended {b['status']}: {b.get('error')}")
            return elapsed, b["report"]["metrics"]["trades"]
        time.sleep(poll_ms / 1000)

for _ in range(2):
    one()
samples, trades = [], None
for _ in range(runs):
    ms, trades = one()
    samples.append(ms)
if samples_out:
    with open(samples_out, "a") as f:
        f.writelines(f"{ms:.3f}\n" for ms in samples)
samples.sort()
rank = lambda q: samples[max(0, math.ceil(q * len(samples)) - 1)]
print(f"backtest over the API: {bars} bars, sma-cross ({trades} trades), {runs} runs, poll {poll_ms} ms")
print(f"  p50 {rank(0.5):.1f} ms  p90 {rank(0.9):.1f} ms  p99 {rank(0.99):.1f} ms  "
      f"min {samples[0]:.1f} ms  max {samples[-1]:.1f} ms")
PY
