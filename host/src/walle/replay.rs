//! What a replay reads besides candles and decisions: the inputs a run on a live venue took that
//! stored candles cannot give back (`run_inputs`, written by the run's input tape,
//! `veda::live::tape`), and the extent of a run's recorded decisions.
//!
//! # Invariants
//! - A run's inputs are numbered from 1 in the order its runner took them, without gaps; an
//!   input already stored (same run and number) is never overwritten.
//! - Bodies are stored as the JSON text they were given, so numbers come back bit for bit.

use chrono::{DateTime, Utc};

use super::{Result, Walle, exec, fetch};

/// One stored input of a run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunInput {
    /// Position in the run's inputs, from 1.
    pub seq: i64,
    /// What it is (`bar`, `order_update`, …; the tape's tag).
    pub kind: String,
    /// The input as JSON text.
    pub body: String,
}

/// How many decisions of a run are recorded, and the time of the latest event one answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedDecisions {
    /// Rows in `strategy_results`.
    pub count: i64,
    /// The latest `bar_ts` among them.
    pub last_bar_ts: Option<DateTime<Utc>>,
}

impl Walle {
    /// Appends inputs of run `run_id` (inputs already stored under the same number are kept).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn append_run_inputs(&self, run_id: i64, inputs: &[RunInput]) -> Result<()> {
        if inputs.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let mut tx = self.begin().await?;
        for i in inputs {
            exec!(
                tx.conn(),
                "insert into run_inputs (run_id, seq, kind, body, created_at) \
                 values ($1, $2, $3, $4, $5) on conflict (run_id, seq) do nothing",
                run_id,
                i.seq,
                i.kind.as_str(),
                i.body.as_str(),
                now,
            )?;
        }
        tx.commit().await
    }

    /// Run `run_id`'s inputs with `seq > after`, in order, at most `limit`.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_inputs(&self, run_id: i64, after: i64, limit: i64) -> Result<Vec<RunInput>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                RunInput,
                "select seq, kind, body from run_inputs where run_id = $1 and seq > $2 \
                 order by seq limit $3",
                run_id,
                after,
                limit,
            )
        })
        .await
    }

    /// The highest stored input number of run `run_id` (0 when none).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn last_run_input_seq(&self, run_id: i64) -> Result<i64> {
        #[derive(sqlx::FromRow)]
        struct Max {
            seq: Option<i64>,
        }
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    Max,
                    "select max(seq) as seq from run_inputs where run_id = $1",
                    run_id,
                )
            })
            .await?;
        Ok(row.seq.unwrap_or(0))
    }

    /// How many `strategy.DecisionMade` events of run `run_id` the decisions projection has not
    /// passed yet (all of them when it never ran on this database).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn unprojected_decisions(&self, run_id: i64) -> Result<i64> {
        #[derive(sqlx::FromRow)]
        struct Count {
            n: i64,
        }
        let run = run_id.to_string();
        let consumer = super::projections::DECISIONS_CONSUMER;
        let sql = if self.is_pg() {
            "select count(*) as n from outbox where event_type = 'strategy.DecisionMade' \
             and run_id = $1 and (transaction_id, id) > ( \
               coalesce((select last_xid from consumer_offsets where consumer = $2), '0'::xid8), \
               coalesce((select last_id from consumer_offsets where consumer = $2), 0))"
        } else {
            "select count(*) as n from outbox where event_type = 'strategy.DecisionMade' \
             and run_id = $1 and id > coalesce( \
               (select last_id from consumer_offsets where consumer = $2), 0)"
        };
        let row = self
            .read(async |c| fetch!(fetch_one, c, Count, sql, run.as_str(), consumer))
            .await?;
        Ok(row.n)
    }

    /// How many decisions of run `run_id` the projection holds, and the latest time answered.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn recorded_decisions(&self, run_id: i64) -> Result<RecordedDecisions> {
        #[derive(sqlx::FromRow)]
        struct Count {
            n: i64,
        }
        #[derive(sqlx::FromRow)]
        struct Last {
            bar_ts: Option<DateTime<Utc>>,
        }
        let count = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    Count,
                    "select count(*) as n from strategy_results where run_id = $1",
                    run_id,
                )
            })
            .await?;
        // Ordered rather than max(): both backends then decode the column's own type.
        let last = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    Last,
                    "select bar_ts from strategy_results where run_id = $1 and bar_ts is not null \
                     order by bar_ts desc limit 1",
                    run_id,
                )
            })
            .await?;
        Ok(RecordedDecisions {
            count: count.n,
            last_bar_ts: last.and_then(|l| l.bar_ts),
        })
    }
}
