"""The Python side of scripts/bench-optimize.sh: the backtesting.py and vectorbt legs of the
optimisation benchmark, the parsing of Weaver's sweep table, and the final table and checks.

Run by scripts/bench-optimize.sh inside its pinned venv (requirements.txt beside this file):

    python bench.py backtesting --data BARS.csv --grid GRID --out RESULT.json [--points K]
    python bench.py vectorbt    --data BARS.csv --grid GRID --out RESULT.json
    python bench.py weaver      --label L --bars N [--threads T] --out RESULT.json -- WEAVER...
    python bench.py report      RESULT.json...

GRID is `fast=5:50:5,slow=60:240:20` (inclusive ranges, Weaver's `--sweep` syntax); cash and
commission come from the environment (BENCH_CASH, BENCH_COMMISSION), the same for every tool.
Every leg writes one JSON: its label, points, bars, wall and CPU seconds, the load average around
it (and, when extrapolated, what was measured and how), and per point `[trades, final equity]`
keyed `"fast,slow"`. `report` prints the table and checks that the tools agree.

The strategy in every tool is the example sma-cross (strategies/sma-cross): at a bar's close, if
SMA(fast) crosses above SMA(slow) (below on the previous bar, above on this one) go all-in long,
elif SMA(slow) crosses above SMA(fast) go all-in short, reversing any position; market orders
fill at the next bar's open, whole units, commission a fraction of the traded value per side,
trades open at the end stay open (their value is in the final equity, they are not counted).
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings

CASH = float(os.environ.get("BENCH_CASH", "1000000"))
COMMISSION = float(os.environ.get("BENCH_COMMISSION", "0.0001"))


def parse_grid(text):
    """`fast=5:50:5,slow=60:240:20` → [(fast, slow), ...] in Weaver's order (slow fastest)."""
    ranges = {}
    for part in text.split(","):
        key, spec = part.split("=")
        start, end, step = (int(x) for x in spec.split(":"))
        ranges[key] = list(range(start, end + 1, step))
    if sorted(ranges) != ["fast", "slow"]:
        sys.exit(f"bench: grid must have fast and slow, got {text!r}")
    return [(f, s) for f in ranges["fast"] for s in ranges["slow"]]


def subset(grid, k):
    """k points spread evenly over the grid (every len/k-th point in grid order), so a subset
    samples every fast and slow window rather than one corner."""
    if k >= len(grid):
        return list(grid)
    return [grid[(i * len(grid)) // k + i % (len(grid) // k)] for i in range(k)]


def read_bars(path):
    import pandas as pd

    df = pd.read_csv(path)
    index = pd.to_datetime(df.pop("timestamp"), utc=True, format="ISO8601").dt.tz_localize(None)
    df.index = pd.DatetimeIndex(index)
    df.columns = [c.capitalize() for c in df.columns]
    return df


class Clock:
    """Wall time, CPU time (this process and its waited-for children: backtesting.py's pool,
    the weaver process) and the load average around one measurement. The machine may be
    shared: CPU seconds and load say how much of the wall time was this tool's."""

    def __init__(self):
        self.load = [os.getloadavg()[0]]
        self.cpu0 = self._cpu()
        self.t0 = time.perf_counter()

    @staticmethod
    def _cpu():
        own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                        resource.RUSAGE_CHILDREN))
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def stop(self):
        seconds = time.perf_counter() - self.t0
        self.load.append(os.getloadavg()[0])
        return seconds, self._cpu() - self.cpu0


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


# ---- backtesting.py -----------------------------------------------------------------------------


