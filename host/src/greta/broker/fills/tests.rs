//! Each fill model against prices and quantities computed by hand.

use super::*;
use crate::domain::{OrderIntent, OrderType, OrderUpdate};
use crate::greta::FillModel;
use crate::greta::broker::{BarView, BrokerConfig, Commission};

fn broker(fills: FillOptions, slippage_bps: f64) -> Broker {
    let cfg = BrokerConfig {
        cash: 1_000_000.0,
        commission: Commission::default(),
        slippage_bps,
        fill: FillModel::NextOpen,
        fractional: false,
    };
    Broker::with_fills(cfg, fills, "t")
}

fn bar(i: usize, open: f64, high: f64, low: f64, volume: f64) -> BarView {
    BarView {
        open,
        high,
        low,
        close: open,
        ts: i as i64 * 60_000,
        bar: i,
        prev_close: open,
        prev_bar: i.saturating_sub(1),
        prev_ts: i.saturating_sub(1) as i64 * 60_000,
        volume,
    }
}

fn order(side: Side, units: f64, tif: TimeInForce) -> OrderIntent {
    OrderIntent {
        symbol: "X".into(),
        side,
        order_type: OrderType::Market,
        time_in_force: tif,
        limit_price: None,
        stop_price: None,
        size: OrderSize::Units(units),
        tag: None,
    }
}

fn step(b: &mut Broker, view: BarView) -> Vec<OrderUpdate> {
    let mut out = Vec::new();
    b.process(&[Some(view)], &[view.close], &mut out);
    out
}

