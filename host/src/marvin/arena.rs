//! The strategy arena and thread caches: where the memory that strategy work churns through is
//! allocated (feature `jemalloc`; docs/adr/0015-jemalloc.md, issue #20).
//!
//! - **An arena of its own** for guest calls' host side (events, buffers, intents), the runs
//!   that drive them bar by bar (orders, journal writes, figures) and backtests. Kept apart from
//!   the server's long-lived objects, its slabs empty when the work ends and jemalloc returns
//!   them, instead of a few long-lived objects keeping half-empty slabs resident after a burst
//!   of runs.
//! - **Thread caches only where they pay.** The process runs without jemalloc's per-thread
//!   caches (`tcache:false`, `.cargo/config.toml`): a cache keeps freed objects of one arena to
//!   hand them out again on its thread, which mixes the two arenas back together, and what idle
//!   threads keep cached pins slabs. A backtest's tight loop is where a cache is worth its cost,
//!   so [`enter_batch`] turns the thread's on for the work and off (flushed) after.
//!
//! # Invariants
//! - Without feature `jemalloc` every call is a no-op; with it, a refusal by jemalloc (it has
//!   never refused) leaves the thread as it was. Nothing here can fail the caller.
//! - Guards nest: an inner guard changes only what the outer ones did not, and each guard undoes
//!   only what it changed.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Puts the calling thread's allocations in the strategy arena until the guard is dropped.
/// Cheap enough to take around every poll of a run ([`scoped`]).
#[must_use = "the thread leaves the arena when the guard is dropped"]
pub fn enter() -> Guard {
    Guard(imp::enter(false), PhantomData)
}

/// As [`enter`], and with a thread cache for the duration: for a long piece of work on one
/// thread (a backtest), where allocation speed counts. Dropping the guard flushes the cache.
#[must_use = "the thread leaves the arena when the guard is dropped"]
pub fn enter_batch() -> Guard {
    Guard(imp::enter(true), PhantomData)
}

/// Gives the calling thread a cache for good: a thread that only does batch work (rayon's, the
/// main thread of a one-off command such as `weaver data import`).
pub fn keep_thread_cache() {
    imp::set_thread_cache(true);
}

/// While alive, the thread allocates in the strategy arena; see [`enter`]. Not `Send`: it
/// puts back the settings of the thread that took it, so it cannot be held across an `.await`
/// of a future that may move.
pub struct Guard(imp::Changed, PhantomData<*const ()>);

impl Drop for Guard {
    fn drop(&mut self) {
        imp::leave(&self.0);
    }
}

/// Polls `future` with its thread in the strategy arena: what it allocates while it runs lands
/// there, whichever worker polls it. Each poll switches twice (about a microsecond): for a
/// run's task, polled a few times a bar, not for a tight loop.
pub fn scoped<F: Future>(future: F) -> InArena<F> {
    InArena(Box::pin(future))
}

/// A future polled inside the strategy arena ([`scoped`]).
pub struct InArena<F>(Pin<Box<F>>);

impl<F: Future> Future for InArena<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _arena = enter();
        self.0.as_mut().poll(cx)
    }
}

#[cfg(feature = "jemalloc")]
#[allow(unsafe_code)]
mod imp {
    use std::sync::OnceLock;

    use tikv_jemalloc_ctl::raw;

    /// The arena's index and the resolved names of the two per-thread settings (looked up
    /// once: by name each switch would parse the string again).
    struct Arena {
        index: u32,
        thread_arena: [usize; 2],
        thread_cache: [usize; 3],
    }

