//! The allocator's own account of the process's memory, as gauges in `/metrics`: what the
//! program holds (`allocated`), the pages that holds touches (`active`), what jemalloc keeps
//! resident for it (`resident`, metadata included) and its bookkeeping (`metadata`). RSS alone
//! cannot tell a leak (allocated grows) from retention (resident grows, allocated does not)
//! from memory outside the allocator (RSS grows, resident does not); these can
//! (docs/adr/0015-jemalloc.md, `scripts/bench-hostile-rss.sh`).
//!
//! # Invariants
//! - Only with feature `jemalloc`, whose allocator these figures describe; without it no series
//!   is registered rather than zeros that would read as "nothing held".
//! - Sampling never fails the process: a statistic jemalloc refuses is left out of that sample.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the gauges are refreshed: a scrape reads figures at most this old.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Reads jemalloc's statistics now and sets the gauges. Does nothing without feature `jemalloc`.
pub fn sample() {
    #[cfg(feature = "jemalloc")]
    {
        use tikv_jemalloc_ctl::{epoch, stats};
        // jemalloc caches its statistics; they are refreshed when the epoch advances.
        if epoch::advance().is_err() {
            return;
        }
        let figures = [
            ("allocated", stats::allocated::read()),
            ("active", stats::active::read()),
            ("resident", stats::resident::read()),
            ("metadata", stats::metadata::read()),
            ("mapped", stats::mapped::read()),
            ("retained", stats::retained::read()),
        ];
        for (kind, value) in figures {
            if let Ok(bytes) = value {
                #[allow(clippy::cast_precision_loss)] // byte counts far below 2^53
                metrics::gauge!("weaver_allocator_bytes", "kind" => kind).set(bytes as f64);
            }
        }
    }
}

/// Samples every [`SAMPLE_EVERY`] until `stop` is cancelled.
pub async fn run_sampler(stop: CancellationToken) {
    if !cfg!(feature = "jemalloc") {
        return;
    }
    metrics::describe_gauge!(
        "weaver_allocator_bytes",
        metrics::Unit::Bytes,
        "jemalloc's statistics by kind: allocated (held by the program), active (its pages), \
         resident (kept in memory, metadata included), metadata, mapped, retained (address space \
         kept unmapped for reuse, not memory)"
    );
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => sample(),
        }
    }
}

#[cfg(all(test, feature = "jemalloc"))]
mod tests {
    /// The gauges follow what the program holds: 256 MiB more allocated and touched shows in
    /// `allocated` and `resident` (jemalloc is the allocator of this test binary too: its
    /// symbols are unprefixed, so the system allocator Rust calls is jemalloc).
    #[test]
    fn allocated_and_resident_follow_a_large_allocation() {
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().unwrap();
        let before = (
            stats::allocated::read().unwrap(),
            stats::resident::read().unwrap(),
        );
        let block = vec![1_u8; 256 << 20];
        epoch::advance().unwrap();
        let after = (
            stats::allocated::read().unwrap(),
            stats::resident::read().unwrap(),
        );
        assert_eq!(block.iter().map(|&b| u64::from(b)).sum::<u64>(), 256 << 20);
        // Other tests allocate and free meanwhile; they do not free 64 MiB within these lines.
        assert!(
            after.0 >= before.0 + (192 << 20),
            "allocated {before:?} -> {after:?}"
        );
        assert!(
            after.1 >= before.1 + (192 << 20),
            "resident {before:?} -> {after:?}"
        );
    }
}
