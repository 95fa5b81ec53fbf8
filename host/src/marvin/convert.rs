//! Conversions between the domain vocabulary and the WIT bindings, and validation of what a
//! guest returns: every intent is untrusted input until it passes [`intents`].

use super::Error;
use super::bindings::weaver::strategy::types as wit;
use crate::domain;

/// Largest order size in units, price, or notional a strategy may ask for; anything above is a
/// bug or an attack, not a trade.
const MAX_UNITS: f64 = 1e9;
const MAX_PRICE: f64 = 1e9;
const MAX_NOTIONAL: f64 = 1e12;
/// Longest data window a strategy may request.
const MAX_LOOKBACK: u32 = 100_000;
/// Longest tag, client order id or symbol text accepted.
const MAX_ID_LEN: usize = 128;
/// Longest log line kept; longer ones are cut (with a marker), not refused.
pub(super) const MAX_LOG_LINE: usize = 4096;

pub(super) fn timeframe(tf: domain::Timeframe) -> wit::Timeframe {
    let unit = match tf.unit {
        domain::TimeUnit::Minute => wit::TimeUnit::Minute,
        domain::TimeUnit::Hour => wit::TimeUnit::Hour,
        domain::TimeUnit::Day => wit::TimeUnit::Day,
        domain::TimeUnit::Week => wit::TimeUnit::Week,
        domain::TimeUnit::Month => wit::TimeUnit::Month,
    };
    wit::Timeframe {
        amount: tf.amount,
        unit,
    }
}

fn timeframe_back(tf: wit::Timeframe) -> Result<domain::Timeframe, String> {
    if tf.amount == 0 {
        return Err("timeframe amount must be at least 1".into());
    }
    let unit = match tf.unit {
        wit::TimeUnit::Minute => domain::TimeUnit::Minute,
        wit::TimeUnit::Hour => domain::TimeUnit::Hour,
        wit::TimeUnit::Day => domain::TimeUnit::Day,
        wit::TimeUnit::Week => domain::TimeUnit::Week,
        wit::TimeUnit::Month => domain::TimeUnit::Month,
    };
    Ok(domain::Timeframe {
        amount: tf.amount,
        unit,
    })
}

pub(super) fn config(c: &domain::StrategyConfig) -> wit::Config {
    wit::Config {
        params: c.params.clone(),
        symbols: c.symbols.clone(),
        timeframe: timeframe(c.timeframe),
    }
}

pub(super) fn subscriptions(s: wit::Subscriptions) -> domain::Subscriptions {
    domain::Subscriptions {
        order_updates: s.contains(wit::Subscriptions::ORDER_UPDATES),
        account: s.contains(wit::Subscriptions::ACCOUNT),
        clock_ticks: s.contains(wit::Subscriptions::CLOCK_TICKS),
        lifecycle: s.contains(wit::Subscriptions::LIFECYCLE),
    }
}

/// Most extra series one strategy may declare.
pub(super) const MAX_SERIES: usize = 32;
/// Largest warm-up a strategy may declare, in bars (what a data window may hold).
pub(super) const MAX_WARMUP: u32 = MAX_LOOKBACK;

/// Checks and converts what a 0.3 guest declared in `init`; see [`super::Error::InvalidDeclaration`].
pub(super) fn declaration(d: wit::Declaration) -> Result<domain::Declaration, Error> {
    let refuse = |why: String| Error::InvalidDeclaration(why);
    if d.warmup > MAX_WARMUP {
        return Err(refuse(format!(
            "warmup: {} bars is more than the {MAX_WARMUP} a run can hold",
            d.warmup
        )));
    }
    if d.series.len() > MAX_SERIES {
        return Err(refuse(format!(
            "series: {} declared, at most {MAX_SERIES} are allowed",
            d.series.len()
        )));
    }
    let mut series: Vec<domain::SeriesDecl> = Vec::with_capacity(d.series.len());
    for (i, s) in d.series.into_iter().enumerate() {
        let symbol = s.symbol;
        if symbol.is_empty()
            || symbol.len() > MAX_ID_LEN
            || !symbol.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(refuse(format!(
                "series[{i}].symbol: {:?} is not a symbol (1 to {MAX_ID_LEN} printable ASCII characters, no spaces)",
                symbol.chars().take(100).collect::<String>()
            )));
        }
        let timeframe = series_timeframe(s.timeframe)
            .map_err(|why| refuse(format!("series[{i}] ({symbol}).timeframe: {why}")))?;
        let decl = domain::SeriesDecl { symbol, timeframe };
        if !series.contains(&decl) {
            series.push(decl);
        }
    }
    Ok(domain::Declaration {
        subscriptions: subscriptions(d.subscriptions),
        series,
        warmup: d.warmup,
    })
}

