#!/usr/bin/env bash
# The production build, the steps docker/backend/Dockerfile's `build` stage runs, usable outside
# Docker too (CI, a bare-metal install):
#   1. the example strategies        -> strategies/dist/*.wasm   (scripts/build-strategies.sh)
#   2. the dashboard                 -> haro/dist                (npm ci && npm run build)
#   3. the `weaver` binary           -> <target>/release/weaver (dashboard embedded)
# Usage: scripts/build-prod.sh [--binary-only]
#   --binary-only   step 3 alone (CI starts it while the test suite runs, after steps 1-2)
# The binary goes to $WEAVER_PROD_TARGET_DIR (default $CARGO_TARGET_DIR, else target): CI keeps it
# apart from the test build so the two cargo runs do not wait for each other's directory lock.
# Needs: rustup (Rust 1.95), node 20 + npm, python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo rustup node npm python3; do
    command -v "$tool" >/dev/null || { echo "build-prod: $tool is required" >&2; exit 1; }
done

binary_only=false
case "${1:-}" in
    --binary-only) binary_only=true ;;
    "") ;;
    *) echo "build-prod: unknown argument $1 (usage: scripts/build-prod.sh [--binary-only])" >&2; exit 2 ;;
esac
prod_target="${WEAVER_PROD_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}"

if $binary_only; then
    [[ -f haro/dist/index.html ]] || { echo "build-prod: --binary-only needs haro/dist (scripts/build-haro.sh)" >&2; exit 1; }
else
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

fi

# The fake Alpaca (`weaver fake-alpaca`, a development and test tool) stays out of the
# production binary.
cargo build --release --locked -p weaver --no-default-features --features jemalloc --target-dir "$prod_target"
echo "built $prod_target/release/weaver"
