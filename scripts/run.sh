#!/usr/bin/env bash
# The README's run command: checks the prerequisites, builds the example strategies and the
# dashboard (haro/dist, embedded in the release binary) and the release binary, then starts
# `weaver serve` and prints the URL to open once it answers.
# Everything is configured by WEAVER_* variables (see README "Configuration"); with none set,
# Weaver serves on 127.0.0.1:8080 with SQLite in ./weaver-data, loads sample data on the first
# start (WEAVER_SAMPLE_DATA=off skips it) and needs no keys.
# Usage: scripts/run.sh [extra `weaver serve` arguments, e.g. --bind 127.0.0.1:9000]
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> [%s/5] %s\n' "$1" "$2" >&2; }
started=$SECONDS

step 1 "checking prerequisites (scripts/doctor.sh run)"
scripts/doctor.sh run
step 2 "building the example strategies (Rust, Python, JavaScript; the first time installs the pinned toolchains and takes a few minutes)"
scripts/build-strategies.sh
step 3 "building the dashboard (npm ci + vite build into haro/dist)"
scripts/build-haro.sh
step 4 "building weaver in release mode (the first time takes 10-15 minutes on 2 cores)"
cargo build --release --bin weaver
bin="${CARGO_TARGET_DIR:-target}/release/weaver"
export WEAVER_STRATEGIES_DIR="${WEAVER_STRATEGIES_DIR:-strategies/dist}"

# The address the server will listen on: --bind wins over WEAVER_BIND (as in `weaver serve`).
bind="${WEAVER_BIND:-127.0.0.1:8080}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --bind) bind="${args[$((i + 1))]:-$bind}" ;;
        --bind=*) bind="${args[$i]#--bind=}" ;;
    esac
done
url="http://$bind/"
[[ "$bind" == 0.0.0.0:* ]] && url="http://127.0.0.1:${bind#0.0.0.0:}/"

step 5 "starting weaver serve on $bind (Ctrl-C stops it; data in ${WEAVER_DATA_DIR:-./weaver-data} unless WEAVER_DATABASE_URL is set)"
# Announce the URL once /healthz answers; the watcher ends with the server.
(
    for _ in $(seq 1 600); do
        if curl -fsS -o /dev/null "${url}healthz" 2>/dev/null; then
            printf '\n==> Weaver is up after %ss: open %s\n\n' "$((SECONDS - started))" "$url" >&2
            exit 0
        fi
        sleep 0.2
    done
) &
exec "$bin" serve "$@"
