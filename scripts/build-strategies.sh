#!/usr/bin/env bash
# Builds every example strategy and hostile test guest into a WebAssembly component:
#   strategies/<name>      -> strategies/dist/<name>.wasm          (imports nothing but weaver:strategy)
#   host/tests/guests/<n>  -> strategies/dist/guests/<n>.wasm      (loaded by host tests)
# and, through scripts/build-strategies-polyglot.sh, the Python (app.py) and JavaScript
# (strategy.js) ones the same way.
# Usage: scripts/build-strategies.sh        (honours CARGO_TARGET_DIR)
#
# Strategies are compiled for wasm32-unknown-unknown, where Rust's std has no OS underneath and
# imports nothing, then wrapped into a component by weaver-componentize (strategy-sdk/componentize).
# The hostile test guests are built for wasm32-wasip2 on purpose: some of them exercise how the
# host contains WASI printing and forbidden WASI imports.
set -euo pipefail
cd "$(dirname "$0")/.."

for target in wasm32-unknown-unknown wasm32-wasip2; do
    rustup target add "$target" >/dev/null 2>&1 || rustup target add "$target"
done

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
for name in "${strategies[@]}"; do packages+=(-p "$name"); done
cargo build --profile strategy --target wasm32-unknown-unknown "${packages[@]}"
packages=()
for name in "${guests[@]}"; do packages+=(-p "$name"); done
cargo build --profile strategy --target wasm32-wasip2 "${packages[@]}"
cargo build --release -p weaver-componentize

mkdir -p strategies/dist/guests
for name in "${strategies[@]}"; do
    "$target_dir/release/weaver-componentize" \
        "$target_dir/wasm32-unknown-unknown/strategy/${name//-/_}.wasm" "strategies/dist/$name.wasm"
    echo "built strategies/dist/$name.wasm"
done
for name in "${guests[@]}"; do
    cp "$target_dir/wasm32-wasip2/strategy/${name//-/_}.wasm" "strategies/dist/guests/$name.wasm"
    echo "built strategies/dist/guests/$name.wasm"
done

# Python and JavaScript strategies and guests (pinned componentize-py / componentize-qjs).
scripts/build-strategies-polyglot.sh
