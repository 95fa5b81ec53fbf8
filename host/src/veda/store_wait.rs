//! How everything that must reach the store waits for it when it cannot be written (a database
//! outage, a full disk): the same backoff between tries (100 ms, doubling, at most 5 s) and the
//! same limit, [`STORE_PATIENCE`] unless the caller has its own.
//!
//! # Invariants
//! - A wait never exceeds its limit by more than one pause; [`StoreWait::pause`] says when the
//!   limit has passed, and the caller gives up then.

use std::time::Duration;

use tokio::time::Instant;

/// How long a write waits for the store by default (`WEAVER_STORE_OUTAGE_LIMIT`'s default).
pub const STORE_PATIENCE: Duration = Duration::from_secs(15 * 60);

const FIRST: Duration = Duration::from_millis(100);
const MOST: Duration = Duration::from_secs(5);

/// The pauses between tries of one write.
#[derive(Debug)]
pub struct StoreWait {
    delay: Duration,
    /// `None`: no limit.
    until: Option<Instant>,
}

impl StoreWait {
    /// Tries for up to `limit` from now.
    pub fn new(limit: Duration) -> StoreWait {
        StoreWait {
            delay: FIRST,
            until: Some(Instant::now() + limit),
        }
    }

    /// Tries until the store takes it, however long that is.
    pub fn without_limit() -> StoreWait {
        StoreWait {
            delay: FIRST,
            until: None,
        }
    }

    /// Whether the limit has passed (give up).
    pub fn expired(&self) -> bool {
        self.until.is_some_and(|u| Instant::now() >= u)
    }

    /// Sleeps before the next try; `false`, without sleeping, once the limit has passed.
    pub async fn pause(&mut self) -> bool {
        if self.expired() {
            return false;
        }
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(MOST);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_double_up_to_five_seconds_and_stop_at_the_limit() {
        let start = Instant::now();
        let mut w = StoreWait::new(Duration::from_secs(20));
        let mut pauses = Vec::new();
        let mut last = start;
        while w.pause().await {
            pauses.push(Instant::now() - last);
            last = Instant::now();
        }
        assert_eq!(pauses[0], Duration::from_millis(100));
        assert_eq!(pauses[1], Duration::from_millis(200));
        assert!(pauses.iter().all(|p| *p <= MOST));
        assert!(Instant::now() - start >= Duration::from_secs(20));
        assert!(Instant::now() - start < Duration::from_secs(25));
    }
}
