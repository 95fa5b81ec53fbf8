//! The channels a notification can go out on: a signed webhook, Telegram's `sendMessage` and a
//! Discord webhook, each one HTTP request.
//!
//! # Invariants
//! - URLs and tokens are secrets: they leave this file only inside the request; an error text
//!   never contains a URL (reqwest's errors are stripped of it).
//! - The webhook's signature covers exactly the bytes sent as the body.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How long one delivery attempt may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest error text kept from a channel's answer.
const MAX_ERROR_CHARS: usize = 300;

/// The header carrying the webhook body's HMAC-SHA256 (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Weaver-Signature";
/// The header carrying the event id (the receiver's deduplication key).
pub const EVENT_ID_HEADER: &str = "X-Weaver-Event-Id";

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `WEAVER_NOTIFY_WEBHOOK_URL`: a signed JSON POST.
    Webhook,
    /// `WEAVER_NOTIFY_TELEGRAM_TOKEN` + `WEAVER_NOTIFY_TELEGRAM_CHAT_ID`.
    Telegram,
    /// `WEAVER_NOTIFY_DISCORD_WEBHOOK_URL`.
    Discord,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Webhook, Channel::Telegram, Channel::Discord];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Telegram => "telegram",
            Channel::Discord => "discord",
        }
    }

    /// By name.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// The configured channels (all secrets).
#[derive(Debug, Clone, Default)]
pub struct Channels {
    /// The webhook's URL.
    pub webhook_url: Option<SecretString>,
    /// The key the webhook's bodies are signed with.
    pub webhook_secret: Option<SecretString>,
    /// Telegram bot token.
    pub telegram_token: Option<SecretString>,
    /// Telegram chat id.
    pub telegram_chat_id: Option<String>,
    /// Telegram's API base URL (`https://api.telegram.org`; tests point it at a local server).
    pub telegram_api: String,
    /// Discord webhook URL (it carries the webhook's token).
    pub discord_url: Option<SecretString>,
}

/// The default Telegram Bot API base URL.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

impl Channels {
    /// Whether `channel` is configured.
    pub fn configured(&self, channel: Channel) -> bool {
        match channel {
            Channel::Webhook => self.webhook_url.is_some(),
            Channel::Telegram => self.telegram_token.is_some() && self.telegram_chat_id.is_some(),
            Channel::Discord => self.discord_url.is_some(),
        }
    }

    /// The configured channels.
    pub fn list(&self) -> Vec<Channel> {
        Channel::ALL
            .into_iter()
            .filter(|c| self.configured(*c))
            .collect()
    }
}

/// One notification: what the webhook receives as its body, and what the chat channels render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The event id (for a test notification, an id of its own).
    pub id: String,
    /// The event type (`notify.Test` for a test).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (RFC 3339).
    pub ts: String,
    /// The run it concerns, if any.
    pub run_id: Option<i64>,
    /// The venue account it concerns (`alpaca/<number>`, `sim/<run id>`), if any.
    pub account: Option<String>,
    /// One-line title.
    pub title: String,
    /// One line of text.
    pub text: String,
    /// The event's payload.
    pub payload: serde_json::Value,
}

