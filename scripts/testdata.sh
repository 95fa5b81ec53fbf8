#!/usr/bin/env bash
# Generates testdata/generated/ (gitignored): the test data the repository does not commit.
#   ohlcv/{GOOG,EURUSD,BTCUSD}.csv   backtesting.py's bundled test data (AGPL-3.0), converted to
#                                    the project's OHLCV format by scripts/testdata/reference.py
#   reference/*.json, *-equity.csv   reference results computed by backtesting.py 0.6.6 on those
#                                    CSVs (scripts/testdata/reference.py)
#   alpaca-openapi/*.json            Alpaca's OpenAPI specs, taken from the MIT-licensed
#                                    alpaca-mcp-server 2.1.1 wheel and checked against sha256 sums
# The Python packages are pinned in scripts/testdata/requirements.txt and installed into a venv
# under the cargo target dir; only PyPI is contacted (through pip). A stamp (hash of this script,
# the requirements and reference.py) makes a second run a no-op. See testdata/README.md.
# Usage: scripts/testdata.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "testdata: $*"; }
fail() { echo "testdata: FAILED: $*" >&2; exit 1; }

out=testdata/generated
target="${CARGO_TARGET_DIR:-target}"
venv="$target/testdata-venv"
alpaca_mcp_server=alpaca-mcp-server==2.1.1
declare -A spec_sha256=(
    [trading-api.json]=e07d3745b4de8eda5c498d55ae08fe0ff34fa49b2b21d4568ca867c552d1efd3
    [market-data-api.json]=64fdbb0ddd909de3dd230128bab20465a30499f2076e4f384dc9847d6a9a24a1
)
expected=(
    ohlcv/GOOG.csv ohlcv/EURUSD.csv ohlcv/BTCUSD.csv
    reference/GOOG-smacross-10-20.json reference/GOOG-smacross-10-20-equity.csv
    reference/EURUSD-smacross-10-20.json reference/EURUSD-smacross-10-20-equity.csv
    reference/BTCUSD-smacross-10-20.json reference/BTCUSD-smacross-10-20-equity.csv
    reference/GOOG-testsuite-smacross-10-30.json reference/GOOG-testsuite-smacross-10-30-equity.csv
    alpaca-openapi/trading-api.json alpaca-openapi/market-data-api.json
)

command -v sha256sum >/dev/null || fail "sha256sum not found (coreutils)"
stamp="$(sha256sum scripts/testdata.sh scripts/testdata/requirements.txt scripts/testdata/reference.py \
    | sha256sum | cut -c1-16)"
complete=1
for f in "${expected[@]}"; do
    [[ -s "$out/$f" ]] || complete=0
done
if [[ $complete == 1 && "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
    say "$out is up to date (stamp $stamp), nothing to do"
    exit 0
fi

# ---- venv with the pinned packages ---------------------------------------------------------------
command -v python3 >/dev/null || fail "python3 not found: it is needed to generate $out"
requirements_hash="$(sha256sum scripts/testdata/requirements.txt | cut -c1-16)"
if [[ ! -f "$venv/.installed-$requirements_hash" ]]; then
    say "installing scripts/testdata/requirements.txt into $venv"
    python3 -c 'import venv, ensurepip' 2>/dev/null \
        || fail "python3's venv module (with ensurepip) is missing (Debian/Ubuntu: apt-get install python3-venv)"
    rm -rf "$venv"
    python3 -m venv "$venv" || fail "python3 -m venv $venv failed"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/testdata/requirements.txt \
        || fail "cannot install the pinned packages of scripts/testdata/requirements.txt from PyPI"
    touch "$venv/.installed-$requirements_hash"
fi
py="$venv/bin/python"

rm -rf "$out"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---- OHLCV and reference results -----------------------------------------------------------------
bundled="$("$py" -c 'import backtesting, pathlib; print(pathlib.Path(backtesting.__file__).parent / "test")')" \
    || fail "backtesting is not importable from $venv"
say "converting backtesting.py's bundled test data into $out/ohlcv"
"$py" scripts/testdata/reference.py convert "$bundled" "$out/ohlcv" \
    || fail "converting the OHLCV data from $bundled"
say "computing the reference results with backtesting.py into $out/reference"
"$py" scripts/testdata/reference.py results "$out/ohlcv" "$out/reference" \
    || fail "computing the reference results (scripts/testdata/reference.py)"

# ---- Alpaca OpenAPI specs ------------------------------------------------------------------------
say "fetching Alpaca's OpenAPI specs from the $alpaca_mcp_server wheel"
"$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    "$alpaca_mcp_server" -d "$work/wheel" \
    || fail "cannot download $alpaca_mcp_server from PyPI"
wheels=("$work"/wheel/alpaca_mcp_server-2.1.1-*.whl)
[[ -f "${wheels[0]}" ]] || fail "pip download gave no alpaca_mcp_server-2.1.1 wheel"
"$py" -m zipfile -e "${wheels[0]}" "$work/unpacked" || fail "cannot unpack ${wheels[0]}"
mkdir -p "$out/alpaca-openapi"
for name in "${!spec_sha256[@]}"; do
    spec="$work/unpacked/alpaca_mcp_server/specs/$name"
    [[ -f "$spec" ]] || fail "$alpaca_mcp_server has no alpaca_mcp_server/specs/$name"
    actual="$(sha256sum "$spec" | cut -d' ' -f1)"
    [[ "$actual" == "${spec_sha256[$name]}" ]] \
        || fail "$name from $alpaca_mcp_server has sha256 $actual, expected ${spec_sha256[$name]}"
    cp "$spec" "$out/alpaca-openapi/$name"
done

for f in "${expected[@]}"; do
    [[ -s "$out/$f" ]] || fail "$out/$f was not produced"
done
echo "$stamp" >"$out/.stamp"
say "done: $out (stamp $stamp)"
