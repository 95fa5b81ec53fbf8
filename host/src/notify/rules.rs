//! Which events notify, and where to: the built-in rules, each sent to every configured channel
//! (`all`), one channel, or switched `off`.
//!
//! The text form (`WEAVER_NOTIFY_RULES`, and what the API stores) is a comma-separated list of
//! `rule=route`, e.g. `order_denied=off,run_failed=telegram`; a rule not named is `all`.
//!
//! # Invariants
//! - Matching reads only the event's type and a status field of its payload: cheap enough for
//!   every event of the outbox.
//! - An unknown rule or route is refused whole, naming it; nothing half-applies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Error;
use super::channels::Channel;
use crate::events::Envelope;

/// The `source` of the `ui.Notice`s about a store fault (`notify::faults`).
pub const STORE_FAULT_SOURCE: &str = "store_fault";

/// A built-in rule: a family of events worth telling the user about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `run.StatusChanged` to `failed`.
    RunFailed,
    /// `run.StatusChanged` to `suspended`.
    RunSuspended,
    /// `risk.LimitBreached`: a run's daily loss, drawdown or cooldown tripped.
    LimitBreached,
    /// `risk.OrderDenied`: the pre-trade checks refused an order.
    OrderDenied,
    /// `risk.AccountLimitBreached`: an account's daily loss or drawdown tripped.
    AccountLimitBreached,
    /// `risk.TradingStateChanged`: a run's own trading state set by hand.
    RunTradingState,
    /// `risk.AccountTradingStateChanged`: an account's trading state set by hand.
    AccountTradingState,
    /// `ui.TradingState`: the global trading switch set by hand.
    TradingState,
    /// `orders.Updated` to `rejected`: a venue refused an order.
    OrderRejected,
    /// `reconcile.PositionMismatch`: the broker's position differs from Weaver's records.
    PositionMismatch,
    /// `run.VersionSwitched` with reason `auto_rollback`: a promoted version trapped or broke a
    /// risk rule and the run went back to the version before.
    AutoRollback,
    /// `ui.Notice` at level `warn` or `error`: a critical consumer far behind (runs throttled).
    Warning,
    /// The store cannot be written (a database outage, a full disk): told directly while it
    /// lasts (`notify::faults`), then by the `ui.Notice`s with `source: store_fault` written
    /// once it writes again (the fault, and "back after N s").
    StoreFault,
}

impl Rule {
    /// Every rule, in the order the API lists them.
    pub const ALL: [Rule; 13] = [
        Rule::RunFailed,
        Rule::RunSuspended,
        Rule::LimitBreached,
        Rule::OrderDenied,
        Rule::AccountLimitBreached,
        Rule::RunTradingState,
        Rule::AccountTradingState,
        Rule::TradingState,
        Rule::OrderRejected,
        Rule::PositionMismatch,
        Rule::AutoRollback,
        Rule::Warning,
        Rule::StoreFault,
    ];

    /// Its name in the text form and the API.
    pub fn name(self) -> &'static str {
        match self {
            Rule::RunFailed => "run_failed",
            Rule::RunSuspended => "run_suspended",
            Rule::LimitBreached => "limit_breached",
            Rule::OrderDenied => "order_denied",
            Rule::AccountLimitBreached => "account_limit_breached",
            Rule::RunTradingState => "run_trading_state",
            Rule::AccountTradingState => "account_trading_state",
            Rule::TradingState => "trading_state",
            Rule::OrderRejected => "order_rejected",
            Rule::PositionMismatch => "position_mismatch",
            Rule::AutoRollback => "auto_rollback",
            Rule::Warning => "warning",
            Rule::StoreFault => "store_fault",
        }
    }

    /// What it matches, in words (for the API).
    pub fn describe(self) -> &'static str {
        match self {
            Rule::RunFailed => "run.StatusChanged with status failed",
            Rule::RunSuspended => "run.StatusChanged with status suspended",
            Rule::LimitBreached => "risk.LimitBreached",
            Rule::OrderDenied => "risk.OrderDenied",
            Rule::AccountLimitBreached => "risk.AccountLimitBreached",
            Rule::RunTradingState => "risk.TradingStateChanged (a run's state set by hand)",
            Rule::AccountTradingState => {
                "risk.AccountTradingStateChanged (an account's state set by hand)"
            }
            Rule::TradingState => "ui.TradingState (the global switch set by hand)",
            Rule::OrderRejected => "orders.Updated with status rejected",
            Rule::PositionMismatch => "reconcile.PositionMismatch",
            Rule::AutoRollback => "run.VersionSwitched with reason auto_rollback",
            Rule::Warning => "ui.Notice at level warn or error (a critical consumer behind)",
            Rule::StoreFault => {
                "a database or disk fault (the store cannot be written), while it lasts and when it ends"
            }
        }
    }

    fn parse(s: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The rule `event` falls under, if any.
    pub fn of(event: &Envelope) -> Option<Rule> {
        let field = |k: &str| event.payload.get(k).and_then(|v| v.as_str());
        Some(match event.event_type.as_str() {
            "run.StatusChanged" => match field("status")? {
                "failed" => Rule::RunFailed,
                "suspended" => Rule::RunSuspended,
                _ => return None,
            },
            "risk.LimitBreached" => Rule::LimitBreached,
            "risk.OrderDenied" => Rule::OrderDenied,
            "risk.AccountLimitBreached" => Rule::AccountLimitBreached,
            "risk.TradingStateChanged" => Rule::RunTradingState,
            "risk.AccountTradingStateChanged" => Rule::AccountTradingState,
            "ui.TradingState" => Rule::TradingState,
            "orders.Updated" if field("status")? == "rejected" => Rule::OrderRejected,
            "reconcile.PositionMismatch" => Rule::PositionMismatch,
            "run.VersionSwitched" if field("reason")? == "auto_rollback" => Rule::AutoRollback,
            "ui.Notice" if field("source") == Some(STORE_FAULT_SOURCE) => Rule::StoreFault,
            "ui.Notice" if matches!(field("level")?, "warn" | "error") => Rule::Warning,
            _ => return None,
        })
    }
}

