//! Store faults told to the user. The outbox lives in the store, so a notification that goes
//! through it cannot be delivered while the store cannot be written: a fault (from
//! `walle::faults`) that lasts [`DEBOUNCE`] is sent **directly** on the channels its rule
//! (`store_fault`) routes to, from memory; once the store writes again two `ui.Notice`s
//! (`source: store_fault`) go into the outbox — the fault at level `error`, then "back after
//! N s, M runs waited" at `info` — so the dashboard's feed and history have it, and the outbox
//! consumer notifies the second (and the first on any channel the direct send missed).
//!
//! # Invariants
//! - Never blocks or slows trading: it listens to broadcast changes and sends from its own
//!   tasks; a direct send is best effort (a few tries, no dead letter: the dead-letter list is
//!   in the store too).
//! - A blip shorter than [`DEBOUNCE`] tells no one and leaves no notice.
//! - Deduplicated by fault id: a channel told directly is not told the same fault again by the
//!   outbox consumer.
//! - Reading the route never waits for the store: the rules cached at start (or the
//!   environment's) decide.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::Notifier;
use super::channels::{Channel, Message};
use super::rules::{self, Route, Rule, STORE_FAULT_SOURCE};
use crate::events::Envelope;
use crate::walle::faults::{Change, Fault};

/// How long a fault lasts before anyone is told: a blip pages no one.
pub const DEBOUNCE: Duration = Duration::from_secs(5);

/// Tries of a direct send per channel, and the pause between them.
const DIRECT_TRIES: u32 = 3;
const DIRECT_PAUSE: Duration = Duration::from_secs(2);

/// How long the notices after a fault are tried before they are given up (logged).
const NOTICE_PATIENCE: Duration = Duration::from_secs(10 * 60);

impl Notifier {
    /// Tells the user of store faults until `stop` (started by [`Notifier::run`]).
    pub(super) async fn watch_store_faults(&self, stop: CancellationToken) {
        let faults = self.inner.walle.faults().clone();
        let mut changes = faults.subscribe();
        // The stored rules are read now, while the store answers, so that a fault's route
        // never waits for it.
        let _ = self.api_rules().await;
        let mut pending: Option<Fault> = faults.current();
        let mut deadline = tokio::time::Instant::now() + DEBOUNCE;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                change = changes.recv() => match change {
                    Ok(Change::Began(f)) => {
                        deadline = tokio::time::Instant::now() + DEBOUNCE;
                        pending = Some(f);
                    }
                    Ok(Change::Ended { fault, at, runs_waited }) => {
                        pending = None;
                        let lasted = (at - fault.since).to_std().unwrap_or_default();
                        if lasted >= DEBOUNCE || self.told(&fault.id).is_some() {
                            let me = self.clone();
                            tokio::spawn(async move {
                                me.notices(&fault, at, runs_waited).await;
                            });
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                () = tokio::time::sleep_until(deadline), if pending.is_some() => {
                    let Some(f) = pending.take() else { continue };
                    // Still the same fault: tell it as it is now (writers waiting now).
                    if let Some(now) = faults.current().filter(|c| c.id == f.id) {
                        let me = self.clone();
                        tokio::spawn(async move { me.tell_directly(&now).await });
                    }
                }
            }
        }
    }

    /// The channels told fault `id` directly, if any.
    pub(super) fn told(&self, id: &str) -> Option<Vec<Channel>> {
        self.inner
            .told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The route of `rule` without touching the store: the stored rules if cached, else the
    /// environment's.
    fn route_now(&self, rule: Rule) -> Route {
        let api = self
            .inner
            .api_rules
            .try_read()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_default();
        rules::effective(rule, &self.inner.env_rules, &api).route
    }

    /// Sends `fault` on every channel its rule routes to, a few tries each.
    async fn tell_directly(&self, fault: &Fault) {
        let route = self.route_now(Rule::StoreFault);
        let targets: Vec<Channel> = self
            .channels()
            .into_iter()
            .filter(|c| route.sends_to(*c))
            .collect();
        if targets.is_empty() {
            return;
        }
        let msg = direct_message(fault);
        let sends = targets.into_iter().map(|c| {
            let msg = &msg;
            async move {
                for n in 1..=DIRECT_TRIES {
                    match self.send(c, msg).await {
                        Ok(()) => return Some(c),
                        Err(e) => {
                            tracing::warn!(
                                channel = c.name(),
                                attempt = n,
                                "store fault not told: {e}"
                            );
                            if n < DIRECT_TRIES {
                                tokio::time::sleep(DIRECT_PAUSE).await;
                            }
                        }
                    }
                }
                None
            }
        });
        let told: Vec<Channel> = futures::future::join_all(sends)
            .await
            .into_iter()
            .flatten()
            .collect();
        tracing::info!(fault = %fault.id, channels = ?told.iter().map(|c| c.name()).collect::<Vec<_>>(), "store fault told");
        self.inner
            .told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(fault.id.clone(), told);
    }

    /// Writes the two notices of an ended fault into the outbox, trying until the store takes
    /// them (it just wrote, but may fail again).
    async fn notices(&self, fault: &Fault, at: DateTime<Utc>, runs_waited: usize) {
        let seconds = (at - fault.since).num_seconds();
        let common = json!({
            "source": STORE_FAULT_SOURCE,
            "fault_id": fault.id,
            "kind": fault.kind.name(),
            "since": fault.since.to_rfc3339_opts(SecondsFormat::Secs, true),
            "seconds": seconds,
            "runs_waited": runs_waited,
        });
        let with = |level: &str, message: String| {
            let mut p = common.clone();
            p["level"] = json!(level);
            p["message"] = json!(message);
            p
        };
        let payloads = [
            with("error", fault_text(fault)),
            with(
                "info",
                format!(
                    "The store writes again: back after {seconds} s, {runs_waited} run{} waited.",
                    if runs_waited == 1 { "" } else { "s" }
                ),
            ),
        ];
        for payload in payloads {
            let event = match Envelope::new("ui.Notice", "notify", payload) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!("store fault notice not built: {e}");
                    return;
                }
            };
            let mut wait = crate::veda::store_wait::StoreWait::new(NOTICE_PATIENCE);
            loop {
                match self.inner.walle.append(&event).await {
                    Ok(()) => break,
                    Err(e) if wait.pause().await => {
                        tracing::debug!(code = e.code(), "store fault notice waits: {e}");
                    }
                    Err(e) => {
                        tracing::error!(code = e.code(), "store fault notice not stored: {e}");
                        return;
                    }
                }
            }
        }
    }
}

