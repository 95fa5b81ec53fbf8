//! Store faults: whether the store can be written, process-wide. Every patient writer (a run's
//! order journal, the fill recorders, the trading switch; see `veda::store_wait`) reports
//! "cannot write since T: <error>" when a write fails and "writes again" once one succeeds;
//! `GET /readyz` and `GET /healthz` show the fault in force and the notifier tells the user
//! (`notify::faults`). The error is classified where it allows: a database outage (connection
//! refused, reset or timed out) or a full disk (`SQLITE_FULL`, PostgreSQL `53100 disk_full`).
//!
//! # Invariants
//! - At most one fault is in force; it begins with the first failure a writer reports while
//!   none is, and ends at the first successful write a patient writer reports (the store writes
//!   again; writers still pausing find out at their next try).
//! - A writer is counted once however often it fails; it stops counting when it writes, gives
//!   up (drops its wait) or the fault ends.
//! - Reporting never blocks and never fails: a change is broadcast to whoever listens, and a
//!   listener that lags loses changes, never the writer's time.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use super::Error;

/// What kind of fault the store's error shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The database cannot be reached (refused, reset, timed out, pool closed).
    Outage,
    /// The disk under the database is full.
    DiskFull,
    /// Any other failure to write.
    Error,
}

impl FaultKind {
    /// Its name in the API and notices.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Outage => "outage",
            FaultKind::DiskFull => "disk_full",
            FaultKind::Error => "error",
        }
    }

    /// In words, for a notice.
    pub fn describe(self) -> &'static str {
        match self {
            FaultKind::Outage => "the database cannot be reached",
            FaultKind::DiskFull => "the disk under the database is full",
            FaultKind::Error => "the database refuses writes",
        }
    }

    /// The kind an error's text shows (writers that carry the error as text, like the order
    /// journal, report it so).
    pub fn of_text(text: &str) -> FaultKind {
        let t = text.to_ascii_lowercase();
        const FULL: [&str; 6] = [
            "disk is full",
            "sqlite_full",
            "no space left",
            "53100",
            "disk_full",
            "could not extend file",
        ];
        const OUTAGE: [&str; 12] = [
            "connection refused",
            "connection reset",
            "timed out",
            "timeout",
            "broken pipe",
            "pool closed",
            "error communicating",
            "unexpected eof",
            "connection closed",
            "io error",
            "57p01",
            "server closed",
        ];
        if FULL.iter().any(|n| t.contains(n)) {
            FaultKind::DiskFull
        } else if OUTAGE.iter().any(|n| t.contains(n)) {
            FaultKind::Outage
        } else {
            FaultKind::Error
        }
    }

    /// The kind a store error shows: by the database's error code where there is one (SQLite's
    /// primary code 13 is `SQLITE_FULL`), by its text otherwise.
    pub fn of(error: &Error) -> FaultKind {
        match error {
            Error::Database(sqlx::Error::Database(db)) => match db.code().as_deref() {
                Some("53100") => FaultKind::DiskFull,
                Some(c) if c.parse::<i64>().is_ok_and(|n| n & 0xff == 13) => FaultKind::DiskFull,
                _ => FaultKind::of_text(db.message()),
            },
            Error::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => FaultKind::Outage,
            other => FaultKind::of_text(&other.to_string()),
        }
    }
}

/// Who waits for the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Writer {
    /// A run's order journal (counted as a run waiting).
    Run(i64),
    /// Any other patient writer (a fill recorder, the trading switch), by a unique number
    /// ([`StoreFaults::writer`]).
    Other(u64),
}

/// The fault in force, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// Unique per fault: what deduplicates its notifications.
    pub id: String,
    /// What the error shows.
    pub kind: FaultKind,
    /// When the first write failed.
    pub since: DateTime<Utc>,
    /// The latest error (text; never a secret: store errors carry no credentials).
    pub error: String,
    /// Runs waiting for the store now.
    pub runs_waiting: usize,
    /// Other writers waiting now (fill recorders, the trading switch).
    pub writers_waiting: usize,
}

/// A fault began or ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The first failed write.
    Began(Fault),
    /// A write succeeded again.
    Ended {
        /// The fault as it was last.
        fault: Fault,
        /// When it ended.
        at: DateTime<Utc>,
        /// Runs that waited for the store during it.
        runs_waited: usize,
    },
}

#[derive(Default)]
struct State {
    current: Option<Fault>,
    waiting: HashSet<Writer>,
    runs_waited: HashSet<i64>,
}

/// The process's store-fault state. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct StoreFaults {
    state: Arc<Mutex<State>>,
    changes: broadcast::Sender<Change>,
    next_writer: Arc<AtomicU64>,
}

impl Default for StoreFaults {
    fn default() -> Self {
        StoreFaults {
            state: Arc::default(),
            changes: broadcast::channel(64).0,
            next_writer: Arc::default(),
        }
    }
}

impl std::fmt::Debug for StoreFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFaults")
            .field("current", &self.current())
            .finish()
    }
}

impl StoreFaults {
    /// A fresh identity for a patient writer that is not a run.
    pub fn writer(&self) -> Writer {
        Writer::Other(self.next_writer.fetch_add(1, Ordering::Relaxed))
    }

    /// The fault in force, if any.
    pub fn current(&self) -> Option<Fault> {
        self.lock().current.clone()
    }