/// Where a rule's notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Every configured channel.
    All,
    /// Nowhere.
    Off,
    /// One channel only.
    Only(Channel),
}

impl Route {
    /// Its text (`all`, `off`, or the channel's name).
    pub fn name(self) -> &'static str {
        match self {
            Route::All => "all",
            Route::Off => "off",
            Route::Only(c) => c.name(),
        }
    }

    fn parse(s: &str) -> Option<Route> {
        match s {
            "all" => Some(Route::All),
            "off" => Some(Route::Off),
            other => Channel::parse(other).map(Route::Only),
        }
    }

    /// Whether `channel` gets this route's notifications.
    pub fn sends_to(self, channel: Channel) -> bool {
        match self {
            Route::All => true,
            Route::Off => false,
            Route::Only(c) => c == channel,
        }
    }
}

/// Routes set for some rules; a rule not in it is [`Route::All`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(BTreeMap<Rule, Route>);

impl Rules {
    /// Parses `rule=route,…` (blank: none set).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first unknown rule or route.
    pub fn parse(text: &str) -> Result<Rules, Error> {
        let mut rules = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (rule, route) = item.split_once('=').ok_or_else(|| {
                Error::invalid(format!(
                    "rule {item:?} is not rule=route (e.g. order_denied=off)"
                ))
            })?;
            rules.insert(Rules::rule(rule.trim())?, Rules::route(route.trim())?);
        }
        Ok(Rules(rules))
    }

    /// These rules changed by the API's map of rule name → route name: a named rule gets its
    /// route, or loses the one set here with `inherit`; the others keep theirs.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first unknown rule or route; nothing is changed.
    pub fn patched(&self, map: &BTreeMap<String, String>) -> Result<Rules, Error> {
        let mut rules = self.0.clone();
        for (rule, route) in map {
            let rule = Rules::rule(rule)?;
            if route == "inherit" {
                rules.remove(&rule);
            } else {
                rules.insert(rule, Rules::route(route)?);
            }
        }
        Ok(Rules(rules))
    }

    fn rule(name: &str) -> Result<Rule, Error> {
        Rule::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
            Error::invalid(format!(
                "unknown rule {name:?}; rules: {}",
                known.join(", ")
            ))
        })
    }

    fn route(name: &str) -> Result<Route, Error> {
        Route::parse(name).ok_or_else(|| {
            Error::invalid(format!(
                "unknown route {name:?}; routes: all, off, webhook, telegram, discord (inherit: as configured)"
            ))
        })
    }

    /// The route set for `rule`, if one is.
    pub fn get(&self, rule: Rule) -> Option<Route> {
        self.0.get(&rule).copied()
    }

    /// The text form (what is stored).
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|(rule, route)| format!("{}={}", rule.name(), route.name()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Where a rule goes in effect, and which layer said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    /// The route.
    pub route: Route,
    /// `default`, `env` (`WEAVER_NOTIFY_RULES`) or `api` (`PUT /notifications/rules`).
    pub source: &'static str,
}

