//! A run's log: lifecycle lines, the strategy's log intents and its stdout/stderr, kept in a
//! bounded ring in memory and stored in WallE by the run's heartbeat task.
//!
//! # Invariants
//! - Sequence numbers start after the last stored line and have no gaps.
//! - Memory is bounded: about [`LOG_RING`] stored lines kept per run (unstored ones wait for
//!   the store, up to ten times that); at most [`MAX_LOG_LINES`] lines per run and process (one
//!   line says when later ones are dropped); messages cut at [`MAX_LOG_MESSAGE`] bytes on a
//!   character boundary.
//! - A run that logs faster than the store writes waits between guest calls while more than
//!   [`BACKLOG_BYTES`] are unstored ([`LogBook::wait_for_room`], at most a few seconds, not
//!   while the store is failing): a burst costs the run time, not lines or memory (without it
//!   eight runs logging 100 KB a bar held ~40 MB each of unstored lines, and the allocator kept
//!   the fragments of that peak after they ended).
//! - A page read while lines are still unstored continues the stored ones without a gap.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::walle::{self, LogFilter, RunLogLine, Walle};

/// Log lines kept in memory per run.
pub(crate) const LOG_RING: usize = 1_000;
/// Log lines stored per run by one process; later lines are dropped (one line says so).
pub(crate) const MAX_LOG_LINES: u64 = 20_000;
/// Longest log message kept, in bytes.
pub(crate) const MAX_LOG_MESSAGE: usize = 4_096;
/// Unstored lines that make the heartbeat task store them before its next beat.
const FLUSH_AT: usize = 200;
/// Unstored bytes of messages above which the run waits for the store between guest calls.
pub(crate) const BACKLOG_BYTES: usize = 1 << 20;

