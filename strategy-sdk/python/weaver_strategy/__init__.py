"""Weaver strategy SDK for Python (componentize-py 0.25.1, world `weaver:strategy/strategy`).

Subclass `Strategy` (shaped like the Rust SDK's trait), then export it from your app module:

    from weaver_strategy import Strategy, export
    class MyStrategy(Strategy): ...
    Guest = export(MyStrategy)

Invariants:
- A strategy imports nothing: everything it knows arrives in events; same events, same intents.
- `on-bars` behaves exactly like one `bars` event per timestamp group and returns right after the
  first group that produced an intent (the Rust SDK's `Runtime::on_bars`).
"""

from wit_world.imports import types as t
from componentize_py_types import Err

from .indicators import Sma, crossover

__all__ = ["Strategy", "Context", "StrategyError", "Subscriptions", "SymbolBar", "Bar", "Side",
           "Declaration", "Timeframe", "TimeUnit", "DAY", "minutes", "hours", "export", "Sma",
           "crossover", "t"]

Subscriptions = t.Subscriptions
Side = t.Side
Bar = t.Bar
SymbolBar = t.SymbolBar
Timeframe = t.Timeframe
TimeUnit = t.TimeUnit
EMPTY = Subscriptions(0)
#: Daily bars.
DAY = t.Timeframe(1, t.TimeUnit.DAY)


def minutes(n: int):
    """`n`-minute bars (`minutes(5)` is `5Min`)."""
    return t.Timeframe(n, t.TimeUnit.MINUTE)


def hours(n: int):
    """`n`-hour bars."""
    return t.Timeframe(n, t.TimeUnit.HOUR)


class Declaration:
    """What `Strategy.declare` returns (contract 0.3): the extra series read with
    `ctx.fetch_window`, as `(symbol, timeframe)` pairs, and the warm-up in bars of the run's
    timeframe (where a backtest starts buy & hold unless told otherwise)."""

    __slots__ = ("series", "warmup")

    def __init__(self, series=(), warmup: int = 0):
        self.series = list(series)
        self.warmup = warmup


