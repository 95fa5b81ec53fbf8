// Weaver strategy SDK for JavaScript (componentize-qjs 0.4.5, world `weaver:strategy/strategy`).
//
// Extend `Strategy` (shaped like the Rust SDK's trait) and export it from your entry module:
//
//   import { Strategy, exportStrategy } from "../../strategy-sdk/js/index.js";
//   class MyStrategy extends Strategy { ... }
//   export const guest = exportStrategy(MyStrategy);
//
// Invariants:
// - A strategy imports nothing: everything it knows arrives in events; same events, same intents.
// - `on-bars` behaves exactly like one `bars` event per timestamp group and returns right after
//   the first group that produced an intent (the Rust SDK's `Runtime::on_bars`).

export { Sma, crossover } from "./indicators.js";

/** The strategy's own error: a short snake_case code and a message for the user. */
export class StrategyError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** No optional event kinds (bars, data windows and raw events always arrive). */
export const NO_SUBSCRIPTIONS = Object.freeze({
  orderUpdates: false, account: false, clockTicks: false, lifecycle: false,
});

/** `n`-minute bars (`minutes(5)` is `5Min`). */
export const minutes = (n) => ({ amount: n, unit: "minute" });
/** `n`-hour bars. */
export const hours = (n) => ({ amount: n, unit: "hour" });
/** Daily bars. */
export const DAY = Object.freeze({ amount: 1, unit: "day" });

/** The run's parameters, noting each name the strategy looks up (`get`, `has`). */
class Params extends Map {
  constructor(entries) {
    super(entries);
    this.read = [];
  }

  note(name) {
    if (!this.read.includes(name)) this.read.push(name);
  }

  get(name) {
    this.note(name);
    return super.get(name);
  }

  has(name) {
    this.note(name);
    return super.has(name);
  }
}

/** The `unknown_param` refusal, naming the parameters the strategy reads. */
function unknownParams(unknown, reads) {
  return new StrategyError("unknown_param",
    `unknown parameter(s) ${unknown.join(", ")}; this strategy reads ${reads.join(", ") || "none"}`);
}

/**
 * What a run tells its strategy: parameters, symbols and timeframe. A parameter the strategy's
 * constructor never reads (`intParam`, `numberParam`, `paramText`, `params.get`, `expectOnly`) is
 * refused after it returns (`unknown_param`), so a typo is an error, not a silent default.
 */
export class Config {
  constructor(raw) {
    this.params = new Params(raw.params);
    this.symbols = raw.symbols;
    this.timeframe = raw.timeframe;
  }

  /** The raw text of parameter `name`, or `undefined` when it is not given. */
  paramText(name) {
    return this.params.get(name);
  }

  /** The given parameters not read so far, in the order given. */
  unread() {
    return [...this.params.keys()].filter((k) => !this.params.read.includes(k));
  }

  /** Integer parameter `name`, or `dflt` when absent; `bad_param` when not a non-negative integer. */
  intParam(name, dflt) {
    const text = this.params.get(name);
    if (text === undefined) return dflt;
    const trimmed = text.trim();
    if (!/^\+?[0-9]+$/.test(trimmed)) {
      throw new StrategyError("bad_param", `parameter ${name}=${JSON.stringify(text)} is not a valid integer`);
    }
    return Number(trimmed);
  }

  /** Number parameter `name`, or `dflt` when absent; `bad_param` when not a finite number. */
  numberParam(name, dflt) {
    const text = this.params.get(name);
    if (text === undefined) return dflt;
    const value = Number(text.trim());
    if (text.trim() === "" || !Number.isFinite(value)) {
      throw new StrategyError("bad_param", `parameter ${name}=${JSON.stringify(text)} is not a valid number`);
    }
    return value;
  }

  /**
   * Refuses any parameter not in `known` at once (the SDK refuses the ones never read after the
   * constructor anyway); the names in `known` count as read.
   */
  expectOnly(known) {
    for (const k of known) this.params.note(k);
    const unknown = [...this.params.keys()].filter((k) => !known.includes(k));
    if (unknown.length > 0) throw unknownParams(unknown, known);
  }
}

