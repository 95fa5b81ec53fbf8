//! Synthetic data: a deterministic geometric random walk, as 1-minute bars for benchmarks
//! ([`generate`]) or at any bar times with a volatility scaled to the timeframe ([`generate_at`],
//! used by `POST /candles/synth` and the bundled sample data).
//!
//! # Invariants
//! - The same `(bars, seed)` always gives byte-identical output (own PRNG, no platform maths in
//!   the formatting path beyond `exp`/`ln`, which are correctly rounded enough on every target we
//!   build for that the 6-decimal output is stable).
//! - Output is in the project's OHLCV format (`timestamp,open,high,low,close,volume`, described
//!   in `testdata/README.md`) and satisfies every [`super::csv`] invariant.

use std::io::Write;

use crate::domain::{Bar, Timeframe};

/// First bar time: 2020-01-01T00:00:00Z.
pub const START_MS: i64 = 1_577_836_800_000;
/// Per-minute volatility of the log price.
pub(crate) const SIGMA: f64 = 0.0005;

/// SplitMix64: tiny, fast, and good enough for a benchmark series. Its stream is fixed by its
/// definition (Steele, Lea, Flood 2014), which random sweeps rely on (`greta/sweeps.rs`).
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub(crate) fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one value per call).
    pub(crate) fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Generates `n` one-minute bars from [`START_MS`].
pub fn generate(n: usize, seed: u64) -> Vec<Bar> {
    generate_at((0..n).map(|i| START_MS + 60_000 * i as i64), seed, SIGMA)
}

/// Per-bar volatility of a timeframe: [`SIGMA`] scaled by the square root of its length in
/// minutes (a random walk's spread grows with the square root of time).
pub fn sigma_for(timeframe: Timeframe) -> f64 {
    SIGMA * (timeframe.nominal_millis() as f64 / 60_000.0).sqrt()
}

/// Generates one bar per time in `times` (which must be ascending), with per-bar log-price
/// volatility `sigma`, starting at 100.
pub fn generate_at(times: impl Iterator<Item = i64>, seed: u64, sigma: f64) -> Vec<Bar> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(times.size_hint().0);
    let mut close = 100.0f64;
    for ts in times {
        let open = close;
        close = round6(open * (sigma * rng.normal()).exp());
        let hi_wick = (sigma * 0.5 * rng.normal()).abs();
        let lo_wick = (sigma * 0.5 * rng.normal()).abs();
        let high = round6(open.max(close) * (1.0 + hi_wick));
        let low = round6(open.min(close) * (1.0 - lo_wick));
        let volume = (rng.next_u64() % 1000 + 1) as f64;
        out.push(Bar {
            ts,
            open,
            high,
            low,
            close,
            volume,
        });
    }
    out
}

/// Writes bars as CSV (`timestamp,open,high,low,close,volume`, ISO-8601 UTC times).
///
/// # Errors
/// The writer's I/O error.
pub fn write_csv<W: Write>(bars: &[Bar], w: W) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, w);
    w.write_all(b"timestamp,open,high,low,close,volume\n")?;
    for b in bars {
        write_iso(&mut w, b.ts)?;
        writeln!(
            w,
            ",{},{},{},{},{}",
            b.open, b.high, b.low, b.close, b.volume
        )?;
    }
    w.flush()
}

/// Writes `ts` as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds) or with `.mmm` when needed.
///
/// # Errors
/// The writer's I/O error.
pub(crate) fn write_iso<W: Write>(w: &mut W, ts: i64) -> std::io::Result<()> {
    let (y, mo, d, h, mi, s, ms) = civil(ts);
    if ms == 0 {
        write!(w, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        write!(w, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

/// Formats `ts` like [`write_iso`].
pub fn iso(ts: i64) -> String {
    let mut v = Vec::with_capacity(24);
    // Writing into a Vec cannot fail.
    let _ = write_iso(&mut v, ts);
    String::from_utf8_lossy(&v).into_owned()
}

/// Splits epoch milliseconds into civil UTC parts (Howard Hinnant's `civil_from_days`).
pub fn civil(ts: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = ts.div_euclid(86_400_000);
    let rem = ts.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let a = generate(1000, 7);
        assert_eq!(a, generate(1000, 7));
        assert_ne!(a, generate(1000, 8));
        let mut buf = Vec::new();
        write_csv(&a, &mut buf).unwrap();
        let back: Vec<Bar> = crate::greta::csv::parse(&buf)
            .unwrap()
            .into_iter()
            .map(|b| b.bar)
            .collect();
        assert_eq!(back, a);
        assert_eq!(iso(START_MS), "2020-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }
}
