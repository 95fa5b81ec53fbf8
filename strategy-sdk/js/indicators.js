// Streaming indicators, the same arithmetic in the same order as the Rust SDK's.
//
// `Sma` reproduces pandas' `Series.rolling(n).mean()` bit for bit (Kahan-compensated running sum,
// remove-then-add, the same clean-ups). JS numbers are IEEE doubles, so the same operations in
// the same order give the same bits as `weaver_strategy_sdk::indicators::Sma`.

/** `a` crosses strictly above `b` between the previous and the current bar. */
export function crossover(prevA, prevB, a, b) {
  return prevA < prevB && a > b;
}

const isNegative = (v) => v < 0 || Object.is(v, -0);

/** Simple moving average of the last `n` values, exactly pandas' `rolling(n).mean()`. */
export class Sma {
  constructor(n) {
    n = Math.max(Math.trunc(n), 1);
    this.n = n;
    this.ring = new Float64Array(n);
    this.head = 0;
    this.len = 0;
    this.nobs = 0;
    this.sum = 0;
    this.compAdd = 0;
    this.compRemove = 0;
    this.negCount = 0;
    this.sameRun = 0;
    this.prevValue = NaN;
  }

  /** Adds the next value; returns the mean once `n` values were seen, else `null`. */
  update(value) {
    const n = this.n;
    if (this.len === n) {
      const old = this.ring[this.head];
      // Remove the value leaving the window first, with its own compensation term.
      if (old === old) {
        this.nobs -= 1;
        const y = -old - this.compRemove;
        const t = this.sum + y;
        this.compRemove = t - this.sum - y;
        this.sum = t;
        if (isNegative(old)) this.negCount -= 1;
      }
      this.ring[this.head] = value;
      this.head += 1;
      if (this.head === n) this.head = 0;
    } else {
      this.ring[this.len] = value;
      this.len += 1;
    }
    if (value === value) {
      this.nobs += 1;
      const y = value - this.compAdd;
      const t = this.sum + y;
      this.compAdd = t - this.sum - y;
      this.sum = t;
      if (isNegative(value)) this.negCount += 1;
      if (value === this.prevValue) this.sameRun += 1;
      else this.sameRun = 1;
      this.prevValue = value;
    }
    return this.value();
  }

  /** The current mean, or `null` during the warm-up. */
  value() {
    const nobs = this.nobs;
    if (this.len < this.n || nobs < this.n) return null;
    let result = this.sum / nobs;
    if (this.sameRun >= nobs) result = this.prevValue;
    else if ((this.negCount === 0 && result < 0) || (this.negCount === nobs && result > 0)) result = 0;
    return result;
  }
}