class StrategyError(Exception):
    """The strategy's own error: a short snake_case code and a message for the user."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class _Params(dict):
    """The run's parameters, noting each name the strategy looks up (`get`, `[]`, `in`)."""

    def __init__(self, items):
        super().__init__(items)
        self.read = []

    def _note(self, name):
        if name not in self.read:
            self.read.append(name)

    def get(self, name, default=None):
        self._note(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self._note(name)
        return super().__getitem__(name)

    def __contains__(self, name):
        self._note(name)
        return super().__contains__(name)


class Config:
    """What a run tells its strategy: parameters, symbols and timeframe. A parameter the
    strategy's `__init__` never reads (`param`, `param_text`, `params.get`, `expect_only`) is
    refused after it returns (`unknown_param`), so a typo is an error, not a silent default."""

    def __init__(self, raw: "t.Config"):
        self.params = _Params(raw.params)
        self.symbols = list(raw.symbols)
        self.timeframe = raw.timeframe

    def param_text(self, name: str):
        """The raw text of parameter `name`, or None when it is not given."""
        return self.params.get(name)

    def unread(self):
        """The given parameters not read so far, in the order given."""
        return [k for k in dict.keys(self.params) if k not in self.params.read]

    def param(self, name: str, default, kind=None):
        """Parameter `name` parsed as `kind` (default: the type of `default`); `bad_param` if not."""
        text = self.params.get(name)
        if text is None:
            return default
        kind = kind or type(default)
        try:
            value = kind(text.strip())
        except ValueError:
            raise StrategyError("bad_param",
                                f"parameter {name}={text!r} is not a valid {kind.__name__}")
        if kind is int and value < 0:
            raise StrategyError("bad_param", f"parameter {name}={text!r} must not be negative")
        return value

    def expect_only(self, known):
        """Refuses any parameter not in `known` at once (the SDK refuses the ones never read
        after `__init__` anyway); the names in `known` count as read."""
        for k in known:
            self.params._note(k)
        unknown = [k for k in dict.keys(self.params) if k not in known]
        if unknown:
            raise _unknown_params(unknown, list(known))


def _unknown_params(unknown, reads):
    """The `unknown_param` refusal, naming the parameters the strategy reads."""
    return StrategyError("unknown_param", f"unknown parameter(s) {', '.join(unknown)}; "
                                          f"this strategy reads {', '.join(reads) or 'none'}")


class Context:
    """Collects the intents of one event."""

    __slots__ = ("symbols", "timeframe", "now", "intents", "_memo")

    def __init__(self, symbols, timeframe):
        self.symbols = symbols
        self.timeframe = timeframe
        self.now = 0
        self.intents = []
        # `close` and `reverse_to` intents recur at every signal: built once per symbol (and
        # side), queued again (the SDK never mutates a queued intent, the lowering only reads
        # it). Keys are bounded by the run's symbols: an unknown symbol raises before caching.
        self._memo = {}

    def _symbol(self, symbol) -> str:
        if isinstance(symbol, int):
            if 0 <= symbol < len(self.symbols):
                return self.symbols[symbol]
            raise StrategyError("unknown_symbol", f"symbol index {symbol} is outside the run's "
                                                  f"{len(self.symbols)} symbol(s)")
        if symbol in self.symbols:
            return symbol
        raise StrategyError("unknown_symbol", f"symbol {symbol!r} is not one of the run's symbols")

    def market(self, symbol, side, size):
        """A market GTC order of `size` (a `t.OrderSize_*`)."""
        self.intents.append(t.Intent_PlaceOrder(t.OrderIntent(
            self._symbol(symbol), side, t.OrderType.MARKET, t.TimeInForce.GTC, None, None, size,
            None)))

    def buy(self, symbol, units: float):
        self.market(symbol, Side.BUY, t.OrderSize_Units(units))

    def sell(self, symbol, units: float):
        self.market(symbol, Side.SELL, t.OrderSize_Units(units))

    def target_fraction(self, symbol, side, fraction: float):
        self.market(symbol, side, t.OrderSize_EquityFraction(fraction))

    def close(self, symbol):
        intent = self._memo.get(symbol)
        if intent is None:
            intent = self._memo[symbol] = t.Intent_ClosePosition(self._symbol(symbol))
        self.intents.append(intent)

    def reverse_to(self, symbol, side):
        """Close the position, then go all-in (`equity-fraction 1.0`) on `side`."""
        self.close(symbol)
        key = (symbol, side)
        intent = self._memo.get(key)
        if intent is None:
            self.target_fraction(symbol, side, 1.0)
            self._memo[key] = self.intents[-1]
        else:
            self.intents.append(intent)

    def fetch_window(self, symbol, timeframe, lookback: int):
        """Asks for the last `lookback` bars of `symbol` in `timeframe` that closed by now; they
        arrive in `on_data_window`. Another timeframe or a symbol outside the run (named by text)
        must be declared in `declare`, or the window arrives empty."""
        if isinstance(symbol, int):
            symbol = self._symbol(symbol)
        self.intents.append(t.Intent_FetchWindow(t.FetchWindow(symbol, timeframe, lookback)))

    def cancel(self, client_order_id: str):
        self.intents.append(t.Intent_CancelOrder(client_order_id))

    def log(self, level, message: str):
        self.intents.append(t.Intent_Log(t.LogLine(level, message)))


class Strategy:
    """Base class shaped like the Rust `Strategy` trait. Override what you need."""

    #: Optional event kinds wanted (bars, data windows and raw events always arrive).
    SUBSCRIPTIONS = EMPTY

    def __init__(self, config: Config):
        pass

    def declare(self) -> Declaration:
        """Extra series and warm-up (contract 0.3), e.g.
        `Declaration(series=[(self.symbol, DAY)], warmup=self.slow - 1)`. Default: none, 0."""
        return Declaration()

    def on_bar(self, ctx: Context, symbol: int, ts: int, o: float, h: float, l: float,
               c: float, v: float):
        """One bar of symbol index `symbol`."""

    def on_bars(self, ctx: Context, group):
        """All bars of one timestamp as `(symbol, ts, o, h, l, c, v)` tuples."""
        for bar in group:
            self.on_bar(ctx, *bar)

    def on_data_window(self, ctx, window):
        pass

    def on_clock_tick(self, ctx):
        pass

    def on_order_update(self, ctx, update):
        pass

    def on_account(self, ctx, account):
        pass

    def on_lifecycle(self, ctx, lifecycle):
        pass

    def on_raw(self, ctx, raw):
        pass


def _err(e: StrategyError):
    return Err(t.StrategyError(e.code, e.message))


def _not_initialised():
    return Err(t.StrategyError("not_initialised",
                               "init was not called (or failed) before this event"))


def export(cls):
    """Builds the `Guest` class componentize-py exports from a `Strategy` subclass."""

    class Guest:
        strategy = None
        ctx = None

        def init(self, config):
            Guest.strategy = None
            cfg = Config(config)
            Guest.ctx = Context(cfg.symbols, cfg.timeframe)
            try:
                strategy = cls(cfg)
                unknown = cfg.unread()
                if unknown:
                    raise _unknown_params(unknown, cfg.params.read)
                d = strategy.declare()
            except StrategyError as e:
                raise _err(e)
            Guest.strategy = strategy
            return t.Declaration(cls.SUBSCRIPTIONS,
                                 [t.Series(symbol, tf) for symbol, tf in d.series], d.warmup)

        def on_event(self, event):
            strategy, ctx = Guest.strategy, Guest.ctx
            if strategy is None:
                raise _not_initialised()
            ctx.intents = []
            ctx.now = event.ts
            p = event.payload
            try:
                if isinstance(p, t.Payload_Bars):
                    bars = [(b.symbol, b.bar.ts, b.bar.open, b.bar.high, b.bar.low, b.bar.close,
                             b.bar.volume) for b in p.value]
                    start = 0
                    while start < len(bars):
                        ts = bars[start][1]
                        end = start + 1
                        while end < len(bars) and bars[end][1] == ts:
                            end += 1
                        ctx.now = ts
                        strategy.on_bars(ctx, bars[start:end])
                        start = end
                elif isinstance(p, t.Payload_DataWindow):
                    strategy.on_data_window(ctx, p.value)
                elif isinstance(p, t.Payload_ClockTick):
                    strategy.on_clock_tick(ctx)
                elif isinstance(p, t.Payload_OrderUpdate):
                    strategy.on_order_update(ctx, p.value)
                elif isinstance(p, t.Payload_Account):
                    strategy.on_account(ctx, p.value)
                elif isinstance(p, t.Payload_Lifecycle):
                    strategy.on_lifecycle(ctx, p.value)
                elif isinstance(p, t.Payload_Raw):
                    strategy.on_raw(ctx, p.value)
            except StrategyError as e:
                raise _err(e)
            intents, ctx.intents = ctx.intents, []
            return intents

        def on_bars(self, batch):
            strategy, ctx = Guest.strategy, Guest.ctx
            if strategy is None:
                raise _not_initialised()
            ctx.intents = []
            # Little-endian byte columns (wasm is little-endian, so native casts read them); one
            # C-level `tolist` each instead of a Python object per number crossing the boundary.
            count = len(batch.ts) // 8
            if (len(batch.ts) != 8 * count or len(batch.symbols) != 4 * count
                    or len(batch.ohlcv) != 40 * count):
                raise Err(t.StrategyError("bad_batch", "bar batch columns don't line up"))
            symbols = memoryview(batch.symbols).cast("I").tolist()
            tss = memoryview(batch.ts).cast("q").tolist()
            ohlcv = memoryview(batch.ohlcv).cast("d").tolist()
            try:
                if type(strategy).on_bars is Strategy.on_bars:
                    # Fast path (on_bars not overridden): one on_bar call per bar, no group
                    # lists; still returns only once the timestamp group is complete.
                    on_bar = strategy.on_bar
                    k = 0
                    while k < count:
                        ts = tss[k]
                        o = 5 * k
                        ctx.now = ts
                        on_bar(ctx, symbols[k], ts, ohlcv[o], ohlcv[o + 1], ohlcv[o + 2],
                               ohlcv[o + 3], ohlcv[o + 4])
                        k += 1
                        if ctx.intents and (k == count or tss[k] != ts):
                            intents, ctx.intents = ctx.intents, []
                            return t.BatchReply(intents, k)
                    return t.BatchReply([], count)
                i = 0
                while i < count:
                    ts = tss[i]
                    end = i + 1
                    while end < count and tss[end] == ts:
                        end += 1
                    ctx.now = ts
                    group = [(symbols[k], ts) + tuple(ohlcv[5 * k:5 * k + 5])
                             for k in range(i, end)]
                    strategy.on_bars(ctx, group)
                    if ctx.intents:
                        intents, ctx.intents = ctx.intents, []
                        return t.BatchReply(intents, end)
                    i = end
            except StrategyError as e:
                raise _err(e)
            return t.BatchReply([], count)

    return Guest
