//! Weaver: a self-hosted, 24/7 automated trading system whose strategies are sandboxed
//! WebAssembly components.
//!
//! # Layout
//! One process, one module per job (see `docs/architecture.md`), listed in layer order:
//! - [`cli`]: the `weaver` command line; `main.rs` only parses and dispatches.
//! - [`app`]: the composition root and the process configuration: what `weaver serve` builds,
//!   starts and stops.
//! - [`glados`]: the only northbound API (REST + SSE), HTTP only.
//! - [`notify`]: notifications to the user (webhook, Telegram, Discord), an outbox consumer.
//! - [`runs`]: the lifecycle of paper and live runs, and the global trading state they share.
//! - [`veda`]: live market data and order execution (Alpaca first, a simulated exchange).
//! - [`greta`]: backtests — data windows, fill simulation, metrics; the server's backtest jobs.
//! - [`marvin`]: the wasmtime component host that runs strategies against `wit/`, and the
//!   strategy catalogue.
//! - [`walle`]: the single write path to the database (SQLite | Postgres): the transactional
//!   outbox, its consumers and retention.
//! - [`events`]: the event vocabulary — envelope, cursor, registry, payloads.
//! - [`domain`]: the shared trading vocabulary (bars, orders, intents, strategy events) and the
//!   [`domain::Strategy`] seam every engine drives.
//!
//! # The layer rule
//! A module imports only modules to its right in
//! `cli, app, glados, notify, runs, veda, greta, marvin, walle, events, domain`. Nothing right of
//! `glados` imports `axum`, `utoipa` or GLaDOS's error type (the fake Alpaca server excepted,
//! behind the default-on `fake-alpaca` feature); nothing but `cli` and `main.rs` imports
//! `clap`. `scripts/check-layers.sh` checks it (and that no file here exceeds 800 lines) in
//! `scripts/test.sh`.

pub mod app;
pub mod cli;
pub mod domain;
pub mod events;
pub mod glados;
pub mod greta;
pub mod marvin;
pub mod notify;
pub mod runs;
pub mod veda;
pub mod walle;
