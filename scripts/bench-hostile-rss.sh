#!/usr/bin/env bash
# RSS of `weaver serve` after N paper runs of hostile guests, against the same process fresh
# (goal: within 10 %). Starts the release server on a fresh data dir with GOOG's daily candles
# and only the hostile test guest registered, reads VmRSS once it is compiled and idle, then runs
# N paper runs on the simulated exchange cycling through the guest's failing modes (fuel, memory
# bomb, stack, panic, trap, huge results, printing, a thousand data windows, bad intents), a few
# at a time, waits until each has failed, and reads VmRSS (anonymous and file-backed) / VmHWM
# again with jemalloc's own account of it (allocated, active, resident, metadata, mapped, retained
# from /metrics), and says PASS or FAIL against the goal. The fresh reading follows one run of the
# kind measured (WEAVER_BENCH_COLD=1: before any run). Each reading waits WEAVER_BENCH_SETTLE_SECS (25)
# first; WEAVER_BENCH_DUMP=dir keeps the server's smaps (and, with gdb, jemalloc's statistics) at both. Exits 1 on FAIL. The server binds port 0 and the
# script reads the address it logs (scripts/lib/serve.sh).
# Usage: scripts/bench-hostile-rss.sh [runs=200] [at_once=8]   (honours CARGO_TARGET_DIR; needs
# scripts/build-strategies.sh to have been run; WEAVER_BENCH_GUEST=benign|biglog makes the runs
# well-behaved, or end normally after logging 100 KB a bar; WEAVER_BENCH_PROFILE=dev measures the
# dev build, WEAVER_BENCH_BIN=path measures that binary without building)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-200}"
at_once="${2:-8}"
# Seconds to wait before each reading: longer than tokio's 10 s keep-alive of idle blocking
# threads, whose stacks (where the guests' deep recursion ran) would otherwise still count, and
# than the 10 s after which idle SQLite readers beyond the first close (checked every 10 s): an
# idle server is measured, not the tail of the burst.
settle="${WEAVER_BENCH_SETTLE_SECS:-25}"
target_dir="${CARGO_TARGET_DIR:-target}"
csv="testdata/generated/ohlcv/GOOG.csv"
[[ -f strategies/dist/guests/hostile.wasm ]] || { echo "strategies/dist/guests/hostile.wasm missing: run scripts/build-strategies.sh" >&2; exit 1; }
[[ -f "$csv" ]] || { echo "$csv missing: run scripts/testdata.sh" >&2; exit 1; }

profile="${WEAVER_BENCH_PROFILE:-release}"
bin="${WEAVER_BENCH_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --profile "$profile" -p weaver --bin weaver
    bin="$target_dir/$([[ $profile == dev ]] && echo debug || echo "$profile")/weaver"
fi
data="$(mktemp -d)"
mkdir -p "$data/strategies"
cp strategies/dist/guests/hostile.wasm "$data/strategies/"
# Port 0 and the address the server logs (scripts/lib/serve.sh): no port to pick or collide on.
# Warnings only, besides the line announcing the address.
export WEAVER_DATA_DIR="$data" WEAVER_BIND="127.0.0.1:0" WEAVER_LOG="warn,weaver::app=info" \
    WEAVER_STRATEGIES_DIR="$data/strategies" WEAVER_RUN_BAR_INTERVAL_MS=0 WEAVER_SAMPLE_DATA=off
unset WEAVER_DATABASE_URL WEAVER_API_KEY
# As deployed (docker/docker-compose.yml sets neither): with RUST_BACKTRACE set, every wasmtime
# error a guest's trap causes captures a Rust backtrace, and the unwinder reads ~1.8 MB of the
# binary's .eh_frame the first time, which a shell's RUST_BACKTRACE=1 would add to "after".
# WEAVER_BENCH_RUST_BACKTRACE=1 measures with it.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
[[ -n "${WEAVER_BENCH_RUST_BACKTRACE:-}" ]] && export RUST_BACKTRACE="$WEAVER_BENCH_RUST_BACKTRACE"

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
wait_for_serve bench-hostile-rss "$pid" "$data/serve.log" || exit 1
base="http://$addr"

