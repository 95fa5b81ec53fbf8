//! A title and one line of text per rule, from the event's payload and (for runs) the run's
//! strategy name: "Run 7 (sma-cross) failed: order_journal_failed".
//!
//! # Invariants
//! - Pure: the caller looks the strategy name up; a payload missing a field still renders
//!   (with `?`), it never fails a notification.

use serde_json::Value;

use super::channels::Message;
use super::rules::Rule;
use crate::events::Envelope;

/// Builds the notification of `event` under `rule`; `strategy` is the run's strategy name when
/// the event concerns a run and it is known.
pub fn message(rule: Rule, event: &Envelope, strategy: Option<&str>) -> Message {
    let p = &event.payload;
    let s = |k: &str| -> String {
        match p.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => "?".to_owned(),
            Some(other) => other.to_string(),
        }
    };
    let run_id = run_id_of(event);
    let run = match (run_id, strategy) {
        (Some(id), Some(name)) => format!("Run {id} ({name})"),
        (Some(id), None) => format!("Run {id}"),
        (None, _) => "A run".to_owned(),
    };
    let account = p.get("account").and_then(Value::as_str).map(str::to_owned);
    let (title, text) = match rule {
        Rule::RunFailed => {
            let code = p.get("error_code").and_then(Value::as_str);
            (
                format!("{run} failed"),
                match code {
                    Some(code) => format!("{run} failed: {code}"),
                    None => format!("{run} failed"),
                },
            )
        }
        Rule::RunSuspended => (
            format!("{run} suspended"),
            format!("{run} suspended; it resumes when the server starts again"),
        ),
        Rule::LimitBreached => (
            format!("{run}: {} tripped", s("rule")),
            format!(
                "{run} {} tripped: {} against {} → {}{}",
                s("rule"),
                figure(p, "figure"),
                figure(p, "limit"),
                s("state"),
                until(p)
            ),
        ),
        Rule::AccountLimitBreached => (
            format!("Account {}: {} tripped", s("account"), s("rule")),
            format!(
                "Account {} {} tripped: {} against {} → {}{}",
                s("account"),
                s("rule"),
                figure(p, "figure"),
                figure(p, "limit"),
                s("state"),
                until(p)
            ),
        ),
        Rule::OrderDenied => {
            let whose = p
                .get("account")
                .and_then(Value::as_str)
                .map(|a| format!(" by account {a}"))
                .unwrap_or_default();
            let measured = match (p.get("figure"), p.get("limit")) {
                (Some(f), Some(l)) if !f.is_null() && !l.is_null() => {
                    format!(" {} > {}", number(f), number(l))
                }
                _ => String::new(),
            };
            (
                format!("{run}: order denied ({})", s("rule")),
                format!(
                    "{run} order denied{whose}: {}{measured} ({} {})",
                    s("rule"),
                    s("side"),
                    s("symbol")
                ),
            )
        }
        Rule::RunTradingState => (
            format!("{run} trading state: {}", s("state")),
            format!("{run} trading state set to {} by hand", s("state")),
        ),
        Rule::AccountTradingState => (
            format!("Account {} trading state: {}", s("account"), s("state")),
            format!(
                "Account {} trading state set to {} by hand",
                s("account"),
                s("state")
            ),
        ),
        Rule::TradingState => (
            format!("Trading state: {}", s("state")),
            format!("The global trading state was set to {} by hand", s("state")),
        ),
        Rule::OrderRejected => (
            format!("Order rejected: {}", s("symbol")),
            format!(
                "{run}: the venue rejected order {} ({})",
                s("client_order_id"),
                s("symbol")
            ),
        ),
        Rule::PositionMismatch => {
            let gone = p
                .get("difference")
                .map(number)
                .is_some_and(|d| d.parse::<f64>().is_ok_and(|d| d == 0.0));
            if gone {
                (
                    format!("Position mismatch {} resolved", s("symbol")),
                    format!(
                        "Position mismatch {} on {} is gone: broker {}, Weaver {}",
                        s("symbol"),
                        s("account"),
                        figure(p, "broker_qty"),
                        figure(p, "recorded_qty")
                    ),
                )
            } else {
                (
                    format!("Position mismatch {}", s("symbol")),
                    format!(
                        "Position mismatch {} on {}: broker {}, Weaver {}",
                        s("symbol"),
                        s("account"),
                        figure(p, "broker_qty"),
                        figure(p, "recorded_qty")
                    ),
                )
            }
        }
        Rule::AutoRollback => (
            format!("{run} rolled back"),
            format!(
                "{run} went back to strategy {} at {}: the promoted version {} ({})",
                figure(p, "to_strategy_id"),
                s("at_bar"),
                figure(p, "from_strategy_id"),
                s("error_code")
            ),
        ),
        Rule::Warning => (format!("Weaver {}", s("level")), s("message")),
        Rule::StoreFault => (
            if s("level") == "info" {
                "Weaver: the store writes again".to_owned()
            } else {
                format!("Weaver: store fault ({})", s("kind"))
            },
            s("message"),
        ),
    };
    // A percentage rule reads as one: "5.2% against 5%".
    let text = if p
        .get("rule")
        .and_then(Value::as_str)
        .is_some_and(|r| r.ends_with("_pct"))
        && matches!(rule, Rule::LimitBreached | Rule::AccountLimitBreached)
    {
        percent(&text, p)
    } else {
        text
    };
    Message {
        id: event.id.to_string(),
        event_type: event.event_type.clone(),
        ts: event
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        run_id,
        account,
        title,
        text,
        payload: event.payload.clone(),
    }
}