/// A declared series' timeframe: one a venue can serve (Alpaca's rules: 1-59 minutes, 1-23
/// hours, 1 day, 1 week, 1, 2, 3, 4, 6 or 12 months).
fn series_timeframe(tf: wit::Timeframe) -> Result<domain::Timeframe, String> {
    let tf = timeframe_back(tf)?;
    let ok = match tf.unit {
        domain::TimeUnit::Minute => tf.amount <= 59,
        domain::TimeUnit::Hour => tf.amount <= 23,
        domain::TimeUnit::Day | domain::TimeUnit::Week => tf.amount == 1,
        domain::TimeUnit::Month => [1, 2, 3, 4, 6, 12].contains(&tf.amount),
    };
    if ok {
        Ok(tf)
    } else {
        Err(format!(
            "{tf} is not a supported timeframe (1-59Min, 1-23Hour, 1Day, 1Week, 1/2/3/4/6/12Month)"
        ))
    }
}

pub(super) fn bar(b: &domain::Bar) -> wit::Bar {
    wit::Bar {
        ts: b.ts,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
    }
}

/// A batch with nothing in it (and nothing allocated).
pub(super) fn empty_batch() -> wit::BarBatch {
    wit::BarBatch {
        symbols: Vec::new(),
        ts: Vec::new(),
        ohlcv: Vec::new(),
    }
}

/// Refills `batch` with `bars` as the contract's little-endian byte columns, reusing its
/// allocations.
pub(super) fn fill_batch(batch: &mut wit::BarBatch, bars: &[domain::SymbolBar]) {
    batch.symbols.clear();
    batch.ts.clear();
    batch.ohlcv.clear();
    batch.symbols.reserve(4 * bars.len());
    batch.ts.reserve(8 * bars.len());
    batch.ohlcv.reserve(40 * bars.len());
    for b in bars {
        batch.symbols.extend_from_slice(&b.symbol.to_le_bytes());
        batch.ts.extend_from_slice(&b.bar.ts.to_le_bytes());
        for v in [b.bar.open, b.bar.high, b.bar.low, b.bar.close, b.bar.volume] {
            batch.ohlcv.extend_from_slice(&v.to_le_bytes());
        }
    }
}

pub(super) fn symbol_bar(b: &domain::SymbolBar) -> wit::SymbolBar {
    wit::SymbolBar {
        symbol: b.symbol,
        bar: bar(&b.bar),
    }
}

fn side(s: domain::Side) -> wit::Side {
    match s {
        domain::Side::Buy => wit::Side::Buy,
        domain::Side::Sell => wit::Side::Sell,
    }
}

fn side_back(s: wit::Side) -> domain::Side {
    match s {
        wit::Side::Buy => domain::Side::Buy,
        wit::Side::Sell => domain::Side::Sell,
    }
}

