#!/usr/bin/env bash
# Checks that componentize-py (the Python strategy toolchain) accepts wit/ by generating Python
# bindings for the `strategy` world. Installs componentize-py 0.25.1 into a venv under the cargo
# target dir on first use. Fails loudly on any error.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/componentize-py.sh

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$componentize_py" -d wit -w strategy bindings "$out"
if ! grep -rqs "def on_bars" "$out"; then
    echo "componentize-py generated no on_bars binding from wit/ (see $out)" >&2
    exit 1
fi
echo "componentize-py 0.25.1 accepts wit/ (world strategy)"
