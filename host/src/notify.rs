//! Notifications: tells the user when something happens (a run failed, a limit tripped, an
//! order was refused, the trading state was set by hand, positions disagree with the broker) on
//! a signed webhook, Telegram and Discord, and when the store cannot be written ([`faults`]).
//! The notifier is an outbox consumer of its own
//! (`notify`, best-effort): it reads every event through WallE, keeps those a rule matches
//! ([`rules`]), renders a title and a line of text ([`text`]) and sends them to the channels the
//! rule routes to ([`channels`]), retrying with exponential backoff, then giving up into a
//! dead-letter list in the database that the API shows and retries.
//!
//! `app` builds and starts it; `glados/notify.rs` exposes its settings, rules, test sends and
//! dead letters.
//!
//! # Invariants
//! - At least once, deduplicated by event id: the offset moves past an event only once each
//!   of its channels delivered it or dead-lettered it (both stored per event and channel), so
//!   a restart re-sends nothing already delivered and loses nothing. Every message carries the
//!   event id (`X-Weaver-Event-Id` on the webhook) for the receiver to drop a duplicate that a
//!   crash between delivery and commit can still cause.
//! - Best-effort: the consumer's lag never throttles trading ([`crate::walle::Class`]), and
//!   nothing on the trading path waits for a channel.
//! - Secrets (URLs, tokens, the signing key) are never logged, stored with a notification or
//!   returned by the API; error texts are stripped of URLs.
//! - A first start notifies only what happens from then on (the consumer starts at the newest
//!   event), never the retained history.

pub mod channels;
mod consumer;
pub mod faults;
mod quiet;
pub mod rules;
pub mod text;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::RwLock;

use crate::walle::{self, Walle};

pub use channels::{Channel, Channels, EVENT_ID_HEADER, Message, SIGNATURE_HEADER, signature};
pub use rules::{Effective, Route, Rule, Rules};

/// The settings key under which the rules set through the API are stored.
const RULES_SETTING: &str = "notify.rules";

/// What went wrong with a notification request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule, route or channel name is unknown, or a value is unusable.
    #[error("{message}")]
    Invalid {
        /// Stable code (`invalid_notify_rule`, `invalid_channel`).
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// The channel asked for is not configured.
    #[error("notification channel {0} is not configured")]
    NotConfigured(&'static str),
    /// No channel is configured at all.
    #[error(
        "no notification channel is configured (WEAVER_NOTIFY_WEBHOOK_URL, WEAVER_NOTIFY_TELEGRAM_TOKEN, WEAVER_NOTIFY_DISCORD_WEBHOOK_URL)"
    )]
    NoChannel,
    /// No such dead letter (or it was delivered since).
    #[error("dead letter {0} not found")]
    NotFound(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] walle::Error),
}

impl Error {
    pub(crate) fn invalid(message: String) -> Error {
        Error::Invalid {
            code: "invalid_notify_rule",
            message,
        }
    }

    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. } => code,
            Error::NotConfigured(_) => "channel_not_configured",
            Error::NoChannel => "no_channel_configured",
            Error::NotFound(_) => "not_found",
            Error::Store(e) => e.code(),
        }
    }
}

/// How often and how patiently a notification is retried before it is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The pause after the first failure; it doubles after each.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Default for Retry {
    /// 5 attempts, pauses of 4, 8, 16 and 32 s: about a minute before a dead letter.
    fn default() -> Self {
        Retry {
            attempts: 5,
            first: Duration::from_secs(4),
            max: Duration::from_secs(32),
        }
    }
}

