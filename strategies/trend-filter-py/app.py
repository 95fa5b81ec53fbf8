"""Trend filter in Python, decision for decision the Rust `strategies/trend-filter`.

Parameters `fast` (default 6) and `slow` (default 24), SMA lengths in the run's bars, and `trend`
(default 10), the daily SMA length. Declares the daily series of the run's first symbol and a
warm-up of max(fast, slow) - 1 bars. On the first bar of each UTC day it asks for the last `trend`
daily bars; the trend is up while the last daily close is above their mean. Fast crossing above
slow while the trend is up buys with half the equity; slow crossing above fast, or the trend
turning down, closes the position.
"""

from weaver_strategy import DAY, Declaration, Side, Sma, Strategy, StrategyError, export

DAY_MS = 86_400_000


class TrendFilter(Strategy):
    def __init__(self, config):
        config.expect_only(["fast", "slow", "trend"])
        fast = config.param("fast", 6)
        slow = config.param("slow", 24)
        self.trend = config.param("trend", 10)
        if fast == 0 or slow == 0 or self.trend == 0:
            raise StrategyError("bad_param", "fast, slow and trend must be at least 1")
        if not config.symbols:
            raise StrategyError("bad_param", "the run has no symbol")
        self.symbol = config.symbols[0]
        self.fast = Sma(fast)
        self.slow = Sma(slow)
        self.prev = None
        self.trend_up = False
        self.day = None
        self.long = False
        self.warmup = max(fast, slow) - 1

    def declare(self):
        return Declaration(series=[(self.symbol, DAY)], warmup=self.warmup)

    def on_bar(self, ctx, symbol, ts, o, h, l, close, v):
        if symbol != 0:
            return
        day = ts // DAY_MS
        if self.day != day:
            self.day = day
            ctx.fetch_window(self.symbol, DAY, self.trend)
        fast = self.fast.update(close)
        slow = self.slow.update(close)
        if fast is None or slow is None:
            return
        prev = self.prev
        self.prev = (fast, slow)
        if prev is not None:
            pf, ps = prev
            if pf < ps and fast > slow and self.trend_up and not self.long:
                self.long = True
                ctx.target_fraction(0, Side.BUY, 0.5)
            elif ps < pf and slow > fast and self.long:
                self.long = False
                ctx.close(0)

    def on_data_window(self, ctx, window):
        closes = [b.close for b in window.bars]
        if closes and len(closes) >= self.trend:
            total = 0.0
            for c in closes:
                total += c
            self.trend_up = closes[-1] > total / len(closes)
        else:
            self.trend_up = False
        if self.long and not self.trend_up:
            self.long = False
            ctx.close(0)


Guest = export(TrendFilter)
