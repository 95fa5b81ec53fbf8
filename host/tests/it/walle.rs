//! WallE and Events contract suite: every test is an `async fn` taking a [`support::TestStore`]
//! and runs once on PostgreSQL and once on SQLite (see `contract!`). PostgreSQL tests need the
//! server at `WEAVER_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and fail
//! loudly without it.

pub(crate) mod support;

mod candles;
mod cli;
mod control;
mod disk_full;
mod event_log;
mod leases;
mod notifications;
mod outbox;
mod readers;
mod repo;
mod series_versions;
mod sweeps;
