//! Streaming indicators: feed one value per bar with `update`, get `None` until the indicator is
//! defined (the warm-up), then `Some(value)`.
//!
//! [`Sma`] reproduces pandas' `Series.rolling(n).mean()` bit for bit (Kahan-compensated running
//! sum, the same add/remove order and the same clean-ups), because reference backtests are
//! computed with pandas and a crossover decided by the last bit must go the same way here.

use std::collections::VecDeque;

/// `a` crosses above `b` between the previous and the current bar: `a[t-1] < b[t-1]` and
/// `a[t] > b[t]`. Strict on both sides, as backtesting.py's `crossover`: touching is not crossing.
pub fn crossover(prev_a: f64, prev_b: f64, a: f64, b: f64) -> bool {
    prev_a < prev_b && a > b
}

/// Simple moving average of the last `n` values, computed exactly as pandas'
/// `rolling(n).mean()` (pandas ≥ 1.4 `roll_mean`).
#[derive(Debug, Clone)]
pub struct Sma {
    n: usize,
    /// Ring buffer of the last `n` values; `head` is the oldest once `len == n`.
    ring: Box<[f64]>,
    head: usize,
    len: usize,
    /// Non-NaN values in the window.
    nobs: usize,
    sum: f64,
    comp_add: f64,
    comp_remove: f64,
    neg_count: usize,
    same_run: usize,
    prev_value: f64,
}

impl Sma {
    /// An SMA over `n` values (`n` ≥ 1; 0 is treated as 1).
    pub fn new(n: usize) -> Sma {
        let n = n.max(1);
        Sma {
            n,
            ring: vec![0.0; n].into_boxed_slice(),
            head: 0,
            len: 0,
            nobs: 0,
            sum: 0.0,
            comp_add: 0.0,
            comp_remove: 0.0,
            neg_count: 0,
            same_run: 0,
            prev_value: f64::NAN,
        }
    }

    /// The window length.
    pub fn period(&self) -> usize {
        self.n
    }

    /// Adds the next value; returns the mean once `n` values have been seen.
    pub fn update(&mut self, value: f64) -> Option<f64> {
        // pandas removes the value leaving the window before adding the new one, each with its
        // own Kahan compensation term.
        if self.len == self.n {
            let old = self.ring[self.head];
            self.remove(old);
            self.ring[self.head] = value;
            self.head += 1;
            if self.head == self.n {
                self.head = 0;
            }
        } else {
            self.ring[self.len] = value;
            self.len += 1;
        }
        self.add(value);
        self.value()
    }

    /// The current mean, if defined.
    pub fn value(&self) -> Option<f64> {
        let nobs = self.nobs;
        if self.len < self.n || nobs < self.n {
            return None;
        }
        let mut result = self.sum / nobs as f64;
        if self.same_run >= nobs {
            result = self.prev_value;
        } else if (self.neg_count == 0 && result < 0.0) || (self.neg_count == nobs && result > 0.0)
        {
            // All values of one sign but rounding crossed zero: pandas clamps to 0.
            result = 0.0;
        }
        Some(result)
    }

    fn add(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        self.nobs += 1;
        let y = value - self.comp_add;
        let t = self.sum + y;
        self.comp_add = t - self.sum - y;
        self.sum = t;
        if value.is_sign_negative() {
            self.neg_count += 1;
        }
        if value == self.prev_value {
            self.same_run += 1;
        } else {
            self.same_run = 1;
        }
        self.prev_value = value;
    }

    fn remove(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        self.nobs -= 1;
        let y = -value - self.comp_remove;
        let t = self.sum + y;
        self.comp_remove = t - self.sum - y;
        self.sum = t;
        if value.is_sign_negative() {
            self.neg_count -= 1;
        }
    }
}

/// Exponential moving average with `alpha = 2 / (n + 1)`, seeded with the simple mean of the
/// first `n` values (the usual trading-platform convention).
#[derive(Debug, Clone)]
pub struct Ema {
    n: usize,
    alpha: f64,
    seen: usize,
    seed_sum: f64,
    value: Option<f64>,
}

impl Ema {
    /// An EMA over `n` values (`n` ≥ 1).
    pub fn new(n: usize) -> Ema {
        let n = n.max(1);
        Ema {
            n,
            alpha: 2.0 / (n as f64 + 1.0),
            seen: 0,
            seed_sum: 0.0,
            value: None,
        }
    }

