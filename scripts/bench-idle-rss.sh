#!/usr/bin/env bash
# Idle memory of `weaver serve` (release build) as a fresh machine runs it: a new SQLite data
# directory, the example strategies of strategies/dist registered and compiled at start (in a
# child process, see MarvinConfig::compiler), then idle; and again after a restart, when the
# compile cache is warm. Prints VmRSS (and its anonymous / file-backed parts) for both.
# Goal (issue #5): idle <= 60 MB.
# Usage: scripts/bench-idle-rss.sh   (after scripts/build-strategies.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --release -p weaver --bin weaver
weaver="$target/release/weaver"
shopt -s nullglob
wasm=(strategies/dist/*.wasm)
((${#wasm[@]} > 0)) || { echo "bench-idle-rss: strategies/dist is empty; run scripts/build-strategies.sh" >&2; exit 1; }

data="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then kill -TERM "$server"; wait "$server" || true; fi
    rm -rf "$data"
}
trap cleanup EXIT

source scripts/lib/serve.sh
start() {
    : >"$data/serve.log"
    env -u WEAVER_DATABASE_URL -u WEAVER_API_KEY WEAVER_DATA_DIR="$data/db" \
        WEAVER_BIND=127.0.0.1:0 WEAVER_STRATEGIES_DIR="$PWD/strategies/dist" WEAVER_LOG_FORMAT=json \
        "$weaver" serve >>"$data/serve.log" 2>&1 &
    server=$!
    wait_for_serve bench-idle-rss "$server" "$data/serve.log" || exit 1
    local ready=0
    for _ in $(seq 1 600); do
        ready="$(curl -s "http://$addr/strategies" 2>/dev/null \
            | python3 -c 'import json,sys; print(sum(s["status"] == "ready" for s in json.load(sys.stdin)))' 2>/dev/null || echo 0)"
        [[ "$ready" == "${#wasm[@]}" ]] && return 0
        kill -0 "$server" 2>/dev/null || { cat "$data/serve.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "bench-idle-rss: only $ready of ${#wasm[@]} strategies ready after 300 s" >&2
    exit 1
}
rss() {
    awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {printf "%d MB (anonymous %d MB, file-backed %d MB)", r/1024, a/1024, f/1024}' "/proc/$server/status"
}
stop() { kill -TERM "$server"; wait "$server" || true; server=""; }

start
sleep 3
fresh="$(rss)"
fresh_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")"
stop
start
sleep 3
warm="$(rss)"
stop
verdict() { python3 -c "print('ok' if $1 else 'MISSED')"; }
cat <<REPORT
bench-idle-rss (release build, sqlite, ${#wasm[@]} example strategies in strategies/dist)
  idle after compiling them at start (fresh data dir): $fresh   goal <= 60 MB: $(verdict "$fresh_kb <= 61440")
  idle after a restart (compile cache warm):           $warm
REPORT