rss() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "/proc/$pid/status"; }
rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
# WEAVER_BENCH_DUMP=dir keeps the server's smaps, smaps_rollup, open files, threads and allocator
# statistics at each reading (fresh, after).
dump() {
    [[ -n "${WEAVER_BENCH_DUMP:-}" ]] || return 0
    mkdir -p "$WEAVER_BENCH_DUMP"
    cp "/proc/$pid/smaps" "$WEAVER_BENCH_DUMP/$1.smaps"
    cp "/proc/$pid/smaps_rollup" "$WEAVER_BENCH_DUMP/$1.smaps_rollup"
    ls -l "/proc/$pid/fd" >"$WEAVER_BENCH_DUMP/$1.fds"
    # Threads by name: each keeps its stack's touched pages.
    cat /proc/"$pid"/task/*/comm | sort | uniq -c >"$WEAVER_BENCH_DUMP/$1.threads"
    # The allocators' own accounts, when gdb is there to ask for them: jemalloc's statistics
    # (per size class: regions in use, slabs, utilisation; metadata), which it prints on the
    # server's stderr, and glibc's view of its heap (in use, free, per arena).
    if command -v gdb >/dev/null; then
        local before
        before="$(wc -c <"$data/serve.log")"
        gdb -p "$pid" -batch -ex 'call (void) malloc_stats_print(0, 0, 0)' >/dev/null 2>&1 || true
        tail -c +"$((before + 1))" "$data/serve.log" >"$WEAVER_BENCH_DUMP/$1.jemalloc" || true
        gdb -p "$pid" -batch -ex "set \$f = (void *) fopen(\"$WEAVER_BENCH_DUMP/$1.malloc.xml\", \"w\")" \
            -ex 'call (int) malloc_info(0, $f)' -ex 'call (int) fclose($f)' >/dev/null 2>&1 || true
    fi
}

# jemalloc's own account (weaver_allocator_bytes, sampled every 5 s): a leak grows `allocated`,
# allocator retention grows `resident` alone, memory outside the allocator grows RSS alone.
alloc() {
    curl -fsS "$base/metrics" | python3 -c '
import re, sys
kinds = dict(re.findall(r"^weaver_allocator_bytes\{kind=\"(\w+)\"\} (\S+)$", sys.stdin.read(), re.M))
print(", ".join(f"{k} {float(kinds[k]) / 2**20:.1f}" for k in ("allocated", "active", "resident", "metadata", "mapped", "retained") if k in kinds) or "no allocator gauges", "MB")'
}

for _ in $(seq 1 600); do
    curl -fsS "$base/strategies?name=hostile" | grep -q '"status":"ready"' && break
    sleep 0.5
done
run() {
    curl -fsS -X POST -H 'content-type: application/json' -d "{\"strategy\": \"hostile\", \"mode\": \"paper\", \"venue\": \"sim\", \"symbols\": [\"GOOG\"], \"timeframe\": \"1Day\", \"params\": {$1}}" "$base/runs" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
ended() {
    curl -fsS "$base/runs/$1" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"] in ("failed","stopped"), r["error_code"])'
}
wait_ended() {
    for _ in $(seq 1 600); do
        out="$(ended "$1")"
        [[ "$out" == True* ]] && { echo "${out#True }"; return 0; }
        sleep 0.1
    done
    echo "run $1 did not end" >&2
    return 1
}
modes=(
    '"mode": "spin"'
    '"mode": "grow"'
    '"mode": "recurse"'
    '"mode": "recurse-buffers"'
    '"mode": "panic"'
    '"mode": "unreachable"'
    '"mode": "flood"'
    '"mode": "many"'
    '"mode": "print"'
    '"mode": "nan"'
    '"mode": "error"'
    '"mode": "windows", "count": "1000", "lookback": "100000"'
)
# The control: WEAVER_BENCH_GUEST=benign makes the same runs well-behaved, so what they add is
# what the load costs, not the hostility.
[[ "${WEAVER_BENCH_GUEST:-hostile}" == benign ]] && modes=('"mode": "none"')
# WEAVER_BENCH_GUEST=biglog: runs that end normally (stopped) after logging 100 KB a bar, the
# finished-runs case of issue #20 (memory per finished run is released).
[[ "${WEAVER_BENCH_GUEST:-hostile}" == biglog ]] && modes=('"mode": "biglog"')
# The first run is of the kind measured (benign, biglog; a benign one before hostile runs): what
# the first such run initialises once (the SQLite writer's 2 MB page cache filling with log pages,
# for biglog) is in the fresh figure, so "after" shows what runs leave behind, not what the first
# one set up. WEAVER_BENCH_COLD=1 takes the fresh figure before any run instead.
if [[ -z "${WEAVER_BENCH_COLD:-}" ]]; then
    warm='"mode": "none"'
    [[ "${WEAVER_BENCH_GUEST:-hostile}" != hostile ]] && warm="${modes[0]}"
    wait_ended "$(run "$warm")" >/dev/null
fi
sleep "$settle"
dump fresh
fresh_kb="$(rss_kb VmRSS)"
fresh="$(rss VmRSS)"
fresh_split="anon $(rss RssAnon) MB, file $(rss RssFile) MB"
fresh_alloc="$(alloc)"

declare -A codes
started=0
while (( started < runs )); do
    ids=()
    for _ in $(seq 1 "$at_once"); do
        (( started < runs )) || break
        ids+=("$(run "${modes[started % ${#modes[@]}]}")")
        started=$((started + 1))
    done
    for id in "${ids[@]}"; do
        code="$(wait_ended "$id")"
        codes[$code]=$(( ${codes[$code]:-0} + 1 ))
    done
done
sleep "$settle"
dump after
after_kb="$(rss_kb VmRSS)"
after="$(rss VmRSS)"
peak="$(rss VmHWM)"
echo "fresh RSS (hostile guest compiled, $([[ -n "${WEAVER_BENCH_COLD:-}" ]] && echo "no run yet" || echo "one run done")): ${fresh} MB (${fresh_split})"
echo "RSS after ${runs} ${WEAVER_BENCH_GUEST:-hostile} runs: ${after} MB (anon $(rss RssAnon) MB, file $(rss RssFile) MB; peak ${peak} MB)"
echo "allocator fresh: ${fresh_alloc}"
echo "allocator after: $(alloc)"
for code in "${!codes[@]}"; do echo "  ${codes[$code]} runs ended with $code"; done
# The verdict on kB, not on the rounded MB above.
python3 - "$fresh_kb" "$after_kb" <<'PY'
import sys
fresh, after = (int(v) for v in sys.argv[1:])
ratio = after / fresh
verdict = "PASS" if ratio <= 1.10 else "FAIL"
print(f"after / fresh: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %, goal within +10 %): {verdict}")
sys.exit(verdict != "PASS")
PY
