//! What a run's task and the API share about switching its version: the envelopes its strategy
//! answered so far ([`History`], what a switch replays), the switch asked for and not made yet,
//! how many risk rules it broke, and the task that stores what the switches did.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::domain::{EventKind, EventMeta, StrategyEvent, StrategyPayload};
use crate::marvin::Sandbox;
use crate::walle::{SwitchMade, Walle};

/// Most envelopes a run keeps for a replay (about 12 MB of one-bar envelopes); past it the
/// oldest are dropped and a replay is refused (`replay_unavailable`: a `fresh` switch still
/// works).
pub const MAX_HISTORY: usize = 100_000;

/// One envelope a run's strategy answered: its time, whether it amended a bar, its payload.
struct Told {
    ts: i64,
    amended: bool,
    payload: StrategyPayload,
}

/// The envelopes a run's strategy answered, in order (whichever version answered them).
#[derive(Default)]
pub(crate) struct History {
    told: Mutex<VecDeque<Told>>,
    dropped: AtomicU64,
}

impl History {
    pub(crate) fn push(&self, e: &StrategyEvent) {
        let mut told = self.told.lock().unwrap_or_else(PoisonError::into_inner);
        if told.len() == MAX_HISTORY {
            told.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        told.push_back(Told {
            ts: e.meta.ts,
            amended: e.meta.headers.iter().any(|(k, _)| k == "amended"),
            payload: e.payload.clone(),
        });
    }

    /// Whether it holds every envelope since the run (re)started.
    pub(crate) fn complete(&self) -> bool {
        self.dropped.load(Ordering::Relaxed) == 0
    }

    /// Calls `f` with every envelope, as the strategy was told it (`i`: its position).
    pub(crate) fn each<E>(
        &self,
        run_id: i64,
        mut f: impl FnMut(&StrategyEvent) -> Result<(), E>,
    ) -> Result<u64, E> {
        let told = self.told.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, t) in told.iter().enumerate() {
            f(&event(run_id, i, t.ts, t.amended, t.payload.clone()))?;
        }
        Ok(told.len() as u64)
    }

    /// Calls `f` with the last `n` bars of each symbol, oldest first (the warm-up of a
    /// `fresh` switch); amended bars are left out (the bars they amend are there).
    pub(crate) fn last_bars<E>(
        &self,
        run_id: i64,
        n: u32,
        mut f: impl FnMut(&StrategyEvent) -> Result<(), E>,
    ) -> Result<u64, E> {
        let told = self.told.lock().unwrap_or_else(PoisonError::into_inner);
        let mut per_symbol: HashMap<u32, u32> = HashMap::new();
        let mut picked = Vec::new();
        for (i, t) in told.iter().enumerate().rev() {
            let StrategyPayload::Bars(bars) = &t.payload else {
                continue;
            };
            if t.amended {
                continue;
            }
            let wanted = bars
                .iter()
                .any(|b| per_symbol.get(&b.symbol).copied().unwrap_or(0) < n);
            if wanted {
                for b in bars {
                    *per_symbol.entry(b.symbol).or_default() += 1;
                }
                picked.push(i);
            }
        }
        picked.reverse();
        for &i in &picked {
            if let Some(t) = told.get(i) {
                f(&event(run_id, i, t.ts, false, t.payload.clone()))?;
            }
        }
        Ok(picked.len() as u64)
    }
}

fn event(run_id: i64, i: usize, ts: i64, amended: bool, payload: StrategyPayload) -> StrategyEvent {
    StrategyEvent {
        meta: EventMeta {
            id: format!("{run_id}-replay-{i}"),
            kind: EventKind::Evt,
            event_type: payload.event_type().to_owned(),
            version: 1,
            run_id: run_id.to_string(),
            corr_id: run_id.to_string(),
            causation_id: None,
            trace_id: None,
            ts,
            producer: "veda".to_owned(),
            headers: if amended {
                vec![("amended".to_owned(), "true".to_owned())]
            } else {
                Vec::new()
            },
        },
        payload,
    }
}

