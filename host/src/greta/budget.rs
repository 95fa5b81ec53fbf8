//! The memory budget of the server's backtest jobs: what one job will need, estimated before it
//! runs from what it will load ([`estimate_mb`]), and the budget the running jobs share
//! ([`MemoryBudget`], `WEAVER_BACKTEST_MEMORY_MB`, default [`default_budget_mb`]).
//!
//! # Invariants
//! - A job holds its estimate of the budget from before it loads its first bar until its
//!   outcome is stored (the report is the largest thing it holds, and it is held until then).
//! - Jobs are admitted first come, first served: a large job at the head of the queue is not
//!   overtaken by smaller ones behind it (it would wait forever under a stream of small ones).
//! - An estimate is never above the budget when it is admitted: a job whose estimate alone is
//!   above the whole budget is refused when it is posted (`backtest_too_large`).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes a job holds per bar it loads, measured, rounded up.
///
/// Measured with `scripts/bench-backtests-memory.sh 1 <bars>` (one sma-cross backtest,
/// `WEAVER_BACKTEST_CONCURRENCY=1`, the dev build; the allocator's layout is the same in
/// release): VmHWM less the fresh process's RSS (50 MB) was 179 MB at 100,000 bars and 874 MB at
/// 500,000 bars, i.e. ~1,820 bytes a bar with an intercept of ~5 MB. Alive at once at the end:
/// the candles as read, the engine's columns, the equity curve as report rows, as a JSON tree
/// and as the JSON text the store writes. 2,048 leaves ~12% for strategies that trade more
/// than sma-cross.
pub const BYTES_PER_BAR: u64 = 2_048;

/// Bytes a job holds whatever its length: the sandbox's own tables and stacks, the report's
/// head and the store's statement buffers (the intercept of the measurement above, ~5 MB,
/// with room).
pub const FIXED_BYTES: u64 = 32 << 20;

/// Smallest and largest `WEAVER_BACKTEST_MEMORY_MB`.
pub const BUDGET_RANGE_MB: std::ops::RangeInclusive<u64> = 64..=1_048_576;

/// Budget when `/proc/meminfo` cannot be read (not Linux, a sandbox hiding it).
const FALLBACK_BUDGET_MB: u64 = 2_048;

/// Estimated memory of a job over `bars` bars (every symbol's together) whose sandbox may grow
/// its linear memory to `guest_memory_bytes`, in whole MB (rounded up, at least 1).
pub fn estimate_mb(bars: u64, guest_memory_bytes: u64) -> u64 {
    let bytes = FIXED_BYTES
        .saturating_add(guest_memory_bytes)
        .saturating_add(bars.saturating_mul(BYTES_PER_BAR));
    bytes.div_ceil(1 << 20).max(1)
}

/// Default of `WEAVER_BACKTEST_MEMORY_MB`: half the machine's memory (`MemTotal`), so the rest
/// stays for live runs, the API and the page cache the database lives on; 2048 MB when it
/// cannot be read. Within [`BUDGET_RANGE_MB`].
pub fn default_budget_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total_mb(&text))
        .map_or(FALLBACK_BUDGET_MB, |mb| mb / 2)
        .clamp(*BUDGET_RANGE_MB.start(), *BUDGET_RANGE_MB.end())
}

/// `MemTotal` of a `/proc/meminfo` text, in MB.
fn mem_total_mb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kb: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kb / 1024)
}

/// The memory the running jobs share, in MB. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    total_mb: u64,
    /// One permit per MB; tokio's semaphore serves waiters in order, which gives the
    /// first-come-first-served invariant.
    free: Arc<Semaphore>,
}

impl MemoryBudget {
    /// A budget of `total_mb` (at least 1).
    pub fn new(total_mb: u64) -> MemoryBudget {
        let total_mb = total_mb.clamp(1, u64::from(u32::MAX));
        MemoryBudget {
            total_mb,
            free: Arc::new(Semaphore::new(
                usize::try_from(total_mb).unwrap_or(usize::MAX),
            )),
        }
    }

    /// The whole budget in MB.
    pub fn total_mb(&self) -> u64 {
        self.total_mb
    }

    /// What the running jobs left of it, in MB.
    pub fn free_mb(&self) -> u64 {
        self.free.available_permits() as u64
    }

    /// Whether a job of `estimate_mb` can ever be admitted.
    pub fn fits(&self, estimate_mb: u64) -> bool {
        estimate_mb <= self.total_mb
    }

    /// Waits until `estimate_mb` is free (after the jobs that asked before) and holds it until
    /// the permit is dropped. An estimate above the whole budget waits for all of it. `None`
    /// only if the budget were closed, which it never is.
    pub async fn reserve(&self, estimate_mb: u64) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(estimate_mb.clamp(1, self.total_mb)).unwrap_or(u32::MAX);
        self.free.clone().acquire_many_owned(n).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_grows_with_the_bars_and_the_guest_memory() {
        let guest = 32 << 20;
        let small = estimate_mb(1_000, guest);
        assert_eq!(
            small, 66,
            "fixed 32 MB + 32 MB guest + 1.95 MB of bars, rounded up"
        );
        // 500,000 bars: the size that took 6.3 GB twenty at a time (finding M8).
        let big = estimate_mb(500_000, guest);
        assert_eq!(big, 32 + 32 + (500_000 * BYTES_PER_BAR).div_ceil(1 << 20));
        assert!(big > 900 && big < 1_200, "{big}");
        assert_eq!(estimate_mb(500_000, 256 << 20) - big, 224);
        assert_eq!(estimate_mb(0, 0), 32);
        assert!(
            estimate_mb(u64::MAX, u64::MAX) > 0,
            "saturates, no overflow"
        );
    }

    #[test]
    fn mem_total_is_read_in_megabytes() {
        let text = "MemTotal:       24684544 kB\nMemFree:          220000 kB\n";
        assert_eq!(mem_total_mb(text), Some(24_106));
        assert_eq!(mem_total_mb("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_mb("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total_mb("MemTotal: 1024 MB\n"), None, "unknown unit");
        let d = default_budget_mb();
        assert!(BUDGET_RANGE_MB.contains(&d), "{d}");
    }

    #[tokio::test]
    async fn jobs_are_admitted_in_order_within_the_budget() {
        let b = MemoryBudget::new(100);
        let first = b.reserve(60).await.expect("open");
        assert_eq!(b.free_mb(), 40);
        // A 50 MB job waits for the first; a 10 MB job behind it waits too (in order).
        let big = tokio::spawn({
            let b = b.clone();
            async move { b.reserve(50).await }
        });
        tokio::task::yield_now().await;
        let small = tokio::spawn({
            let b = b.clone();
            async move { b.reserve(10).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!big.is_finished() && !small.is_finished());
        drop(first);
        let big = big.await.expect("big admitted");
        let small = small.await.expect("small admitted");
        assert_eq!(b.free_mb(), 40);
        drop((big, small));
        assert_eq!(b.free_mb(), 100);
        assert!(b.fits(100) && !b.fits(101));
    }
}
