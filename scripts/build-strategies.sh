#!/usr/bin/env bash
# Builds every example strategy and hostile test guest into a WebAssembly component:
#   strategies/<name>      -> strategies/dist/<name>.wasm
#   host/tests/guests/<n>  -> strategies/dist/guests/<n>.wasm   (loaded by host tests)
# and, through scripts/build-strategies-polyglot.sh, the Python (app.py) and JavaScript
# (strategy.js) ones the same way.
# Usage: scripts/build-strategies.sh        (honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2

target_dir="${CARGO_TARGET_DIR:-target}"
strategies=()
for dir in strategies/*/; do
    name="$(basename "$dir")"
    [[ -f "$dir/Cargo.toml" ]] && strategies+=("$name")
done
guests=()
for dir in host/tests/guests/*/; do
    [[ -f "$dir/Cargo.toml" ]] && guests+=("$(basename "$dir")")
done

packages=()
for name in "${strategies[@]}" "${guests[@]}"; do packages+=(-p "$name"); done
cargo build --profile strategy --target wasm32-wasip2 "${packages[@]}"

mkdir -p strategies/dist/guests
for name in "${strategies[@]}"; do
    cp "$target_dir/wasm32-wasip2/strategy/${name//-/_}.wasm" "strategies/dist/$name.wasm"
    echo "built strategies/dist/$name.wasm"
done
for name in "${guests[@]}"; do
    cp "$target_dir/wasm32-wasip2/strategy/${name//-/_}.wasm" "strategies/dist/guests/$name.wasm"
    echo "built strategies/dist/guests/$name.wasm"
done

# Python and JavaScript strategies and guests (pinned componentize-py / componentize-qjs).
scripts/build-strategies-polyglot.sh
