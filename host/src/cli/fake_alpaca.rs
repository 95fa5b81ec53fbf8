//! `weaver fake-alpaca`: serves the local fake of Alpaca (trading REST v2, market data v2, both
//! websockets) for offline development and tests. Point a client at it with
//! `APCA_API_BASE_URL=http://ADDR APCA_API_DATA_URL=http://ADDR APCA_API_STREAM_URL=ws://ADDR/stream
//! APCA_API_DATA_STREAM_URL=ws://ADDR` and the keys the fake was started with.
//!
//! # Invariants
//! - The fake's keys come from `--key-id` / `--secret-key` (or `APCA_API_KEY_ID` /
//!   `APCA_API_SECRET_KEY`); they are never printed or logged.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use crate::veda::alpaca::fake::{FakeConfig, serve};

/// Arguments of `weaver fake-alpaca`. `Debug` hides the keys.
#[derive(Args)]
pub struct FakeAlpacaArgs {
    /// Address to listen on (keep it on loopback: the fake has test keys).
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub bind: SocketAddr,
    /// Key id clients must send (`APCA-API-KEY-ID`).
    #[arg(
        long,
        env = "APCA_API_KEY_ID",
        default_value = "FAKEKEYID",
        hide_env_values = true
    )]
    pub key_id: String,
    /// Secret clients must send (`APCA-API-SECRET-KEY`).
    #[arg(
        long,
        env = "APCA_API_SECRET_KEY",
        default_value = "FAKESECRET",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub secret_key: String,
    /// Requests per minute before answering 429 (Alpaca: 200; 0 = unlimited).
    #[arg(long, default_value_t = 200)]
    pub rate_limit: u32,
    /// Minutes of synthetic 1-minute bars to seed per asset.
    #[arg(long, default_value_t = 3 * 24 * 60)]
    pub seed_minutes: u32,
}

impl std::fmt::Debug for FakeAlpacaArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAlpacaArgs")
            .field("bind", &self.bind)
            .field("key_id", &"[REDACTED]")
            .field("secret_key", &"[REDACTED]")
            .field("rate_limit", &self.rate_limit)
            .field("seed_minutes", &self.seed_minutes)
            .finish()
    }
}

/// Runs the fake until Ctrl-C.
///
/// # Errors
/// When the address cannot be bound or serving fails.
pub(super) fn run(args: FakeAlpacaArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        let config = FakeConfig {
            key_id: args.key_id,
            secret_key: args.secret_key,
            rate_limit_per_minute: (args.rate_limit > 0).then_some(args.rate_limit),
            seed_minutes: args.seed_minutes,
            // A long-running server must not keep every answer in memory.
            record_responses: false,
            ..FakeConfig::default()
        };
        // One write, and a closed stdout (a parent that stopped reading) must not stop the server.
        let banner = format!(
            "fake alpaca listening on http://{addr}\n  APCA_API_BASE_URL=http://{addr}\n  \
             APCA_API_DATA_URL=http://{addr}\n  APCA_API_STREAM_URL=ws://{addr}/stream\n  \
             APCA_API_DATA_STREAM_URL=ws://{addr}\n"
        );
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
        }
        tracing::info!(%addr, "fake alpaca started");
        serve(listener, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("fake alpaca server failed")
    })
}
