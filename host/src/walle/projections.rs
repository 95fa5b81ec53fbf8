//! Projections WallE keeps from the outbox: read models written by a named consumer rather than
//! by the code that produced the events. Today one: `strategy_results`, the decisions of every
//! run (`strategy.DecisionMade`), readable at `GET /runs/{id}/decisions`.
//!
//! # Invariants
//! - At least once, idempotent: a batch's rows are written, then its offset committed; a batch
//!   delivered again after a crash writes nothing twice (unique decision event id).
//! - A failed write rewinds to the stored offset and retries after a pause: a decision is never
//!   skipped, and the events stay in the outbox until the projection passed them (retention
//!   never deletes above a consumer's offset).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Consumer, ConsumerOptions, StartFrom, Walle};

/// The consumer name of the decisions projection.
pub const DECISIONS_CONSUMER: &str = "decisions";

/// The pause before retrying after a failure.
const RETRY: Duration = Duration::from_secs(1);

impl Walle {
    /// Projects `strategy.DecisionMade` into `strategy_results` until `stop` (what `weaver
    /// serve` runs). Starts from the beginning of the retained outbox the first time, so no
    /// decision stored before the projection existed is left out.
    pub async fn run_decisions_projection(&self, stop: CancellationToken) {
        let opts = ConsumerOptions {
            batch_size: 1000,
            poll_interval: Duration::from_secs(2),
            start: StartFrom::Beginning,
        };
        let mut consumer = loop {
            match Consumer::open(self, DECISIONS_CONSUMER, opts).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(
                        code = e.code(),
                        "decisions projection cannot start; retrying: {e}"
                    );
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RETRY) => {}
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
                Ok(batch) => match self.project_decisions(&batch.events).await {
                    Ok(n) => {
                        metrics::counter!("weaver_decisions_projected_total").increment(n);
                        consumer.commit(&batch).await
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                metrics::counter!("weaver_consumer_failures_total", "consumer" => DECISIONS_CONSUMER)
                    .increment(1);
                tracing::warn!(
                    code = e.code(),
                    "decisions projection failed; retrying: {e}"
                );
                consumer.rewind();
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        }
    }
}
