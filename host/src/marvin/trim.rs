//! Hands the heap a run freed back to the operating system, once the run has freed it: a
//! sandbox going away asks for a `malloc_trim` ([`OnDrop`]), which a thread of its own makes
//! [`DELAY`] later.
//!
//! Why later and not in the sandbox's `drop`: most of what a run holds is freed after that —
//! the store, its instances and the component when the sandbox's fields drop (after
//! `Drop::drop` has returned), the run's log, figures and account when the run is wrapped up
//! and forgotten — and a trim returns only what is free when it walks the heap. Trimming in
//! `drop` left all of that in glibc's arenas until the next run ended, so an idle server's RSS
//! depended on what happened to be freed last rather than on what it holds.
//!
//! # Invariants
//! - Every request is followed by a trim that starts at least [`DELAY`] after it.
//! - At most one trim per [`DELAY`], whatever the number of requests: a trim walks every free
//!   chunk holding its arena's lock, and thousands of runs ending together must not stall the
//!   others' allocations with thousands of trims.
//! - If the thread cannot be started, a request trims at once (the old behaviour).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use super::release_compiler_memory;

/// How long after a request its trim starts: longer than a run takes to store its final state
/// and be forgotten once its sandbox is gone.
pub(crate) const DELAY: Duration = Duration::from_secs(1);

/// Asks for a trim when dropped; a sandbox holds one as its last field, so the request comes
/// after everything else of the sandbox was freed.
#[derive(Debug, Default)]
pub(crate) struct OnDrop;

impl Drop for OnDrop {
    fn drop(&mut self) {
        request();
    }
}

/// Whether a trim was asked for since the thread last took the requests.
static PENDING: Mutex<bool> = Mutex::new(false);
static WAKE: Condvar = Condvar::new();
/// Trims made by the thread (for tests).
static TRIMS: AtomicU64 = AtomicU64::new(0);

/// Asks for a trim [`DELAY`] from now (shared with any other request until then).
pub(crate) fn request() {
    static STARTED: OnceLock<bool> = OnceLock::new();
    let started = *STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("marvin-trim".into())
            .spawn(trim_loop)
            .is_ok()
    });
    if !started {
        release_compiler_memory();
        return;
    }
    *PENDING.lock().unwrap_or_else(PoisonError::into_inner) = true;
    WAKE.notify_one();
}

fn trim_loop() {
    loop {
        {
            let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
            while !*pending {
                pending = WAKE.wait(pending).unwrap_or_else(PoisonError::into_inner);
            }
            *pending = false;
        }
        // Requests made while this sleeps are served by this trim only if they came before
        // `pending` was cleared; the others set it again and get a trim of their own, DELAY on.
        std::thread::sleep(DELAY);
        release_compiler_memory();
        TRIMS.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn requests_are_served_by_a_trim() {
        let before = TRIMS.load(Ordering::Relaxed);
        let asked = Instant::now();
        for _ in 0..100 {
            drop(OnDrop);
        }
        // (Other tests' sandboxes ask too, so how many trims and exactly when is not checked.)
        while TRIMS.load(Ordering::Relaxed) == before {
            assert!(
                asked.elapsed() < DELAY * 10,
                "no trim within {:?}",
                DELAY * 10
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
