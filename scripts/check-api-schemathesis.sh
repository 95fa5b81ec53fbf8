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
venv="$target/schemathesis-$version"
if [[ ! -x "$venv/bin/st" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
"$venv/bin/st" --version | grep -q "$version" || { echo "check-api-schemathesis: $venv is not schemathesis $version" >&2; exit 1; }

cargo build --quiet -p weaver --bin weaver
weaver="$target/debug/weaver"

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

env -u WEAVER_DATABASE_URL -u WEAVER_API_KEY \
    WEAVER_BIND=127.0.0.1:0 WEAVER_DATA_DIR="$data/db" WEAVER_STRATEGIES_DIR=strategies/dist \
    "$weaver" serve --log-format json 2>"$log" >/dev/null &
server=$!

addr=""
for _ in $(seq 1 600); do
    kill -0 "$server" 2>/dev/null || { echo "check-api-schemathesis: weaver serve exited:" >&2; cat "$log" >&2; exit 1; }
    addr="$(grep -m1 'weaver serving the API' "$log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["addr"])' 2>/dev/null || true)"
    [[ -n "$addr" ]] && break
    sleep 0.1
done
[[ -n "$addr" ]] || { echo "check-api-schemathesis: weaver serve did not start:" >&2; cat "$log" >&2; exit 1; }
echo "check-api-schemathesis: weaver serve on $addr (data $data)"

# /events/stream never ends (SSE); its contract is tested by tests/it/glados/events.rs.
status=0
"$venv/bin/st" run "http://$addr/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --exclude-path /events/stream \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" \
    --workers 2 \
    --request-timeout 30 \
    --generation-database none \
    --no-color \
    "$@" || status=$?

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
