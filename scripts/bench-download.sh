#!/usr/bin/env bash
# Download throughput of `weaver data download` (the function the API's download jobs run)
# against `weaver fake-alpaca` on loopback: BENCH_MINUTES 1-minute bars of AAPL (seeded by the
# fake, ending now), fetched in pages of 10,000 with adjustment `all` into a fresh SQLite store.
# Measures paging, decoding and storing, not Alpaca's network. Prints bars, seconds, bars/s.
#
# Usage: scripts/bench-download.sh
# Env: BENCH_PROFILE (debug by default: the figure of the build the tests use; release for
#      a release binary you built), BENCH_MINUTES (default 200000), BENCH_PORT (default 18765).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${BENCH_MINUTES:-200000}"
port="${BENCH_PORT:-18765}"
profile="${BENCH_PROFILE:-debug}"
bin="${CARGO_TARGET_DIR:-target}/$profile/weaver"
[[ -x "$bin" ]] || { echo "bench-download: $bin is missing (cargo build -p weaver)" >&2; exit 1; }
dir="$(mktemp -d)"
trap 'kill "$fake" 2>/dev/null || true; rm -rf "$dir"' EXIT

"$bin" fake-alpaca --bind "127.0.0.1:$port" --rate-limit 0 --seed-minutes "$minutes" >"$dir/fake.log" 2>&1 &
fake=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

start_day="$(date -u -d "@$(( $(date +%s) - minutes * 60 - 86400 ))" +%F)"
end_day="$(date -u +%F)"
t0=$(date +%s.%N)
out="$(WEAVER_DATA_DIR="$dir/data" APCA_API_KEY_ID=FAKEKEYID APCA_API_SECRET_KEY=FAKESECRET \
    APCA_API_BASE_URL="http://127.0.0.1:$port" APCA_API_DATA_URL="http://127.0.0.1:$port" \
    "$bin" data download --symbols AAPL --timeframe 1Min --start "$start_day" --end "$end_day" --page-limit 10000)"
t1=$(date +%s.%N)
bars="$(grep -o 'stored [0-9]*' <<<"$out" | grep -o '[0-9]*')"
python3 - "$bars" "$t0" "$t1" "$profile" <<'PY'
import sys
bars, t0, t1, profile = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = t1 - t0
print(f"download ({profile} build, SQLite, fake Alpaca on loopback): {bars} bars in {s:.2f} s = {bars / s:,.0f} bars/s")
PY
