"""Reference backtest results for Greta's parity tests, computed by backtesting.py 0.6.6.

Run by scripts/testdata.sh inside its pinned venv (scripts/testdata/requirements.txt):

    python reference.py convert <backtesting/test dir> <out ohlcv dir>
    python reference.py results <ohlcv dir> <out reference dir>

`convert` turns backtesting.py's bundled test data (GOOG, EURUSD, BTCUSD) into the project's
OHLCV format: header `timestamp,open,high,low,close,volume`, ISO-8601 timestamps with `Z` (the
sources have no zone; daily bars become `00:00:00Z`), every number copied as text.

`results` runs four backtests on those converted CSVs and writes, per run, `<name>.json` (config,
all metrics, every trade, trades left open, warnings) and `<name>-equity.csv`
(`timestamp,equity,drawdown_pct`). The JSON keeps the paths `data/ohlcv/…` and `data/reference/…`
in `dataset` and `equity_csv`; the tests strip the `data/` prefix.
"""

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

DATASETS = ("GOOG", "EURUSD", "BTCUSD")
ENGINE = "backtesting.py 0.6.6"

SMACROSS_RULE = (
    "at bar close t: if SMA10 crosses above SMA20 (SMA10[t-1] < SMA20[t-1] and "
    "SMA10[t] > SMA20[t]) buy(); elif SMA20 crosses above SMA10: sell(). "
    "SMA = simple mean of the last n closes incl. bar t."
)
TESTSUITE_RULE = (
    "on SMA10 crossing above SMA30: position.close(); buy(). "
    "On crossing below: position.close(); sell()."
)

# Backtest(...) keyword arguments, as recorded in each JSON's `config` (risk_free_rate is the
# value backtesting.py 0.6.6 passes to compute_stats itself, recorded for the reader).
SMACROSS_CONFIG = {
    "cash": 10000,
    "commission": 0.002,
    "exclusive_orders": True,
    "spread": 0.0,
    "margin": 1.0,
    "trade_on_close": False,
    "hedging": False,
    "finalize_trades": False,
    "risk_free_rate": 0.0,
}
TESTSUITE_CONFIG = {
    "cash": 10000,
    "commission": 0.0,
    "exclusive_orders": False,
    "spread": 0.0,
    "margin": 1.0,
    "trade_on_close": False,
    "hedging": False,
    "finalize_trades": True,
    "risk_free_rate": 0.0,
}


def SMA(values, n):
    """backtesting.test.SMA (not imported: that module loads its bundled CSVs on import)."""
    return pd.Series(values).rolling(n).mean()


class Recording(Strategy):
    """Records the index of the first bar on which `next` runs (after indicator warm-up)."""

    first_next_bar = None

    def next(self):
        if Recording.first_next_bar is None:
            Recording.first_next_bar = len(self.data) - 1


class SmaCross(Recording):
    """backtesting.py's documentation SmaCross: exclusive orders reverse the position."""

    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        super().next()
        if crossover(self.sma1, self.sma2):
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.sell()


class SmaCrossTest(Recording):
    """SmaCross of backtesting/test/_test.py (fast 10, slow 30)."""

    fast = 10
    slow = 30

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.fast)
        self.sma2 = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        super().next()
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


# ---- convert ------------------------------------------------------------------------------------


def iso_z(stamp: str) -> str:
    """`2004-08-19` → `2004-08-19T00:00:00Z`; `2017-04-19 09:00:00` → `2017-04-19T09:00:00Z`."""
    if len(stamp) == 10:
        return stamp + "T00:00:00Z"
    if len(stamp) == 19 and stamp[10] == " ":
        return stamp[:10] + "T" + stamp[11:] + "Z"
    raise ValueError(f"unexpected timestamp {stamp!r}")