pub(super) fn envelope(e: &domain::StrategyEvent) -> wit::Envelope {
    let m = &e.meta;
    let payload = match &e.payload {
        domain::StrategyPayload::Bars(bars) => {
            wit::Payload::Bars(bars.iter().map(symbol_bar).collect())
        }
        domain::StrategyPayload::DataWindow {
            symbol,
            timeframe: tf,
            bars,
        } => wit::Payload::DataWindow(wit::DataWindow {
            symbol: symbol.clone(),
            timeframe: timeframe(*tf),
            bars: bars.iter().map(bar).collect(),
        }),
        domain::StrategyPayload::ClockTick => wit::Payload::ClockTick,
        domain::StrategyPayload::OrderUpdate(u) => wit::Payload::OrderUpdate(wit::OrderUpdate {
            client_order_id: u.client_order_id.clone(),
            symbol: u.symbol.clone(),
            side: side(u.side),
            status: match u.status {
                domain::OrderStatus::Accepted => wit::OrderStatus::Accepted,
                domain::OrderStatus::PartiallyFilled => wit::OrderStatus::PartiallyFilled,
                domain::OrderStatus::Filled => wit::OrderStatus::Filled,
                domain::OrderStatus::Cancelled => wit::OrderStatus::Cancelled,
                domain::OrderStatus::Rejected => wit::OrderStatus::Rejected,
            },
            fill_price: u.fill_price,
            fill_quantity: u.fill_quantity,
            filled_quantity: u.filled_quantity,
            fees: u.fees,
            reason: u.reason.clone(),
            tag: u.tag.clone(),
        }),
        domain::StrategyPayload::Account(a) => wit::Payload::Account(wit::AccountSnapshot {
            cash: a.cash,
            equity: a.equity,
            buying_power: a.buying_power,
            positions: a
                .positions
                .iter()
                .map(|p| wit::Position {
                    symbol: p.symbol.clone(),
                    quantity: p.quantity,
                    avg_price: p.avg_price,
                })
                .collect(),
        }),
        domain::StrategyPayload::Lifecycle(l) => wit::Payload::Lifecycle(match l {
            domain::Lifecycle::Started => wit::Lifecycle::Started,
            domain::Lifecycle::Stopping => wit::Lifecycle::Stopping,
        }),
        domain::StrategyPayload::Raw {
            content_type,
            bytes,
        } => wit::Payload::Raw(wit::RawPayload {
            content_type: content_type.clone(),
            bytes: bytes.clone(),
        }),
    };
    wit::Envelope {
        id: m.id.clone(),
        kind: match m.kind {
            domain::EventKind::Evt => wit::EventKind::Evt,
            domain::EventKind::Cmd => wit::EventKind::Cmd,
        },
        type_: m.event_type.clone(),
        version: m.version,
        run_id: m.run_id.clone(),
        corr_id: m.corr_id.clone(),
        causation_id: m.causation_id.clone(),
        trace_id: m.trace_id.clone(),
        ts: m.ts,
        producer: m.producer.clone(),
        headers: m
            .headers
            .iter()
            .map(|(name, value)| wit::Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        payload,
    }
}

/// Validates and converts what a guest returned for one event.
///
/// # Errors
/// `invalid_intent` naming the intent, the field and the reason; `strategy_output_too_large`
/// for more intents than allowed.
/// `symbols` are the run's; `window_symbols` adds the symbols of the declared series, which
/// `fetch-window` (only) may name.
pub(super) fn intents(
    raw: Vec<wit::Intent>,
    symbols: &[String],
    window_symbols: &[String],
    max: usize,
) -> Result<Vec<domain::Intent>, Error> {
    if raw.len() > max {
        return Err(Error::OutputTooLarge(format!(
            "{} intents for one event, at most {max} allowed",
            raw.len()
        )));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, intent)| {
            intent_checked(intent, symbols, window_symbols)
                .map_err(|why| Error::InvalidIntent(format!("intent #{i} {why}")))
        })
        .collect()
}

fn check_symbol(field: &str, symbol: String, symbols: &[String]) -> Result<String, String> {
    if symbols.contains(&symbol) {
        Ok(symbol)
    } else {
        let shown: String = symbol.chars().take(MAX_ID_LEN).collect();
        Err(format!(
            "{field}: {shown:?} is not one of the run's symbols ({})",
            symbols.join(", ")
        ))
    }
}

fn check_number(field: &str, value: f64, max: f64) -> Result<f64, String> {
    if !value.is_finite() {
        return Err(format!("{field}: must be a finite number, got {value}"));
    }
    if value <= 0.0 {
        return Err(format!("{field}: must be greater than 0, got {value}"));
    }
    if value > max {
        return Err(format!(
            "{field}: {value} is absurdly large (limit {max:e})"
        ));
    }
    Ok(value)
}

