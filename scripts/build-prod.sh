#!/usr/bin/env bash
# The production build, the steps docker/backend/Dockerfile's `build` stage runs, usable outside
# Docker too (CI, a bare-metal install):
#   1. the example strategies        -> strategies/dist/*.wasm   (scripts/build-strategies.sh)
#   2. the dashboard                 -> haro/dist                (npm ci && npm run build)
#   3. the `weaver` binary           -> $CARGO_TARGET_DIR/release/weaver (dashboard embedded)
# Usage: scripts/build-prod.sh            (honours CARGO_TARGET_DIR)
# Needs: rustup (Rust 1.95), node 20 + npm, python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo rustup node npm python3; do
    command -v "$tool" >/dev/null || { echo "build-prod: $tool is required" >&2; exit 1; }
done

scripts/build-strategies.sh

if [[ -x scripts/build-haro.sh ]]; then
    scripts/build-haro.sh
    [[ -f haro/dist/index.html ]] || { echo "build-prod: haro build produced no haro/dist/index.html" >&2; exit 1; }
elif [[ -f haro/package.json ]]; then
    (cd haro && npm ci --no-audit --no-fund && npm run build)
    [[ -f haro/dist/index.html ]] || { echo "build-prod: haro build produced no haro/dist/index.html" >&2; exit 1; }
else
    cat >&2 <<'WARN'
################################################################################
# build-prod: haro/package.json does not exist, so the DASHBOARD WAS NOT BUILT. #
# The binary is built without haro/dist.                                        #
################################################################################
WARN
fi

# The fake Alpaca (`weaver fake-alpaca`, a development and test tool) stays out of the
# production binary.
cargo build --release --locked -p weaver --no-default-features --features jemalloc
echo "built ${CARGO_TARGET_DIR:-target}/release/weaver"
