#!/usr/bin/env bash
# Builds Haro, the web dashboard: `npm ci` in haro/ (exact versions from package-lock.json) and
# `vite build` into haro/dist, which `weaver serve` serves at / (embedded in release builds,
# read from disk in debug builds). haro/dist is not committed.
# Usage: scripts/build-haro.sh    (needs node >= 20.19 and npm)
set -euo pipefail
cd "$(dirname "$0")/../haro"

for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "$tool is required to build the dashboard (haro/)" >&2; exit 1; }
done
# npm ci wipes node_modules; skip it when the installed tree already matches the lock.
if [[ ! -f node_modules/.package-lock.json ]] || ! cmp -s package-lock.json node_modules/.package-lock.json.src 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.package-lock.json.src
fi
# vite build again only when a source changed: `.ci/run` builds the production binary (which
# embeds haro/dist) while the test suite runs, and this script runs again at the suite's start;
# rewriting haro/dist under that build would race it. The stamp lives in node_modules, so a
# fresh `npm ci` rebuilds too.
stamp=node_modules/.weaver-haro-build-stamp
digest="$(find . \( -path ./node_modules -o -path ./dist -o -path ./test-results -o -path ./e2e-artifacts \) -prune \
    -o -type f ! -name '*.tsbuildinfo' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)"
if [[ -f dist/index.html && -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$digest" ]]; then
    echo "haro/dist is up to date"
    exit 0
fi
rm -f "$stamp"
npm run --silent build
echo "$digest" > "$stamp"
echo "built haro/dist"
