// Trend filter in JavaScript, decision for decision the Rust `strategies/trend-filter`.
//
// Parameters `fast` (default 6) and `slow` (default 24), SMA lengths in the run's bars, and
// `trend` (default 10), the daily SMA length. Declares the daily series of the run's first symbol
// and a warm-up of max(fast, slow) - 1 bars. On the first bar of each UTC day it asks for the last
// `trend` daily bars; the trend is up while the last daily close is above their mean. Fast
// crossing above slow while the trend is up buys with half the equity; slow crossing above fast, or
// the trend turning down, closes the position.

import { DAY, Sma, Strategy, StrategyError, exportStrategy } from "../../strategy-sdk/js/index.js";

const DAY_MS = 86400000;

class TrendFilter extends Strategy {
  constructor(config) {
    super(config);
    config.expectOnly(["fast", "slow", "trend"]);
    const fast = config.intParam("fast", 6);
    const slow = config.intParam("slow", 24);
    this.trend = config.intParam("trend", 10);
    if (fast === 0 || slow === 0 || this.trend === 0) {
      throw new StrategyError("bad_param", "fast, slow and trend must be at least 1");
    }
    if (config.symbols.length === 0) throw new StrategyError("bad_param", "the run has no symbol");
    this.symbol = config.symbols[0];
    this.fast = new Sma(fast);
    this.slow = new Sma(slow);
    this.prev = null;
    this.trendUp = false;
    this.day = null;
    this.long = false;
    this.warmup = Math.max(fast, slow) - 1;
  }

  declare() {
    return { series: [{ symbol: this.symbol, timeframe: DAY }], warmup: this.warmup };
  }

  onBar(ctx, symbol, bar) {
    if (symbol !== 0) return;
    // `ts` is a BigInt when a single bars event lifts it; batches decode it as a Number.
    const day = Math.floor(Number(bar.ts) / DAY_MS);
    if (this.day !== day) {
      this.day = day;
      ctx.fetchWindow(this.symbol, DAY, this.trend);
    }
    const fast = this.fast.update(bar.close);
    const slow = this.slow.update(bar.close);
    if (fast === null || slow === null) return;
    const prev = this.prev;
    this.prev = [fast, slow];
    if (prev !== null) {
      const [pf, ps] = prev;
      if (pf < ps && fast > slow && this.trendUp && !this.long) {
        this.long = true;
        ctx.targetFraction(0, "buy", 0.5);
      } else if (ps < pf && slow > fast && this.long) {
        this.long = false;
        ctx.close(0);
      }
    }
  }

  onDataWindow(ctx, window) {
    const closes = window.bars.map((b) => b.close);
    if (closes.length > 0 && closes.length >= this.trend) {
      let total = 0.0;
      for (const c of closes) total += c;
      this.trendUp = closes[closes.length - 1] > total / closes.length;
    } else {
      this.trendUp = false;
    }
    if (this.long && !this.trendUp) {
      this.long = false;
      ctx.close(0);
    }
  }
}

export const guest = exportStrategy(TrendFilter);