/// Cuts `message` to [`MAX_LOG_MESSAGE`] bytes on a character boundary and marks the cut
/// with `…` (the log's lines and the log intents a decision event records are cut alike).
pub(crate) fn clip_message(message: &mut String) {
    if message.len() > MAX_LOG_MESSAGE {
        let mut cut = MAX_LOG_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
        // `truncate` keeps the capacity: a 100 KB line cut to 4 KiB would still hold 100 KB
        // for as long as the ring keeps it.
        message.shrink_to_fit();
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Position in the run's log (from 1, no gaps).
    pub seq: i64,
    /// When it was written (UTC, wall clock).
    pub ts: DateTime<Utc>,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

impl From<RunLogLine> for LogLine {
    fn from(l: RunLogLine) -> Self {
        LogLine {
            seq: l.seq,
            ts: l.ts,
            level: l.level,
            message: l.message,
        }
    }
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    next_seq: i64,
    /// Highest seq stored in WallE.
    stored: i64,
    written: u64,
    full: bool,
    /// Bytes of the messages of the lines not stored yet.
    unstored_bytes: usize,
    /// Whether the last store failed (then nobody waits for it).
    store_failing: bool,
}

/// A run's log: a ring in memory, stored in WallE by the heartbeat task.
pub(crate) struct LogBook {
    ring: Mutex<Ring>,
    pub(crate) wanted: Notify,
    /// Signalled when lines are stored or the store fails ([`LogBook::wait_for_room`]).
    room: Condvar,
}

impl LogBook {
    pub(crate) fn new(last_stored: i64) -> LogBook {
        LogBook {
            ring: Mutex::new(Ring {
                next_seq: last_stored + 1,
                stored: last_stored,
                ..Ring::default()
            }),
            wanted: Notify::new(),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, level: &str, message: impl Into<String>) {
        let mut message: String = message.into();
        clip_message(&mut message);
        let mut r = self.lock();
        if r.full {
            return;
        }
        r.written += 1;
        if r.written >= MAX_LOG_LINES {
            r.full = true;
            message = format!("log limit of {MAX_LOG_LINES} lines reached; later lines dropped");
        }
        let seq = r.next_seq;
        r.next_seq += 1;
        r.unstored_bytes += message.len();
        r.lines.push_back(LogLine {
            seq,
            ts: Utc::now(),
            level: level.to_owned(),
            message,
        });
        // Lines leave memory once stored; unstored ones stay (up to a hard bound) so a burst
        // faster than the store keeps up with leaves no gap in the log.
        while r.lines.len() > LOG_RING && r.lines.front().is_some_and(|l| l.seq <= r.stored) {
            r.lines.pop_front();
        }
        if r.lines.len() > 10 * LOG_RING
            && let Some(gone) = r.lines.pop_front()
            && gone.seq > r.stored
        {
            r.unstored_bytes -= gone.message.len();
        }
        let unstored = (seq - r.stored) as usize;
        let backlogged = r.unstored_bytes > BACKLOG_BYTES;
        drop(r);
        if unstored >= FLUSH_AT || backlogged {
            self.wanted.notify_one();
        }
    }

    pub(crate) fn unstored(&self) -> Vec<RunLogLine> {
        let r = self.lock();
        r.lines
            .iter()
            .filter(|l| l.seq > r.stored)
            .map(|l| RunLogLine {
                seq: l.seq,
                ts: l.ts,
                level: l.level.clone(),
                message: l.message.clone(),
            })
            .collect()
    }

    pub(crate) fn mark_stored(&self, seq: i64) {
        let mut r = self.lock();
        if seq > r.stored {
            let (from, to) = (r.stored, seq);
            let now_stored: usize = r
                .lines
                .iter()
                .filter(|l| l.seq > from && l.seq <= to)
                .map(|l| l.message.len())
                .sum();
            r.unstored_bytes = r.unstored_bytes.saturating_sub(now_stored);
            r.stored = seq;
        }
        r.store_failing = false;
        drop(r);
        self.room.notify_all();
    }

    /// The last store of these lines failed: nobody waits for it ([`LogBook::wait_for_room`]).
    pub(crate) fn mark_failing(&self) {
        self.lock().store_failing = true;
        self.room.notify_all();
    }

    /// Whether more than [`BACKLOG_BYTES`] wait for the store.
    pub(crate) fn backlogged(&self) -> bool {
        self.lock().unstored_bytes > BACKLOG_BYTES
    }

    /// Blocks the calling thread (a run's, between guest calls, off the reactor) until at most
    /// [`BACKLOG_BYTES`] are unstored, the store fails, or `limit` has passed; whether there
    /// is room now.
    pub(crate) fn wait_for_room(&self, limit: std::time::Duration) -> bool {
        self.wanted.notify_one();
        let r = self.lock();
        let (r, _) = self
            .room
            .wait_timeout_while(r, limit, |r| {
                r.unstored_bytes > BACKLOG_BYTES && !r.store_failing
            })
            .unwrap_or_else(PoisonError::into_inner);
        r.unstored_bytes <= BACKLOG_BYTES
    }

    /// Lines after `after` still in memory, and whether memory covers everything after it.
    pub(crate) fn after(
        &self,
        after: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> (Vec<LogLine>, bool) {
        let r = self.lock();
        let covers = r.lines.front().is_none_or(|l| l.seq <= after + 1);
        let lines = r
            .lines
            .iter()
            .filter(|l| l.seq > after && filter.keeps(&l.level, &l.message))
            .take(limit)
            .cloned()
            .collect();
        (lines, covers)
    }

    /// Lines with `after < seq < before` still in memory, newest first, and the lowest seq
    /// memory holds (older lines can only be in the store).
    pub(crate) fn newest(
        &self,
        after: i64,
        before: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> (Vec<LogLine>, Option<i64>) {
        let r = self.lock();
        let lines = r
            .lines
            .iter()
            .rev()
            .filter(|l| l.seq > after && l.seq < before && filter.keeps(&l.level, &l.message))
            .take(limit)
            .cloned()
            .collect();
        (lines, r.lines.front().map(|l| l.seq))
    }

    /// Stores the lines not stored yet; whether every line is stored now.
    pub(crate) async fn store(&self, walle: &Walle, run_id: i64) -> bool {
        let lines = self.unstored();
        let Some(last) = lines.last().map(|l| l.seq) else {
            return true;
        };
        match walle.append_run_logs(run_id, &lines).await {
            Ok(()) => {
                self.mark_stored(last);
                true
            }
            Err(e) => {
                tracing::warn!(run_id, code = e.code(), "cannot store run log: {e}");
                self.mark_failing();
                false
            }
        }
    }
}

/// A page of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    /// Lines in the page's order (oldest first, or newest first).
    pub items: Vec<LogLine>,
    /// The highest seq seen: pass as `after` for the lines that follow (unchanged when there
    /// was nothing new).
    pub next: i64,
    /// Newest first: pass as `before` for the older lines, when this page was full.
    pub next_before: Option<i64>,
}

/// Run `id`'s log after `after`: `memory` (the lines this process holds, and whether they
/// cover everything after `after`) when complete, else WallE's lines followed by the unstored
/// ones.
///
/// # Errors
/// When the store fails.
pub(crate) async fn page(
    walle: &Walle,
    memory: Option<(Vec<LogLine>, bool)>,
    id: i64,
    after: i64,
    limit: usize,
    filter: &LogFilter,
) -> Result<LogPage, walle::Error> {
    let stored = async || -> Result<Vec<LogLine>, walle::Error> {
        Ok(walle
            .run_logs_matching(id, after, limit as i64, filter)
            .await?
            .into_iter()
            .map(LogLine::from)
            .collect())
    };
    let items = match memory {
        Some((lines, true)) => lines,
        Some((lines, false)) => {
            let mut items = stored().await?;
            // Lines not stored yet follow the stored ones.
            let last = items.last().map_or(after, |l| l.seq);
            items.extend(lines.into_iter().filter(|l| l.seq > last));
            items.truncate(limit);
            items
        }
        None => stored().await?,
    };
    let next = items.last().map_or(after, |l| l.seq);
    Ok(LogPage {
        items,
        next,
        next_before: None,
    })
}

/// Run `id`'s log lines with `after < seq < before`, newest first: `memory` (the lines this
/// process holds in that range, newest first, and the lowest seq it holds) first, then the
/// older ones from WallE.
///
/// # Errors
/// When the store fails.
pub(crate) async fn page_newest(
    walle: &Walle,
    memory: Option<(Vec<LogLine>, Option<i64>)>,
    id: i64,
    after: i64,
    before: i64,
    limit: usize,
    filter: &LogFilter,
) -> Result<LogPage, walle::Error> {
    let (mut items, front) = memory.unwrap_or_default();
    if items.len() < limit {
        // The ring holds every line from its front on, so what is missing is older than it.
        let below = front.map_or(before, |f| f.min(before));
        let older = walle
            .run_logs_newest(id, after, below, (limit - items.len()) as i64, filter)
            .await?;
        items.extend(older.into_iter().map(LogLine::from));
    }
    let next = items.first().map_or(after, |l| l.seq.max(after));
    let next_before = (items.len() == limit)
        .then(|| items.last().map(|l| l.seq))
        .flatten();
    Ok(LogPage {
        items,
        next,
        next_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_a_char_boundary_and_sequence_continues() {
        let book = LogBook::new(41);
        book.push("info", "é".repeat(MAX_LOG_MESSAGE));
        book.push("warn", "second");
        // Lines up to 41 are in the store only: memory covers what comes after them.
        assert!(!book.after(0, 10, &LogFilter::default()).1);
        let (lines, covers) = book.after(41, 10, &LogFilter::default());
        assert!(covers);
        assert_eq!(
            lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
            vec![42, 43]
        );
        assert!(lines[0].message.len() <= MAX_LOG_MESSAGE + '…'.len_utf8());
        assert!(lines[0].message.ends_with('…'));
        assert_eq!(book.unstored().len(), 2);
        book.mark_stored(42);
        assert_eq!(
            book.unstored().iter().map(|l| l.seq).collect::<Vec<_>>(),
            vec![43]
        );
    }

    /// A cut line holds the memory of its cut, not of what the guest sent: the ring keeps a
    /// thousand lines per run, and 100 KB lines cut by `truncate` alone kept 100 KB each (a run
    /// logging 100 KB a bar held ~100 MB, and eight at once took the server to 230 MB).
    #[test]
    fn a_cut_message_keeps_only_the_memory_of_its_cut() {
        let mut message = "y".repeat(100_000);
        clip_message(&mut message);
        assert_eq!(message.len(), MAX_LOG_MESSAGE + '…'.len_utf8());
        assert!(
            message.capacity() < 2 * MAX_LOG_MESSAGE,
            "{}",
            message.capacity()
        );
        let book = LogBook::new(0);
        book.push("info", "y".repeat(100_000));
        let kept = book
            .lock()
            .lines
            .iter()
            .map(|l| l.message.capacity())
            .sum::<usize>();
        assert!(kept < 2 * MAX_LOG_MESSAGE, "{kept}");
    }

    #[test]
    fn the_ring_keeps_unstored_lines_and_drops_stored_ones_past_its_size() {
        let book = LogBook::new(0);
        for i in 0..LOG_RING + 10 {
            book.push("info", format!("line {i}"));
        }
        // Nothing stored yet: every line stays.
        assert_eq!(book.lock().lines.len(), LOG_RING + 10);
        book.mark_stored((LOG_RING + 10) as i64);
        book.push("info", "after the store");
        let r = book.lock();
        assert!(r.lines.len() <= LOG_RING, "{}", r.lines.len());
        drop(r);
        // Memory no longer covers the start: a reader must go to the store.
        let (_, covers) = book.after(0, 5, &LogFilter::default());
        assert!(!covers);
    }

    #[test]
    fn a_backlog_past_its_bytes_waits_for_the_store_and_not_for_a_failing_one() {
        use std::time::{Duration, Instant};
        let book = std::sync::Arc::new(LogBook::new(0));
        let line = "x".repeat(MAX_LOG_MESSAGE);
        let lines = BACKLOG_BYTES / MAX_LOG_MESSAGE + 1;
        for _ in 0..lines {
            book.push("info", line.clone());
        }
        assert!(book.backlogged());
        // Nobody stores: the wait gives up after its limit.
        let started = Instant::now();
        assert!(!book.wait_for_room(Duration::from_millis(50)));
        assert!(started.elapsed() >= Duration::from_millis(50));
        // A store on another thread ends the wait at once.
        let storer = std::thread::spawn({
            let book = book.clone();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                book.mark_stored(lines as i64);
            }
        });
        assert!(book.wait_for_room(Duration::from_secs(30)));
        storer.join().expect("storer");
        assert!(!book.backlogged());
        assert_eq!(book.lock().unstored_bytes, 0);
        // A failing store: nobody waits for it.
        for _ in 0..lines {
            book.push("info", line.clone());
        }
        book.mark_failing();
        let started = Instant::now();
        assert!(!book.wait_for_room(Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(5));
        // Partly stored: only the stored lines' bytes leave the backlog.
        book.mark_stored(lines as i64 + 1);
        assert_eq!(book.lock().unstored_bytes, (lines - 1) * MAX_LOG_MESSAGE);
    }

    #[test]
    fn the_line_limit_says_so_once() {
        let book = LogBook::new(0);
        for _ in 0..MAX_LOG_LINES + 5 {
            book.push("info", "x");
        }
        let r = book.lock();
        assert_eq!(r.next_seq - 1, MAX_LOG_LINES as i64);
        let last = r.lines.back().expect("a last line");
        assert!(last.message.contains("log limit"), "{}", last.message);
    }

    /// The lines in memory are searched as the store searches its own: by level and by text in
    /// any case, and `newest` says where memory starts even when nothing there matches.
    #[test]
    fn memory_is_searched_as_the_store_is() {
        let book = LogBook::new(10);
        book.push("debug", "bar seen");
        book.push("warn", "Slow BAR");
        book.push("error", "order rejected");
        book.push("info", "100% filled");
        let warn = LogFilter {
            min_level: Some(2),
            text: None,
        };
        let (lines, front) = book.newest(0, i64::MAX, 10, &warn);
        assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [13, 12]);
        assert_eq!(front, Some(11));
        let text = LogFilter {
            min_level: None,
            text: Some("bar".into()),
        };
        let (lines, covers) = book.after(10, 10, &text);
        assert!(covers);
        assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [11, 12]);
        let both = LogFilter {
            min_level: Some(2),
            text: Some("%".into()),
        };
        assert!(book.newest(0, i64::MAX, 10, &both).0.is_empty());
        let (none, front) = book.newest(0, 11, 10, &text);
        assert!(none.is_empty());
        assert_eq!(front, Some(11), "older matches can only be in the store");
    }
}
