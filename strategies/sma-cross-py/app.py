"""SMA crossover in Python, trade for trade the Rust `strategies/sma-cross`.

Parameters `fast` (default 10) and `slow` (default 20). Once both averages are defined on this bar
and the previous one: fast crosses strictly above slow -> close and go all-in long; else slow
crosses above fast -> close and go all-in short. Subscribes to nothing: decisions use closes only.
Declares a warm-up of max(fast, slow) - 1 bars, where backtesting.py starts buy & hold.
"""

from weaver_strategy import Declaration, Strategy, StrategyError, Side, Sma, export


class SmaCross(Strategy):
    def __init__(self, config):
        config.expect_only(["fast", "slow"])
        fast = config.param("fast", 10)
        slow = config.param("slow", 20)
        if fast == 0 or slow == 0:
            raise StrategyError("bad_param", "fast and slow must be at least 1")
        # Per symbol: [fast sma, slow sma, previous fast, previous slow] (None before both are
        # defined).
        self.state = [[Sma(fast), Sma(slow), None, None] for _ in config.symbols]
        self.warmup = max(fast, slow) - 1

    def declare(self):
        return Declaration(warmup=self.warmup)

    def on_bar(self, ctx, symbol, ts, o, h, l, close, v):
        try:
            st = self.state[symbol]
        except IndexError:
            raise StrategyError("unknown_symbol", f"bar for symbol index {symbol}")
        # Both averages see every bar, so their windows stay aligned.
        fast = st[0].update(close)
        slow = st[1].update(close)
        if fast is None or slow is None:
            return
        pf = st[2]
        ps = st[3]
        st[2] = fast
        st[3] = slow
        if pf is not None:
            if pf < ps and fast > slow:  # crossover(fast, slow)
                ctx.reverse_to(symbol, Side.BUY)
            elif ps < pf and slow > fast:  # crossover(slow, fast)
                ctx.reverse_to(symbol, Side.SELL)

Guest = export(SmaCross)
