//! The tape a simulated exchange replays: its symbols, their bars and the timeline, shared
//! read-only between exchanges replaying equal bars.
//!
//! # Invariants
//! - A tape is never mutated once built; sharing one changes nothing but memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::Group;
use crate::domain::Bar;

/// What a simulated exchange replays: its symbols, their bars and the timeline. Read only, so
/// exchanges replaying equal bars share one (see [`Tape::shared`]).
#[derive(Clone)]
pub(super) struct Tape {
    pub(super) symbols: Arc<Vec<String>>,
    pub(super) data: Arc<Vec<Vec<Bar>>>,
    pub(super) timeline: Arc<Vec<Group>>,
}

/// Tapes in use, by symbols: a thousand paper runs on the same candles hold one copy of them
/// (a few hundred kB for ten years of daily bars), not one each.
static TAPES: Mutex<Vec<WeakTape>> = Mutex::new(Vec::new());

/// A tape in [`TAPES`], held by the exchanges replaying it.
type WeakTape = (Weak<Vec<String>>, Weak<Vec<Vec<Bar>>>, Weak<Vec<Group>>);

impl Tape {
    /// The tape of `series` (sorted, one bar per timestamp): one in use with the same symbols
    /// and equal bars if there is one, else a new one. Sharing changes nothing but memory:
    /// the bars compared equal.
    pub(super) fn shared(symbols: Vec<String>, series: Vec<Vec<Bar>>) -> Tape {
        let mut tapes = TAPES.lock().unwrap_or_else(PoisonError::into_inner);
        tapes.retain(|(s, _, _)| s.strong_count() > 0);
        for (s, d, t) in tapes.iter() {
            if let (Some(s), Some(d), Some(t)) = (s.upgrade(), d.upgrade(), t.upgrade())
                && *s == symbols
                && *d == series
            {
                return Tape {
                    symbols: s,
                    data: d,
                    timeline: t,
                };
            }
        }
        let mut groups: BTreeMap<i64, Vec<(usize, usize)>> = BTreeMap::new();
        for (s, bars) in series.iter().enumerate() {
            for (i, b) in bars.iter().enumerate() {
                groups.entry(b.ts).or_default().push((s, i));
            }
        }
        let tape = Tape {
            symbols: Arc::new(symbols),
            data: Arc::new(series),
            timeline: Arc::new(groups.into_iter().collect()),
        };
        tapes.push((
            Arc::downgrade(&tape.symbols),
            Arc::downgrade(&tape.data),
            Arc::downgrade(&tape.timeline),
        ));
        tape
    }
}
