// SMA crossover in JavaScript, trade for trade the Rust `strategies/sma-cross`.
//
// Parameters `fast` (default 10) and `slow` (default 20). Once both averages are defined on this
// bar and the previous one: fast crosses strictly above slow -> close and go all-in long; else
// slow crosses above fast -> close and go all-in short. Subscribes to nothing. Declares a warm-up
// of max(fast, slow) - 1 bars, where backtesting.py starts buy & hold.

import { Sma, Strategy, StrategyError, exportStrategy } from "../../strategy-sdk/js/index.js";

class SmaCross extends Strategy {
  constructor(config) {
    super(config);
    config.expectOnly(["fast", "slow"]);
    const fast = config.intParam("fast", 10);
    const slow = config.intParam("slow", 20);
    if (fast === 0 || slow === 0) throw new StrategyError("bad_param", "fast and slow must be at least 1");
    // Per symbol: both averages and the previous (fast, slow) once defined.
    this.state = config.symbols.map(() => ({ fast: new Sma(fast), slow: new Sma(slow), prev: null }));
    this.warmup = Math.max(fast, slow) - 1;
  }

  declare() { return { series: [], warmup: this.warmup }; }

  onBar(ctx, symbol, bar) {
    const st = this.state[symbol];
    if (st === undefined) throw new StrategyError("unknown_symbol", `bar for symbol index ${symbol}`);
    // Both averages see every bar, so their windows stay aligned.
    const fast = st.fast.update(bar.close);
    const slow = st.slow.update(bar.close);
    if (fast === null || slow === null) return;
    const prev = st.prev;
    st.prev = [fast, slow];
    if (prev !== null) {
      const [pf, ps] = prev;
      if (pf < ps && fast > slow) ctx.reverseTo(symbol, "buy");
      else if (ps < pf && slow > fast) ctx.reverseTo(symbol, "sell");
    }
  }
}

export const guest = exportStrategy(SmaCross);
