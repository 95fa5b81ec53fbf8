//! The notifier's outbox consumer (`notify`): for each event a rule matches, each of the rule's
//! channels is sent the notification (the channels at once, each retrying on its own) until it
//! is delivered or dead-lettered; then, and only then, the offset moves past the event.
//!
//! # Invariants
//! - The offset never passes an event whose notifications are not all settled (delivered or
//!   dead-lettered, and that outcome stored): a shutdown in the middle of retries leaves it for
//!   the next start, which sends it again only to the channels that have not settled it.
//! - Repeats of one denial within the quiet period are counted, not sent ([`super::quiet`]);
//!   every other matched event is sent.
//! - A failure of the store rewinds to the stored offset and tries again after a pause.

use std::sync::PoisonError;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::channels::{Channel, Message};
use super::quiet::Admit;
use super::rules::Rule;
use super::{Error, Notifier, text};
use crate::events::StoredEvent;
use crate::walle::{
    Consumer, ConsumerOptions, NOTIFY_CONSUMER, NewNotification, NotificationStatus, StartFrom,
};

/// The pause before trying again after the store failed.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// How one event ended.
enum Settled {
    /// Every channel delivered or dead-lettered it.
    Done,
    /// The process is stopping: leave it for the next start.
    Stopped,
}

impl Notifier {
    /// Consumes the outbox and notifies until `stop` (what `weaver serve` runs). Without any
    /// channel configured it returns at once and drops the consumer's offset if an earlier
    /// configuration left one: an offset nobody advances would hold back retention forever
    /// (notifications switched on again start with what happens from then on).
    /// Store faults are watched meanwhile, channels or not: their notices are written for the
    /// dashboard either way ([`super::faults`]).
    pub async fn run(&self, stop: CancellationToken) {
        tokio::join!(
            self.watch_store_faults(stop.clone()),
            self.consume(stop.clone())
        );
    }