    fn arena() -> Option<&'static Arena> {
        static ARENA: OnceLock<Option<Arena>> = OnceLock::new();
        ARENA
            .get_or_init(|| {
                let mut thread_arena = [0usize; 2];
                raw::name_to_mib(b"thread.arena\0", &mut thread_arena).ok()?;
                let mut thread_cache = [0usize; 3];
                raw::name_to_mib(b"thread.tcache.enabled\0", &mut thread_cache).ok()?;
                // SAFETY: a NUL-terminated mallctl key whose value is a C `unsigned` (u32);
                // `arenas.create` returns the new arena's index and touches no memory the
                // program holds.
                let index = unsafe { raw::read::<u32>(b"arenas.create\0") }.ok()?;
                Some(Arena {
                    index,
                    thread_arena,
                    thread_cache,
                })
            })
            .as_ref()
    }

    /// What a guard changed: the arena the thread was in, whether it turned the cache on.
    pub(crate) struct Changed {
        previous: Option<u32>,
        cache: bool,
    }

    pub(super) fn enter(with_cache: bool) -> Changed {
        let mut changed = Changed {
            previous: None,
            cache: false,
        };
        let Some(arena) = arena() else {
            return changed;
        };
        // SAFETY: `thread.arena`'s value is a C `unsigned`; writing it moves this thread's
        // allocations to that arena and touches no memory the program holds. `update_mib`
        // reads the previous value in the same call.
        if let Ok(previous) = unsafe { raw::update_mib::<u32>(&arena.thread_arena, arena.index) } {
            changed.previous = (previous != arena.index).then_some(previous);
        }
        if with_cache {
            // SAFETY: `thread.tcache.enabled`'s value is a C `bool`; turning it on gives this
            // thread a cache of its own, which jemalloc allocates and owns.
            if let Ok(was) = unsafe { raw::update_mib::<bool>(&arena.thread_cache, true) } {
                changed.cache = !was;
            }
        }
        changed
    }

    pub(super) fn set_thread_cache(on: bool) {
        if let Some(arena) = arena() {
            // SAFETY: as in `enter`; turning it off flushes the cache's objects back to their
            // arenas and frees it.
            let _ = unsafe { raw::write_mib(&arena.thread_cache, on) };
        }
    }

    pub(super) fn leave(changed: &Changed) {
        let Some(arena) = arena() else { return };
        if changed.cache {
            set_thread_cache(false);
        }
        if let Some(previous) = changed.previous {
            // SAFETY: as in `enter`.
            let _ = unsafe { raw::write_mib(&arena.thread_arena, previous) };
        }
    }
}

#[cfg(not(feature = "jemalloc"))]
mod imp {
    pub(crate) struct Changed;
    pub(super) fn enter(_with_cache: bool) -> Changed {
        Changed
    }
    pub(super) fn leave(_changed: &Changed) {}
    pub(super) fn set_thread_cache(_on: bool) {}
}

#[cfg(all(test, feature = "jemalloc"))]
mod tests {
    use super::*;

    /// The calling thread's arena.
    #[allow(unsafe_code)]
    fn current() -> u32 {
        // SAFETY: `thread.arena` is a C `unsigned`; reading it changes nothing.
        unsafe { tikv_jemalloc_ctl::raw::read::<u32>(b"thread.arena\0").unwrap() }
    }

    /// The calling thread's cache setting.
    #[allow(unsafe_code)]
    fn cached() -> bool {
        // SAFETY: `thread.tcache.enabled` is a C `bool`; reading it changes nothing.
        unsafe { tikv_jemalloc_ctl::raw::read::<bool>(b"thread.tcache.enabled\0").unwrap() }
    }

    /// A guard moves the thread into another arena and back; guards nest.
    #[test]
    fn a_guard_moves_the_thread_and_back_and_nests() {
        std::thread::spawn(|| {
            let before = current();
            {
                let _outer = enter();
                let inside = current();
                assert_ne!(inside, before, "the guard moved the thread");
                {
                    let _inner = enter();
                    assert_eq!(current(), inside, "nested: same arena");
                }
                assert_eq!(current(), inside, "the inner guard did not move it back");
            }
            assert_eq!(current(), before, "the outer guard moved it back");
        })
        .join()
        .unwrap();
    }

    /// A batch guard gives the thread a cache for its duration and takes it away after; an
    /// inner plain guard leaves the cache alone.
    #[test]
    fn a_batch_guard_caches_for_its_duration() {
        std::thread::spawn(|| {
            // The test binary runs with the cache setting compiled in (off): a thread starts
            // without one, as the server's do.
            let (arena, cache) = (current(), cached());
            {
                let _batch = enter_batch();
                assert!(cached(), "on inside the batch");
                assert_ne!(current(), arena);
                drop(enter());
                assert!(cached(), "a nested guard leaves it on");
            }
            assert_eq!((current(), cached()), (arena, cache), "as it was before");
        })
        .join()
        .unwrap();
    }

    /// A thread kept cached stays cached through a batch guard.
    #[test]
    fn a_kept_cache_outlives_batch_guards() {
        std::thread::spawn(|| {
            keep_thread_cache();
            assert!(cached());
            drop(enter_batch());
            assert!(cached(), "the guard did not turn on what it turns off");
        })
        .join()
        .unwrap();
    }

    /// A future polled through [`scoped`] allocates in the arena; its poller is back outside.
    #[test]
    fn a_scoped_future_runs_inside() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let outside = current();
        let inside = rt.block_on(scoped(async { current() }));
        assert_ne!(inside, outside);
        assert_eq!(current(), outside);
    }
}