def leg_backtesting(args):
    from backtesting import Backtest

    from sma_cross_bt import SmaCross

    grid = parse_grid(args.grid)
    k = len(grid) if args.points in (None, 0) else min(args.points, len(grid))
    chosen = set(subset(grid, k))
    fasts = sorted({f for f, _ in grid})
    slows = sorted({s for _, s in grid})

    clock = Clock()
    data = read_bars(args.data)
    t_load = time.perf_counter() - clock.t0

    # `maximize` runs in this process, once per point with trades, in grid order as the pool's
    # results come back: it records each point's figures and the time the last one arrived.
    seen = []
    last = [None]

    def record(stats):
        seen.append((int(stats["# Trades"]), float(stats["Equity Final [$]"])))
        last[0] = time.perf_counter()
        return float(stats["Equity Final [$]"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trades left open at the end, not in the stats
        t1 = time.perf_counter()
        bt = Backtest(data, SmaCross, cash=CASH, commission=COMMISSION, exclusive_orders=True,
                      finalize_trades=False)
        _, heatmap = bt.optimize(fast=fasts, slow=slows, maximize=record,
                                 constraint=lambda p: (p.fast, p.slow) in chosen,
                                 return_heatmap=True)
    seconds, cpu = clock.stop()
    t2 = time.perf_counter()
    measured = [tuple(int(x) for x in key) for key in heatmap.index]
    with_trades = [p for p in measured if not math.isnan(heatmap[p])]
    if len(with_trades) != len(seen):
        sys.exit("bench: backtesting.py returned results out of step with its grid")
    points = {f"{f},{s}": list(v) for (f, s), v in zip(with_trades, seen)}
    grid_s = last[0] - t1
    final_s = t2 - last[0]  # optimize() runs the best point once more at the end
    doc = {
        "label": "backtesting.py",
        "points": len(grid),
        "bars": len(data),
        "processes": os.cpu_count(),
        "load_s": t_load,
        "seconds": seconds,
        "cpu_s": cpu,
        "load": clock.load,
        "results": points,
    }
    if k < len(grid):
        doc["seconds"] = t_load + grid_s * len(grid) / k + final_s
        doc["cpu_s"] = cpu * doc["seconds"] / seconds
        doc["extrapolated"] = {
            "measured_points": k,
            "measured_s": seconds,
            "measured_cpu_s": cpu,
            "per_point_s": grid_s / k,
            "rule": "CSV load + time to the last point's result x 100 / measured points "
                    "+ optimize's final re-run of the best point, once; CPU in proportion",
        }
    write(args.out, doc)
    what = f"{k} of {len(grid)} points" if k < len(grid) else f"{k} points"
    print(f"bench: backtesting.py {what} in {seconds:.1f} s, CPU {cpu:.1f} s "
          f"(load {t_load:.1f} s, grid {grid_s:.1f} s, final re-run {final_s:.1f} s)")


# ---- vectorbt -----------------------------------------------------------------------------------


def leg_vectorbt(args):
    import numpy as np
    import vectorbt as vbt

    grid = parse_grid(args.grid)
    fast_w = [f for f, _ in grid]
    slow_w = [s for _, s in grid]

    def run(data):
        close, open_ = data["Close"], data["Open"]
        fast = vbt.MA.run(close, fast_w, short_name="fast")
        slow = vbt.MA.run(close, slow_w, short_name="slow")
        # Columns pair up one to one: (fast_w[i], slow_w[i]) is grid point i.
        long_ = fast.ma_crossed_above(slow)
        short = fast.ma_crossed_below(slow)
        # The signal at bar t's close fills at bar t+1's open.
        pf = vbt.Portfolio.from_signals(
            close, entries=long_.vbt.fshift(1, fill_value=False),
            exits=short.vbt.fshift(1, fill_value=False), price=open_, direction="both",
            size=np.inf, size_granularity=1, fees=COMMISSION, init_cash=CASH, freq="1min")
        trades = pf.trades.closed.count().to_numpy()
        final = pf.final_value().to_numpy()
        return trades, final

    load_clock = Clock()
    data = read_bars(args.data)
    load_s, load_cpu = load_clock.stop()
    # Compile numba's functions first, on a slice, as a notebook that has run once would have.
    warm = Clock()
    run(data.iloc[:2000])
    warm_s, _ = warm.stop()
    clock = Clock()
    trades, final = run(data)
    seconds, cpu = clock.stop()
    points = {f"{f},{s}": [int(t), float(e)] for (f, s), t, e in zip(grid, trades, final)}
    write(args.out, {
        "label": "vectorbt",
        "points": len(grid),
        "bars": len(data),
        "processes": 1,
        "load_s": load_s,
        "warmup_s": warm_s,
        "seconds": load_s + seconds,
        "cpu_s": load_cpu + cpu,
        "load": clock.load,
        "results": points,
    })
    print(f"bench: vectorbt {len(grid)} points in {load_s + seconds:.1f} s, CPU "
          f"{load_cpu + cpu:.1f} s (load {load_s:.1f} s, grid {seconds:.1f} s; "
          f"numba warm-up before it {warm_s:.1f} s)")


# ---- Weaver -------------------------------------------------------------------------------------


def leg_weaver(args):
    """Runs a Weaver sweep command (after `--`) and reads its table, printed by
    `weaver backtest --sweep ... --rank-by equity_final --top <all>`: a header
    `rank fast slow equity_final return_pct trades`, one row per point, then
    `N combinations in S s`. Times the whole process: start, CSV, component, sweep, table."""
    env = dict(os.environ)
    if args.threads:
        env["RAYON_NUM_THREADS"] = str(args.threads)
    clock = Clock()
    done = subprocess.run(args.command, env=env, stdout=subprocess.PIPE, text=True)
    seconds, cpu = clock.stop()
    if done.returncode != 0:
        sys.exit(f"bench: {args.label}: {' '.join(args.command)} exited {done.returncode}")
    with open(args.out + ".txt", "w") as f:
        f.write(done.stdout)
    lines = done.stdout.splitlines()
    header = lines[0].split()
    if header[:4] != ["rank", "fast", "slow", "equity_final"]:
        sys.exit(f"bench: unexpected Weaver sweep header {lines[0]!r}")
    points = {}
    combos = None
    for line in lines[1:]:
        cols = line.split()
        if len(cols) == 6 and cols[0].isdigit():
            points[f"{cols[1]},{cols[2]}"] = [int(cols[5]), float(cols[3])]
        elif "combinations in" in line:
            combos = int(cols[0])
    if combos is None or combos != len(points):
        sys.exit(f"bench: {args.label}: {len(points)} rows for {combos} combinations "
                 f"(pass --top with at least the grid's size)")
    write(args.out, {
        "label": args.label,
        "points": combos,
        "bars": args.bars,
        "seconds": seconds,
        "cpu_s": cpu,
        "load": clock.load,
        "results": points,
    })
    print(f"bench: {args.label}: {combos} points in {seconds:.1f} s (CPU {cpu:.1f} s)")


# ---- report -------------------------------------------------------------------------------------

# Weaver prints equity_final with 4 decimals; it reproduces backtesting.py trade for trade, so
# the two may differ by that rounding only (5e-5) plus float noise.
WEAVER_EQUITY_ABS = 1e-4
# vectorbt keeps its own books (one reversal order instead of a close and an open, its own
# rolling-mean arithmetic), so its equity may differ in the last digits: 1e-6 of the equity is
# far below one unit of the traded price (~100 / 10,000 = 1e-2) yet catches any different fill.
VECTORBT_EQUITY_REL = 1e-6


def compare(a, b, abs_tol, rel_tol):
    """Points of `a` also in `b` that disagree: [(point, a's, b's)]."""
    bad = []
    for key, (ta, ea) in a["results"].items():
        if key not in b["results"]:
            continue
        tb, eb = b["results"][key]
        if ta != tb or abs(ea - eb) > abs_tol + rel_tol * max(abs(ea), abs(eb)):
            bad.append((key, (ta, ea), (tb, eb)))
    return bad


def referee(data, bad, abs_tol):
    """Points of `bad` (Weaver vs vectorbt) where backtesting.py, run on the point now, gives
    Weaver's trades and equity: there vectorbt alone is off. Prints each verdict."""
    from backtesting import Backtest
    from sma_cross_bt import SmaCross

    bars = read_bars(data)
    settled = set()
    for key, w, v in bad:
        fast, slow = (int(x) for x in key.split(","))
        bt = Backtest(bars, SmaCross, cash=CASH, commission=COMMISSION, exclusive_orders=True,
                      finalize_trades=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "trades remain open": as in the optimize leg
            stats = bt.run(fast=fast, slow=slow)
        ref = (int(stats["# Trades"]), float(stats["Equity Final [$]"]))
        agrees = ref[0] == w[0] and abs(ref[1] - w[1]) <= abs_tol
        print(f"  referee fast,slow={key}: backtesting.py {ref[0]} trades, equity {ref[1]:.4f} "
              f"(Weaver {w[0]} / {w[1]:.4f}, vectorbt {v[0]} / {v[1]:.4f}): "
              f"{'Weaver agrees with backtesting.py' if agrees else 'Weaver differs'}")
        if agrees:
            settled.add(key)
    return settled


def report(args):
    legs = [json.load(open(p)) for p in args.results]
    by = {leg["label"]: leg for leg in legs}
    ref_bt, ref_vbt = by.get("backtesting.py"), by.get("vectorbt")

    def rate(leg):
        return leg["points"] / leg["seconds"]

    print()
    print(f"{'':<32} {'points':>6} {'bars':>9} {'seconds':>8} {'points/s':>8} "
          f"{'vs backtesting.py':>17} {'vs vectorbt':>11} {'CPU s':>7} {'load':>9}")
    for leg in legs:
        vs_bt = f"{ref_bt['seconds'] / leg['seconds']:.2f}x" if ref_bt else "-"
        vs_vbt = f"{ref_vbt['seconds'] / leg['seconds']:.2f}x" if ref_vbt else "-"
        mark = " *" if leg.get("extrapolated") else ""
        load = "-".join(f"{x:.1f}" for x in leg.get("load", []))
        print(f"{leg['label'] + mark:<32} {leg['points']:>6} {leg['bars']:>9,} "
              f"{leg['seconds']:>8.2f} {rate(leg):>8.3f} {vs_bt:>17} {vs_vbt:>11} "
              f"{leg.get('cpu_s', float('nan')):>7.1f} {load:>9}")
    print("vs X: X's seconds / this row's (above 1: faster than X); CPU s: user + system of the "
          "tool's processes; load: 1-minute load average before-after")
    for leg in legs:
        x = leg.get("extrapolated")
        if x:
            print(f"* extrapolated: {x['measured_points']} points measured in "
                  f"{x['measured_s']:.1f} s (CPU {x['measured_cpu_s']:.1f} s), "
                  f"{x['per_point_s']:.2f} s a point with {leg.get('processes', 1)} processes "
                  f"({x['rule']})")
    w1, w2 = by.get("Weaver 1 thread"), by.get("Weaver 2 threads")
    if w1 and w2:
        print(f"Weaver 1 -> 2 threads: {w1['seconds'] / w2['seconds']:.2f}x")
    p1, p2 = by.get("Weaver 1 worker"), by.get("Weaver 2 workers")
    if p1 and p2:
        print(f"Weaver 1 -> 2 worker processes: {p1['seconds'] / p2['seconds']:.2f}x "
              "(bars from each worker's bar cache)")
    c1, c2 = by.get("Weaver 1 worker, no bar cache"), by.get("Weaver 2 workers, no bar cache")
    if c1 and c2:
        print(f"Weaver 1 -> 2 worker processes, no bar cache: {c1['seconds'] / c2['seconds']:.2f}x "
              "(every worker reads the bars from PostgreSQL)")
    if ref_vbt and "warmup_s" in ref_vbt:
        print(f"vectorbt's time excludes its numba JIT warm-up ({ref_vbt['warmup_s']:.1f} s, "
              f"on a 2,000-bar slice first); every time includes reading the CSV")

    # ---- checks: the tools computed the same thing ----
    failed = False
    print()
    weavers = [leg for leg in legs if leg["label"].startswith("Weaver")]
    pairs = []
    for w in weavers[1:]:
        if "worker" in w["label"]:
            # Read from the API at full precision; the CLI's table prints 4 decimals.
            pairs.append((weavers[0], w, WEAVER_EQUITY_ABS, 0.0,
                          "same trades, equity within the CLI's 4 printed decimals"))
        else:
            pairs.append((weavers[0], w, 0.0, 0.0, "identical tables"))
    if ref_bt:
        pairs += [(w, ref_bt, WEAVER_EQUITY_ABS, 1e-12, "same trades, equity within 1e-4")
                  for w in weavers[:1]]
    if ref_bt and ref_vbt:
        pairs.append((ref_vbt, ref_bt, 0.0, VECTORBT_EQUITY_REL,
                      f"same trades, equity within {VECTORBT_EQUITY_REL:g} relative"))
    if weavers and ref_vbt:
        pairs.append((weavers[0], ref_vbt, WEAVER_EQUITY_ABS, VECTORBT_EQUITY_REL,
                      f"same trades, equity within {VECTORBT_EQUITY_REL:g} relative"))
    for a, b, abs_tol, rel_tol, rule in pairs:
        common = [k for k in a["results"] if k in b["results"]]
        bad = compare(a, b, abs_tol, rel_tol)
        if bad and b is ref_vbt and a in weavers and args.referee_data:
            # vectorbt keeps its own books: where it and Weaver disagree on a point
            # backtesting.py did not run, backtesting.py (the reference) runs it and decides.
            settled = referee(args.referee_data, bad, abs_tol)
            bad = [x for x in bad if x[0] not in settled]
            rule += f"; {len(settled)} point(s) where vectorbt alone differs from backtesting.py"
        worst = max((abs(a["results"][k][1] - b["results"][k][1]) for k in common), default=0)
        status = "ok" if common and not bad else "FAILED"
        failed |= status != "ok"
        print(f"check {a['label']} vs {b['label']}: {len(common)} common points, "
              f"{len(bad)} differ ({rule}; largest equity difference {worst:.6g}): {status}")
        for key, x, y in bad[:5]:
            print(f"  fast,slow={key}: {a['label']} {x[0]} trades, equity {x[1]:.4f}; "
                  f"{b['label']} {y[0]} trades, equity {y[1]:.4f}")
    sample = next(iter(ref_bt["results"])) if ref_bt else None
    if sample:
        row = ", ".join(f"{leg['label']} {leg['results'][sample][0]} trades / "
                        f"{leg['results'][sample][1]:.4f}"
                        for leg in legs if sample in leg["results"])
        print(f"e.g. fast,slow={sample}: {row}")
    if failed:
        print("bench: the tools disagree (above): the timings do not compare like with like",
              file=sys.stderr)
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("backtesting", "vectorbt"):
        s = sub.add_parser(name)
        s.add_argument("--data", required=True)
        s.add_argument("--grid", required=True)
        s.add_argument("--out", required=True)
        if name == "backtesting":
            s.add_argument("--points", type=int, default=None,
                           help="run this many points spread over the grid and extrapolate")
    s = sub.add_parser("weaver")
    s.add_argument("--label", required=True)
    s.add_argument("--bars", type=int, required=True)
    s.add_argument("--threads", type=int, default=0, help="RAYON_NUM_THREADS (0: rayon's own)")
    s.add_argument("--out", required=True)
    s.add_argument("command", nargs="+", help="the weaver command, after --")
    s = sub.add_parser("report")
    s.add_argument("--referee-data", default=None,
                   help="the CSV: backtesting.py decides points where Weaver and vectorbt differ")
    s.add_argument("results", nargs="+")
    args = p.parse_args()
    {"backtesting": leg_backtesting, "vectorbt": leg_vectorbt, "weaver": leg_weaver,
     "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
