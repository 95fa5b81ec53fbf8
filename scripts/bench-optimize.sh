#!/usr/bin/env bash
# Optimisation benchmark (issue #24): one 100-point grid of sma-cross on 1,000,000 synthetic
# one-minute bars, timed side by side in one run on
#   - Weaver: `weaver backtest --sweep` (release build, the Rust sma-cross component) on one
#     rayon thread and on two (RAYON_NUM_THREADS; the sweep uses rayon's global pool);
#   - Weaver on 1 and 2 `weaver worker` processes (one thread each) behind `weaver serve` with
#     WEAVER_WORKERS=external on PostgreSQL (scripts/lib/bench_optimize/workers.py);
#   - backtesting.py 0.6.6: `Backtest.optimize` of the same SmaCross (scripts/lib/bench_optimize/
#     sma_cross_bt.py) over the same grid, on its default pool (one process per core);
#   - vectorbt 1.2.0: `vbt.MA.run` with the grid's window lists and one
#     `Portfolio.from_signals` over all 100 columns (numba, one core).
# Every tool gets the same CSV (made by `weaver data synth`, never committed), cash, commission,
# next-open fills and whole units. Prints a table (points, bars, seconds, points/s, speed against
# backtesting.py and vectorbt, CPU seconds, load average) and checks that the tools agree: the
# number of trades and the final equity of every point two tools both ran (Weaver 1 and 2
# threads identical; Weaver and backtesting.py within Weaver's printed 4 decimals; vectorbt
# within 1e-6 of the equity). A disagreement fails the run, except a point where Weaver and
# vectorbt differ and backtesting.py, run on that point as referee, agrees with Weaver.
#
# backtesting.py takes ~30 s a point on 1M bars here, so by default it runs BENCH_BTPY_POINTS=10
# points spread over the grid (the grid's diagonal) and its 100-point time is extrapolated,
# and labelled so (rule in scripts/lib/bench_optimize/bench.py); BENCH_BTPY_POINTS=100 runs all.
#
# Builds in the cargo target dir (CARGO_TARGET_DIR, default target/): the release `weaver`,
# the sma-cross component (target/bench-optimize/sma-cross.wasm) and a venv with the pinned
# packages of scripts/lib/bench_optimize/requirements.txt (target/bench-optimize-venv; PyPI
# only). Everything heavy runs under `nice -n 19` (BENCH_NICE): the figures are for whatever
# CPU is left, so the table shows each tool's CPU seconds and the load average around it.
#
# Usage: scripts/bench-optimize.sh
# Env: BENCH_BARS (1000000), BENCH_SEED (7), BENCH_FAST (5:50:5), BENCH_SLOW (60:240:20),
#      BENCH_CASH (1000000), BENCH_COMMISSION (0.0001 per side), BENCH_BTPY_POINTS (10),
#      BENCH_NICE (19), BENCH_PG_URL (PostgreSQL admin URL for the worker legs),
#      BENCH_NO_BUILD. Cash and commission: at backtesting.py's 0.2 % a side, the grid's
#      ~2,000-14,000 reversals would take the equity to nothing long before the millionth bar
#      (0.996^2000 < 0.1 %); at 1 bp the strategy keeps trading to the end in every tool.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "bench-optimize: $*"; }
fail() { echo "bench-optimize: FAILED: $*" >&2; exit 1; }

bars="${BENCH_BARS:-1000000}"
seed="${BENCH_SEED:-7}"
fast="${BENCH_FAST:-5:50:5}"
slow="${BENCH_SLOW:-60:240:20}"
btpy_points="${BENCH_BTPY_POINTS:-10}"
export BENCH_CASH="${BENCH_CASH:-1000000}"
export BENCH_COMMISSION="${BENCH_COMMISSION:-0.0001}"
nice=(nice -n "${BENCH_NICE:-19}")
target="${CARGO_TARGET_DIR:-target}"
work="$target/bench-optimize"
run="$work/run"
venv="$target/bench-optimize-venv"
lib=scripts/lib/bench_optimize
started=$(date +%s)

# ---- builds: the release weaver and the sma-cross component ---------------------------------------
say "building the release weaver and the sma-cross component (nice)"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
# BENCH_NO_BUILD=1: use the release binaries already in the target dir (a build made for
# another run of this script), for re-runs only.
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    # Two builds: `--bin weaver` would filter weaver-componentize's binary out of one.
    "${nice[@]}" cargo build --quiet --release -p weaver --bin weaver \
        || fail "cargo build --release -p weaver"
    "${nice[@]}" cargo build --quiet --release -p weaver-componentize \
        || fail "building weaver-componentize"
fi
"${nice[@]}" cargo build --quiet --profile strategy --target wasm32-unknown-unknown -p sma-cross \
    || fail "building the sma-cross guest"
weaver="$target/release/weaver"
mkdir -p "$work"
"$target/release/weaver-componentize" "$target/wasm32-unknown-unknown/strategy/sma_cross.wasm" \
    "$work/sma-cross.wasm" >/dev/null || fail "componentizing sma-cross"

