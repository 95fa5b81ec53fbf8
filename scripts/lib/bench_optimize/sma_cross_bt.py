"""The example sma-cross (strategies/sma-cross) as a backtesting.py Strategy, the one
scripts/testdata/reference.py checks Weaver against, with Weaver's parameter names. A module of
its own so that backtesting.py's optimize can pickle it to its worker processes."""

import pandas as pd
from backtesting import Strategy
from backtesting.lib import crossover


def SMA(values, n):
    """backtesting.test.SMA: pandas' rolling mean, as the Rust guest computes it bit for bit."""
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    """At a bar's close: SMA(fast) crosses above SMA(slow) → buy, elif below → sell; with
    exclusive orders each signal closes the position and goes all-in the other way."""

    fast = 10
    slow = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.fast)
        self.sma2 = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.sell()
