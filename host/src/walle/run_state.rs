//! Paper runs' accounts (starting cash, replay progress, latest snapshot) and logs.
//!
//! # Invariants
//! - One account row per run, written when the run is created; later writes only move the
//!   progress and replace the snapshot and the figures.
//! - A log line is stored at most once per `(run_id, seq)`: writing it again is a no-op, so a
//!   flush that is retried or overlaps an earlier one never duplicates lines.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::{Result, Tx, Walle, exec, fetch};

/// A paper run's account row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RunAccount {
    /// The run.
    pub run_id: i64,
    /// Starting cash.
    pub cash: f64,
    /// Bars delivered to the strategy so far (as of the last snapshot).
    pub bars: i64,
    /// The latest snapshot (the API's account view), if one was written.
    pub snapshot: Option<Json<serde_json::Value>>,
    /// The run's figures as of the latest snapshot (`runs::Figures`), if written.
    pub figures: Option<Json<serde_json::Value>>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Levels of a run's log from the least to the most severe.
pub const LOG_LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// The lines of a run's log a reader asks for: at a level or above, and containing a text.
/// The default keeps every line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// The least severe level kept (an index into [`LOG_LEVELS`]); lines of a level outside
    /// that list (none are written today) are always kept, as the dashboard always did.
    pub min_level: Option<usize>,
    /// Text the message contains, ignoring case (on SQLite, the case of ASCII letters only);
    /// lowercase, so a search does not lowercase it again for every line it reads.
    pub text: Option<String>,
}

/// The filter's SQL, after a `where` on the run: `$4` is the least severe level's rank (0 for
/// any), `$5` a `like` pattern ('' for any text). A macro so that the queries stay literals.
macro_rules! filter_sql {
    () => {
        "and ($4 = 0 or (case level when 'debug' then 0 when 'info' then 1 \
         when 'warn' then 2 when 'error' then 3 else 99 end) >= $4) \
         and ($5 = '' or lower(message) like $5 escape '\\') "
    };
}

impl LogFilter {
    /// Whether it keeps a line of `level` saying `message` (as the store's query decides).
    pub fn keeps(&self, level: &str, message: &str) -> bool {
        let floor = self.min_level.unwrap_or(0);
        if floor > 0
            && let Some(rank) = LOG_LEVELS.iter().position(|l| *l == level)
            && rank < floor
        {
            return false;
        }
        match self.text.as_deref() {
            None | Some("") => true,
            Some(t) => message.to_lowercase().contains(t),
        }
    }

    /// `$4` and `$5` of the store's query: the level's rank and the text as a `like` pattern with
    /// `%`, `_` and `\` taken literally.
    fn binds(&self) -> (i64, String) {
        let floor = self.min_level.unwrap_or(0) as i64;
        let pattern = match self.text.as_deref() {
            None | Some("") => String::new(),
            Some(t) => {
                let mut p = String::from("%");
                for ch in t.chars() {
                    if matches!(ch, '%' | '_' | '\\') {
                        p.push('\\');
                    }
                    p.push(ch);
                }
                p.push('%');
                p
            }
        };
        (floor, pattern)
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RunLogLine {
    /// Position in the run's log, from 1.
    pub seq: i64,
    /// When it was written (UTC).
    pub ts: DateTime<Utc>,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// One run's heartbeat as [`Walle::store_beats`] writes it: progress, snapshot, figures and the
/// log lines not stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct RunBeat {
    /// The run.
    pub run_id: i64,
    /// Bars delivered so far.
    pub bars: i64,
    /// The account snapshot.
    pub snapshot: serde_json::Value,
    /// The figures.
    pub figures: serde_json::Value,
    /// Log lines to append (lines already stored are skipped).
    pub logs: Vec<RunLogLine>,
}

const ACCOUNT_COLS: &str = "run_id, cash, bars, snapshot, figures, updated_at";

impl Walle {
    /// Creates run `run_id`'s account with `cash` (a second call keeps the first).
    ///
    /// # Errors
    /// [`super::Error::Database`] (for example an unknown run or cash ≤ 0).
    pub async fn insert_run_account(&self, run_id: i64, cash: f64) -> Result<()> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "insert into run_accounts (run_id, cash, bars, created_at, updated_at) \
             values ($1, $2, 0, $3, $3) on conflict (run_id) do nothing",
            run_id,
            cash,
            now,
        )?;
        tx.commit().await
    }

