//! Alpaca connection settings: keys, the four base URLs and timeouts, from Alpaca's conventional
//! environment variables.
//!
//! # Invariants
//! - Keys live only in [`SecretString`]s; `Debug` of [`AlpacaConfig`] shows `[REDACTED]`, and no
//!   error message built here contains a key.
//! - Every URL is parsed and checked here, once, so the client never builds requests from text.
//! - A live (real-money) trading URL is refused unless `WEAVER_ALPACA_LIVE=true` opts in,
//!   however its host is spelled (case, trailing dot, port, userinfo).

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;

use crate::veda::{Error, Result};

/// Paper trading REST host (the default: live trading needs an explicit opt-in).
pub(crate) const PAPER_TRADING_URL: &str = "https://paper-api.alpaca.markets";
/// Live trading REST host.
pub(crate) const LIVE_TRADING_URL: &str = "https://api.alpaca.markets";
/// Market data REST host (paper and live).
pub(crate) const DATA_URL: &str = "https://data.alpaca.markets";
/// Market data stream host.
pub(crate) const DATA_STREAM_URL: &str = "wss://stream.data.alpaca.markets";

/// Everything the Alpaca client needs to connect.
#[derive(Clone)]
pub struct AlpacaConfig {
    /// `APCA_API_KEY_ID`.
    pub key_id: SecretString,
    /// `APCA_API_SECRET_KEY`.
    pub secret_key: SecretString,
    /// Trading REST base (`APCA_API_BASE_URL`, default paper).
    pub trading_url: Url,
    /// Market data REST base (`APCA_API_DATA_URL`).
    pub data_url: Url,
    /// `trade_updates` stream URL (`APCA_API_STREAM_URL`, default: the trading host's `/stream`).
    pub trading_stream_url: Url,
    /// Market data stream base (`APCA_API_DATA_STREAM_URL`); `/v2/{feed}` and
    /// `/v1beta3/crypto/us` are appended.
    pub data_stream_url: Url,
    /// Stock data feed (`APCA_API_DATA_FEED`, default `iex`, the free plan's feed).
    pub feed: String,
    /// Timeout of one REST request; past it, an order submit's outcome is unknown.
    pub request_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest total wait for 429s before giving up.
    pub max_rate_limit_wait: Duration,
}