fn share(remainder: Remainder) -> FillOptions {
    FillOptions {
        volume_share: Some(VolumeShare {
            remainder,
            ..VolumeShare::default()
        }),
        ..FillOptions::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// 1000 units against 2.5 % of 20,000, 8,000 and 40,000: 500 at 100 + 100·0.1·0.025²
/// = 100.00625, 200 at 101 + 101·0.1·0.025² = 101.0063125, the last 300 (share 0.0075) at
/// 102 + 102·0.1·0.0075² = 102.00057375.
#[test]
fn volume_share_carries_the_rest_over_the_next_bars() {
    let mut b = broker(share(Remainder::Carry), 0.0);
    b.place(0, &order(Side::Buy, 1000.0, TimeInForce::Gtc));
    let u = step(&mut b, bar(1, 100.0, 101.0, 99.0, 20_000.0));
    assert_eq!(u[0].status, OrderStatus::PartiallyFilled);
    assert_eq!((u[0].fill_quantity, u[0].filled_quantity), (500.0, 500.0));
    assert!(close(u[0].fill_price.unwrap(), 100.006_25));
    let u = step(&mut b, bar(2, 101.0, 102.0, 100.0, 8_000.0));
    assert_eq!(u[0].status, OrderStatus::PartiallyFilled);
    assert_eq!((u[0].fill_quantity, u[0].filled_quantity), (200.0, 700.0));
    assert!(close(u[0].fill_price.unwrap(), 101.006_312_5));
    let u = step(&mut b, bar(3, 102.0, 103.0, 101.0, 40_000.0));
    assert_eq!(u[0].status, OrderStatus::Filled);
    assert_eq!((u[0].fill_quantity, u[0].filled_quantity), (300.0, 1000.0));
    assert!(close(u[0].fill_price.unwrap(), 102.000_573_75));
    assert!(!b.has_pending());
    let sizes: Vec<f64> = b.open_trades().iter().map(|t| t.size).collect();
    assert_eq!(sizes, [500.0, 200.0, 300.0]);
}

#[test]
fn volume_share_cancel_fills_what_fits_and_cancels_the_rest() {
    let mut b = broker(share(Remainder::Cancel), 0.0);
    b.place(0, &order(Side::Buy, 1000.0, TimeInForce::Gtc));
    let u = step(&mut b, bar(1, 100.0, 101.0, 99.0, 20_000.0));
    assert_eq!(u[0].status, OrderStatus::Cancelled);
    assert_eq!((u[0].fill_quantity, u[0].filled_quantity), (500.0, 500.0));
    assert!(
        u[0].reason
            .as_deref()
            .unwrap()
            .contains("500 units left unfilled")
    );
    assert!(!b.has_pending());
    assert_eq!(b.open_trades()[0].size, 500.0);
}

/// Two orders at one bar share its cap of 500: the first takes 300 (share 0.015, price
/// 100 + 100·0.1·0.015² = 100.00225), the second the 200 left (share 0.025, 100.00625).
#[test]
fn orders_of_one_bar_share_its_volume() {
    let mut b = broker(share(Remainder::Carry), 0.0);
    b.place(0, &order(Side::Buy, 300.0, TimeInForce::Gtc));
    b.place(0, &order(Side::Buy, 300.0, TimeInForce::Gtc));
    let u = step(&mut b, bar(1, 100.0, 101.0, 99.0, 20_000.0));
    assert_eq!(u[0].status, OrderStatus::Filled);
    assert!(close(u[0].fill_price.unwrap(), 100.002_25));
    assert_eq!(u[1].status, OrderStatus::PartiallyFilled);
    assert_eq!(u[1].fill_quantity, 200.0);
    assert!(close(u[1].fill_price.unwrap(), 100.006_25));
    // A sell closing 200 of the position is capped at the next bar's room and pays the impact
    // downwards: 100 units (2.5 % of 4,000) at 100 − 100·0.1·0.025².
    let mut b = broker(share(Remainder::Carry), 0.0);
    b.place(0, &order(Side::Buy, 200.0, TimeInForce::Gtc));
    step(&mut b, bar(1, 100.0, 101.0, 99.0, 1_000_000.0));
    b.close_position(0, "X");
    let u = step(&mut b, bar(2, 100.0, 101.0, 99.0, 4_000.0));
    assert_eq!(u[0].status, OrderStatus::PartiallyFilled);
    assert_eq!(u[0].fill_quantity, 100.0);
    assert!(close(u[0].fill_price.unwrap(), 99.993_75));
    assert_eq!(b.open_trades()[0].size, 100.0);
}

#[test]
fn a_bar_without_volume_fills_nothing_and_fok_does_not_fill_partly() {
    let mut b = broker(share(Remainder::Carry), 0.0);
    b.place(0, &order(Side::Buy, 10.0, TimeInForce::Gtc));
    assert!(step(&mut b, bar(1, 100.0, 101.0, 99.0, 0.0)).is_empty());
    assert!(b.has_pending());
    let u = step(&mut b, bar(2, 100.0, 101.0, 99.0, 1_000.0));
    assert_eq!(
        (u[0].status, u[0].fill_quantity),
        (OrderStatus::Filled, 10.0)
    );

    let mut b = broker(share(Remainder::Carry), 0.0);
    b.place(0, &order(Side::Buy, 1000.0, TimeInForce::Fok));
    let u = step(&mut b, bar(1, 100.0, 101.0, 99.0, 20_000.0));
    assert_eq!(
        (u[0].status, u[0].fill_quantity),
        (OrderStatus::Cancelled, 0.0)
    );
    assert!(b.open_trades().is_empty() && !b.has_pending());
}

/// Half-spread 0.1 × (110 − 90) = 2 on top of 10 bps of slippage: a buy at the open of 100
/// pays 100·1.001 + 2 = 102.1; the exit at a bar with range 10 gets 100·0.999 − 1 = 98.9.
/// A limit buy at 99 fills at its limit: the spread is for orders that take liquidity.
#[test]
fn spread_from_the_bars_range_is_paid_against_the_trader() {
    let opts = FillOptions {
        spread_hl: 0.1,
        ..FillOptions::default()
    };
    let mut b = broker(opts, 10.0);
    b.place(0, &order(Side::Buy, 10.0, TimeInForce::Gtc));
    let u = step(&mut b, bar(1, 100.0, 110.0, 90.0, 1e6));
    assert!(close(u[0].fill_price.unwrap(), 102.1));
    b.close_position(0, "X");
    let u = step(&mut b, bar(2, 100.0, 105.0, 95.0, 1e6));
    assert!(close(u[0].fill_price.unwrap(), 98.9));
    let mut limit = order(Side::Buy, 10.0, TimeInForce::Gtc);
    limit.order_type = OrderType::Limit;
    limit.limit_price = Some(99.0);
    b.place(0, &limit);
    let u = step(&mut b, bar(3, 100.0, 110.0, 90.0, 1e6));
    assert_eq!(u[0].fill_price, Some(99.0));
}

#[test]
fn latency_delays_an_order_by_whole_bars_of_its_symbol() {
    let opts = FillOptions {
        latency_bars: 2,
        ..FillOptions::default()
    };
    let mut b = broker(opts, 0.0);
    b.place(0, &order(Side::Buy, 10.0, TimeInForce::Gtc));
    assert!(step(&mut b, bar(1, 100.0, 101.0, 99.0, 1e6)).is_empty());
    assert!(step(&mut b, bar(2, 101.0, 102.0, 100.0, 1e6)).is_empty());
    let u = step(&mut b, bar(3, 102.0, 103.0, 101.0, 1e6));
    assert_eq!(u[0].fill_price, Some(102.0));
    // The end of a run closes at once, whatever the latency.
    b.close_all(&["X".to_owned()]);
    let u = step(&mut b, bar(3, 102.0, 103.0, 101.0, 1e6));
    assert_eq!(u[0].status, OrderStatus::Filled);
}

/// TAF: 100 shares × $0.000166 = $0.0166 → $0.02; 100,000 shares → $16.60, capped at $8.30.
/// SEC at its former $27.80 per million: $5,000 × 0.0000278 = $0.139 → $0.14.
#[test]
fn alpaca_fees_by_hand() {
    assert_eq!(alpaca_fee(100.0, 50.0), 0.0, "buys pay nothing");
    assert!(close(alpaca_fee(-100.0, 50.0), 0.02));
    assert!(close(alpaca_fee(-100_000.0, 50.0), 8.30));
    assert!(close(
        alpaca_fee_at(-100.0, 50.0, 27.80 / 1e6, TAF_PER_SHARE, TAF_MAX),
        0.16
    ));
    // An exact cent stays that cent: 0.07 is not rounded up to 0.08.
    assert!(close(alpaca_fee_at(-7.0, 1.0, 0.01, 0.0, 0.0), 0.07));

    let opts = FillOptions {
        commission_model: CommissionModel::Alpaca,
        ..FillOptions::default()
    };
    let mut b = broker(opts, 0.0);
    b.place(0, &order(Side::Buy, 100.0, TimeInForce::Gtc));
    let u = step(&mut b, bar(1, 50.0, 51.0, 49.0, 1e6));
    assert_eq!(u[0].fees, 0.0);
    b.close_position(0, "X");
    let u = step(&mut b, bar(2, 60.0, 61.0, 59.0, 1e6));
    assert!(close(u[0].fees, 0.02));
    assert!(close(b.cash(), 1_000_000.0 + 1_000.0 - 0.02));
    assert!(close(b.closed_trades()[0].commission, 0.02));
}

#[test]
fn the_description_names_the_models_in_use() {
    assert_eq!(FillOptions::default().describe(), "reference");
    let d = FillOptions {
        latency_bars: 1,
        commission_model: CommissionModel::Alpaca,
        ..share(Remainder::Cancel)
    }
    .describe();
    assert_eq!(
        d,
        "volume_share(limit 0.025, impact 0.1, remainder cancel), latency_bars 1, commission_model alpaca"
    );
}