/// `sha256=<hex HMAC-SHA256 of body keyed with secret>`: the webhook's signature header.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2_hmac::Sha256>::new_from_slice(secret) else {
        // HMAC takes a key of any length; this branch is unreachable but costs nothing.
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The HTTP client every channel uses: timeouts, and no redirects (a redirect could carry a
/// URL's token to another host; a channel answers itself).
pub(crate) fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider (rustls-no-provider): install ring's, as
    // the Alpaca client does (idempotent).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Sends `msg` on `channel` once.
///
/// # Errors
/// The failure in words (status and a bounded prefix of the answer, or the transport error
/// without its URL).
pub(crate) async fn send(
    http: &reqwest::Client,
    channels: &Channels,
    channel: Channel,
    msg: &Message,
) -> Result<(), String> {
    let not_configured = || format!("{} is not configured", channel.name());
    let request = match channel {
        Channel::Webhook => {
            let url = channels.webhook_url.as_ref().ok_or_else(not_configured)?;
            let body = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
            let mut req = http
                .post(url.expose_secret())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(EVENT_ID_HEADER, &msg.id);
            if let Some(secret) = &channels.webhook_secret {
                req = req.header(
                    SIGNATURE_HEADER,
                    signature(secret.expose_secret().as_bytes(), &body),
                );
            }
            req.body(body)
        }
        Channel::Telegram => {
            let token = channels
                .telegram_token
                .as_ref()
                .ok_or_else(not_configured)?;
            let chat = channels
                .telegram_chat_id
                .as_ref()
                .ok_or_else(not_configured)?;
            let url = format!(
                "{}/bot{}/sendMessage",
                channels.telegram_api.trim_end_matches('/'),
                token.expose_secret()
            );
            http.post(url).json(&serde_json::json!({
                "chat_id": chat,
                "text": format!("{}\n{}", msg.title, msg.text),
                "disable_web_page_preview": true,
            }))
        }
        Channel::Discord => {
            let url = channels.discord_url.as_ref().ok_or_else(not_configured)?;
            // Discord caps a message at 2,000 characters.
            let content: String = format!("**{}**\n{}", msg.title, msg.text)
                .chars()
                .take(2000)
                .collect();
            http.post(url.expose_secret())
                .json(&serde_json::json!({"content": content}))
        }
    };
    let answer = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(transport_error)?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let text = answer.text().await.unwrap_or_default();
    let text: String = text.chars().take(MAX_ERROR_CHARS).collect();
    Err(format!("{} answered {status}: {text}", channel.name()))
}

/// A transport failure in words with its causes ("error sending request: client error
/// (Connect): tcp connect error: Connection refused (os error 111)"), without the URL, which
/// may carry a token.
fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(
            signature(b"other", b"what do ya want for nothing?"),
            signature(b"Jefe", b"what do ya want for nothing?")
        );
    }

    #[tokio::test]
    async fn a_transport_error_says_why_without_the_url() {
        let channels = Channels {
            // Port 1 on loopback: nothing listens, the connection is refused.
            webhook_url: Some(SecretString::from("http://127.0.0.1:1/hook-token-secret")),
            webhook_secret: Some(SecretString::from("0123456789abcdef")),
            ..Channels::default()
        };
        let msg = Message {
            id: "e".into(),
            event_type: "notify.Test".into(),
            ts: "2026-01-01T00:00:00Z".into(),
            run_id: None,
            account: None,
            title: "t".into(),
            text: "x".into(),
            payload: serde_json::json!({}),
        };
        let http = client();
        let e = send(&http, &channels, Channel::Webhook, &msg)
            .await
            .expect_err("refused");
        assert!(
            !e.contains("token-secret") && !e.contains("127.0.0.1:1"),
            "{e}"
        );
        assert!(e.to_lowercase().contains("connect"), "{e}");
        let e = send(&http, &channels, Channel::Discord, &msg)
            .await
            .expect_err("not configured");
        assert_eq!(e, "discord is not configured");
    }

    #[test]
    fn channels_are_configured_only_whole() {
        let mut c = Channels::default();
        assert!(c.list().is_empty());
        c.telegram_token = Some(SecretString::from("t"));
        assert!(!c.configured(Channel::Telegram), "a token without a chat");
        c.telegram_chat_id = Some("42".into());
        c.discord_url = Some(SecretString::from("http://127.0.0.1:1/x"));
        assert_eq!(c.list(), vec![Channel::Telegram, Channel::Discord]);
        assert_eq!(Channel::parse("webhook"), Some(Channel::Webhook));
        assert_eq!(Channel::parse("email"), None);
    }
}