impl fmt::Debug for AlpacaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpacaConfig")
            .field("key_id", &"[REDACTED]")
            .field("secret_key", &"[REDACTED]")
            .field("trading_url", &self.trading_url.as_str())
            .field("data_url", &self.data_url.as_str())
            .field("trading_stream_url", &self.trading_stream_url.as_str())
            .field("data_stream_url", &self.data_stream_url.as_str())
            .field("feed", &self.feed)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl AlpacaConfig {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// [`Error::Config`] listing every problem (missing keys, unparsable URLs).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// As [`AlpacaConfig::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut problems = Vec::new();
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let key_id = get("APCA_API_KEY_ID");
        let secret = get("APCA_API_SECRET_KEY");
        if key_id.is_none() {
            problems.push("APCA_API_KEY_ID must be set".to_owned());
        }
        if secret.is_none() {
            problems.push("APCA_API_SECRET_KEY must be set".to_owned());
        }
        let mut url = |name: &str, default: Option<String>| -> Option<Url> {
            let text = get(name).or(default)?;
            match parse_base(&text) {
                Ok(url) => Some(url),
                Err(why) => {
                    problems.push(format!("{name}: {why}"));
                    None
                }
            }
        };
        let trading = url("APCA_API_BASE_URL", Some(PAPER_TRADING_URL.to_owned()));
        let data = url("APCA_API_DATA_URL", Some(DATA_URL.to_owned()));
        let default_stream = trading.as_ref().map(|t| derive_stream_url(t).to_string());
        let trading_stream = url("APCA_API_STREAM_URL", default_stream);
        let data_stream = url("APCA_API_DATA_STREAM_URL", Some(DATA_STREAM_URL.to_owned()));
        let feed = get("APCA_API_DATA_FEED").unwrap_or_else(|| "iex".to_owned());
        // Real money only on explicit request: a live base URL alone is not enough.
        let live_opt_in =
            get("WEAVER_ALPACA_LIVE").is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        if trading.as_ref().is_some_and(is_live_url) && !live_opt_in {
            problems.push(
                "APCA_API_BASE_URL points at live trading (real money); set WEAVER_ALPACA_LIVE=true to opt in".to_owned(),
            );
        }
        match (key_id, secret, trading, data, trading_stream, data_stream) {
            (Some(k), Some(s), Some(t), Some(d), Some(ts), Some(ds)) if problems.is_empty() => {
                Ok(Self {
                    key_id: SecretString::from(k),
                    secret_key: SecretString::from(s),
                    trading_url: t,
                    data_url: d,
                    trading_stream_url: ts,
                    data_stream_url: ds,
                    feed,
                    request_timeout: Duration::from_secs(10),
                    connect_timeout: Duration::from_secs(5),
                    max_rate_limit_wait: Duration::from_secs(120),
                })
            }
            _ => Err(Error::Config(problems.join("; "))),
        }
    }

    /// A configuration pointing every URL at one local server (the fake): REST on
    /// `http://{addr}`, streams on `ws://{addr}`.
    ///
    /// # Errors
    /// [`Error::Config`] if `addr` does not form a valid URL.
    pub fn for_local(addr: std::net::SocketAddr, key_id: &str, secret_key: &str) -> Result<Self> {
        let http = parse_base(&format!("http://{addr}")).map_err(Error::Config)?;
        let ws = parse_base(&format!("ws://{addr}")).map_err(Error::Config)?;
        Ok(Self {
            key_id: SecretString::from(key_id.to_owned()),
            secret_key: SecretString::from(secret_key.to_owned()),
            trading_url: http.clone(),
            data_url: http,
            trading_stream_url: derive_stream_url(&ws),
            data_stream_url: ws,
            feed: "iex".to_owned(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_rate_limit_wait: Duration::from_secs(30),
        })
    }

    /// True when the trading URL is Alpaca's live host (real money).
    pub fn is_live(&self) -> bool {
        is_live_url(&self.trading_url)
    }
}

/// True when `url` names the live trading host, however it is spelled: the host is compared
/// after the URL parser's normalisation (lowercase, userinfo and default ports apart) and
/// without trailing dots (`api.alpaca.markets.` is the same DNS name); any port counts.
fn is_live_url(url: &Url) -> bool {
    let live = Url::parse(LIVE_TRADING_URL).ok();
    let want = live.as_ref().and_then(Url::host_str).map(normal_host);
    url.host_str()
        .map(normal_host)
        .is_some_and(|h| Some(h) == want)
}

/// A host name without trailing dots, lowercase.
fn normal_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Parses a base URL; a trailing slash is dropped so paths join predictably.
fn parse_base(text: &str) -> std::result::Result<Url, String> {
    let url = Url::parse(text.trim_end_matches('/')).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" | "ws" | "wss" => {}
        other => return Err(format!("unsupported scheme {other:?}")),
    }
    if url.host_str().is_none() {
        return Err("URL has no host".to_owned());
    }
    Ok(url)
}