/// What a fault says, in a notice and a notification.
fn fault_text(f: &Fault) -> String {
    let since = f.since.to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        "Weaver cannot write to its store since {since}: {} ({}). {} run{} wait{} for it (they pause and go on where they stopped; no order is sent unjournaled). Last error: {}",
        f.kind.describe(),
        f.kind.name(),
        f.runs_waiting,
        if f.runs_waiting == 1 { "" } else { "s" },
        if f.runs_waiting == 1 { "s" } else { "" },
        f.error
    )
}

/// The direct notification of `fault` (its id is the fault's: receivers deduplicate by it).
fn direct_message(f: &Fault) -> Message {
    Message {
        id: f.id.clone(),
        event_type: "store.Fault".to_owned(),
        ts: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        run_id: None,
        account: None,
        title: format!("Weaver: store fault ({})", f.kind.name()),
        text: fault_text(f),
        payload: json!({
            "source": STORE_FAULT_SOURCE,
            "fault_id": f.id,
            "kind": f.kind.name(),
            "since": f.since,
            "error": f.error,
            "runs_waiting": f.runs_waiting,
            "writers_waiting": f.writers_waiting,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walle::FaultKind;

    #[test]
    fn a_fault_reads_as_what_it_is() {
        let f = Fault {
            id: "f1".into(),
            kind: FaultKind::DiskFull,
            since: "2026-01-02T03:04:05Z".parse().expect("ts"),
            error: "database or disk is full".into(),
            runs_waiting: 2,
            writers_waiting: 1,
        };
        let m = direct_message(&f);
        assert_eq!(m.id, "f1");
        assert_eq!(m.title, "Weaver: store fault (disk_full)");
        assert!(m.text.contains("since 2026-01-02T03:04:05Z"), "{}", m.text);
        assert!(
            m.text.contains("disk under the database is full"),
            "{}",
            m.text
        );
        assert!(m.text.contains("2 runs wait for it"), "{}", m.text);
        assert_eq!(m.payload["source"], "store_fault");
    }
}