fn check_text(field: &str, text: Option<String>) -> Result<Option<String>, String> {
    match text {
        Some(t) if t.len() > MAX_ID_LEN => Err(format!("{field}: longer than {MAX_ID_LEN} bytes")),
        other => Ok(other),
    }
}

fn intent_checked(
    intent: wit::Intent,
    symbols: &[String],
    window_symbols: &[String],
) -> Result<domain::Intent, String> {
    Ok(match intent {
        wit::Intent::FetchWindow(w) => {
            let symbol = check_symbol("(fetch-window).symbol", w.symbol, window_symbols)?;
            let timeframe = timeframe_back(w.timeframe)
                .map_err(|e| format!("(fetch-window).timeframe: {e}"))?;
            if w.lookback == 0 || w.lookback > MAX_LOOKBACK {
                return Err(format!(
                    "(fetch-window).lookback: must be 1..={MAX_LOOKBACK}, got {}",
                    w.lookback
                ));
            }
            domain::Intent::FetchWindow {
                symbol,
                timeframe,
                lookback: w.lookback,
            }
        }
        wit::Intent::PlaceOrder(o) => {
            let symbol = check_symbol("(place-order).symbol", o.symbol, symbols)?;
            let size = match o.size {
                wit::OrderSize::Units(u) => domain::OrderSize::Units(check_number(
                    "(place-order).size.units",
                    u,
                    MAX_UNITS,
                )?),
                wit::OrderSize::Notional(n) => domain::OrderSize::Notional(check_number(
                    "(place-order).size.notional",
                    n,
                    MAX_NOTIONAL,
                )?),
                wit::OrderSize::EquityFraction(f) => domain::OrderSize::EquityFraction(
                    check_number("(place-order).size.equity-fraction", f, 1.0)?,
                ),
            };
            let price = |field: &str, p: Option<f64>| {
                p.map(|p| check_number(field, p, MAX_PRICE)).transpose()
            };
            let limit_price = price("(place-order).limit-price", o.limit_price)?;
            let stop_price = price("(place-order).stop-price", o.stop_price)?;
            let order_type = match o.order_type {
                wit::OrderType::Market => domain::OrderType::Market,
                wit::OrderType::Limit => domain::OrderType::Limit,
                wit::OrderType::Stop => domain::OrderType::Stop,
                wit::OrderType::StopLimit => domain::OrderType::StopLimit,
            };
            let (needs_limit, needs_stop) = match order_type {
                domain::OrderType::Market => (false, false),
                domain::OrderType::Limit => (true, false),
                domain::OrderType::Stop => (false, true),
                domain::OrderType::StopLimit => (true, true),
            };
            if needs_limit != limit_price.is_some() {
                return Err(format!(
                    "(place-order).limit-price: a {order_type:?} order {} a limit price",
                    if needs_limit {
                        "needs"
                    } else {
                        "must not have"
                    }
                ));
            }
            if needs_stop != stop_price.is_some() {
                return Err(format!(
                    "(place-order).stop-price: a {order_type:?} order {} a stop price",
                    if needs_stop { "needs" } else { "must not have" }
                ));
            }
            domain::Intent::PlaceOrder(domain::OrderIntent {
                symbol,
                side: side_back(o.side),
                order_type,
                time_in_force: match o.time_in_force {
                    wit::TimeInForce::Day => domain::TimeInForce::Day,
                    wit::TimeInForce::Gtc => domain::TimeInForce::Gtc,
                    wit::TimeInForce::Ioc => domain::TimeInForce::Ioc,
                    wit::TimeInForce::Fok => domain::TimeInForce::Fok,
                },
                limit_price,
                stop_price,
                size,
                tag: check_text("(place-order).tag", o.tag)?,
            })
        }
        wit::Intent::CancelOrder(id) => {
            if id.is_empty() || id.len() > MAX_ID_LEN {
                return Err(format!(
                    "(cancel-order).client-order-id: must be 1..={MAX_ID_LEN} bytes"
                ));
            }
            domain::Intent::CancelOrder {
                client_order_id: id,
            }
        }
        wit::Intent::ClosePosition(symbol) => domain::Intent::ClosePosition {
            symbol: check_symbol("(close-position).symbol", symbol, symbols)?,
        },
        wit::Intent::Log(line) => {
            let mut message = line.message;
            if message.len() > MAX_LOG_LINE {
                let mut cut = MAX_LOG_LINE;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str(" …[truncated]");
                // `truncate` keeps the capacity; the intent may live on in a run's log ring.
                message.shrink_to_fit();
            }
            domain::Intent::Log {
                level: match line.level {
                    wit::LogLevel::Debug => domain::LogLevel::Debug,
                    wit::LogLevel::Info => domain::LogLevel::Info,
                    wit::LogLevel::Warn => domain::LogLevel::Warn,
                    wit::LogLevel::Error => domain::LogLevel::Error,
                },
                message,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(
        symbol: &str,
        size: wit::OrderSize,
        order_type: wit::OrderType,
        limit: Option<f64>,
    ) -> wit::Intent {
        wit::Intent::PlaceOrder(wit::OrderIntent {
            symbol: symbol.into(),
            side: wit::Side::Buy,
            order_type,
            time_in_force: wit::TimeInForce::Gtc,
            limit_price: limit,
            stop_price: None,
            size,
            tag: None,
        })
    }

    fn check(intent: wit::Intent) -> Result<Vec<domain::Intent>, Error> {
        intents(vec![intent], &["GOOG".to_owned()], &["GOOG".to_owned()], 10)
    }

    #[test]
    fn nonsense_orders_are_refused_with_the_field_named() {
        let market = wit::OrderType::Market;
        let cases = [
            (
                order("GOOG", wit::OrderSize::Units(f64::NAN), market, None),
                "size.units",
            ),
            (
                order("GOOG", wit::OrderSize::Units(-5.0), market, None),
                "size.units",
            ),
            (
                order("GOOG", wit::OrderSize::Units(1e15), market, None),
                "absurdly large",
            ),
            (
                order("GOOG", wit::OrderSize::EquityFraction(1.5), market, None),
                "equity-fraction",
            ),
            (
                order("TSLA", wit::OrderSize::Units(1.0), market, None),
                "not one of the run's symbols",
            ),
            (
                order(
                    "GOOG",
                    wit::OrderSize::Units(1.0),
                    wit::OrderType::Limit,
                    None,
                ),
                "needs a limit price",
            ),
            (
                order(
                    "GOOG",
                    wit::OrderSize::Units(1.0),
                    wit::OrderType::Limit,
                    Some(f64::INFINITY),
                ),
                "limit-price",
            ),
            (
                order("GOOG", wit::OrderSize::Units(1.0), market, Some(10.0)),
                "must not have",
            ),
            (
                wit::Intent::ClosePosition("../../etc".into()),
                "close-position",
            ),
        ];
        for (intent, needle) in cases {
            let err = check(intent).unwrap_err();
            assert_eq!(err.code(), "invalid_intent");
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }

    #[test]
    fn good_orders_pass_and_long_logs_are_cut() {
        let ok = check(order(
            "GOOG",
            wit::OrderSize::EquityFraction(1.0),
            wit::OrderType::Market,
            None,
        ))
        .unwrap();
        assert!(
            matches!(ok[0], domain::Intent::PlaceOrder(ref o) if o.size == domain::OrderSize::EquityFraction(1.0))
        );
        let log = check(wit::Intent::Log(wit::LogLine {
            level: wit::LogLevel::Info,
            message: "é".repeat(10_000),
        }))
        .unwrap();
        let domain::Intent::Log { message, .. } = &log[0] else {
            panic!("not a log")
        };
        assert!(message.len() <= MAX_LOG_LINE + 20 && message.ends_with("[truncated]"));
        // Cut, it holds the memory of the cut, not of the 20 KB the guest sent.
        assert!(
            message.capacity() < 2 * MAX_LOG_LINE,
            "{}",
            message.capacity()
        );
        let many = vec![wit::Intent::CancelOrder("x".into()); 11];
        assert_eq!(
            intents(many, &[], &[], 10).unwrap_err().code(),
            "strategy_output_too_large"
        );
    }
}