/// The run an event concerns: its payload's `run_id`, else the envelope's.
pub fn run_id_of(event: &Envelope) -> Option<i64> {
    event
        .payload
        .get("run_id")
        .and_then(Value::as_i64)
        .or_else(|| event.run_id.as_deref().and_then(|r| r.parse().ok()))
}

fn number(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    }
}

fn figure(p: &Value, k: &str) -> String {
    p.get(k).map_or_else(|| "?".to_owned(), number)
}

fn until(p: &Value) -> String {
    match p.get("until").and_then(Value::as_str) {
        Some(u) => format!(" until {u}"),
        None => String::new(),
    }
}

/// Puts a `%` after the figure and the limit of a percentage rule.
fn percent(text: &str, p: &Value) -> String {
    let (f, l) = (figure(p, "figure"), figure(p, "limit"));
    text.replacen(
        &format!("{f} against {l}"),
        &format!("{f}% against {l}%"),
        1,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(t: &str, payload: Value) -> Envelope {
        Envelope::new(t, "test", payload).expect("envelope")
    }

    #[test]
    fn a_failed_run_names_its_strategy_and_code() {
        let e = event(
            "run.StatusChanged",
            json!({"run_id": 7, "status": "failed", "error_code": "order_journal_failed"}),
        );
        let m = message(Rule::RunFailed, &e, Some("sma-cross"));
        assert_eq!(m.title, "Run 7 (sma-cross) failed");
        assert_eq!(m.text, "Run 7 (sma-cross) failed: order_journal_failed");
        assert_eq!(m.run_id, Some(7));
        assert_eq!(m.id, e.id.to_string());
        assert_eq!(m.event_type, "run.StatusChanged");
    }

    #[test]
    fn breaches_read_as_figure_against_limit() {
        let e = event(
            "risk.AccountLimitBreached",
            json!({"account": "alpaca/PA3X", "rule": "daily_loss_pct", "figure": "5.2",
                   "limit": "5", "state": "halted", "at": "2026-01-02T15:00:00Z", "until": null}),
        );
        let m = message(Rule::AccountLimitBreached, &e, None);
        assert_eq!(
            m.text,
            "Account alpaca/PA3X daily_loss_pct tripped: 5.2% against 5% → halted"
        );
        assert_eq!(m.account.as_deref(), Some("alpaca/PA3X"));
        let e = event(
            "risk.LimitBreached",
            json!({"run_id": 3, "rule": "cooldown", "figure": "2", "limit": "2",
                   "state": "reduce_only", "at": "2026-01-02T15:00:00Z",
                   "until": "2026-01-02T16:00:00Z"}),
        );
        let m = message(Rule::LimitBreached, &e, Some("rsi"));
        assert_eq!(
            m.text,
            "Run 3 (rsi) cooldown tripped: 2 against 2 → reduce_only until 2026-01-02T16:00:00Z"
        );
    }

    #[test]
    fn denials_mismatches_and_states_read_in_one_line() {
        let e = event(
            "risk.OrderDenied",
            json!({"run_id": 4, "client_order_id": "c", "symbol": "GOOG", "side": "buy",
                   "rule": "max_notional_per_order", "code": "risk_limit", "figure": "1234.5",
                   "limit": "1000", "message": "…"}),
        );
        assert_eq!(
            message(Rule::OrderDenied, &e, None).text,
            "Run 4 order denied: max_notional_per_order 1234.5 > 1000 (buy GOOG)"
        );
        let e = event(
            "reconcile.PositionMismatch",
            json!({"account": "alpaca/PA3X", "symbol": "AAPL", "broker_qty": "10",
                   "recorded_qty": "8", "difference": "2"}),
        );
        assert_eq!(
            message(Rule::PositionMismatch, &e, None).text,
            "Position mismatch AAPL on alpaca/PA3X: broker 10, Weaver 8"
        );
        let e = event(
            "ui.TradingState",
            json!({"state": "halted", "updated_at": "x"}),
        );
        assert_eq!(
            message(Rule::TradingState, &e, None).text,
            "The global trading state was set to halted by hand"
        );
        let e = event(
            "ui.Notice",
            json!({"level": "warn", "message": "The decisions consumer is 40 s behind"}),
        );
        let m = message(Rule::Warning, &e, None);
        assert_eq!(m.title, "Weaver warn");
        assert_eq!(m.text, "The decisions consumer is 40 s behind");
    }
}
