//! The example strategies as components: sma-cross reproduces the reference signals, batched and
//! per-event paths agree, parameters are checked.

use weaver::domain::{
    Intent, OrderSize, Side, Strategy, StrategyEvent, StrategyPayload, Subscriptions, SymbolBar,
};

use super::{config, marvin, meta, ohlcv};
use crate::support::dist_bytes;

/// Signal bars and sides implied by a backtesting.py reference run: every trade (closed or still
/// open) was entered at the open of the bar after the signal.
fn reference_signals(dataset: &str) -> Vec<(usize, Side)> {
    let path = crate::testdata::reference(&format!("{dataset}-smacross-10-20.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reference {} missing: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("reference json");
    let trades = json["trades"].as_array().expect("trades").iter();
    let open = json["open_trades_at_end_not_in_stats"]
        .as_array()
        .expect("open trades")
        .iter();
    trades
        .chain(open)
        .map(|t| {
            let entry = t["entry_bar"].as_u64().expect("entry_bar") as usize;
            let side = if t["size"].as_i64().expect("size") > 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            (entry - 1, side)
        })
        .collect()
}

/// The side of a reversal signal: `[close-position, place-order(all-in)]`.
fn reversal_side(intents: &[Intent], symbol: &str) -> Side {
    match intents {
        [Intent::ClosePosition { symbol: s }, Intent::PlaceOrder(o)]
            if s == symbol && o.symbol == symbol =>
        {
            assert_eq!(o.size, OrderSize::EquityFraction(1.0));
            assert_eq!(o.order_type, weaver::domain::OrderType::Market);
            o.side
        }
        other => panic!("expected a reversal, got {other:?}"),
    }
}

/// Runs bars through `on_bars` in batches of `batch`, collecting (bar index, side).
fn signals_batched(
    strategy: &mut dyn Strategy,
    bars: &[SymbolBar],
    batch: usize,
    symbol: &str,
) -> Vec<(usize, Side)> {
    let mut out = vec![];
    let mut pos = 0;
    while pos < bars.len() {
        let end = (pos + batch).min(bars.len());
        let outcome = strategy
            .on_bars(&meta(bars[pos].bar.ts), &bars[pos..end])
            .expect("on_bars");
        assert!(outcome.consumed >= 1 && outcome.consumed <= end - pos);
        pos += outcome.consumed;
        if !outcome.intents.is_empty() {
            out.push((pos - 1, reversal_side(&outcome.intents, symbol)));
        }
    }
    out
}

#[test]
fn sma_cross_reproduces_reference_signals_through_the_sandbox() {
    let (marvin, _dir) = marvin();
    let strategy = marvin
        .load(&dist_bytes("sma-cross.wasm"))
        .expect("sma-cross loads");
    for dataset in ["GOOG", "EURUSD"] {
        let bars = ohlcv(dataset);
        let expected = reference_signals(dataset);
        assert!(expected.len() > 50, "{dataset}: reference has signals");
        for batch in [1, 7, 512] {
            let mut sandbox = strategy
                .instantiate(&config(&[("fast", "10"), ("slow", "20")], &[dataset]))
                .expect("init");
            let got = signals_batched(&mut sandbox, &bars, batch, dataset);
            assert_eq!(got, expected, "{dataset} batch {batch}");
            let stats = sandbox.stats();
            assert_eq!(stats.traps, 0);
            assert!(stats.fuel_total > 0 && stats.peak_memory_bytes > 0);
        }
    }
}

#[test]
fn sma_cross_per_event_path_matches_the_batched_path() {
    let (marvin, _dir) = marvin();
    let strategy = marvin
        .load(&dist_bytes("sma-cross.wasm"))
        .expect("sma-cross loads");
    let bars = ohlcv("GOOG");
    let mut batched = strategy.instantiate(&config(&[], &["GOOG"])).expect("init");
    let expected = signals_batched(&mut batched, &bars, 1000, "GOOG");
    let mut single = strategy.instantiate(&config(&[], &["GOOG"])).expect("init");
    let mut got = vec![];
    for (i, bar) in bars.iter().enumerate() {
        let event = StrategyEvent {
            meta: meta(bar.bar.ts),
            payload: StrategyPayload::Bars(vec![*bar]),
        };
        let intents = single.on_event(&event).expect("on_event");
        if !intents.is_empty() {
            got.push((i, reversal_side(&intents, "GOOG")));
        }
    }
    assert_eq!(got, expected);
    // Non-bar events go through the same export and produce nothing for this strategy.
    let tick = StrategyEvent {
        meta: meta(0),
        payload: StrategyPayload::ClockTick,
    };
    assert_eq!(single.on_event(&tick).expect("tick"), vec![]);
}

#[test]
fn sma_cross_refuses_bad_parameters_with_invalid_params() {
    let (marvin, _dir) = marvin();
    let strategy = marvin
        .load(&dist_bytes("sma-cross.wasm"))
        .expect("sma-cross loads");
    for (params, guest_code) in [
        (&[("fast", "ten")][..], "bad_param"),
        (&[("slow", "0")], "bad_param"),
        (&[("fsat", "5")], "unknown_param"),
    ] {
        let err = strategy
            .instantiate(&config(params, &["GOOG"]))
            .expect_err("must refuse");
        assert_eq!(err.code(), "invalid_params", "{params:?}: {err}");
        assert!(err.to_string().contains(guest_code), "{err}");
    }
}

#[test]
fn rsi_and_donchian_run_through_the_sandbox_and_validate() {
    let (marvin, _dir) = marvin();
    let bars = ohlcv("GOOG");
    for (name, params) in [
        (
            "rsi-reversion.wasm",
            &[("period", "14"), ("oversold", "30"), ("overbought", "70")][..],
        ),
        (
            "donchian-breakout.wasm",
            &[("entry", "20"), ("exit", "10")][..],
        ),
    ] {
        let loaded = marvin.load(&dist_bytes(name)).expect("loads");
        let mut sandbox = loaded
            .instantiate(&config(params, &["GOOG"]))
            .expect("init");
        let mut entries = 0;
        let mut exits = 0;
        let mut pos = 0;
        while pos < bars.len() {
            let out = sandbox.on_bars(&meta(0), &bars[pos..]).expect("on_bars");
            pos += out.consumed;
            for intent in out.intents {
                match intent {
                    Intent::PlaceOrder(o) => {
                        assert_eq!((o.side, o.symbol.as_str()), (Side::Buy, "GOOG"));
                        entries += 1;
                    }
                    Intent::ClosePosition { symbol } => {
                        assert_eq!(symbol, "GOOG");
                        exits += 1;
                    }
                    other => panic!("{name}: unexpected {other:?}"),
                }
            }
        }
        // Long-only strategies alternate entry and exit.
        assert!(entries >= 3, "{name}: {entries} entries on 8 years of GOOG");
        assert!(
            entries == exits || entries == exits + 1,
            "{name}: {entries} entries, {exits} exits"
        );
        let err = loaded
            .instantiate(&config(&[("nonsense", "1")], &["GOOG"]))
            .expect_err("unknown param");
        assert_eq!(err.code(), "invalid_params");
    }
}

#[test]
fn fuel_used_is_deterministic_for_the_same_events() {
    let (marvin, _dir) = marvin();
    let strategy = marvin
        .load(&dist_bytes("sma-cross.wasm"))
        .expect("sma-cross loads");
    let bars = ohlcv("EURUSD");
    let run = || {
        let mut sandbox = strategy
            .instantiate(&config(&[], &["EURUSD"]))
            .expect("init");
        let signals = signals_batched(&mut sandbox, &bars, 300, "EURUSD");
        (signals, sandbox.stats())
    };
    let (signals_a, a) = run();
    let (signals_b, b) = run();
    assert_eq!(signals_a, signals_b);
    assert_eq!(
        (a.calls, a.bars, a.fuel_total, a.fuel_max),
        (b.calls, b.bars, b.fuel_total, b.fuel_max)
    );
    assert_eq!(a.bars, bars.len() as u64);
    assert!(a.fuel_total > 0 && a.fuel_per_call() > 0.0);
}

#[test]
fn subscriptions_keep_unwanted_events_away_from_the_guest() {
    let (marvin, _dir) = marvin();
    let update = StrategyEvent {
        meta: meta(0),
        payload: StrategyPayload::OrderUpdate(weaver::domain::OrderUpdate {
            client_order_id: "w-1".into(),
            symbol: "GOOG".into(),
            side: Side::Buy,
            status: weaver::domain::OrderStatus::Filled,
            fill_price: Some(100.0),
            fill_quantity: 3.0,
            filled_quantity: 3.0,
            fees: 0.6,
            reason: None,
            tag: None,
        }),
    };

    // sma-cross trades on bars alone and says so in `init`: a fill costs it no guest call.
    let sma = marvin
        .load(&dist_bytes("sma-cross.wasm"))
        .expect("sma-cross loads");
    let mut sandbox = sma.instantiate(&config(&[], &["GOOG"])).expect("init");
    assert_eq!(sandbox.subscriptions(), Subscriptions::NONE);
    let calls = sandbox.stats().calls;
    assert_eq!(sandbox.on_event(&update).expect("ignored"), vec![]);
    assert_eq!(
        sandbox.stats().calls,
        calls,
        "an unwanted event must not reach the guest"
    );

    // A strategy that keeps the SDK default subscribes to everything and is called.
    let hostile = marvin
        .load(&dist_bytes("guests/hostile.wasm"))
        .expect("guest loads");
    let mut sandbox = hostile
        .instantiate(&config(&[("mode", "none")], &["GOOG"]))
        .expect("init");
    assert_eq!(sandbox.subscriptions(), Subscriptions::ALL);
    let calls = sandbox.stats().calls;
    sandbox.on_event(&update).expect("delivered");
    assert_eq!(
        sandbox.stats().calls,
        calls + 1,
        "a wanted event reaches the guest"
    );
}
