//! A run's log: lifecycle lines, the strategy's log intents and its stdout/stderr, kept in a
//! bounded ring in memory and stored in WallE by the run's heartbeat task.
//!
//! # Invariants
//! - Sequence numbers start after the last stored line and have no gaps.
//! - Memory is bounded: about [`LOG_RING`] stored lines kept per run (unstored ones wait for
//!   the store, up to ten times that); at most [`MAX_LOG_LINES`] lines per run and process (one
//!   line says when later ones are dropped); messages cut at [`MAX_LOG_MESSAGE`] bytes on a
//!   character boundary.
//! - A page read while lines are still unstored continues the stored ones without a gap.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::walle::{self, RunLogLine, Walle};

/// Log lines kept in memory per run.
pub(crate) const LOG_RING: usize = 1_000;
/// Log lines stored per run by one process; later lines are dropped (one line says so).
pub(crate) const MAX_LOG_LINES: u64 = 20_000;
/// Longest log message kept, in bytes.
pub(crate) const MAX_LOG_MESSAGE: usize = 4_096;
/// Unstored lines that make the heartbeat task store them before its next beat.
const FLUSH_AT: usize = 200;

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
}

/// A run's log: a ring in memory, stored in WallE by the heartbeat task.
pub(crate) struct LogBook {
    ring: Mutex<Ring>,
    pub(crate) wanted: Notify,
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
        if r.lines.len() > 10 * LOG_RING {
            r.lines.pop_front();
        }
        let unstored = (seq - r.stored) as usize;
        drop(r);
        if unstored >= FLUSH_AT {
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
        r.stored = r.stored.max(seq);
    }

    /// Lines after `after` still in memory, and whether memory covers everything after it.
    pub(crate) fn after(&self, after: i64, limit: usize) -> (Vec<LogLine>, bool) {
        let r = self.lock();
        let covers = r.lines.front().is_none_or(|l| l.seq <= after + 1);
        let lines = r
            .lines
            .iter()
            .filter(|l| l.seq > after)
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
    ) -> (Vec<LogLine>, Option<i64>) {
        let r = self.lock();
        let lines = r
            .lines
            .iter()
            .rev()
            .filter(|l| l.seq > after && l.seq < before)
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
) -> Result<LogPage, walle::Error> {
    let stored = async || -> Result<Vec<LogLine>, walle::Error> {
        Ok(walle
            .run_logs(id, after, limit as i64)
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
) -> Result<LogPage, walle::Error> {
    let (mut items, front) = memory.unwrap_or_default();
    if items.len() < limit {
        // The ring holds every line from its front on, so what is missing is older than it.
        let below = front.map_or(before, |f| f.min(before));
        let older = walle
            .run_logs_newest(id, after, below, (limit - items.len()) as i64)
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
        assert!(!book.after(0, 10).1);
        let (lines, covers) = book.after(41, 10);
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
        let (_, covers) = book.after(0, 5);
        assert!(!covers);
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
}