/// The version a run goes back to when the promoted one traps or breaks a risk rule: loaded
/// when the promotion was asked for, its state rebuilt when it is needed.
pub(crate) struct Fallback {
    pub(crate) sandbox: Sandbox,
    pub(crate) strategy_id: i64,
    pub(crate) params: serde_json::Value,
}

/// A switch asked for, made by the run's task at its next bar.
pub(crate) struct Pending {
    /// Its row in `run_versions`.
    pub(crate) seq: i64,
    pub(crate) strategy_id: i64,
    /// Warm-up from the last bars instead of a replay.
    pub(crate) fresh: bool,
    /// The new version, loaded and initialised.
    pub(crate) sandbox: Sandbox,
    /// For an automatic rollback (with `auto_rollback_bars > 0`).
    pub(crate) fallback: Option<Fallback>,
    pub(crate) auto_rollback_bars: u32,
}

/// What a switch did, for the store.
pub(crate) enum Outcome {
    Switched {
        seq: i64,
        made: SwitchMade,
    },
    Failed {
        seq: i64,
        code: String,
    },
    RolledBack {
        strategy_id: i64,
        params: serde_json::Value,
        made: SwitchMade,
    },
}

/// One run's switchboard (see the module docs).
pub(crate) struct Board {
    pub(crate) run_id: i64,
    pub(crate) history: Arc<History>,
    pending: Mutex<Option<Pending>>,
    /// A request is between its checks and its pending switch.
    asking: AtomicBool,
    risk_breaks: AtomicU64,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

impl Board {
    /// A board for run `run_id` and the task storing its outcomes (ends with the board).
    pub(crate) fn new(
        run_id: i64,
        walle: Walle,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Arc<Board> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tasks.spawn(async move {
            while let Some(outcome) = rx.recv().await {
                store(&walle, run_id, outcome).await;
            }
        });
        Arc::new(Board {
            run_id,
            history: Arc::new(History::default()),
            pending: Mutex::new(None),
            asking: AtomicBool::new(false),
            risk_breaks: AtomicU64::new(0),
            outcomes: tx,
        })
    }

    /// Reserves the board for one request; `false` when a switch is pending or being asked.
    pub(crate) fn reserve(&self) -> bool {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.is_none()
            && self
                .asking
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Ends a reservation, with the switch it asked for (`None`: it was refused).
    pub(crate) fn release(&self, pending: Option<Pending>) {
        if let Some(p) = pending {
            *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some(p);
        }
        self.asking.store(false, Ordering::Release);
    }

    pub(crate) fn take_pending(&self) -> Option<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// A risk rule broke (an order refused by the pre-trade checks, a rule over time tripped).
    pub(crate) fn risk_broken(&self) {
        self.risk_breaks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn risk_breaks(&self) -> u64 {
        self.risk_breaks.load(Ordering::Relaxed)
    }

    pub(crate) fn send(&self, outcome: Outcome) {
        if self.outcomes.send(outcome).is_err() {
            tracing::error!(
                run_id = self.run_id,
                "switch outcome not stored: its writer ended"
            );
        }
    }
}

async fn store(w: &Walle, run_id: i64, outcome: Outcome) {
    let stored = match &outcome {
        Outcome::Switched { seq, made } => {
            w.activate_run_version(run_id, *seq, made).await.map(drop)
        }
        Outcome::Failed { seq, code } => w.fail_run_version(run_id, *seq, code).await.map(drop),
        Outcome::RolledBack {
            strategy_id,
            params,
            made,
        } => w
            .record_auto_rollback(run_id, *strategy_id, params, made)
            .await
            .map(drop),
    };
    if let Err(e) = stored {
        tracing::error!(run_id, code = e.code(), "version switch not stored: {e}");
    }
}

/// The boards of the runs this process executes.
#[derive(Default)]
pub(crate) struct Boards(Mutex<HashMap<i64, Arc<Board>>>);

impl Boards {
    pub(crate) fn insert(&self, board: Arc<Board>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(board.run_id, board);
    }

    pub(crate) fn get(&self, run_id: i64) -> Option<Arc<Board>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&run_id)
            .cloned()
    }

    pub(crate) fn remove(&self, run_id: i64) -> Option<Arc<Board>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&run_id)
    }
}
