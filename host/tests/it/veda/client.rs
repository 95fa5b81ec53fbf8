//! The Alpaca client against the fake: happy paths, definitive errors, symbols, pagination, secrets.

use chrono::{Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use rust_decimal::dec;
use serde_json::json;
use weaver::domain::{Side, Timeframe};
use weaver::veda::alpaca::fake::FakeConfig;
use weaver::veda::alpaca::models::ReplaceOrder;
use weaver::veda::{BarsRequest, Error, OrderQuery, OrderStatusFilter, Venue, VenueOrderStatus};

use super::{client_config, fake, limit, market, minute_bars, venue, venue_with};

#[tokio::test]
async fn account_assets_clock_and_calendar() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let account = venue.account().await.unwrap();
    assert_eq!(account.cash, dec!(100000));
    assert_eq!(account.buying_power, dec!(100000));
    assert_eq!(account.status, "ACTIVE");
    assert!(!account.trading_blocked);

    let crypto = venue.http().assets("crypto").await.unwrap();
    assert!(
        crypto
            .iter()
            .any(|a| a.symbol.as_deref() == Some("BTC/USD"))
    );
    let btc = venue.http().asset("BTC/USD").await.unwrap();
    assert_eq!(btc.asset_class.as_deref(), Some("crypto"));
    assert!(matches!(
        venue.http().asset("NOPE").await,
        Err(Error::NotFound { .. })
    ));

    let clock = venue.clock().await.unwrap();
    assert!((clock.timestamp - Utc::now()).num_seconds().abs() < 5);
    assert!(clock.next_open > clock.timestamp && clock.next_close > clock.timestamp);
    assert_eq!(clock.is_open, clock.next_close < clock.next_open);

    let start = NaiveDate::from_ymd_opt(2026, 8, 3).unwrap(); // a Monday
    let days = venue
        .calendar(start, start + ChronoDuration::days(13))
        .await
        .unwrap();
    assert_eq!(days.len(), 10, "two weeks of weekdays");
    assert_eq!(days[0].date, start);
    assert_eq!(days[0].open.to_string(), "09:30:00");
    assert_eq!(days[0].close.to_string(), "16:00:00");
}

