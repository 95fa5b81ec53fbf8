#!/usr/bin/env bash
# HTTP benchmark of `weaver serve` (release build) with wrk: GET /healthz and
# GET /orders?limit=100 with 1,000,000 orders stored, plus the server's idle RSS.
#
# Setup: a fresh SQLite data directory is migrated by `weaver migrate`, then the orders are
# inserted with one direct SQL statement (a recursive CTE in the sqlite3 CLI; with --pg,
# generate_series in psql): going through WallE one order at a time would take the bench longer
# than the measurement, and the rows are shaped exactly like WallE's (same columns, decimal text,
# RFC 3339 UTC times). Nothing else is stored, so /orders pages over the 1M rows by id.
#
# Usage: scripts/bench-http.sh [--pg]   (--pg: PostgreSQL at $WEAVER_TEST_PG_URL instead)
# Env: BENCH_PROFILE (release; debug for a smoke run), BENCH_ORDERS (default 1000000), BENCH_SECONDS (default 10), BENCH_THREADS (default 2),
#      BENCH_CONNECTIONS (default 64, /healthz), BENCH_ORDER_CONNECTIONS (default 8, /orders).
# Goals (issue #5): >= 20,000 req/s on /healthz, p99 <= 20 ms on /orders?limit=100, idle RSS
# <= 60 MB. Prints the figures and exits non-zero when the setup fails (not when a goal is missed).
set -euo pipefail
cd "$(dirname "$0")/.."

pg=false
[[ "${1:-}" == "--pg" ]] && pg=true
orders="${BENCH_ORDERS:-1000000}"
seconds="${BENCH_SECONDS:-10}"
threads="${BENCH_THREADS:-2}"
connections="${BENCH_CONNECTIONS:-64}"
# /orders pages are 100 rows of JSON (~40 KB): a handful of dashboard clients, not 64.
order_connections="${BENCH_ORDER_CONNECTIONS:-8}"

for tool in wrk python3; do
    command -v "$tool" >/dev/null || { echo "bench-http: $tool is required (apt-get install -y $tool)" >&2; exit 1; }
done
if $pg; then
    command -v psql >/dev/null || { echo "bench-http: psql is required for --pg" >&2; exit 1; }
else
    command -v sqlite3 >/dev/null || { echo "bench-http: sqlite3 is required (apt-get install -y sqlite3)" >&2; exit 1; }
fi

target="${CARGO_TARGET_DIR:-target}"
# BENCH_PROFILE=debug measures the debug build instead (a smoke run of the bench, not figures).
profile="${BENCH_PROFILE:-release}"
if [[ "$profile" == release ]]; then
    cargo build --quiet --release -p weaver --bin weaver
else
    cargo build --quiet -p weaver --bin weaver
fi
weaver="$target/$profile/weaver"

data="$(mktemp -d)"
server=""
pg_db=""
admin="${WEAVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server"
        wait "$server" || true
    fi
    if [[ -n "$pg_db" ]]; then
        psql -q "$admin" -c "drop database if exists $pg_db with (force)" >/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

export WEAVER_DATA_DIR="$data/db"
unset WEAVER_API_KEY
if $pg; then
    pg_db="weaver_bench_$$"
    psql -q "$admin" -c "create database $pg_db" >/dev/null
    export WEAVER_DATABASE_URL="${admin%/*}/$pg_db"
else
    unset WEAVER_DATABASE_URL
fi
"$weaver" migrate >/dev/null

started=$(date +%s.%N)
if $pg; then
    psql -q "$WEAVER_DATABASE_URL" <<SQL
insert into orders (client_order_id, symbol, side, order_type, time_in_force, quantity, status,
                    filled_quantity, average_price, created_at, updated_at)
select 'bench-' || n, (array['AAPL','MSFT','GOOG','AMZN'])[1 + n % 4],
       case when n % 2 = 0 then 'buy' else 'sell' end, 'market', 'day', 1 + n % 10, 'filled',
       1 + n % 10, 100 + (n % 1000) / 100.0,
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second',
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second'
from generate_series(1, $orders) as n;
analyze orders;
SQL
else
    sqlite3 "$WEAVER_DATA_DIR/weaver.db" >/dev/null <<SQL
pragma journal_mode = wal;
with recursive c(n) as (select 1 union all select n + 1 from c where n < $orders)
insert into orders (client_order_id, symbol, side, order_type, time_in_force, quantity, status,
                    filled_quantity, average_price, created_at, updated_at)
select 'bench-' || n, case n % 4 when 0 then 'AAPL' when 1 then 'MSFT' when 2 then 'GOOG' else 'AMZN' end,
       case when n % 2 = 0 then 'buy' else 'sell' end, 'market', 'day', cast(1 + n % 10 as text),
       'filled', cast(1 + n % 10 as text), printf('%.2f', 100 + (n % 1000) / 100.0),
       strftime('%Y-%m-%dT%H:%M:%SZ', 1767225600 + n, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%SZ', 1767225600 + n, 'unixepoch')
from c;
analyze;
SQL
fi
stored=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
echo "bench-http: stored $orders orders in ${stored}s ($($pg && echo postgres || echo sqlite))"

log="$data/serve.log"
WEAVER_BIND=127.0.0.1:0 WEAVER_LOG="${WEAVER_LOG:-info}" WEAVER_STRATEGIES_DIR="$data/none" \
    "$weaver" serve --log-format json 2>"$log" >/dev/null &
server=$!
source scripts/lib/serve.sh
wait_for_serve bench-http "$server" "$log" || exit 1
count=$(curl -sf "http://$addr/orders?limit=100" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["orders"]))')
[[ "$count" == 100 ]] || { echo "bench-http: /orders?limit=100 returned $count orders" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
sleep 2
idle_kb=$(rss_kb)

# Prints "<requests/s> <p99 ms>" from wrk --latency output.
measure() {
    local url="$1" conns="$2" out
    out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency "$url")
    echo "$out" >&2
    python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
if errors:
    sys.exit(f"bench-http: {errors.group(1)} error responses")
print(f"{rps:.0f} {float(m.group(1)) * scale:.2f}")
PY
}

read -r h_rps h_p99 < <(measure "http://$addr/healthz" "$connections")
read -r o_rps o_p99 < <(measure "http://$addr/orders?limit=100" "$order_connections")
loaded_kb=$(rss_kb)
sleep 2
after_kb=$(rss_kb)

verdict() { python3 -c "print('ok' if $1 else 'MISSED')"; }
cat <<REPORT

bench-http ($profile build, $($pg && echo postgres || echo sqlite), $orders orders, wrk -t$threads -d${seconds}s, $(nproc) cores shared with wrk)
  GET /healthz (c=$connections)         ${h_rps} req/s   p99 ${h_p99} ms   goal >= 20000 req/s: $(verdict "$h_rps >= 20000")
  GET /orders?limit=100 (c=$order_connections) ${o_rps} req/s   p99 ${o_p99} ms   goal p99 <= 20 ms: $(verdict "$o_p99 <= 20")
  RSS idle                  $((idle_kb / 1024)) MB                    goal <= 60 MB: $(verdict "$idle_kb <= 61440")
  RSS after load / 2 s later $((loaded_kb / 1024)) MB / $((after_kb / 1024)) MB
REPORT