    /// Run `run_id`'s account.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_account(&self, run_id: i64) -> Result<Option<RunAccount>> {
        let sql = format!("select {ACCOUNT_COLS} from run_accounts where run_id = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                RunAccount,
                sqlx::AssertSqlSafe(sql.clone()),
                run_id
            )
        })
        .await
    }

    /// The accounts of runs with `from <= run_id <= to` (one query for a page of runs).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_accounts(&self, from: i64, to: i64) -> Result<Vec<RunAccount>> {
        let sql =
            format!("select {ACCOUNT_COLS} from run_accounts where run_id >= $1 and run_id <= $2");
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                RunAccount,
                sqlx::AssertSqlSafe(sql.clone()),
                from,
                to
            )
        })
        .await
    }

    /// Records run `run_id`'s progress, latest snapshot and figures.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn update_run_account(
        &self,
        run_id: i64,
        bars: i64,
        snapshot: &serde_json::Value,
        figures: &serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "update run_accounts set bars = $2, snapshot = $3, figures = $4, updated_at = $5 \
             where run_id = $1",
            run_id,
            bars,
            Json(snapshot),
            Json(figures),
            Utc::now(),
        )?;
        tx.commit().await
    }

    /// Records the heartbeats of several runs in one transaction: each one's progress,
    /// snapshot and figures ([`Walle::update_run_account`]) and its new log lines
    /// ([`Walle::append_run_logs`]). One commit for many runs: on SQLite every commit is an
    /// fsync, and thousands of runs beating one commit each would fill the single writer.
    ///
    /// # Errors
    /// [`super::Error::Database`]; then nothing is written.
    pub async fn store_beats(&self, beats: &[RunBeat]) -> Result<()> {
        if beats.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let mut tx = self.begin().await?;
        for b in beats {
            exec!(
                tx.conn(),
                "update run_accounts set bars = $2, snapshot = $3, figures = $4, updated_at = $5 \
                 where run_id = $1",
                b.run_id,
                b.bars,
                Json(&b.snapshot),
                Json(&b.figures),
                now,
            )?;
            insert_logs(&mut tx, b.run_id, &b.logs, now).await?;
        }
        tx.commit().await
    }

    /// Appends log lines of run `run_id` (lines already stored are skipped).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn append_run_logs(&self, run_id: i64, lines: &[RunLogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        insert_logs(&mut tx, run_id, lines, Utc::now()).await?;
        tx.commit().await
    }

    /// Run `run_id`'s log lines with `seq > after`, oldest first.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_logs(&self, run_id: i64, after: i64, limit: i64) -> Result<Vec<RunLogLine>> {
        self.run_logs_matching(run_id, after, limit, &LogFilter::default())
            .await
    }

    /// Run `run_id`'s log lines with `seq > after` that `filter` keeps, oldest first.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_logs_matching(
        &self,
        run_id: i64,
        after: i64,
        limit: i64,
        filter: &LogFilter,
    ) -> Result<Vec<RunLogLine>> {
        let (floor, pattern) = filter.binds();
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                RunLogLine,
                concat!(
                    "select seq, ts, level, message from run_logs \
                     where run_id = $1 and seq > $2 ",
                    filter_sql!(),
                    "order by seq limit $3"
                ),
                run_id,
                after,
                limit,
                floor,
                pattern.clone(),
            )
        })
        .await
    }

    /// Run `run_id`'s log lines with `after < seq < before`, newest first: a page of what a
    /// person reads from the end backwards.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_logs_newest(
        &self,
        run_id: i64,
        after: i64,
        before: i64,
        limit: i64,
        filter: &LogFilter,
    ) -> Result<Vec<RunLogLine>> {
        let (floor, pattern) = filter.binds();
        // $4 and $5 are the filter's in both reads, so the limit comes last here.
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                RunLogLine,
                concat!(
                    "select seq, ts, level, message from run_logs \
                     where run_id = $1 and seq > $2 and seq < $3 ",
                    filter_sql!(),
                    "order by seq desc limit $6"
                ),
                run_id,
                after,
                before,
                floor,
                pattern.clone(),
                limit,
            )
        })
        .await
    }

    /// The highest stored log `seq` of run `run_id` (0 when none).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn last_run_log_seq(&self, run_id: i64) -> Result<i64> {
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
                    "select max(seq) as seq from run_logs where run_id = $1",
                    run_id,
                )
            })
            .await?;
        Ok(row.seq.unwrap_or(0))
    }

    /// How many runs are in each status (statuses with no run are absent).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_status_counts(&self) -> Result<Vec<(String, i64)>> {
        #[derive(sqlx::FromRow)]
        struct Count {
            status: String,
            n: i64,
        }
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    Count,
                    "select status, count(*) as n from runs group by status"
                )
            })
            .await?;
        Ok(rows.into_iter().map(|r| (r.status, r.n)).collect())
    }
}

/// Inserts run `run_id`'s log `lines` inside `tx` (lines already stored are skipped).
async fn insert_logs(
    tx: &mut Tx,
    run_id: i64,
    lines: &[RunLogLine],
    now: DateTime<Utc>,
) -> Result<()> {
    for l in lines {
        exec!(
            tx.conn(),
            "insert into run_logs (run_id, seq, ts, level, message, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $6) on conflict (run_id, seq) do nothing",
            run_id,
            l.seq,
            l.ts,
            l.level.as_str(),
            l.message.as_str(),
            now,
        )?;
    }
    Ok(())
}