    /// Listens to faults beginning and ending.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `who` could not write: `error` is what the store said. Begins a fault if none is in
    /// force; a full disk seen later makes an outage fault a disk fault (the more specific).
    pub fn failed(&self, who: Writer, error: &str) {
        let kind = FaultKind::of_text(error);
        let mut s = self.lock();
        s.waiting.insert(who);
        if let Writer::Run(id) = who {
            s.runs_waited.insert(id);
        }
        let (runs, others) = counts(&s.waiting);
        let began = match &mut s.current {
            Some(f) => {
                f.error = error.to_owned();
                if kind == FaultKind::DiskFull {
                    f.kind = kind;
                }
                (f.runs_waiting, f.writers_waiting) = (runs, others);
                None
            }
            None => {
                let f = Fault {
                    id: uuid::Uuid::now_v7().to_string(),
                    kind,
                    since: Utc::now(),
                    error: error.to_owned(),
                    runs_waiting: runs,
                    writers_waiting: others,
                };
                s.current = Some(f.clone());
                Some(f)
            }
        };
        drop(s);
        if let Some(f) = began {
            tracing::error!(kind = f.kind.name(), fault = %f.id, "the store cannot be written: {error}");
            metrics::gauge!("weaver_store_fault").set(1.0);
            let _ = self.changes.send(Change::Began(f));
        }
    }

    /// `who` wrote: the store writes again, and the fault in force (if any) ends.
    pub fn wrote(&self, who: Writer) {
        let mut s = self.lock();
        s.waiting.remove(&who);
        let Some(fault) = s.current.take() else {
            return;
        };
        let runs_waited = s.runs_waited.len();
        s.waiting.clear();
        s.runs_waited.clear();
        drop(s);
        let at = Utc::now();
        let lasted = (at - fault.since).num_milliseconds() as f64 / 1000.0;
        tracing::info!(fault = %fault.id, seconds = lasted, runs_waited, "the store writes again");
        metrics::gauge!("weaver_store_fault").set(0.0);
        let _ = self.changes.send(Change::Ended {
            fault,
            at,
            runs_waited,
        });
    }

    /// `who` stopped waiting without writing (it gave up, or its work ended): it is no longer
    /// counted; the fault stays in force.
    pub fn left(&self, who: Writer) {
        let mut s = self.lock();
        if s.waiting.remove(&who) {
            let (runs, others) = counts(&s.waiting);
            if let Some(f) = &mut s.current {
                (f.runs_waiting, f.writers_waiting) = (runs, others);
            }
        }
    }
}

fn counts(waiting: &HashSet<Writer>) -> (usize, usize) {
    let runs = waiting
        .iter()
        .filter(|w| matches!(w, Writer::Run(_)))
        .count();
    (runs, waiting.len() - runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_told_apart_by_code_and_text() {
        assert_eq!(
            FaultKind::of_text("error returned from database: database or disk is full"),
            FaultKind::DiskFull
        );
        assert_eq!(
            FaultKind::of_text("could not extend file \"base/1/2\": No space left on device"),
            FaultKind::DiskFull
        );
        assert_eq!(
            FaultKind::of_text("pool timed out while waiting for an open connection"),
            FaultKind::Outage
        );
        assert_eq!(
            FaultKind::of_text(
                "error communicating with database: Connection refused (os error 111)"
            ),
            FaultKind::Outage
        );
        assert_eq!(
            FaultKind::of_text("duplicate key value violates unique constraint"),
            FaultKind::Error
        );
        assert_eq!(
            FaultKind::of(&Error::Database(sqlx::Error::PoolTimedOut)),
            FaultKind::Outage
        );
    }

    #[tokio::test]
    async fn a_fault_begins_once_counts_its_writers_and_ends_at_the_first_write() {
        let faults = StoreFaults::default();
        let mut changes = faults.subscribe();
        let other = faults.writer();
        assert_ne!(other, faults.writer());
        faults.failed(Writer::Run(1), "Connection refused");
        faults.failed(Writer::Run(1), "Connection refused");
        faults.failed(Writer::Run(2), "pool timed out");
        faults.failed(other, "database or disk is full");
        let f = faults.current().expect("in force");
        assert_eq!((f.runs_waiting, f.writers_waiting), (2, 1));
        assert_eq!(f.kind, FaultKind::DiskFull, "the more specific kind wins");
        let Ok(Change::Began(began)) = changes.try_recv() else {
            panic!("began once");
        };
        assert!(changes.try_recv().is_err(), "one change for one fault");
        faults.left(Writer::Run(2));
        assert_eq!(faults.current().expect("still in force").runs_waiting, 1);

        faults.wrote(Writer::Run(1));
        assert!(faults.current().is_none());
        let Ok(Change::Ended {
            fault, runs_waited, ..
        }) = changes.try_recv()
        else {
            panic!("ended");
        };
        assert_eq!(fault.id, began.id);
        assert_eq!(runs_waited, 2);
        // A write with no fault in force changes nothing.
        faults.wrote(other);
        assert!(changes.try_recv().is_err());
        faults.failed(Writer::Run(3), "Connection refused");
        let Ok(Change::Began(again)) = changes.try_recv() else {
            panic!("a new fault");
        };
        assert_ne!(again.id, began.id);
        assert_eq!(again.kind, FaultKind::Outage);
    }
}
