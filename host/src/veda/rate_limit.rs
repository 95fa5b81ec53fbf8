//! The request budget towards a venue: one token bucket shared by every run, so many strategies
//! together stay under the venue's limit (Alpaca: 200 requests/min per account) instead of each
//! discovering it through 429s.
//!
//! # Invariants
//! - Every REST request a venue client sends first takes a token from its [`RequestBudget`].
//! - [`RequestBudget::global`] is one process-wide bucket; clients share it unless a test injects
//!   its own.
//! - The bucket is a GCRA (governor): at most `per_minute` requests in any minute, a burst of at
//!   most `per_minute`.

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Default budget: Alpaca's documented 200 requests per minute.
pub const DEFAULT_PER_MINUTE: u32 = 200;

/// A shared token bucket.
#[derive(Debug, Clone)]
pub struct RequestBudget {
    limiter: Arc<DefaultDirectRateLimiter>,
    per_minute: NonZeroU32,
}

impl RequestBudget {
    /// A new bucket allowing `per_minute` requests per minute (0 is read as 1).
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::direct(Quota::per_minute(per_minute))),
            per_minute,
        }
    }

    /// A bucket allowing `per_second` requests per second with a burst of `burst` (tests, and
    /// venues with per-second limits).
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let per_minute = rate.saturating_mul(NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: Arc::new(RateLimiter::direct(
                Quota::per_second(rate).allow_burst(burst),
            )),
            per_minute,
        }
    }

    /// The process-wide bucket ([`DEFAULT_PER_MINUTE`], or `WEAVER_VENUE_REQUESTS_PER_MINUTE`
    /// when set to a positive integer at first use).
    pub fn global() -> Self {
        static GLOBAL: OnceLock<RequestBudget> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let per_minute = std::env::var("WEAVER_VENUE_REQUESTS_PER_MINUTE")
                    .ok()
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|v| *v > 0)
                    .unwrap_or(DEFAULT_PER_MINUTE);
                RequestBudget::per_minute(per_minute)
            })
            .clone()
    }

    /// Requests per minute this bucket allows on average.
    pub fn rate_per_minute(&self) -> u32 {
        self.per_minute.get()
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        self.limiter.until_ready().await;
    }

    /// Takes a token if one is available now.
    pub fn try_acquire(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn burst_then_refuses() {
        let budget = RequestBudget::per_minute(3);
        assert!(budget.try_acquire() && budget.try_acquire() && budget.try_acquire());
        assert!(
            !budget.try_acquire(),
            "the fourth request within a minute must wait"
        );
    }

    #[test]
    fn clones_share_one_bucket() {
        let a = RequestBudget::per_minute(2);
        let b = a.clone();
        assert!(a.try_acquire());
        assert!(b.try_acquire());
        assert!(!a.try_acquire() && !b.try_acquire());
        assert_eq!(
            RequestBudget::global().rate_per_minute(),
            RequestBudget::global().rate_per_minute()
        );
    }

    #[tokio::test]
    async fn acquire_waits_for_refill() {
        let budget = RequestBudget::per_second(10, 1);
        let start = Instant::now();
        for _ in 0..4 {
            budget.acquire().await;
        }
        // One immediately, then three refills at 100 ms each.
        assert!(
            start.elapsed() >= Duration::from_millis(250),
            "{:?}",
            start.elapsed()
        );
    }
}
