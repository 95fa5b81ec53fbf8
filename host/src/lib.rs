//! Weaver: a self-hosted, 24/7 automated trading system whose strategies are sandboxed
//! WebAssembly components.
//!
//! # Layout
//! One process, one module per job (see `docs/architecture.md`):
//! - [`domain`]: the shared trading vocabulary (bars, orders, intents, strategy events) and the
//!   [`domain::Strategy`] seam every engine drives.
//! - `glados`: control plane and the only northbound API (REST + SSE), run lifecycle, routing.
//! - `events`: the event vocabulary: envelope, cursor, registry of event types and payloads.
//! - `veda`: live market data and order execution (Alpaca first, a simulated exchange).
//! - `greta`: backtests — data windows, fill simulation, metrics.
//! - `marvin`: the wasmtime component host that runs strategies against `wit/`.
//! - `walle`: the single write path to the database (SQLite | Postgres); the transactional
//!   outbox, its consumers and retention.
//! - [`cli`]: the `weaver` command line; `main.rs` only parses and dispatches.

pub mod cli;
pub mod domain;
pub mod events;
pub mod glados;
pub mod greta;
pub mod marvin;
pub mod veda;
pub mod walle;
