//! How everything that must reach the store waits for it when it cannot be written (a database
//! outage, a full disk): the same backoff between tries (100 ms, doubling, at most 5 s) and the
//! same limit, [`STORE_PATIENCE`] unless the caller has its own. A wait made
//! [`StoreWait::reporting`] tells the process's store-fault state ([`StoreFaults`]) that its
//! writer cannot write and, later, that it wrote, which is how `/readyz` and the notifier learn
//! of a fault.
//!
//! # Invariants
//! - A wait never exceeds its limit by more than one pause; [`StoreWait::pause`] says when the
//!   limit has passed, and the caller gives up then.
//! - A reporting wait that ends without a write (given up, dropped) stops counting as a waiting
//!   writer but does not end the fault: only a write does.

use std::time::Duration;

use tokio::time::Instant;

use crate::walle::StoreFaults;
use crate::walle::faults::Writer;

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
    /// Where failures and the write after them are reported, and as whom.
    report: Option<(StoreFaults, Writer)>,
    /// A failure was reported and no write since.
    failing: bool,
}

impl Drop for StoreWait {
    fn drop(&mut self) {
        if let (true, Some((faults, who))) = (self.failing, &self.report) {
            faults.left(*who);
        }
    }
}

impl StoreWait {
    /// Tries for up to `limit` from now.
    pub fn new(limit: Duration) -> StoreWait {
        StoreWait {
            delay: FIRST,
            until: Some(Instant::now() + limit),
            report: None,
            failing: false,
        }
    }

    /// Tries until the store takes it, however long that is.
    pub fn without_limit() -> StoreWait {
        StoreWait {
            delay: FIRST,
            until: None,
            report: None,
            failing: false,
        }
    }

    /// Reports this writer's failures and its write after them to `faults`.
    pub fn reporting(mut self, faults: &StoreFaults) -> StoreWait {
        self.report = Some((faults.clone(), faults.writer()));
        self
    }

    /// A try failed with `error`: reported (a fault begins if none is in force).
    pub fn failed(&mut self, error: &str) {
        if let Some((faults, who)) = &self.report {
            faults.failed(*who, error);
            self.failing = true;
        }
    }

    /// A try succeeded: after failures, reported (the store writes again).
    pub fn wrote(&mut self) {
        if let (true, Some((faults, who))) = (self.failing, &self.report) {
            faults.wrote(*who);
            self.failing = false;
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

    #[test]
    fn a_reporting_wait_tells_the_fault_state_and_leaves_it_when_dropped() {
        let faults = StoreFaults::default();
        let mut a = StoreWait::without_limit().reporting(&faults);
        let mut b = StoreWait::new(Duration::from_secs(1)).reporting(&faults);
        a.failed("Connection refused");
        b.failed("Connection refused");
        assert_eq!(faults.current().expect("a fault").writers_waiting, 2);
        drop(b);
        let f = faults.current().expect("a give-up does not end it");
        assert_eq!(f.writers_waiting, 1);
        a.wrote();
        assert!(faults.current().is_none(), "a write ends it");
        // Without `reporting`, nothing is told.
        let mut quiet = StoreWait::without_limit();
        quiet.failed("Connection refused");
        assert!(faults.current().is_none());
    }
}
