#!/usr/bin/env bash
# Density of `weaver serve` (release): how many concurrent simulated sma-cross runs one process
# carries, on SQLite and on PostgreSQL, each run in its own sandbox. For every backend and run
# count it starts a fresh server on a fresh store (GOOG daily candles from testdata, ~2,150 bars,
# paced at DENSITY_PACE_MS per bar so every run stays active through the measurement), starts the
# runs one after the other, lets them trade, and prints a table row:
#   start avg / p99 / avg of the last tenth (ms), RSS with the runs and MB per run (above the idle
#   server), the worst and the median run's p99 gap between two bars, the p99 guest call
#   (bar -> intents) over the newest `strategy.DecisionMade` events of all runs and the worst and
#   the median run's own p99, /healthz p99 and GET /runs?limit=100 p99 under load, the server's
#   CPU % and the machine's load average,
#   and, for a sample of runs stopped at the end, events lost or duplicated in the outbox
#   (`strategy.DecisionMade` against guest calls, `orders.Intent` against `orders` rows).
# Goal (issue #18): at 1 bar/s every run's p99 bar gap <= 1.1 s, guest call p99 <= 10 ms, a
# start <= 50 ms however many runs are active, RSS <= 2 GB, nothing lost or duplicated,
# /healthz p99 <= 20 ms.
#
# Usage: scripts/bench-density.sh [runs...]            (default: 1000 3000 5000)
# Env:   DENSITY_BACKENDS ("sqlite pg"), DENSITY_PACE_MS (1000), DENSITY_SETTLE_S (15),
#        DENSITY_MEASURE_S (30), DENSITY_SAMPLE (50 runs checked against the outbox),
#        DENSITY_START_BUDGET_S (600: past it, the runs started so far are measured and the row
#        says started/asked),
#        WEAVER_BENCH_BIN (measure that binary, no build), WEAVER_TEST_PG_URL (PostgreSQL admin
#        URL; a database is created and dropped per measurement), DENSITY_KEEP=1 keeps the data
#        dir (and database) for a look afterwards. JSON lines with every figure go to
#        $DENSITY_JSON (default target/bench-density.jsonl).
# Needs scripts/testdata.sh and scripts/build-strategies.sh to have been run, python3, and psql
# for PostgreSQL. Not a test: it prints figures and fails only when the setup does.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
(( ${#sizes[@]} )) || sizes=(1000 3000 5000)
backends="${DENSITY_BACKENDS:-sqlite pg}"
target_dir="${CARGO_TARGET_DIR:-target}"
export DENSITY_CSV="${DENSITY_CSV:-testdata/generated/ohlcv/GOOG.csv}"
export DENSITY_STRATEGY="${DENSITY_STRATEGY:-strategies/dist/sma-cross.wasm}"
[[ -f "$DENSITY_STRATEGY" ]] || { echo "$DENSITY_STRATEGY missing: run scripts/build-strategies.sh" >&2; exit 1; }
[[ -f "$DENSITY_CSV" ]] || { echo "$DENSITY_CSV missing: run scripts/testdata.sh" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-density: python3 is required" >&2; exit 1; }
if [[ " $backends " == *" pg "* ]]; then
    command -v psql >/dev/null || { echo "bench-density: psql is required for PostgreSQL" >&2; exit 1; }
fi

bin="${WEAVER_BENCH_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --release -p weaver --bin weaver
    bin="$target_dir/release/weaver"
fi
export DENSITY_BIN="$bin"
json="${DENSITY_JSON:-$target_dir/bench-density.jsonl}"
mkdir -p "$(dirname "$json")"
# Thousands of runs: a file descriptor or two each for the store, well within a raised limit.
ulimit -n 65536 2>/dev/null || true

printf '%-6s %-7s %22s %14s %20s %22s %12s %11s %14s\n' runs backend "start avg/p99/last ms" "RSS MB (/run)" "bar gap p99 max/med" "call p99 all/max/med" "healthz p99" "CPU%/load" "lost/dup/ord"
for n in "${sizes[@]}"; do
    for b in $backends; do
        line="$(DENSITY_RUNS="$n" DENSITY_BACKEND="$b" python3 scripts/lib/bench_density.py)"
        echo "$line" >>"$json"
        python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
runs = str(r['runs']) if r['started'] == r['runs'] else f"{r['started']}/{r['runs']}"
print(f"{runs:<6} {r['backend']:<7} "
      f"{r['start_avg_ms']:>7.1f}/{r['start_p99_ms']:>6.1f}/{r['start_last10_avg_ms']:>6.1f} "
      f"{r['rss_mb']:>7.0f} ({r['mb_per_run']:.2f}) "
      f"{r['bar_gap_p99_s_max']:>8.2f}/{r['bar_gap_p99_s_median']:.2f} s "
      f"{r['decision_latency_p99_ms']:>5.2f}/{r['call_p99_ms_max']:>6.2f}/{r['call_p99_ms_median']:.2f} ms "
      f"{r['healthz_p99_ms']:>8.1f} ms {r['cpu_percent']:>5.0f}/{r['loadavg_1m']:<4.1f} "
      f"{r['lost']:>4}/{r['duplicated']}/{r['order_event_mismatch']}")
PY
    done
done
echo "(every figure, with the runs over 1.1 s, bars delivered and /runs page p99: $json)"
