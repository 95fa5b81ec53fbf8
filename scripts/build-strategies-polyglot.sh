#!/usr/bin/env bash
# Builds the Python and JavaScript strategies and hostile test guests into components that import
# nothing but Weaver's interfaces (WASI is stubbed out at build time):
#   strategies/<name>/app.py             -> strategies/dist/<name>.wasm          (componentize-py)
#   strategies/<name>/strategy.js        -> strategies/dist/<name>.wasm          (componentize-qjs)
#   host/tests/guests/<n>/app.py|.js     -> strategies/dist/guests/<n>.wasm
# Toolchains are pinned and installed on first use: componentize-py 0.25.1 in a venv under the
# cargo target dir, componentize-qjs 0.4.5 by `npm install` from strategy-sdk/js/package-lock.json.
# A component is rebuilt only when its sources, the SDK or wit/ are newer than it.
# Usage: scripts/build-strategies-polyglot.sh     (called by scripts/build-strategies.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/componentize-py.sh
qjs=strategy-sdk/js/node_modules/.bin/componentize-qjs
if [[ ! -x "$qjs" ]]; then
    # `npm install` from the committed lock (exact versions and integrity hashes). Not `npm ci`:
    # componentize-qjs 0.4.5 lists optional platform bindings that were never published, which
    # `npm ci` reports as an out-of-sync lock.
    (cd strategy-sdk/js && npm install --no-save --no-audit --no-fund --loglevel=error)
fi

# stale OUT SRC_DIR SDK_DIR: true when OUT is missing or older than any input.
stale() {
    local out="$1"; shift
    [[ ! -f "$out" ]] && return 0
    [[ -n "$(find "$@" wit -newer "$out" -type f -not -path '*/node_modules/*' -not -name '*.pyc' -print -quit)" ]]
}

build_py() { # SRC_DIR OUT
    if stale "$2" "$1" strategy-sdk/python; then
        "$componentize_py" -d wit -w strategy componentize --stub-wasi \
            -p "$1" -p strategy-sdk/python app -o "$2" >/dev/null
    fi
    echo "built $2"
}

build_js() { # SRC_DIR OUT
    if stale "$2" "$1" strategy-sdk/js; then
        "$qjs" --wit wit --js "$1/strategy.js" -n strategy --sync --stub-wasi -o "$2" >/dev/null
    fi
    echo "built $2"
}

mkdir -p strategies/dist/guests
for dir in strategies/*/ host/tests/guests/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    case "$dir" in
        strategies/*) out="strategies/dist/$name.wasm" ;;
        *) out="strategies/dist/guests/$name.wasm" ;;
    esac
    if [[ -f "$dir/app.py" ]]; then
        build_py "$dir" "$out"
    elif [[ -f "$dir/strategy.js" ]]; then
        build_js "$dir" "$out"
    fi
done
