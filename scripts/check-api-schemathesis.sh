#!/usr/bin/env bash
# Fuzzes the live API with schemathesis against its own OpenAPI document (/openapi.json):
# starts `weaver serve` on a fresh SQLite data directory and a random port, runs schemathesis
# with the server-error and response-conformance checks, and fails on any finding, on a server
# panic, or when the server died. Installs schemathesis (pinned) into a venv under the cargo
# target dir on first use; needs python3 with the venv module and fails loudly without it.
#
# Usage: scripts/check-api-schemathesis.sh [extra schemathesis args]
# Env: SCHEMATHESIS_MAX_EXAMPLES (default 40) test cases per operation.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
command -v python3 >/dev/null || { echo "check-api-schemathesis: python3 is required" >&2; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null || {
    echo "check-api-schemathesis: python3's venv/ensurepip modules are missing (apt-get install python3-venv)" >&2
    exit 1
}
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
venv="$(cd "$target" && pwd)/schemathesis-$version"
if [[ ! -x "$venv/bin/st" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
"$venv/bin/st" --version | grep -q "$version" || { echo "check-api-schemathesis: $venv is not schemathesis $version" >&2; exit 1; }

# scripts/test.sh passes the binary `cargo test` built (WEAVER_BIN): building it again here with
# another feature set would recompile wasmtime and the crate (minutes on 2 cores).
if [[ -n "${WEAVER_BIN:-}" ]]; then
    weaver="$WEAVER_BIN"
    [[ -x "$weaver" ]] || { echo "check-api-schemathesis: WEAVER_BIN=$weaver is not an executable" >&2; exit 1; }
else
    cargo build --quiet -p weaver --bin weaver
    weaver="$target/debug/weaver"
fi

data="$(mktemp -d)"
log="$data/serve.log"
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
unset WEAVER_DATABASE_URL WEAVER_API_KEY
# Candles for the request examples of the document (backtests and paper runs of sma-cross on
# SYN 1Min), so the examples phase reaches the engines, not only the validation.
"$weaver" data synth --bars 3000 --out "$data/syn.csv" >/dev/null
"$weaver" data import "$data/syn.csv" --symbol SYN --timeframe 1Min >/dev/null

WEAVER_BIND=127.0.0.1:0 WEAVER_STRATEGIES_DIR=strategies/dist \
    "$weaver" serve --log-format json 2>"$log" >/dev/null &
server=$!

source scripts/lib/serve.sh
wait_for_serve check-api-schemathesis "$server" "$log" || exit 1
echo "check-api-schemathesis: weaver serve on $addr (data $data)"
# Let the example strategies finish compiling, so the examples reach the engines.
for _ in $(seq 1 600); do
    python3 - "http://$addr/strategies" <<'PY' && break
import json, sys, urllib.request
rows = json.load(urllib.request.urlopen(sys.argv[1]))
sys.exit(1 if any(r["status"] in ("uploaded", "compiling") for r in rows) else 0)
PY
    sleep 0.5
done

# /events/stream never ends (SSE); its contract is tested by tests/it/glados/events.rs.
# One worker: with two, hypothesis' shared lambda-source cache raced in the coverage phase
# ("AST constructor recursion depth mismatch", a runtime error inside the tool, not a finding).
# Run from the temp dir: schemathesis keeps a .schemathesis/ state directory in its cwd.
status=0
(cd "$data" && "$venv/bin/st" run "http://$addr/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --exclude-path /events/stream \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" \
    --workers 1 \
    --request-timeout 30 \
    --generation-database none \
    --no-color \
    "$@") || status=$?

if ! kill -0 "$server" 2>/dev/null; then
    echo "check-api-schemathesis: weaver serve died during the run:" >&2
    tail -50 "$log" >&2
    exit 1
fi
if grep -q 'panicked' "$log"; then
    echo "check-api-schemathesis: the server panicked:" >&2
    grep -m5 'panicked' "$log" >&2
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "check-api-schemathesis: schemathesis reported failures (exit $status)" >&2
    exit "$status"
fi
echo "check-api-schemathesis: no server errors, responses conform to /openapi.json"