impl Retry {
    /// The pause after failed attempt `n` (from 1).
    pub fn pause(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// The notifier's configuration (the `WEAVER_NOTIFY_WEBHOOK_URL` family of variables).
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// The channels (secrets).
    pub channels: Channels,
    /// `WEAVER_NOTIFY_RULES`.
    pub rules: Rules,
    /// Retries before a dead letter (not configurable by the environment; tests shorten it).
    pub retry: Retry,
}

impl NotifyConfig {
    /// Reads the `WEAVER_NOTIFY_WEBHOOK_URL` family of variables through `var`, adding every problem to `problems` (the values,
    /// all secret but the chat id and rules, are never quoted).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Self {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let secret = |k: &str| var(k).map(SecretString::from);
        let mut c = NotifyConfig::default();
        let url_ok = |name: &str, url: &SecretString, problems: &mut Vec<String>| {
            let parsed = reqwest::Url::parse(url.expose_secret());
            if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                problems.push(format!("{name} must be an http(s) URL"));
            }
        };
        c.channels.webhook_url = secret("WEAVER_NOTIFY_WEBHOOK_URL");
        c.channels.webhook_secret = secret("WEAVER_NOTIFY_WEBHOOK_SECRET");
        match (&c.channels.webhook_url, &c.channels.webhook_secret) {
            (Some(url), Some(key)) => {
                url_ok("WEAVER_NOTIFY_WEBHOOK_URL", url, problems);
                if key.expose_secret().len() < 16 {
                    problems.push("WEAVER_NOTIFY_WEBHOOK_SECRET must be at least 16 characters".into());
                }
            }
            (Some(_), None) => problems.push(
                "WEAVER_NOTIFY_WEBHOOK_URL needs WEAVER_NOTIFY_WEBHOOK_SECRET (every body is signed)"
                    .into(),
            ),
            (None, Some(_)) => problems
                .push("WEAVER_NOTIFY_WEBHOOK_SECRET is set without WEAVER_NOTIFY_WEBHOOK_URL".into()),
            (None, None) => {}
        }
        c.channels.telegram_token = secret("WEAVER_NOTIFY_TELEGRAM_TOKEN");
        c.channels.telegram_chat_id = var("WEAVER_NOTIFY_TELEGRAM_CHAT_ID");
        if c.channels.telegram_token.is_some() != c.channels.telegram_chat_id.is_some() {
            problems.push(
                "WEAVER_NOTIFY_TELEGRAM_TOKEN and WEAVER_NOTIFY_TELEGRAM_CHAT_ID go together"
                    .into(),
            );
        }
        c.channels.telegram_api =
            var("WEAVER_NOTIFY_TELEGRAM_API").unwrap_or_else(|| channels::TELEGRAM_API.to_owned());
        url_ok(
            "WEAVER_NOTIFY_TELEGRAM_API",
            &SecretString::from(c.channels.telegram_api.clone()),
            problems,
        );
        c.channels.discord_url = secret("WEAVER_NOTIFY_DISCORD_WEBHOOK_URL");
        if let Some(url) = &c.channels.discord_url {
            url_ok("WEAVER_NOTIFY_DISCORD_WEBHOOK_URL", url, problems);
        }
        if let Some(text) = var("WEAVER_NOTIFY_RULES") {
            match Rules::parse(&text) {
                Ok(r) => c.rules = r,
                Err(e) => problems.push(format!("WEAVER_NOTIFY_RULES: {e}")),
            }
        }
        c
    }
}

/// What one channel did with one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The channel.
    pub channel: Channel,
    /// The failure, `None` when delivered.
    pub error: Option<String>,
}

/// The settings as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Every channel and whether it is configured.
    pub channels: Vec<(Channel, bool)>,
    /// Every rule and where it goes.
    pub rules: Vec<(Rule, Effective)>,
}