/** Collects the intents of one event. */
export class Context {
  constructor(symbols, timeframe) {
    this.symbols = symbols;
    this.timeframe = timeframe;
    this.now = 0;
    this.intents = [];
  }

  symbol(s) {
    if (typeof s === "number") {
      if (s >= 0 && s < this.symbols.length) return this.symbols[s];
      throw new StrategyError("unknown_symbol",
        `symbol index ${s} is outside the run's ${this.symbols.length} symbol(s)`);
    }
    if (this.symbols.includes(s)) return s;
    throw new StrategyError("unknown_symbol", `symbol ${JSON.stringify(s)} is not one of the run's symbols`);
  }

  /** A market GTC order; `size` is `{tag: "units"|"notional"|"equity-fraction", val}`. */
  market(symbol, side, size) {
    this.intents.push({
      tag: "place-order",
      val: {
        symbol: this.symbol(symbol), side, orderType: "market", timeInForce: "gtc",
        limitPrice: null, stopPrice: null, size, tag: null,
      },
    });
  }

  buy(symbol, units) { this.market(symbol, "buy", { tag: "units", val: units }); }

  sell(symbol, units) { this.market(symbol, "sell", { tag: "units", val: units }); }

  targetFraction(symbol, side, fraction) {
    this.market(symbol, side, { tag: "equity-fraction", val: fraction });
  }

  close(symbol) { this.intents.push({ tag: "close-position", val: this.symbol(symbol) }); }

  /** Close the position, then go all-in (`equity-fraction 1.0`) on `side`. */
  reverseTo(symbol, side) {
    const name = this.symbol(symbol);
    this.intents.push({ tag: "close-position", val: name });
    this.targetFraction(name, side, 1.0);
  }

  cancel(clientOrderId) { this.intents.push({ tag: "cancel-order", val: clientOrderId }); }

  /**
   * Asks for the last `lookback` bars of `symbol` in `timeframe` that closed by now; they arrive
   * in `onDataWindow`. Another timeframe or a symbol outside the run (named by text) must be
   * declared in `declare()`, or the window arrives empty.
   */
  fetchWindow(symbol, timeframe, lookback) {
    const name = typeof symbol === "number" ? this.symbol(symbol) : symbol;
    this.intents.push({ tag: "fetch-window", val: { symbol: name, timeframe, lookback } });
  }

  log(level, message) { this.intents.push({ tag: "log", val: { level, message } }); }
}

/** Base class shaped like the Rust `Strategy` trait. Override what you need. */
export class Strategy {
  /** Optional event kinds wanted. */
  static subscriptions = NO_SUBSCRIPTIONS;

  constructor(_config) {}

  /**
   * Extra series and warm-up (contract 0.3): `{series: [{symbol, timeframe}], warmup}`, e.g.
   * `{series: [{symbol: this.symbol, timeframe: DAY}], warmup: this.slow - 1}`. Default: none, 0.
   */
  declare() { return { series: [], warmup: 0 }; }

  /** One bar: symbol index, then `{ts, open, high, low, close, volume}`. */
  onBar(_ctx, _symbol, _bar) {}

  /** All bars of one timestamp as `{symbol, bar}` objects. */
  onBars(ctx, group) {
    for (const b of group) this.onBar(ctx, b.symbol, b.bar);
  }

  onDataWindow(_ctx, _window) {}
  onClockTick(_ctx) {}
  onOrderUpdate(_ctx, _update) {}
  onAccount(_ctx, _account) {}
  onLifecycle(_ctx, _lifecycle) {}
  onRaw(_ctx, _raw) {}
}

/** A little-endian reader over a `list<u8>` (lifted as a `Uint8Array`; an `Array` is copied). */
function view(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  return new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
}

