#!/usr/bin/env bash
# The repository stands alone: no tracked file may read or name a path outside the checkout
# (a sibling folder of fixtures, a path that climbs out of the repository from a crate).
# Fixtures live in testdata/ (see testdata/README.md). Called by scripts/test.sh.
# Usage: scripts/check-standalone.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Built from parts so this file does not match itself.
sibling='\.\./'"shared"
climb='CARGO_MANIFEST_DIR"\), *"/\.\./\.\.'
found=0
if hits="$(git grep -n -I -E -e "$sibling" -- . 2>/dev/null)"; then
    echo "check-standalone: FAILED: these tracked files name a folder outside the repository:" >&2
    echo "$hits" >&2
    found=1
fi
if hits="$(git grep -n -I -E -e "$climb" -- . 2>/dev/null)"; then
    echo "check-standalone: FAILED: these tracked files read above the repository root:" >&2
    echo "$hits" >&2
    found=1
fi
if ((found)); then
    echo "check-standalone: copy fixtures into testdata/ (with their provenance in testdata/README.md) or generate them in scripts/testdata.sh" >&2
    exit 1
fi
echo "check-standalone: ok - nothing outside the checkout is read"