# ---- venv with the pinned packages -----------------------------------------------------------------
command -v python3 >/dev/null || fail "python3 not found"
requirements_hash="$(sha256sum "$lib/requirements.txt" | cut -c1-16)"
if [[ ! -f "$venv/.installed-$requirements_hash" ]]; then
    say "installing $lib/requirements.txt into $venv"
    python3 -c 'import venv, ensurepip' 2>/dev/null \
        || fail "python3's venv module (with ensurepip) is missing (Debian/Ubuntu: apt-get install python3-venv)"
    rm -rf "$venv"
    python3 -m venv "$venv" || fail "python3 -m venv $venv failed"
    "${nice[@]}" "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$lib/requirements.txt" \
        || fail "cannot install the pinned packages of $lib/requirements.txt from PyPI"
    touch "$venv/.installed-$requirements_hash"
fi
py=("${nice[@]}" env TQDM_DISABLE=1 "$venv/bin/python" "$lib/bench.py")

# ---- data: the repository's synthetic bars ----------------------------------------------------------
csv="$work/synth-$bars-$seed.csv"
if [[ ! -s "$csv" ]]; then
    say "generating $bars one-minute bars (seed $seed) into $csv"
    "${nice[@]}" "$weaver" data synth --bars "$bars" --seed "$seed" --out "$csv.tmp" \
        || fail "weaver data synth"
    mv "$csv.tmp" "$csv"
fi

rm -rf "$run"
mkdir -p "$run"
grid="fast=$fast,slow=$slow"
sweep=("$weaver" backtest --strategy "$work/sma-cross.wasm" --data "$csv"
    --cash "$BENCH_CASH" --commission "$BENCH_COMMISSION" --cache-dir "$work/compiled"
    --sweep "fast=$fast" --sweep "slow=$slow" --rank-by equity_final --top 1000000)
legs=()

# ---- Weaver: one thread, two threads ----------------------------------------------------------------
# One plain backtest first: it compiles the component into the cache the sweeps then load.
say "Weaver: one backtest (fast=${fast%%:*}, slow=${slow%%:*}) to fill the compile cache"
"${nice[@]}" "$weaver" backtest --strategy "$work/sma-cross.wasm" --data "$csv" \
    --cash "$BENCH_CASH" --commission "$BENCH_COMMISSION" --cache-dir "$work/compiled" \
    --param "fast=${fast%%:*}" --param "slow=${slow%%:*}" | grep -E '^(trades|equity_final|elapsed) ' \
    || fail "weaver backtest"
for threads in 1 2; do
    label="Weaver $threads thread"
    ((threads == 1)) || label+="s"
    say "$label: weaver backtest --sweep (RAYON_NUM_THREADS=$threads)"
    "${py[@]}" weaver --label "$label" --threads "$threads" --bars "$bars" \
        --out "$run/weaver-$threads.json" -- "${sweep[@]}" || fail "$label"
    legs+=("$run/weaver-$threads.json")
done

# ---- Weaver on 1 and 2 `weaver worker` processes -------------------------------------------------
# The same grid posted to `weaver serve` (WEAVER_WORKERS=external) on a fresh PostgreSQL database
# (BENCH_PG_URL, an admin URL; the database is dropped afterwards) and run by `weaver worker`
# processes of one thread each, timed from the POST to `done` (scripts/lib/bench_optimize/
# workers.py). Each worker loads the bars itself; a warm-up sweep compiles the component into
# every worker's cache and fills its bar cache first. Each count runs with the bar cache (the
# bars read from the worker's copy, as in a research session's next sweep) and without it (read
# from PostgreSQL, as the first sweep over a series is).
pg_admin="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if command -v psql >/dev/null && psql "$pg_admin" -qAtc 'select 1' >/dev/null 2>&1; then
    say "Weaver on 1 and 2 weaver worker processes (PostgreSQL at ${pg_admin%%@*}@…)"
    "${nice[@]}" python3 "$lib/workers.py" --weaver "$weaver" --csv "$csv" \
        --component "$work/sma-cross.wasm" --fast "$fast" --slow "$slow" --bars "$bars" \
        --pg-admin "$pg_admin" --work "$run/workers" --out-prefix "$run/weaver-workers" \
        || fail "Weaver on worker processes"
    legs+=("$run/weaver-workers-1.json" "$run/weaver-workers-2.json"
           "$run/weaver-workers-1-cold.json" "$run/weaver-workers-2-cold.json")
else
    fail "the worker legs need PostgreSQL (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres) and psql"
fi

# ---- backtesting.py ----------------------------------------------------------------------------------
points=()
((btpy_points > 0)) && points=(--points "$btpy_points")
say "backtesting.py: Backtest.optimize (${btpy_points} of the grid's points when fewer than all)"
"${py[@]}" backtesting --data "$csv" --grid "$grid" --out "$run/backtesting.json" "${points[@]}" \
    || fail "backtesting.py"
legs+=("$run/backtesting.json")

# ---- vectorbt ------------------------------------------------------------------------------------------
say "vectorbt: MA.run over the window lists, Portfolio.from_signals"
"${py[@]}" vectorbt --data "$csv" --grid "$grid" --out "$run/vectorbt.json" || fail "vectorbt"
legs+=("$run/vectorbt.json")

# ---- the table and the checks ---------------------------------------------------------------------------
say "$bars bars, grid fast=$fast x slow=$slow, cash $BENCH_CASH, commission $BENCH_COMMISSION a side"
"${py[@]}" report --referee-data "$csv" "${legs[@]}" || fail "the tools disagree (above)"
say "done in $(($(date +%s) - started)) s end to end (results in $run)"