    async fn consume(&self, stop: CancellationToken) {
        if self.channels().is_empty() {
            tracing::info!(
                "notifications off: no channel configured (WEAVER_NOTIFY_WEBHOOK_URL, WEAVER_NOTIFY_TELEGRAM_TOKEN, WEAVER_NOTIFY_DISCORD_WEBHOOK_URL)"
            );
            let w = &self.inner.walle;
            let registered = w
                .consumers()
                .await
                .map(|c| c.iter().any(|c| c == NOTIFY_CONSUMER));
            let dropped = match registered {
                Ok(true) => w.drop_consumer(NOTIFY_CONSUMER).await,
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = dropped {
                tracing::warn!(
                    code = e.code(),
                    "the notifier's old offset was not dropped: {e}"
                );
            }
            return;
        }
        tracing::info!(
            channels = ?self.channels().iter().map(|c| c.name()).collect::<Vec<_>>(),
            "notifications on"
        );
        let opts = ConsumerOptions {
            batch_size: 200,
            poll_interval: Duration::from_secs(1),
            start: StartFrom::Latest,
        };
        let mut consumer = loop {
            match Consumer::open(&self.inner.walle, NOTIFY_CONSUMER, opts).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(code = e.code(), "notifier cannot start; retrying: {e}");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(STORE_RETRY) => {}
                    }
                }
            }
        };
        loop {
            let batch = tokio::select! {
                () = stop.cancelled() => return,
                b = consumer.next_batch() => b,
            };
            let outcome = match batch {
                Ok(batch) => self
                    .handle(&mut consumer, &batch.events, &stop)
                    .await
                    .map(|s| (s, batch)),
                Err(e) => Err(Error::Store(e)),
            };
            let failed = match outcome {
                Ok((Settled::Stopped, _)) => return,
                Ok((Settled::Done, batch)) => consumer.commit(&batch).await.err().map(Error::Store),
                Err(e) => Some(e),
            };
            if let Some(e) = failed {
                metrics::counter!("weaver_consumer_failures_total", "consumer" => NOTIFY_CONSUMER)
                    .increment(1);
                tracing::warn!(code = e.code(), "notifier failed; retrying: {e}");
                consumer.rewind();
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(STORE_RETRY) => {}
                }
            }
        }
    }

    /// Settles the notifications of a batch, committing after each event that notified (so a
    /// long retry never has to be repeated for the events before it).
    async fn handle(
        &self,
        consumer: &mut Consumer,
        events: &[StoredEvent],
        stop: &CancellationToken,
    ) -> Result<Settled, Error> {
        for stored in events {
            let event = &stored.envelope;
            let Some(rule) = Rule::of(event) else {
                continue;
            };
            let route = self.route(rule).await;
            // A store fault's own notice goes only where it was not told directly.
            let told = match (rule, event.payload.get("level").and_then(|l| l.as_str())) {
                (Rule::StoreFault, Some("error")) => event
                    .payload
                    .get("fault_id")
                    .and_then(|f| f.as_str())
                    .and_then(|f| self.told(f))
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let targets: Vec<Channel> = self
                .channels()
                .into_iter()
                .filter(|c| route.sends_to(*c) && !told.contains(c))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let admit = self
                .inner
                .quiet
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .admit(rule, event);
            let Admit::Send { held, since } = admit else {
                metrics::counter!("weaver_notifications_held_total", "rule" => rule.name())
                    .increment(1);
                continue;
            };
            let strategy = self.strategy_of(text::run_id_of(event)).await;
            let mut msg = text::message(rule, event, strategy.as_deref());
            if let (true, Some(since)) = (held > 0, since) {
                let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                msg.text.push_str(&format!(
                    " ({held} more like it since {since} were not notified)"
                ));
            }
            let sends = targets.iter().map(|c| self.settle(*c, &msg, stop));
            for settled in futures::future::join_all(sends).await {
                if let Settled::Stopped = settled? {
                    return Ok(Settled::Stopped);
                }
            }
            consumer.commit_through(stored.cursor).await?;
        }
        Ok(Settled::Done)
    }

    /// Delivers `msg` on `channel` unless that is settled already: retries with backoff, then
    /// dead-letters; stores the outcome.
    async fn settle(
        &self,
        channel: Channel,
        msg: &Message,
        stop: &CancellationToken,
    ) -> Result<Settled, Error> {
        let w = &self.inner.walle;
        if w.notification(&msg.id, channel.name()).await?.is_some() {
            return Ok(Settled::Done);
        }
        let retry = self.inner.retry;
        let attempts = if self.is_down(channel) {
            1
        } else {
            retry.attempts.max(1)
        };
        let mut n = 0;
        let last_error = loop {
            n += 1;
            let error = tokio::select! {
                () = stop.cancelled() => return Ok(Settled::Stopped),
                sent = self.send(channel, msg) => match sent {
                    Ok(()) => break None,
                    Err(e) => e,
                },
            };
            tracing::warn!(
                channel = channel.name(),
                event_id = msg.id,
                attempt = n,
                "notification not delivered: {error}"
            );
            if n >= attempts {
                break Some(error);
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(Settled::Stopped),
                () = tokio::time::sleep(retry.pause(n)) => {}
            }
        };
        let status = if last_error.is_some() {
            self.set_down(channel, true);
            metrics::counter!("weaver_notifications_dead_lettered_total", "channel" => channel.name())
                .increment(1);
            tracing::error!(
                channel = channel.name(),
                event_id = msg.id,
                attempts = n,
                "notification dead-lettered"
            );
            NotificationStatus::DeadLetter
        } else {
            NotificationStatus::Delivered
        };
        let body = serde_json::to_string(msg).unwrap_or_default();
        w.record_notification(&NewNotification {
            event_id: &msg.id,
            event_type: &msg.event_type,
            channel: channel.name(),
            status,
            attempts: i32::try_from(n).unwrap_or(i32::MAX),
            last_error: last_error.as_deref(),
            body: &body,
        })
        .await?;
        Ok(Settled::Done)
    }

    /// The strategy name of run `run_id`, when it can be read (a notification goes out
    /// without it otherwise).
    async fn strategy_of(&self, run_id: Option<i64>) -> Option<String> {
        let w = &self.inner.walle;
        let run = w.run(run_id?).await.ok().flatten()?;
        w.strategy(run.strategy_id)
            .await
            .ok()
            .flatten()
            .map(|s| s.name)
    }
}
