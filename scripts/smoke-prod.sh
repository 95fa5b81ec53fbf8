#!/usr/bin/env bash
# Smoke test of the production build (scripts/build-prod.sh), the binary the prod image ships:
# starts `$CARGO_TARGET_DIR/release/weaver serve` on a fresh SQLite directory with an API key and
# the example strategies, then checks that it is healthy and ready, refuses a request without the
# key, serves the embedded dashboard (`/` and a client route), registered every example strategy
# and compiled them, and stops cleanly on SIGTERM. Fails loudly on the first thing that is wrong.
# Usage: scripts/smoke-prod.sh   (after scripts/build-prod.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

weaver="${WEAVER_PROD_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}/release/weaver"
[[ -x "$weaver" ]] || { echo "smoke-prod: $weaver is missing; run scripts/build-prod.sh first" >&2; exit 1; }
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "smoke-prod: $tool is required" >&2; exit 1; }
done
shopt -s nullglob
wasm=(strategies/dist/*.wasm)
((${#wasm[@]} > 0)) || { echo "smoke-prod: strategies/dist has no components" >&2; exit 1; }

data="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" || true; fi
    rm -rf "$data"
}
trap cleanup EXIT
fail() {
    echo "smoke-prod: $*" >&2
    echo "--- server log (last 40 lines) ---" >&2
    tail -n 40 "$data/server.log" >&2 || true
    exit 1
}

key="smoke-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
env -u WEAVER_DATABASE_URL WEAVER_DATA_DIR="$data/db" WEAVER_BIND=127.0.0.1:0 \
    WEAVER_API_KEY="$key" WEAVER_STRATEGIES_DIR="$PWD/strategies/dist" WEAVER_LOG_FORMAT=json \
    "$weaver" serve >"$data/server.log" 2>&1 &
server=$!
source scripts/lib/serve.sh
wait_for_serve smoke-prod "$server" "$data/server.log" || exit 1
base="http://$addr"
curl -fsS "$base/healthz" >/dev/null || fail "/healthz did not answer"

code="$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $key" "$base/readyz")"
[[ "$code" == 200 ]] || fail "/readyz answered $code, not 200"

code="$(curl -s -o /dev/null -w '%{http_code}' "$base/strategies")"
[[ "$code" == 401 ]] || fail "/strategies without the API key answered $code, not 401"

# A browser navigating sends Accept: text/html; that is what gets the app shell on client routes.
for path in / /ui/backtests; do
    body="$(curl -fsS -H 'Accept: text/html' "$base$path")" || fail "GET $path failed"
    grep -q '<div id="root">' <<<"$body" || fail "GET $path did not answer the dashboard's index.html"
done

# Example strategies are registered at start and compile in the background: wait for `ready`.
check_strategies() {
    curl -fsS -H "X-API-Key: $key" "$base/strategies" >"$data/strategies.json" || return 2
    python3 - "$data/strategies.json" "${#wasm[@]}" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
status = {s["name"]: s["status"] for s in items}
rejected = {n: st for n, st in status.items() if st == "rejected"}
if rejected:
    print(f"smoke-prod: rejected: {rejected}", file=sys.stderr)
    sys.exit(2)
if len(items) < want or any(st != "ready" for st in status.values()):
    sys.exit(1)
print(f"smoke-prod: {len(items)} example strategies registered and compiled")
PY
}
for _ in $(seq 1 600); do
    check_strategies && rc=0 || rc=$?
    [[ "$rc" == 0 || "$rc" == 2 ]] && break
    sleep 0.5
done
[[ "$rc" == 0 ]] || fail "the example strategies are not all registered and ready: $(cat "$data/strategies.json")"

kill -TERM "$server"
for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server" 2>/dev/null && fail "weaver serve did not stop within 10 s of SIGTERM"
wait "$server" && rc=0 || rc=$?
server=""
[[ "$rc" == 0 ]] || fail "weaver serve exited with $rc after SIGTERM"
echo "smoke-prod: ok ($weaver: healthz, readyz, API key, dashboard, strategies, clean shutdown)"