/// `https://host` → `wss://host/stream` (Alpaca's trade_updates endpoint on the trading host).
fn derive_stream_url(trading: &Url) -> Url {
    let mut url = trading.clone();
    let scheme = match trading.scheme() {
        "http" | "ws" => "ws",
        _ => "wss",
    };
    // Both schemes are "special" with a host, so set_scheme cannot fail; keep the original if it did.
    let _ = url.set_scheme(scheme);
    url.set_path("/stream");
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_are_paper_and_debug_hides_keys() {
        let cfg = AlpacaConfig::from_lookup(lookup(&[
            ("APCA_API_KEY_ID", "PKSENTINELKEYID"),
            ("APCA_API_SECRET_KEY", "SENTINELSECRET"),
        ]))
        .unwrap();
        assert_eq!(
            cfg.trading_url.as_str(),
            "https://paper-api.alpaca.markets/"
        );
        assert_eq!(cfg.data_url.as_str(), "https://data.alpaca.markets/");
        assert_eq!(
            cfg.trading_stream_url.as_str(),
            "wss://paper-api.alpaca.markets/stream"
        );
        assert!(!cfg.is_live());
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("SENTINEL"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn every_problem_is_reported_without_secrets() {
        let err = AlpacaConfig::from_lookup(lookup(&[
            ("APCA_API_SECRET_KEY", "SENTINELSECRET"),
            ("APCA_API_BASE_URL", "ftp://x"),
            ("APCA_API_DATA_URL", "not a url"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("APCA_API_KEY_ID"), "{text}");
        assert!(text.contains("APCA_API_BASE_URL"), "{text}");
        assert!(text.contains("APCA_API_DATA_URL"), "{text}");
        assert!(!text.contains("SENTINEL"), "{text}");
    }

    #[test]
    fn live_trading_needs_an_explicit_opt_in() {
        let err = AlpacaConfig::from_lookup(lookup(&[
            ("APCA_API_KEY_ID", "k"),
            ("APCA_API_SECRET_KEY", "s"),
            ("APCA_API_BASE_URL", "https://api.alpaca.markets"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("WEAVER_ALPACA_LIVE"), "{err}");
    }

    #[test]
    fn live_host_spellings_all_need_the_opt_in() {
        for url in [
            "https://api.alpaca.markets.",
            "https://API.Alpaca.Markets",
            "https://api.alpaca.markets..",
            "https://api.alpaca.markets:443/",
            "https://api.alpaca.markets:8443",
            "https://user:pw@api.alpaca.markets",
            "http://api.alpaca.markets./v2",
            "https://API.ALPACA.MARKETS.:443",
        ] {
            let err = AlpacaConfig::from_lookup(lookup(&[
                ("APCA_API_KEY_ID", "k"),
                ("APCA_API_SECRET_KEY", "s"),
                ("APCA_API_BASE_URL", url),
            ]))
            .expect_err(url);
            assert!(
                err.to_string().contains("WEAVER_ALPACA_LIVE"),
                "{url}: {err}"
            );
            let opted = AlpacaConfig::from_lookup(lookup(&[
                ("APCA_API_KEY_ID", "k"),
                ("APCA_API_SECRET_KEY", "s"),
                ("APCA_API_BASE_URL", url),
                ("WEAVER_ALPACA_LIVE", "true"),
            ]))
            .expect(url);
            assert!(opted.is_live(), "{url}");
        }
        for url in [
            "https://paper-api.alpaca.markets.",
            "https://api.alpaca.markets.example",
            "https://xapi.alpaca.markets",
        ] {
            let cfg = AlpacaConfig::from_lookup(lookup(&[
                ("APCA_API_KEY_ID", "k"),
                ("APCA_API_SECRET_KEY", "s"),
                ("APCA_API_BASE_URL", url),
            ]))
            .expect(url);
            assert!(!cfg.is_live(), "{url}");
        }
    }

    #[test]
    fn overrides_and_live_detection() {
        let cfg = AlpacaConfig::from_lookup(lookup(&[
            ("APCA_API_KEY_ID", "k"),
            ("APCA_API_SECRET_KEY", "s"),
            ("APCA_API_BASE_URL", "https://api.alpaca.markets/"),
            (
                "APCA_API_DATA_STREAM_URL",
                "wss://stream.data.sandbox.alpaca.markets",
            ),
            ("WEAVER_ALPACA_LIVE", "true"),
        ]))
        .unwrap();
        assert!(cfg.is_live());
        assert_eq!(
            cfg.trading_stream_url.as_str(),
            "wss://api.alpaca.markets/stream"
        );
        assert_eq!(
            cfg.data_stream_url.host_str(),
            Some("stream.data.sandbox.alpaca.markets")
        );
    }
}