    /// Adds the next value; returns the EMA once `n` values have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.seen += 1;
        match self.value {
            Some(prev) => self.value = Some(prev + self.alpha * (x - prev)),
            None => {
                self.seed_sum += x;
                if self.seen == self.n {
                    self.value = Some(self.seed_sum / self.n as f64);
                }
            }
        }
        self.value
    }

    /// The current value, if defined.
    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

/// Wilder's relative strength index over `n` bars (0–100).
#[derive(Debug, Clone)]
pub struct Rsi {
    n: usize,
    prev: Option<f64>,
    seen: usize,
    avg_gain: f64,
    avg_loss: f64,
    value: Option<f64>,
}

impl Rsi {
    /// An RSI over `n` changes (`n` ≥ 1; 14 is customary).
    pub fn new(n: usize) -> Rsi {
        Rsi {
            n: n.max(1),
            prev: None,
            seen: 0,
            avg_gain: 0.0,
            avg_loss: 0.0,
            value: None,
        }
    }

    /// Adds the next close; returns the RSI once `n` changes have been seen.
    pub fn update(&mut self, close: f64) -> Option<f64> {
        let prev = self.prev.replace(close)?;
        let change = close - prev;
        let (gain, loss) = (change.max(0.0), (-change).max(0.0));
        let n = self.n as f64;
        self.seen += 1;
        if self.seen <= self.n {
            // Seed with the plain average of the first n changes.
            self.avg_gain += gain / n;
            self.avg_loss += loss / n;
            if self.seen < self.n {
                return None;
            }
        } else {
            self.avg_gain = (self.avg_gain * (n - 1.0) + gain) / n;
            self.avg_loss = (self.avg_loss * (n - 1.0) + loss) / n;
        }
        let rsi = if self.avg_loss == 0.0 {
            if self.avg_gain == 0.0 { 50.0 } else { 100.0 }
        } else {
            100.0 - 100.0 / (1.0 + self.avg_gain / self.avg_loss)
        };
        self.value = Some(rsi);
        self.value
    }

    /// The current value, if defined.
    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

/// Wilder's average true range over `n` bars.
#[derive(Debug, Clone)]
pub struct Atr {
    n: usize,
    prev_close: Option<f64>,
    seen: usize,
    value: Option<f64>,
    seed_sum: f64,
}

impl Atr {
    /// An ATR over `n` bars (`n` ≥ 1; 14 is customary).
    pub fn new(n: usize) -> Atr {
        Atr {
            n: n.max(1),
            prev_close: None,
            seen: 0,
            value: None,
            seed_sum: 0.0,
        }
    }

    /// Adds the next bar; returns the ATR once `n` true ranges have been seen.
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let tr = match self.prev_close {
            Some(pc) => (high - low).max((high - pc).abs()).max((low - pc).abs()),
            None => high - low,
        };
        self.prev_close = Some(close);
        self.seen += 1;
        let n = self.n as f64;
        match self.value {
            Some(atr) => self.value = Some((atr * (n - 1.0) + tr) / n),
            None => {
                self.seed_sum += tr;
                if self.seen == self.n {
                    self.value = Some(self.seed_sum / n);
                }
            }
        }
        self.value
    }

    /// The current value, if defined.
    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

/// Highest and lowest value of the last `n` values (a Donchian channel when fed highs and lows).
#[derive(Debug, Clone)]
pub struct Channel {
    n: usize,
    highs: VecDeque<f64>,
    lows: VecDeque<f64>,
}

impl Channel {
    /// A channel over `n` bars (`n` ≥ 1).
    pub fn new(n: usize) -> Channel {
        let n = n.max(1);
        Channel {
            n,
            highs: VecDeque::with_capacity(n + 1),
            lows: VecDeque::with_capacity(n + 1),
        }
    }

    /// The `(upper, lower)` channel of the bars seen so far, *before* adding this one; `None`
    /// until `n` bars have been seen. Then adds the bar.
    pub fn update(&mut self, high: f64, low: f64) -> Option<(f64, f64)> {
        let before = self.value();
        if self.highs.len() == self.n {
            self.highs.pop_front();
            self.lows.pop_front();
        }
        self.highs.push_back(high);
        self.lows.push_back(low);
        before
    }