function asWitError(e) {
  if (e instanceof StrategyError) return { code: e.code, message: e.message };
  return { code: "exception", message: String(e && e.stack ? e.stack : e) };
}

/** Builds the `guest` export object componentize-qjs wires to the WIT interface. */
export function exportStrategy(Cls) {
  let strategy = null;
  let ctx = null;
  const notInitialised = { code: "not_initialised", message: "init was not called (or failed) before this event" };
  return {
    init(config) {
      strategy = null;
      const cfg = new Config(config);
      ctx = new Context(cfg.symbols, cfg.timeframe);
      let declared;
      try {
        strategy = new Cls(cfg);
        const unknown = cfg.unread();
        if (unknown.length > 0) throw unknownParams(unknown, cfg.params.read);
        declared = strategy.declare();
      } catch (e) {
        strategy = null;
        throw asWitError(e);
      }
      return {
        subscriptions: Cls.subscriptions,
        series: (declared.series || []).map((s) => ({ symbol: s.symbol, timeframe: s.timeframe })),
        warmup: declared.warmup || 0,
      };
    },

    onEvent(event) {
      if (strategy === null) throw notInitialised;
      ctx.intents = [];
      ctx.now = event.ts;
      const p = event.payload;
      try {
        switch (p.tag) {
          case "bars": {
            const bars = p.val;
            let start = 0;
            while (start < bars.length) {
              const ts = bars[start].bar.ts;
              let end = start + 1;
              while (end < bars.length && bars[end].bar.ts === ts) end += 1;
              ctx.now = ts;
              strategy.onBars(ctx, bars.slice(start, end));
              start = end;
            }
            break;
          }
          case "data-window": strategy.onDataWindow(ctx, p.val); break;
          case "clock-tick": strategy.onClockTick(ctx); break;
          case "order-update": strategy.onOrderUpdate(ctx, p.val); break;
          case "account": strategy.onAccount(ctx, p.val); break;
          case "lifecycle": strategy.onLifecycle(ctx, p.val); break;
          case "raw": strategy.onRaw(ctx, p.val); break;
        }
      } catch (e) {
        throw asWitError(e);
      }
      const intents = ctx.intents;
      ctx.intents = [];
      return intents;
    },

    onBars(batch) {
      if (strategy === null) throw notInitialised;
      ctx.intents = [];
      // Little-endian byte columns (see `bar-batch` in the WIT): one buffer copy each.
      const sym = view(batch.symbols);
      const tsv = view(batch.ts);
      const px = view(batch.ohlcv);
      const count = tsv.byteLength / 8;
      if (!Number.isInteger(count) || sym.byteLength !== 4 * count || px.byteLength !== 40 * count) {
        throw { code: 'bad_batch', message: "bar batch columns don't line up" };
      }
      // s64 from two 32-bit halves: exact for every millisecond timestamp (below 2^53).
      const tsAt = (k) => tsv.getInt32(8 * k + 4, true) * 4294967296 + tsv.getUint32(8 * k, true);
      let i = 0;
      try {
        while (i < count) {
          const ts = tsAt(i);
          let end = i + 1;
          while (end < count && tsAt(end) === ts) end += 1;
          ctx.now = ts;
          const group = [];
          for (let k = i; k < end; k++) {
            const o = 40 * k;
            group.push({
              symbol: sym.getUint32(4 * k, true),
              bar: {
                ts,
                open: px.getFloat64(o, true),
                high: px.getFloat64(o + 8, true),
                low: px.getFloat64(o + 16, true),
                close: px.getFloat64(o + 24, true),
                volume: px.getFloat64(o + 32, true),
              },
            });
          }
          strategy.onBars(ctx, group);
          if (ctx.intents.length > 0) {
            const intents = ctx.intents;
            ctx.intents = [];
            return { intents, consumed: end };
          }
          i = end;
        }
      } catch (e) {
        throw asWitError(e);
      }
      return { intents: [], consumed: count };
    },
  };
}