/// The route of `rule`: the API's stored rules over the environment's over `all`.
pub fn effective(rule: Rule, env: &Rules, api: &Rules) -> Effective {
    if let Some(route) = api.get(rule) {
        Effective {
            route,
            source: "api",
        }
    } else if let Some(route) = env.get(rule) {
        Effective {
            route,
            source: "env",
        }
    } else {
        Effective {
            route: Route::All,
            source: "default",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(t: &str, payload: serde_json::Value) -> Envelope {
        Envelope::new(t, "test", payload).expect("envelope")
    }

    #[test]
    fn events_match_their_rule_and_nothing_else_does() {
        let failed = event(
            "run.StatusChanged",
            json!({"run_id": 7, "status": "failed"}),
        );
        assert_eq!(Rule::of(&failed), Some(Rule::RunFailed));
        let susp = event(
            "run.StatusChanged",
            json!({"run_id": 7, "status": "suspended"}),
        );
        assert_eq!(Rule::of(&susp), Some(Rule::RunSuspended));
        let stopped = event(
            "run.StatusChanged",
            json!({"run_id": 7, "status": "stopped"}),
        );
        assert_eq!(Rule::of(&stopped), None);
        let rejected = event("orders.Updated", json!({"status": "rejected"}));
        assert_eq!(Rule::of(&rejected), Some(Rule::OrderRejected));
        let accepted = event("orders.Updated", json!({"status": "accepted"}));
        assert_eq!(Rule::of(&accepted), None);
        let warn = event("ui.Notice", json!({"level": "warn", "message": "behind"}));
        assert_eq!(Rule::of(&warn), Some(Rule::Warning));
        let info = event(
            "ui.Notice",
            json!({"level": "info", "message": "caught up"}),
        );
        assert_eq!(Rule::of(&info), None);
        for level in ["error", "info"] {
            let fault = event(
                "ui.Notice",
                json!({"level": level, "message": "m", "source": "store_fault"}),
            );
            assert_eq!(Rule::of(&fault), Some(Rule::StoreFault), "{level}");
        }
        for (t, rule) in [
            ("risk.LimitBreached", Rule::LimitBreached),
            ("risk.OrderDenied", Rule::OrderDenied),
            ("risk.AccountLimitBreached", Rule::AccountLimitBreached),
            ("risk.TradingStateChanged", Rule::RunTradingState),
            ("risk.AccountTradingStateChanged", Rule::AccountTradingState),
            ("ui.TradingState", Rule::TradingState),
            ("reconcile.PositionMismatch", Rule::PositionMismatch),
        ] {
            assert_eq!(Rule::of(&event(t, json!({}))), Some(rule), "{t}");
        }
        let rolled = event(
            "run.VersionSwitched",
            json!({"run_id": 7, "reason": "auto_rollback"}),
        );
        assert_eq!(Rule::of(&rolled), Some(Rule::AutoRollback));
        let promoted = event(
            "run.VersionSwitched",
            json!({"run_id": 7, "reason": "promote"}),
        );
        assert_eq!(Rule::of(&promoted), None);
        assert_eq!(Rule::of(&event("run.Heartbeat", json!({}))), None);
        assert_eq!(Rule::of(&event("orders.Filled.v2", json!({}))), None);
    }

    #[test]
    fn rules_parse_route_and_layer() {
        let env = Rules::parse(" order_denied=off , run_failed=telegram,").expect("parses");
        assert_eq!(env.get(Rule::OrderDenied), Some(Route::Off));
        assert_eq!(
            env.get(Rule::RunFailed),
            Some(Route::Only(Channel::Telegram))
        );
        assert_eq!(env.to_text(), "run_failed=telegram,order_denied=off");
        assert_eq!(Rules::parse(&env.to_text()).expect("round trip"), env);
        let api = Rules::parse("run_failed=all").expect("parses");
        let e = effective(Rule::RunFailed, &env, &api);
        assert_eq!((e.route, e.source), (Route::All, "api"));
        let e = effective(Rule::OrderDenied, &env, &api);
        assert_eq!((e.route, e.source), (Route::Off, "env"));
        let e = effective(Rule::Warning, &env, &api);
        assert_eq!((e.route, e.source), (Route::All, "default"));
        // The API's changes keep the rules they do not name; `inherit` drops one.
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<String, String>>()
        };
        let api = api.patched(&map(&[("warning", "off")])).expect("patch");
        assert_eq!(api.to_text(), "run_failed=all,warning=off");
        let api = api
            .patched(&map(&[("run_failed", "inherit")]))
            .expect("patch");
        assert_eq!(api.to_text(), "warning=off");
        assert!(api.patched(&map(&[("warning", "nope")])).is_err());
        assert!(Route::Only(Channel::Webhook).sends_to(Channel::Webhook));
        assert!(!Route::Only(Channel::Webhook).sends_to(Channel::Discord));
        assert!(!Route::Off.sends_to(Channel::Discord));
    }

    #[test]
    fn bad_rules_are_refused_by_name() {
        for (text, needle) in [
            ("nope=off", "nope"),
            ("order_denied=email", "email"),
            ("order_denied", "rule=route"),
        ] {
            let e = Rules::parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
