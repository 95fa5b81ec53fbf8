#!/usr/bin/env bash
# Memory and concurrency of a storm of backtests (issue #20, finding M8): stores a 500,000-bar
# synthetic 1Min series, posts 20 backtests of sma-cross over it at once, then samples VmRSS,
# VmHWM and the number of `running` backtests every 0.5 s until all have ended. Prints the most
# running at once, the peak RSS (VmHWM), the RSS after, the budget and concurrency in force (read
# from the server's start-up log), the total time and the non-2xx answers; PASS when no POST
# failed, every backtest ended `done`, the most running <= the concurrency and
# VmHWM <= budget + the fresh process's RSS + a margin (BENCH_MARGIN_MB, default 256).
#
# Setup: `weaver serve` (release build unless WEAVER_BENCH_PROFILE=dev, or WEAVER_BENCH_BIN=path
# to measure that binary) on a fresh SQLite data directory and port 0 (scripts/lib/serve.sh),
# only sma-cross registered (run scripts/build-strategies.sh first). WEAVER_BACKTEST_MEMORY_MB
# and WEAVER_BACKTEST_CONCURRENCY are passed through: unset, the server's defaults are measured.
#
# Usage: scripts/bench-backtests-memory.sh [backtests=20] [bars=500000]
# Exits non-zero on FAIL or when the setup fails.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${1:-20}"
bars="${2:-500000}"
margin="${BENCH_MARGIN_MB:-256}"
command -v python3 >/dev/null || { echo "bench-backtests-memory: python3 is required" >&2; exit 1; }
[[ -f strategies/dist/sma-cross.wasm ]] || {
    echo "bench-backtests-memory: strategies/dist/sma-cross.wasm missing: run scripts/build-strategies.sh" >&2
    exit 1
}

target_dir="${CARGO_TARGET_DIR:-target}"
profile="${WEAVER_BENCH_PROFILE:-release}"
bin="${WEAVER_BENCH_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --quiet --profile "$profile" -p weaver --bin weaver
    bin="$target_dir/$([[ $profile == dev ]] && echo debug || echo "$profile")/weaver"
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

mkdir -p "$data/strategies"
cp strategies/dist/sma-cross.wasm "$data/strategies/"
export WEAVER_DATA_DIR="$data/db" WEAVER_BIND="127.0.0.1:0" WEAVER_STRATEGIES_DIR="$data/strategies" \
    WEAVER_SAMPLE_DATA=off WEAVER_LOG=info
unset WEAVER_API_KEY WEAVER_DATABASE_URL

"$bin" data synth --bars "$bars" --out "$data/big.csv" >/dev/null
"$bin" data import "$data/big.csv" --symbol BIG --timeframe 1Min >/dev/null
rm -f "$data/big.csv"

"$bin" serve --log-format json >/dev/null 2>"$data/serve.log" &
server=$!
source scripts/lib/serve.sh
wait_for_serve bench-backtests-memory "$server" "$data/serve.log" || exit 1

python3 - "$addr" "$server" "$jobs" "$bars" "$margin" "$data/serve.log" <<'PY'
import http.client, json, sys, threading, time

addr, pid, jobs, bars, margin, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
host, port = addr.rsplit(":", 1)

def call(method, path, body=None, timeout=120):
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()

def mem(key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    raise SystemExit(f"bench-backtests-memory: no {key} for {pid}")

limits = None
with open(log) as f:
    for line in f:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        fields = rec.get("fields", rec)
        if "memory_budget_mb" in fields:
            limits = (int(fields["concurrency"]), int(fields["memory_budget_mb"]))
if limits is None:
    sys.exit("bench-backtests-memory: the server did not log its backtest limits")
concurrency, budget = limits

deadline = time.monotonic() + 300
while True:
    status, rows = call("GET", "/strategies?name=sma-cross")
    if status == 200 and any(s["status"] == "ready" for s in rows):
        break
    if time.monotonic() > deadline:
        sys.exit("bench-backtests-memory: sma-cross did not become ready")
    time.sleep(0.2)
time.sleep(1)
fresh, fresh_anon = mem("VmRSS"), mem("RssAnon")

request = {"strategy": "sma-cross", "symbols": ["BIG"], "timeframe": "1Min",
           "params": {"fast": 10, "slow": 30}}
answers = [None] * jobs
def post(i):
    t = time.perf_counter()
    try:
        answers[i] = (*call("POST", "/backtests", request), time.perf_counter() - t)
    except Exception as e:  # a dropped connection counts as a failed answer
        answers[i] = (0, str(e), time.perf_counter() - t)
started = time.monotonic()
threads = [threading.Thread(target=post, args=(i,)) for i in range(jobs)]
for t in threads:
    t.start()
for t in threads:
    t.join()
posted = time.monotonic() - started
bad = [a for a in answers if not 200 <= a[0] < 300]
ids = [a[1]["id"] for a in answers if 200 <= a[0] < 300]
estimate = None
if ids:
    _, first = call("GET", f"/backtests/{ids[0]}")
    estimate = first.get("memory_estimate_mb")

most, statuses = 0, {}
deadline = time.monotonic() + 3600
while True:
    _, rows = call("GET", f"/backtests?limit={max(jobs, 1)}")
    statuses = {r["id"]: r["status"] for r in rows if r["id"] in ids}
    most = max(most, sum(1 for s in statuses.values() if s == "running"))
    if all(s in ("done", "failed", "cancelled") for s in statuses.values()):
        break
    if time.monotonic() > deadline:
        sys.exit("bench-backtests-memory: the backtests did not end within an hour")
    time.sleep(0.5)
total = time.monotonic() - started
time.sleep(2)
hwm, after, after_anon, after_file = mem("VmHWM"), mem("VmRSS"), mem("RssAnon"), mem("RssFile")
failed = [i for i, s in statuses.items() if s != "done"]

print(f"bench-backtests-memory: {jobs} backtests of sma-cross on {bars} 1Min bars")
print(f"  concurrency {concurrency}, budget {budget} MB, estimate per backtest {estimate} MB")
print(f"  POSTs: {len(answers) - len(bad)} 2xx, {len(bad)} non-2xx, slowest {max(a[2] for a in answers):.2f} s, all answered in {posted:.2f} s")
print(f"  max running at once: {most}")
print(f"  RSS fresh {fresh} MB (heap {fresh_anon} MB), peak (VmHWM) {hwm} MB, after {after} MB (heap {after_anon} MB, mapped files {after_file} MB)")
print(f"  total time {total:.1f} s; ended not done: {len(failed)}")
for a in bad[:3]:
    print(f"  non-2xx: {a[0]} {a[1]}")
limit = budget + fresh + margin
ok = not bad and not failed and most <= concurrency and hwm <= limit
print(f"{'PASS' if ok else 'FAIL'}: max running {most} <= {concurrency}, VmHWM {hwm} MB <= budget {budget} + fresh {fresh} + margin {margin} = {limit} MB, {len(bad)} non-2xx, {len(failed)} not done")
sys.exit(0 if ok else 1)
PY
