//! Veda: the Alpaca client against the local fake (happy paths, broker faults, streams), the
//! order journal, decoding of Alpaca's documented examples, and conformance of every answer the
//! fake sends to Alpaca's OpenAPI specs.

mod cli;
mod client;
mod data_cli;
mod examples;
mod faults;
mod journal;
mod journal_store;
mod reconcile;
mod recover;
mod redirect;
mod sim;
mod sim_envelopes;
mod spec;
mod streams;
mod windows;

use std::time::Duration;

use rust_decimal::Decimal;
use weaver::domain::{Bar, OrderType, Side, TimeInForce};
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeConfig};
use weaver::veda::alpaca::{AlpacaConfig, AlpacaVenue, ResolvePolicy, StreamOptions};
use weaver::veda::rate_limit::RequestBudget;
use weaver::veda::{OrderQuantity, OrderRequest};

/// Starts a fake with `config`.
pub(crate) async fn fake(config: FakeConfig) -> FakeAlpaca {
    FakeAlpaca::start(config)
        .await
        .expect("bind a local port for the fake")
}

/// Client settings for tests: timeouts generous enough for a loaded CI machine (tests of
/// timeouts shorten them, see [`impatient_venue`]), its own request budget.
pub(crate) fn client_config(fake: &FakeAlpaca) -> AlpacaConfig {
    let mut config = fake.client_config().expect("fake address forms a URL");
    config.request_timeout = Duration::from_secs(10);
    config.connect_timeout = Duration::from_millis(500);
    config.max_rate_limit_wait = Duration::from_secs(5);
    config
}

/// Fast stream timing for tests.
pub(crate) fn fast_streams() -> StreamOptions {
    StreamOptions {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(400),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        handshake_timeout: Duration::from_secs(5),
        ..StreamOptions::default()
    }
}

/// A venue on `config` with fast resolution and streams.
pub(crate) fn venue_with(config: AlpacaConfig) -> AlpacaVenue {
    AlpacaVenue::with_budget(config, RequestBudget::per_second(1000, 1000))
        .expect("client builds")
        .with_resolve_policy(ResolvePolicy {
            lookups: 2,
            lookup_delay: Duration::from_millis(50),
            submit_attempts: 3,
        })
        .with_stream_options(fast_streams())
}

/// A venue pointing at `fake`.
pub(crate) fn venue(fake: &FakeAlpaca) -> AlpacaVenue {
    venue_with(client_config(fake))
}

/// A venue whose requests time out after 1.5 s (faults answer after 5 s).
pub(crate) fn impatient_venue(fake: &FakeAlpaca) -> AlpacaVenue {
    let mut config = client_config(fake);
    config.request_timeout = Duration::from_millis(1500);
    venue_with(config)
}

/// How long an accepted order's answer is held back by `Fault::AcceptThenTimeout` in tests.
pub(crate) const SLOW_ANSWER: Duration = Duration::from_secs(5);

/// A market order request.
pub(crate) fn market(cid: &str, symbol: &str, side: Side, qty: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: cid.to_owned(),
        symbol: symbol.to_owned(),
        side,
        order_type: OrderType::Market,
        time_in_force: if symbol.contains('/') {
            TimeInForce::Gtc
        } else {
            TimeInForce::Day
        },
        quantity: OrderQuantity::Units(qty),
        limit_price: None,
        stop_price: None,
        extended_hours: false,
    }
}

/// A limit order request.
pub(crate) fn limit(
    cid: &str,
    symbol: &str,
    side: Side,
    qty: Decimal,
    price: Decimal,
) -> OrderRequest {
    OrderRequest {
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        limit_price: Some(price),
        ..market(cid, symbol, side, qty)
    }
}

/// `n` one-minute bars from `start_ms`.
pub(crate) fn minute_bars(start_ms: i64, n: usize, base: f64) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let p = base + (i % 17) as f64 * 0.25;
            Bar {
                ts: start_ms + i as i64 * 60_000,
                open: p,
                high: p + 0.5,
                low: p - 0.5,
                close: p + 0.1,
                volume: 100.0 + i as f64,
            }
        })
        .collect()
}

/// A simulated exchange in lockstep replaying daily `bars` of `symbol`, stored as candles in a
/// fresh SQLite WallE (the directory lives as long as the returned guard).
pub(crate) async fn daily_sim(
    symbol: &str,
    bars: &[Bar],
    broker: weaver::greta::broker::BrokerConfig,
) -> (
    tempfile::TempDir,
    weaver::walle::Walle,
    weaver::veda::sim::SimVenue,
) {
    use weaver::veda::sim::{SimConfig, SimVenue, Speed};
    use weaver::walle::{Candle, DbConfig, Walle};
    let dir = tempfile::tempdir().unwrap();
    let walle = Walle::connect(&DbConfig::sqlite_in(dir.path()))
        .await
        .unwrap();
    let candles: Vec<Candle> = bars
        .iter()
        .map(|b| Candle {
            symbol: symbol.into(),
            timeframe: "1Day".into(),
            ts: chrono::DateTime::from_timestamp_millis(b.ts).unwrap(),
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            source: "test".into(),
        })
        .collect();
    walle.upsert_candles(&candles, None).await.unwrap();
    let sim = SimVenue::from_walle(
        &walle,
        &[symbol.to_owned()],
        weaver::domain::Timeframe::DAY,
        chrono::DateTime::from_timestamp_millis(0).unwrap(),
        chrono::Utc::now(),
        SimConfig {
            broker,
            speed: Speed::Lockstep,
        },
    )
    .await
    .expect("sim builds from stored candles");
    (dir, walle, sim)
}
