# Sourced by the scripts that start `weaver serve` (checks and benchmarks).
#
# wait_for_serve NAME PID LOG: waits until the server started as PID, with WEAVER_BIND=127.0.0.1:0
# and JSON logs going to LOG, announces the address it bound, and sets `addr` to it (host:port).
# Binding port 0 and reading the address back leaves no window for another process to take the
# port. Returns non-zero, with the log on stderr, when the server exits or is not up in 60 s.
wait_for_serve() {
    local name="$1" pid="$2" log="$3"
    addr=""
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || { echo "$name: weaver serve exited:" >&2; cat "$log" >&2; return 1; }
        addr="$(grep -m1 'weaver serving the API' "$log" \
            | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["addr"])' 2>/dev/null || true)"
        [[ -n "$addr" ]] && return 0
        sleep 0.1
    done
    echo "$name: weaver serve did not start within 60 s:" >&2
    cat "$log" >&2
    return 1
}
