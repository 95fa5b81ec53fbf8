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
//! - [`RequestBudget::remaining`] never takes a token: it is the bucket's level after the latest
//!   request plus what refilled since, which is what `/metrics` shows as
//!   `weaver_venue_rate_limit_remaining{venue}`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use governor::middleware::StateInformationMiddleware;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A bucket that reports its level with every token it hands out.
type Limiter = DefaultDirectRateLimiter<StateInformationMiddleware>;

/// Default budget: Alpaca's documented 200 requests per minute.
pub(crate) const DEFAULT_PER_MINUTE: u32 = 200;

/// A shared token bucket.
#[derive(Debug, Clone)]
pub struct RequestBudget {
    limiter: Arc<Limiter>,
    /// Tokens in a full bucket.
    capacity: u32,
    /// Time for one token to come back.
    replenish: Duration,
    /// Tokens left after the latest request, and when. governor has no way to read the level
    /// without taking a token, so the level is carried forward from here.
    last: Arc<Mutex<Option<(Instant, u32)>>>,
}

impl RequestBudget {
    /// A new bucket allowing `per_minute` requests per minute (0 is read as 1).
    pub(crate) fn per_minute(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self::with_quota(Quota::per_minute(per_minute))
    }

    fn with_quota(quota: Quota) -> Self {
        Self {
            limiter: Arc::new(
                RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>(),
            ),
            capacity: quota.burst_size().get(),
            replenish: quota.replenish_interval(),
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// A bucket allowing `per_second` requests per second with a burst of `burst` (tests, and
    /// venues with per-second limits).
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self::with_quota(Quota::per_second(rate).allow_burst(burst))
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

    /// Tokens in a full bucket (the largest burst).
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Tokens available now, without taking one: the level after the latest request plus the
    /// tokens refilled since, at most [`RequestBudget::capacity`]. Exact to within one token
    /// (refills are counted whole, and concurrent requests may note their levels out of order).
    pub fn remaining(&self) -> u32 {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((at, left)) = last else {
            return self.capacity;
        };
        let refilled = at.elapsed().as_nanos() / self.replenish.as_nanos().max(1);
        u32::try_from(u128::from(left) + refilled)
            .unwrap_or(u32::MAX)
            .min(self.capacity)
    }

    /// Sets `weaver_venue_rate_limit_remaining{venue}` and `weaver_venue_rate_limit_capacity{venue}`
    /// on the `metrics` recorder (`/metrics` calls this for every bucket before rendering).
    pub fn record_metrics(&self, venue: &'static str) {
        metrics::gauge!("weaver_venue_rate_limit_remaining", "venue" => venue)
            .set(f64::from(self.remaining()));
        metrics::gauge!("weaver_venue_rate_limit_capacity", "venue" => venue)
            .set(f64::from(self.capacity));
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        let state = self.limiter.until_ready().await;
        self.note(state.remaining_burst_capacity());
    }

    /// Takes a token if one is available now (the tests' way to drain a bucket; requests wait
    /// with [`RequestBudget::acquire`]).
    #[cfg(test)]
    fn try_acquire(&self) -> bool {
        match self.limiter.check() {
            Ok(state) => {
                self.note(state.remaining_burst_capacity());
                true
            }
            Err(_) => {
                self.note(0);
                false
            }
        }
    }

    fn note(&self, left: u32) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), left));
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
    }

    #[test]
    fn remaining_counts_down_without_taking_tokens_and_refills() {
        let budget = RequestBudget::per_second(20, 5);
        assert_eq!((budget.capacity(), budget.remaining()), (5, 5));
        assert_eq!(budget.remaining(), 5, "reading the level takes nothing");
        assert!(budget.try_acquire() && budget.try_acquire());
        assert_eq!(budget.remaining(), 3);
        while budget.try_acquire() {}
        assert_eq!(budget.remaining(), 0);
        // One token comes back every 50 ms.
        std::thread::sleep(Duration::from_millis(120));
        let left = budget.remaining();
        assert!((2..=4).contains(&left), "{left}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(budget.remaining(), 5, "never above capacity");
        assert!(budget.try_acquire(), "the refilled level is real");
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