    /// `(highest high, lowest low)` of the last `n` bars, once `n` have been seen.
    pub fn value(&self) -> Option<(f64, f64)> {
        if self.highs.len() < self.n {
            return None;
        }
        let upper = self.highs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lower = self.lows.iter().copied().fold(f64::INFINITY, f64::min);
        Some((upper, lower))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_is_strict_on_both_sides() {
        assert!(crossover(1.0, 2.0, 3.0, 2.5));
        assert!(
            !crossover(2.0, 2.0, 3.0, 2.5),
            "touching before is not a cross"
        );
        assert!(
            !crossover(1.0, 2.0, 2.5, 2.5),
            "touching after is not a cross"
        );
        assert!(!crossover(3.0, 2.0, 4.0, 2.0));
    }

    #[test]
    fn sma_is_undefined_during_warm_up_then_the_window_mean() {
        let mut sma = Sma::new(3);
        assert_eq!(sma.update(1.0), None);
        assert_eq!(sma.update(2.0), None);
        assert_eq!(sma.update(3.0), Some(2.0));
        assert_eq!(sma.update(10.0), Some(5.0));
    }

    #[test]
    fn sma_of_a_constant_window_is_exactly_the_constant() {
        // The running sum of 0.1s drifts; pandas (and so this SMA) returns the value itself.
        let mut sma = Sma::new(10);
        let mut last = None;
        for x in [5.3, 1.7, 9.9]
            .into_iter()
            .chain(std::iter::repeat_n(0.1, 40))
        {
            last = sma.update(x);
        }
        assert_eq!(last, Some(0.1));
    }

    #[test]
    fn sma_matches_a_plain_window_mean_closely_on_long_series() {
        let mut sma = Sma::new(20);
        let xs: Vec<f64> = (0..10_000)
            .map(|i| 100.0 + ((i * 7919) % 1000) as f64 / 7.0)
            .collect();
        for (i, &x) in xs.iter().enumerate() {
            let got = sma.update(x);
            if i >= 19 {
                let plain: f64 = xs[i - 19..=i].iter().sum::<f64>() / 20.0;
                let got = got.unwrap();
                assert!(
                    (got - plain).abs() <= 1e-9 * plain,
                    "bar {i}: {got} vs {plain}"
                );
            } else {
                assert_eq!(got, None);
            }
        }
    }

    #[test]
    fn ema_is_seeded_with_the_simple_mean() {
        let mut ema = Ema::new(3);
        assert_eq!(ema.update(1.0), None);
        assert_eq!(ema.update(2.0), None);
        assert_eq!(ema.update(3.0), Some(2.0));
        assert_eq!(ema.update(6.0), Some(4.0));
    }

    #[test]
    fn rsi_is_100_on_rises_and_0_on_falls() {
        let mut up = Rsi::new(3);
        let mut down = Rsi::new(3);
        let mut last = (None, None);
        for i in 0..10 {
            last = (up.update(i as f64), down.update(-(i as f64)));
        }
        assert_eq!(last, (Some(100.0), Some(0.0)));
        let mut rsi = Rsi::new(2);
        assert_eq!(rsi.update(1.0), None);
        assert_eq!(rsi.update(2.0), None);
        // Changes +1 then -1: equal average gain and loss.
        assert_eq!(rsi.update(1.0), Some(50.0));
    }

    #[test]
    fn atr_uses_the_true_range_across_gaps() {
        let mut atr = Atr::new(2);
        assert_eq!(atr.update(11.0, 9.0, 10.0), None);
        // Gap up: true range is high - previous close = 20 - 10.
        assert_eq!(atr.update(20.0, 19.0, 19.5), Some(6.0));
    }

    #[test]
    fn channel_reports_the_previous_n_bars() {
        let mut ch = Channel::new(2);
        assert_eq!(ch.update(5.0, 1.0), None);
        assert_eq!(ch.update(6.0, 2.0), None);
        assert_eq!(ch.update(7.0, 3.0), Some((6.0, 1.0)));
        assert_eq!(ch.value(), Some((7.0, 2.0)));
    }
}