/// The notifier. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    walle: Walle,
    channels: Channels,
    env_rules: Rules,
    /// The rules set through the API, read from the store on first use.
    api_rules: RwLock<Option<Rules>>,
    retry: Retry,
    http: reqwest::Client,
    /// Channels whose last notification was dead-lettered: they get one attempt per
    /// notification until one gets through, so a channel that is down for hours does not hold
    /// every notification for a minute of retries.
    down: Mutex<HashSet<Channel>>,
    /// Repeated denials held back ([`quiet`]).
    quiet: Mutex<quiet::Quiet>,
    /// Store faults told directly, by fault id: the channels that got them ([`faults`]).
    told: Mutex<HashMap<String, Vec<Channel>>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("channels", &self.inner.channels.list())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier over `walle` with `config`.
    pub fn new(walle: Walle, config: NotifyConfig) -> Notifier {
        let http = channels::client();
        Notifier {
            inner: Arc::new(Inner {
                walle,
                channels: config.channels,
                env_rules: config.rules,
                api_rules: RwLock::new(None),
                retry: config.retry,
                http,
                down: Mutex::new(HashSet::new()),
                quiet: Mutex::new(quiet::Quiet::default()),
                told: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configured channels.
    pub fn channels(&self) -> Vec<Channel> {
        self.inner.channels.list()
    }

    /// The rules set through the API (read from the store the first time).
    async fn api_rules(&self) -> Rules {
        if let Some(r) = self.inner.api_rules.read().await.as_ref() {
            return r.clone();
        }
        let stored = match self.inner.walle.setting(RULES_SETTING).await {
            Ok(Some(s)) => Rules::parse(&s.value).unwrap_or_else(|e| {
                tracing::warn!("stored notification rules unreadable, ignored: {e}");
                Rules::default()
            }),
            Ok(None) => Rules::default(),
            // Not cached: the next call reads again.
            Err(e) => {
                tracing::warn!(code = e.code(), "notification rules unreadable: {e}");
                return Rules::default();
            }
        };
        *self.inner.api_rules.write().await = Some(stored.clone());
        stored
    }

    /// Where `rule` goes now.
    pub(crate) async fn route(&self, rule: Rule) -> Route {
        rules::effective(rule, &self.inner.env_rules, &self.api_rules().await).route
    }

    /// The channels, configured or not, and every rule's route.
    pub async fn settings(&self) -> Settings {
        let api = self.api_rules().await;
        Settings {
            channels: Channel::ALL
                .into_iter()
                .map(|c| (c, self.inner.channels.configured(c)))
                .collect(),
            rules: Rule::ALL
                .into_iter()
                .map(|r| (r, rules::effective(r, &self.inner.env_rules, &api)))
                .collect(),
        }
    }

    /// Changes the rules set through the API (stored; they apply over `WEAVER_NOTIFY_RULES`):
    /// each named rule gets its route, or `inherit` drops the API's route for it; rules not
    /// named keep theirs.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown rule or route, [`Error::Store`]; the rules in force
    /// are unchanged.
    pub async fn set_rules(
        &self,
        changes: &std::collections::BTreeMap<String, String>,
    ) -> Result<Settings, Error> {
        let current = self.api_rules().await;
        let rules = current.patched(changes)?;
        let mut slot = self.inner.api_rules.write().await;
        self.inner
            .walle
            .put_setting(RULES_SETTING, &rules.to_text(), None)
            .await?;
        *slot = Some(rules);
        drop(slot);
        Ok(self.settings().await)
    }

    /// Sends a test notification to `channel`, or to every configured channel, once each.
    ///
    /// # Errors
    /// [`Error::NotConfigured`] for a channel that is not, [`Error::NoChannel`] when none is.
    pub async fn test(&self, channel: Option<Channel>) -> Result<Vec<Attempt>, Error> {
        let targets = match channel {
            Some(c) if self.inner.channels.configured(c) => vec![c],
            Some(c) => return Err(Error::NotConfigured(c.name())),
            None if self.channels().is_empty() => return Err(Error::NoChannel),
            None => self.channels(),
        };
        let sends = targets.into_iter().map(|c| async move {
            let msg = Message {
                id: uuid::Uuid::now_v7().to_string(),
                event_type: "notify.Test".to_owned(),
                ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                run_id: None,
                account: None,
                title: "Weaver test notification".to_owned(),
                text: format!("This is a test: Weaver's {} channel works.", c.name()),
                payload: serde_json::json!({}),
            };
            let error = self.send(c, &msg).await.err();
            Attempt { channel: c, error }
        });
        Ok(futures::future::join_all(sends).await)
    }

    /// Dead letters after id `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn dead_letters(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<walle::Notification>, Error> {
        Ok(self.inner.walle.dead_letters(after, limit).await?)
    }

    /// Sends dead letter `id` again, once: delivered, it leaves the list; failed, it stays with
    /// the new error.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::NotConfigured`] when its channel no longer is,
    /// [`Error::Store`].
    pub async fn retry(&self, id: i64) -> Result<Attempt, Error> {
        let w = &self.inner.walle;
        let row = w.dead_letter(id).await?.ok_or(Error::NotFound(id))?;
        let channel = Channel::parse(&row.channel).ok_or_else(|| Error::Invalid {
            code: "invalid_channel",
            message: format!(
                "dead letter {id} names an unknown channel {:?}",
                row.channel
            ),
        })?;
        if !self.inner.channels.configured(channel) {
            return Err(Error::NotConfigured(channel.name()));
        }
        let msg: Message = serde_json::from_str(&row.body).map_err(|e| Error::Invalid {
            code: "invalid_dead_letter",
            message: format!("dead letter {id} cannot be read back: {e}"),
        })?;
        let error = self.send(channel, &msg).await.err();
        if !w.retried_dead_letter(id, error.as_deref()).await? {
            // Retried at the same moment by another request, which settled it.
            return Err(Error::NotFound(id));
        }
        Ok(Attempt { channel, error })
    }

    /// One attempt on one channel; a success also marks the channel up again.
    async fn send(&self, channel: Channel, msg: &Message) -> Result<(), String> {
        let sent = channels::send(&self.inner.http, &self.inner.channels, channel, msg).await;
        let counter = if sent.is_ok() { "delivered" } else { "failed" };
        metrics::counter!("weaver_notifications_total", "channel" => channel.name(), "outcome" => counter)
            .increment(1);
        if sent.is_ok() {
            self.set_down(channel, false);
        }
        sent
    }

    fn is_down(&self, channel: Channel) -> bool {
        self.inner
            .down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&channel)
    }

    fn set_down(&self, channel: Channel, down: bool) {
        let mut set = self
            .inner
            .down
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if down {
            set.insert(channel);
        } else {
            set.remove(&channel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_configuration_is_checked_without_quoting_secrets() {
        let mut problems = Vec::new();
        let c = NotifyConfig::from_vars(
            vars(&[
                ("WEAVER_NOTIFY_WEBHOOK_URL", "not a url-secret-123"),
                ("WEAVER_NOTIFY_WEBHOOK_SECRET", "short"),
                ("WEAVER_NOTIFY_TELEGRAM_TOKEN", "123:token-secret-456"),
                ("WEAVER_NOTIFY_RULES", "order_denied=pager"),
            ]),
            &mut problems,
        );
        let all = problems.join("\n");
        assert_eq!(problems.len(), 4, "{all}");
        assert!(
            !all.contains("secret-123") && !all.contains("secret-456"),
            "{all}"
        );
        assert!(all.contains("pager"), "{all}");
        assert!(c.channels.list().is_empty() || !problems.is_empty());

        let mut problems = Vec::new();
        let c = NotifyConfig::from_vars(
            vars(&[
                ("WEAVER_NOTIFY_WEBHOOK_URL", "https://hooks.example/x"),
                ("WEAVER_NOTIFY_WEBHOOK_SECRET", "0123456789abcdef"),
                (
                    "WEAVER_NOTIFY_DISCORD_WEBHOOK_URL",
                    "https://discord.example/api/webhooks/1/t",
                ),
                ("WEAVER_NOTIFY_RULES", "order_denied=off"),
            ]),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.channels.list(), vec![Channel::Webhook, Channel::Discord]);
        assert_eq!(c.rules.get(Rule::OrderDenied), Some(Route::Off));
        assert_eq!(c.channels.telegram_api, channels::TELEGRAM_API);
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_maximum() {
        let r = Retry::default();
        let pauses: Vec<u64> = (1..r.attempts).map(|n| r.pause(n).as_secs()).collect();
        assert_eq!(pauses, vec![4, 8, 16, 32]);
        assert_eq!(r.pause(40), r.max);
    }
}