#[tokio::test]
async fn orders_fill_move_positions_and_can_be_listed_cancelled_and_replaced() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);

    let bought = venue
        .submit_order(&market("t-buy-1", "AAPL", Side::Buy, dec!(10)))
        .await
        .unwrap();
    assert_eq!(bought.client_order_id, "t-buy-1");
    assert_eq!(bought.symbol, "AAPL");
    let now = venue.order(&bought.id).await.unwrap();
    assert_eq!(now.status, VenueOrderStatus::Filled);
    assert_eq!(now.filled_quantity, dec!(10));
    assert_eq!(now.filled_avg_price, Some(dec!(190)));
    let by_cid = venue.order_by_client_id("t-buy-1").await.unwrap().unwrap();
    assert_eq!(by_cid.id, bought.id);
    assert_eq!(venue.order_by_client_id("never-sent").await.unwrap(), None);

    let positions = venue.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(
        (positions[0].symbol.as_str(), positions[0].quantity),
        ("AAPL", dec!(10))
    );
    assert_eq!(venue.account().await.unwrap().cash, dec!(98100));

    // A resting limit order: open, then replaced (new id, old one `replaced`), then cancelled.
    let resting = venue
        .submit_order(&limit("t-lim-1", "MSFT", Side::Buy, dec!(2), dec!(400.5)))
        .await
        .unwrap();
    let open = venue.orders(&OrderQuery::default()).await.unwrap();
    assert_eq!(
        open.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        vec![resting.id.as_str()]
    );
    let change = ReplaceOrder {
        limit_price: Some("401".into()),
        client_order_id: Some("t-lim-1b".into()),
        ..Default::default()
    };
    let replacement = venue
        .http()
        .replace_order(&resting.id, &change)
        .await
        .unwrap();
    assert_ne!(replacement.id, resting.id);
    assert_eq!(replacement.limit_price, Some(dec!(401)));
    assert_eq!(replacement.replaces.as_deref(), Some(resting.id.as_str()));
    let old = venue.order(&resting.id).await.unwrap();
    assert_eq!(old.status, VenueOrderStatus::Replaced);
    assert_eq!(old.replaced_by.as_deref(), Some(replacement.id.as_str()));
    venue.cancel_order(&replacement.id).await.unwrap();
    assert_eq!(
        venue.order(&replacement.id).await.unwrap().status,
        VenueOrderStatus::Canceled
    );
    // Cancelling again: no longer cancelable (422), a definitive rejection.
    let again = venue.cancel_order(&replacement.id).await.unwrap_err();
    assert!(
        matches!(again, Error::Rejected { status: 422, .. }),
        "{again:?}"
    );

    let all = venue
        .orders(&OrderQuery {
            status: OrderStatusFilter::All,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let closed = venue
        .orders(&OrderQuery {
            status: OrderStatusFilter::Closed,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(closed.len(), 3);
    assert!(
        venue
            .orders(&OrderQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn definitive_rejections_carry_alpacas_codes() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let too_big = venue
        .submit_order(&market("t-big", "SPY", Side::Buy, dec!(1000)))
        .await
        .unwrap_err();
    assert_eq!(
        too_big,
        Error::Rejected {
            status: 403,
            code: Some(40310000),
            message: "insufficient buying power".into()
        }
    );
    assert!(too_big.is_definitive_rejection());
    let sub_penny = venue
        .submit_order(&limit("t-sub", "AAPL", Side::Buy, dec!(1), dec!(190.123)))
        .await
        .unwrap_err();
    match &sub_penny {
        Error::Rejected {
            status: 422,
            code: Some(42210000),
            message,
        } => assert!(message.contains("sub-penny"), "{message}"),
        other => panic!("expected a 422 sub-penny rejection, got {other:?}"),
    }
    let crypto_day = weaver::veda::OrderRequest {
        time_in_force: weaver::domain::TimeInForce::Day,
        ..market("t-cday", "BTC/USD", Side::Buy, dec!(0.01))
    };
    let err = venue.submit_order(&crypto_day).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rejected {
                status: 422,
                code: Some(42210000),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        venue.order("00000000-0000-0000-0000-000000000000").await,
        Err(Error::NotFound { .. })
    ));
    // None of these created an order.
    assert!(fake.orders().is_empty());
}

#[tokio::test]
async fn crypto_positions_are_reported_as_btcusd_and_normalised() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let order = venue
        .submit_order(&market("t-btc", "BTC/USD", Side::Buy, dec!(0.5)))
        .await
        .unwrap();
    assert_eq!(order.symbol, "BTC/USD");
    let raw = venue.positions().await.unwrap();
    assert_eq!(
        raw[0].symbol, "BTC/USD",
        "BTCUSD from the venue is normalised"
    );
    assert_eq!(raw[0].quantity, dec!(0.5));
    let one = venue.http().position("BTC/USD").await.unwrap().unwrap();
    assert_eq!(one.quantity, dec!(0.5));
    assert_eq!(venue.http().position("ETH/USD").await.unwrap(), None);
    // Selling more than held is refused with Alpaca's balance message.
    let err = venue
        .submit_order(&market("t-btc-sell", "BTC/USD", Side::Sell, dec!(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { status: 403, message, .. } if message.contains("insufficient balance")),
        "{err:?}"
    );
}

#[tokio::test]
async fn bars_follow_next_page_token_across_symbols() {
    let fake = fake(FakeConfig::default()).await;
    let start = Utc.with_ymd_and_hms(2026, 8, 10, 13, 30, 0).unwrap();
    let ms = start.timestamp_millis();
    fake.insert_bars("AAPL", &minute_bars(ms, 2500, 190.0));
    fake.insert_bars("MSFT", &minute_bars(ms, 1200, 410.0));
    fake.insert_bars("BTC/USD", &minute_bars(ms, 300, 60000.0));
    let venue = venue(&fake);
    let request = BarsRequest {
        symbols: vec!["AAPL".into(), "MSFT".into(), "BTC/USD".into(), "SPY".into()],
        timeframe: Timeframe::MINUTE,
        start,
        end: start + ChronoDuration::days(3),
        page_limit: Some(1000),
    };
    let bars = venue.bars(&request).await.unwrap();
    assert_eq!(bars["AAPL"].len(), 2500);
    assert_eq!(bars["MSFT"].len(), 1200);
    assert_eq!(bars["BTC/USD"].len(), 300);
    assert!(
        !bars.contains_key("SPY"),
        "symbols without data are omitted"
    );
    for list in bars.values() {
        assert!(
            list.windows(2).all(|w| w[0].ts + 60_000 == w[1].ts),
            "ordered, no gaps, no duplicates"
        );
    }
    assert_eq!(bars["AAPL"][0], minute_bars(ms, 1, 190.0)[0]);
    let stock_pages = fake
        .responses()
        .iter()
        .filter(|r| r.route == "/v2/stocks/bars")
        .count();
    assert_eq!(stock_pages, 4, "3700 stock bars at 1000 per page");

    // Hourly bars aggregate the minutes; the window is inclusive.
    let hourly = venue
        .bars(&BarsRequest {
            symbols: vec!["MSFT".into()],
            timeframe: "1Hour".parse().unwrap(),
            page_limit: None,
            ..request.clone()
        })
        .await
        .unwrap();
    // 13:30 to 09:29 next day touches 21 hours; the 13:00 bar starts before `start` and is left out.
    assert_eq!(hourly["MSFT"].len(), 20);
    assert_eq!(hourly["MSFT"][0].ts, ms + 30 * 60_000);

    let latest = venue
        .latest_bars(&["AAPL".into(), "BTC/USD".into(), "SPY".into()])
        .await
        .unwrap();
    assert_eq!(latest["AAPL"].ts, ms + 2499 * 60_000);
    assert_eq!(latest["BTC/USD"].ts, ms + 299 * 60_000);
    assert!(!latest.contains_key("SPY"));
}

#[tokio::test]
async fn rate_limit_waits_until_reset() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    fake.inject(weaver::veda::alpaca::fake::Fault::RateLimitStorm {
        requests: 2,
        reset_after: std::time::Duration::from_millis(1200),
    });
    let started = std::time::Instant::now();
    venue.account().await.unwrap();
    let answers = fake.responses();
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 429, 200]);
    let reset = answers[0]
        .rate_limit_reset
        .expect("429 carries X-RateLimit-Reset");
    assert!(
        answers[2].at.timestamp_millis() >= reset * 1000,
        "retried at {} before the reset {reset}",
        answers[2].at
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(1000));

    // A limit that resets later than we may wait ends with RateLimited, not a hang.
    let mut impatient = client_config(&fake);
    impatient.max_rate_limit_wait = std::time::Duration::from_millis(300);
    let impatient = venue_with(impatient);
    fake.inject(weaver::veda::alpaca::fake::Fault::RateLimitStorm {
        requests: 5,
        reset_after: std::time::Duration::from_secs(30),
    });
    let err = impatient.account().await.unwrap_err();
    assert_eq!(err.code(), "venue_rate_limited");
}

#[tokio::test]
async fn the_fakes_own_rate_limit_answers_429_with_headers() {
    let fake = fake(FakeConfig {
        rate_limit_per_minute: Some(3),
        ..FakeConfig::default()
    })
    .await;
    let mut config = client_config(&fake);
    config.max_rate_limit_wait = std::time::Duration::from_millis(100);
    let venue = venue_with(config);
    for _ in 0..3 {
        venue.account().await.unwrap();
    }
    assert_eq!(
        venue.account().await.unwrap_err().code(),
        "venue_rate_limited"
    );
    let answers = fake.responses();
    assert!(
        answers.iter().all(|r| r.rate_limit_headers),
        "every answer carries X-RateLimit-*"
    );
    assert_eq!(answers[3].status, 429);
}

#[tokio::test]
async fn wrong_keys_are_refused_and_never_echoed() {
    let fake = fake(FakeConfig::default()).await;
    let mut config = client_config(&fake);
    config.key_id = "PKSENTINELKEY0000".to_owned().into();
    config.secret_key = "SENTINELSECRET0000".to_owned().into();
    let venue = venue_with(config.clone());
    let err = venue.account().await.unwrap_err();
    assert_eq!(err, Error::Unauthorized { status: 401 });
    let err_order = venue
        .submit_order(&market("t-x", "AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap_err();
    for text in [
        format!("{err} {err:?}"),
        format!("{err_order} {err_order:?}"),
        format!("{config:?}"),
        format!("{venue:?}"),
    ] {
        assert!(!text.contains("SENTINEL"), "a key leaked: {text}");
    }
    // The stream refuses too, and gives up instead of retrying forever.
    let mut stream = venue.order_updates(Utc::now()).await.unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap();
    match first {
        Some(weaver::veda::OrderStreamEvent::Failed(e)) => {
            assert_eq!(e.code(), "venue_unauthorized");
            assert!(!format!("{e:?}").contains("SENTINEL"));
        }
        other => panic!("expected Failed(unauthorized), got {other:?}"),
    }
}

#[tokio::test]
async fn external_orders_are_visible_to_the_client() {
    let fake = fake(FakeConfig {
        fill_market_orders: false,
        ..FakeConfig::default()
    })
    .await;
    let venue = venue(&fake);
    let external = fake
        .place_external_order(json!({"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}))
        .unwrap();
    let open = venue.orders(&OrderQuery::default()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, external.id);
    assert!(fake.fill_order(&external.id, dec!(1), dec!(191)));
    let partial = venue.order(&external.id).await.unwrap();
    assert_eq!(partial.status, VenueOrderStatus::PartiallyFilled);
    assert_eq!(partial.filled_quantity, dec!(1));
}

#[tokio::test]
async fn order_lists_follow_pages_beyond_500() {
    let fake = fake(FakeConfig {
        fill_market_orders: false,
        ..FakeConfig::default()
    })
    .await;
    let venue = venue(&fake);
    let since = Utc::now() - ChronoDuration::seconds(1);
    for i in 0..620 {
        fake.place_external_order(json!({"symbol": "BTC/USD", "qty": "0.001", "side": "buy", "type": "market",
                                         "time_in_force": "gtc", "client_order_id": format!("page-{i}")}))
            .unwrap();
    }
    let all = venue
        .orders(&OrderQuery {
            status: OrderStatusFilter::All,
            after: Some(since),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 620);
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|o| o.client_order_id.as_str()).collect();
    assert_eq!(ids.len(), 620, "no order repeated across pages");
    let list_calls = fake
        .responses()
        .iter()
        .filter(|r| r.route == "/v2/orders" && r.method == "GET")
        .count();
    assert_eq!(list_calls, 2, "500 per page");
}
