//! Every fixture in `testdata/alpaca/examples/` decodes through the client's wire models and
//! parsers. The fixtures are the project's own, written from the shapes Alpaca documents (same
//! field names, types and structure as its OpenAPI schemas and documentation examples, own values).

use std::path::PathBuf;

use rust_decimal::dec;
use serde_json::Value;
use weaver::domain::Side;
use weaver::veda::alpaca::{models, parse};
use weaver::veda::{TradeEvent, VenueOrderStatus};

fn examples_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/alpaca/examples"
    ));
    assert!(
        dir.is_dir(),
        "Alpaca example fixtures not found at {}",
        dir.display()
    );
    dir
}

fn read(name: &str) -> String {
    let path = examples_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Decodes one example file; panics with the file name when it does not decode as expected.
fn check(name: &str) {
    let text = read(name);
    match name {
        "entity_order-v2.json" | "entity_order-v2-crypto.json" => {
            let wire: models::Order = serde_json::from_str(&text).unwrap();
            let order = parse::order(&wire).unwrap();
            let (id, symbol, notional) = if name.contains("crypto") {
                (
                    "36f675cc-81e7-4ef5-a8e2-5d940ed90475",
                    "ETH/USD",
                    dec!(75.5),
                )
            } else {
                ("6513270e-269e-4d37-b2a7-4de452e6b438", "MSFT", dec!(1250))
            };
            assert_eq!(order.id, id);
            assert_eq!(order.side, Side::Buy);
            assert_eq!(order.notional, Some(notional));
            assert_eq!(order.quantity, None);
            assert_eq!(order.status, VenueOrderStatus::Accepted);
            assert_eq!(order.symbol, symbol);
        }
        "entity_account-v2.json" => {
            let account = parse::account(&serde_json::from_str(&text).unwrap());
            assert_eq!(account.cash, dec!(-8412.37));
            assert_eq!(account.buying_power, dec!(183204.516));
            assert_eq!(account.equity, dec!(96577.41));
            assert_eq!(account.status, "ACTIVE");
        }
        "entity_position.json" => {
            let position = parse::position(&serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(position.symbol, "NVDA", "\"NVDA \" is trimmed");
            assert_eq!(position.quantity, dec!(12));
            assert_eq!(position.avg_entry_price, dec!(87.25));
        }
        "entity_asset-crypto-v2.json" => {
            let asset: models::Asset = serde_json::from_str(&text).unwrap();
            assert_eq!(asset.symbol.as_deref(), Some("BTC/USD"));
            assert_eq!(asset.min_order_size, Some(dec!(0.00002)));
            assert_eq!(asset.fractionable, Some(true));
        }
        "entity_clock.json" => {
            let clock = parse::clock(&serde_json::from_str(&text).unwrap()).unwrap();
            assert!(clock.is_open);
            assert_eq!(clock.next_close.to_rfc3339(), "2025-01-15T21:00:00+00:00");
        }
        "entity_calendar.json" => {
            let day = parse::calendar_day(&serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(day.date.to_string(), "2024-11-29");
            assert_eq!(day.open.to_string(), "09:30:00");
            assert_eq!(day.close.to_string(), "13:00:00", "early close");
        }
        "entity_bars-v2.json" => {
            let page: models::BarsPage = serde_json::from_str(&text).unwrap();
            let Some(models::BarsField::List(bars)) = &page.bars else {
                panic!("single-symbol bars are a list")
            };
            let parsed: Vec<_> = bars.iter().filter_map(parse::bar).collect();
            assert_eq!(parsed.len(), 2);
            assert_eq!(parsed[1].close, 439.52);
            assert_eq!(page.symbol.as_deref(), Some("QQQ"));
            assert!(page.next_page_token.is_some());
        }
        "entity_latest-quote-v2.json" | "entity_stream-quote-v2.json" => {
            let quote: models::Quote = serde_json::from_str(&text).unwrap();
            assert!(
                quote.bp.is_some() && quote.ap.is_some() && quote.t.is_some(),
                "{name}"
            );
        }
        "entity_latest-trade-v2.json" | "entity_stream-trade-v2.json" => {
            let trade: models::Trade = serde_json::from_str(&text).unwrap();
            assert!(
                trade.p.is_some() && trade.s.is_some() && trade.i.is_some(),
                "{name}"
            );
        }
        "entity_stream-bar-v2.json" => {
            let message: models::DataMessage = serde_json::from_str(&text).unwrap();
            let (symbol, bar) = parse::stream_bar(&message, false).unwrap();
            assert_eq!(symbol, "IWM");
            assert_eq!(bar.volume, 61027.0);
        }
        "stream_trade_updates_fill.json" => {
            let message: models::StreamMessage = serde_json::from_str(&text).unwrap();
            assert_eq!(message.stream.as_deref(), Some("trade_updates"));
            let data: models::TradeUpdateData =
                serde_json::from_value(message.data.unwrap()).unwrap();
            let update = parse::trade_update(&data).unwrap();
            assert_eq!(update.event, TradeEvent::Fill);
            assert_eq!(
                update.order.symbol, "LINK/USD",
                "crypto LINKUSD is normalised"
            );
            assert_eq!(update.order.status, VenueOrderStatus::Filled);
            assert_eq!(update.quantity, Some(dec!(412.5)));
            assert_eq!(update.position_quantity, Some(dec!(0)));
            assert_eq!(
                update.order.created_at.unwrap().to_rfc3339(),
                "2023-11-08T15:21:37.402918117+00:00"
            );
        }
        "errors_subpenny_422.json" => {
            let errors: Vec<models::ApiError> = serde_json::from_str(&text).unwrap();
            assert_eq!(errors.len(), 2);
            assert!(errors.iter().all(|e| e.code == Some(42210000)));
        }
        other => panic!("example {other} has no decoder in this test: add one"),
    }
}

#[test]
fn every_documented_example_decodes() {
    let index: Value = serde_json::from_str(&read("index.json")).unwrap();
    let names: Vec<&String> = index
        .as_object()
        .expect("index.json maps file → what it covers")
        .keys()
        .collect();
    assert!(names.len() >= 15, "index lists {} examples", names.len());
    for name in &names {
        check(name);
    }
    // Every file in the folder is listed in the index (so none escapes this test).
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            file == "index.json" || names.iter().any(|n| **n == file),
            "{file} is not in index.json"
        );
    }
}

#[test]
fn decoding_survives_schema_drift() {
    // Removed fields, numbers for strings, unknown fields, nulls everywhere.
    let account: models::Account = serde_json::from_str(
        r#"{"id":"x","status":"ACTIVE","cash":1000.5,"buying_power":"2000","brand_new":{"nested":[1,2]},
            "equity":null,"daytrade_count":"0"}"#,
    )
    .unwrap();
    let parsed = parse::account(&account);
    assert_eq!(
        (parsed.cash, parsed.buying_power, parsed.equity),
        (dec!(1000.5), dec!(2000), dec!(0))
    );
    let order: models::Order = serde_json::from_str(
        r#"{"id":"1","client_order_id":"c","side":"buy","order_type":"limit","limit_price":12.5,"qty":"1",
            "status":"some_future_status","symbol":"BTCUSD","asset_class":"crypto","legs":[{"weird":true}]}"#,
    )
    .unwrap();
    let parsed = parse::order(&order).unwrap();
    assert_eq!(
        parsed.order_type,
        weaver::domain::OrderType::Limit,
        "deprecated order_type still read"
    );
    assert_eq!(parsed.status, VenueOrderStatus::Unknown);
    assert_eq!(parsed.symbol, "BTC/USD");
    assert_eq!(parsed.limit_price, Some(dec!(12.5)));
}