def convert(source: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in DATASETS:
        lines = (source / f"{name}.csv").read_text().splitlines()
        if lines[0] != ",Open,High,Low,Close,Volume":
            raise ValueError(f"{name}.csv: unexpected header {lines[0]!r}")
        rows = ["timestamp,open,high,low,close,volume"]
        for line in lines[1:]:
            stamp, rest = line.split(",", 1)
            rows.append(iso_z(stamp) + "," + rest)
        (out / f"{name}.csv").write_text("\n".join(rows) + "\n")


# ---- results ------------------------------------------------------------------------------------


def read_ohlcv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    index = pd.to_datetime(df.pop("timestamp"), utc=True).dt.tz_localize(None)
    df.index = pd.DatetimeIndex(index)
    df.columns = [c.capitalize() for c in df.columns]
    return df


def timestamp(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(value):
    """A metric as JSON: ISO Z timestamps, {timedelta, days} durations, NaN as null."""
    if isinstance(value, pd.Timestamp):
        return timestamp(value)
    if isinstance(value, pd.Timedelta):
        return {"timedelta": str(value), "days": value / pd.Timedelta(days=1)}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    raise TypeError(f"unexpected metric {value!r} ({type(value)})")


def run(data: pd.DataFrame, strategy, config: dict):
    kwargs = {k: v for k, v in config.items() if k != "risk_free_rate"}
    Recording.first_next_bar = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bt = Backtest(data, strategy, **kwargs)
        stats = bt.run()
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return stats, messages, Recording.first_next_bar


def write_result(out: Path, name: str, dataset: str, strategy: dict, config: dict,
                 data: pd.DataFrame, stats, messages, first_next_bar) -> None:
    metrics = {k: plain(v) for k, v in stats.items() if not k.startswith("_")}
    trades_df = stats["_trades"]
    trades = [
        {
            "entry_bar": int(t.EntryBar),
            "exit_bar": int(t.ExitBar),
            "entry_time": timestamp(t.EntryTime),
            "exit_time": timestamp(t.ExitTime),
            "size": int(t.Size),
            "entry_price": float(t.EntryPrice),
            "exit_price": float(t.ExitPrice),
            "pnl": float(t.PnL),
            "commission": float(t.Commission),
            "return_pct": float(t.ReturnPct) * 100,
        }
        for t in trades_df.itertuples()
    ]
    broker = stats["_strategy"]._broker
    still_open = [] if config["finalize_trades"] else [
        {
            "entry_bar": int(t.entry_bar),
            "entry_time": timestamp(t.entry_time),
            "size": int(t.size),
            "entry_price": float(t.entry_price),
        }
        for t in broker.trades
    ]
    equity_csv = f"data/reference/{name}-equity.csv"
    result = {
        "dataset": f"data/ohlcv/{dataset}.csv",
        "engine": ENGINE,
        "strategy": strategy,
        "config": config,
        "bars": len(data),
        "first_next_bar": first_next_bar,
        "metrics": metrics,
        "n_trades": len(trades),
        "trades": trades,
        "open_trades_at_end_not_in_stats": still_open,
        "warnings": messages,
        "equity_csv": equity_csv,
    }
    with open(out / f"{name}.json", "w") as f:
        json.dump(result, f, indent=1)

    curve = stats["_equity_curve"]
    rows = ["timestamp,equity,drawdown_pct"]
    for when, equity, drawdown in zip(curve.index, curve["Equity"], curve["DrawdownPct"]):
        rows.append(f"{timestamp(when)},{float(equity)!r},{float(drawdown) * 100!r}")
    (out / f"{name}-equity.csv").write_text("\n".join(rows) + "\n")


def results(ohlcv: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    smacross = {"name": "SmaCross", "n1": 10, "n2": 20, "rule": SMACROSS_RULE}
    for dataset in DATASETS:
        data = read_ohlcv(ohlcv / f"{dataset}.csv")
        name = f"{dataset}-smacross-10-20"
        write_result(out, name, dataset, smacross, SMACROSS_CONFIG, data,
                     *run(data, SmaCross, SMACROSS_CONFIG))
        print(f"  reference/{name}.json")
    data = read_ohlcv(ohlcv / "GOOG.csv")
    testsuite = {"name": "SmaCrossTest (backtesting/test/_test.py)", "n1": 10, "n2": 30,
                 "rule": TESTSUITE_RULE}
    name = "GOOG-testsuite-smacross-10-30"
    write_result(out, name, "GOOG", testsuite, TESTSUITE_CONFIG, data,
                 *run(data, SmaCrossTest, TESTSUITE_CONFIG))
    print(f"  reference/{name}.json")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("convert", "results"):
        sys.exit(__doc__)
    command, a, b = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    (convert if command == "convert" else results)(a, b)
