//! Alpaca's market data v2 over [`AlpacaHttp`]: historical bars (paged by
//! `next_page_token`, stocks and crypto from their own endpoints), one page at a time for
//! downloads that persist where they are ([`AlpacaHttp::bars_page`]), and the latest bars.
//!
//! # Invariants
//! - Bars come back keyed by the symbol as asked (crypto as `BTC/USD`), oldest first.
//! - [`AlpacaHttp::bars`] asks for `raw` prices (what live bars are); downloads ask for the
//!   adjustment they were given. Crypto has no adjustment and is never sent one.

use std::collections::BTreeMap;

use super::{AlpacaHttp, Host, rfc3339};
use crate::domain::{Bar, Timeframe};
use crate::veda::alpaca::{models, parse};
use crate::veda::download::Adjustment;
use crate::veda::types::BarsRequest;
use crate::veda::{Error, Result};

/// One page of one symbol's historical bars ([`AlpacaHttp::bars_page`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BarsPageRequest<'a> {
    /// The symbol (`AAPL`, `BTC/USD`).
    pub symbol: &'a str,
    /// Bar timeframe.
    pub timeframe: Timeframe,
    /// From (inclusive).
    pub start: chrono::DateTime<chrono::Utc>,
    /// To (inclusive).
    pub end: chrono::DateTime<chrono::Utc>,
    /// Bars per page (1–10000).
    pub limit: u32,
    /// Stock feed (`iex`, `sip`); `None`: the client's configured feed.
    pub feed: Option<&'a str>,
    /// Price adjustment (stocks only).
    pub adjustment: Adjustment,
    /// The token of the page to fetch; `None` for the first.
    pub page_token: Option<&'a str>,
}

/// One page of bars and the token of the next (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct BarsPage {
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// Token of the next page.
    pub next_page_token: Option<String>,
}

impl AlpacaHttp {
    /// One page of one symbol's historical bars, for a download that stores each page and
    /// remembers the next token (so a restart continues there).
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn bars_page(&self, request: &BarsPageRequest<'_>) -> Result<BarsPage> {
        let is_crypto = parse::is_crypto(request.symbol);
        let segments: &[&str] = if is_crypto {
            &["v1beta3", "crypto", "us", "bars"]
        } else {
            &["v2", "stocks", "bars"]
        };
        let mut query = vec![
            ("symbols", request.symbol.to_owned()),
            ("timeframe", request.timeframe.to_string()),
            ("start", rfc3339(request.start)),
            ("end", rfc3339(request.end)),
            ("sort", "asc".to_owned()),
            ("limit", request.limit.to_string()),
        ];
        if !is_crypto {
            let feed = request.feed.unwrap_or(&self.config.feed);
            query.push(("feed", feed.to_owned()));
            query.push(("adjustment", request.adjustment.as_str().to_owned()));
        }
        if let Some(token) = request.page_token {
            query.push(("page_token", token.to_owned()));
        }
        let page: models::BarsPage = self.get(Host::Data, segments, &query, "bars").await?;
        let bars = match page.bars {
            Some(models::BarsField::Map(map)) => map
                .into_values()
                .flatten()
                .filter_map(|b| parse::bar(&b))
                .collect(),
            Some(models::BarsField::List(bars)) => bars.iter().filter_map(parse::bar).collect(),
            None => Vec::new(),
        };
        let next = page.next_page_token.filter(|t| !t.is_empty());
        if next
            .as_deref()
            .is_some_and(|t| Some(t) == request.page_token)
        {
            // A token the venue repeats would loop forever; stop instead.
            return Err(Error::Decode {
                what: "bars".into(),
                detail: "next_page_token repeated".into(),
            });
        }
        Ok(BarsPage {
            bars,
            next_page_token: next,
        })
    }

    /// Historical bars, following `next_page_token`; crypto and stock symbols may be mixed (they
    /// are fetched from their own endpoints).
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn bars(&self, request: &BarsRequest) -> Result<BTreeMap<String, Vec<Bar>>> {
        let (crypto, stocks): (Vec<String>, Vec<String>) = request
            .symbols
            .iter()
            .cloned()
            .partition(|s| parse::is_crypto(s));
        let mut out = BTreeMap::new();
        for (symbols, is_crypto) in [(stocks, false), (crypto, true)] {
            if symbols.is_empty() {
                continue;
            }
            self.bars_of(&symbols, is_crypto, request, &mut out).await?;
        }
        Ok(out)
    }

    async fn bars_of(
        &self,
        symbols: &[String],
        is_crypto: bool,
        request: &BarsRequest,
        out: &mut BTreeMap<String, Vec<Bar>>,
    ) -> Result<()> {
        let segments: &[&str] = if is_crypto {
            &["v1beta3", "crypto", "us", "bars"]
        } else {
            &["v2", "stocks", "bars"]
        };
        let mut page_token: Option<String> = None;
        // A token the venue repeats would loop forever; stop instead.
        let mut seen_tokens = std::collections::HashSet::new();
        loop {
            let mut query = vec![
                ("symbols", symbols.join(",")),
                ("timeframe", request.timeframe.to_string()),
                ("start", rfc3339(request.start)),
                ("end", rfc3339(request.end)),
                ("sort", "asc".to_owned()),
            ];
            if let Some(limit) = request.page_limit {
                query.push(("limit", limit.to_string()));
            }
            if !is_crypto {
                query.push(("feed", self.config.feed.clone()));
                query.push(("adjustment", "raw".to_owned()));
            }
            if let Some(token) = &page_token {
                query.push(("page_token", token.clone()));
            }
            let page: models::BarsPage = self.get(Host::Data, segments, &query, "bars").await?;
            match page.bars {
                Some(models::BarsField::Map(map)) => {
                    for (symbol, bars) in map {
                        let key = parse::normalize_symbol(&symbol, is_crypto.then_some("crypto"));
                        out.entry(key)
                            .or_default()
                            .extend(bars.iter().filter_map(parse::bar));
                    }
                }
                Some(models::BarsField::List(bars)) => {
                    let symbol = page
                        .symbol
                        .clone()
                        .or_else(|| symbols.first().cloned())
                        .unwrap_or_default();
                    let key = parse::normalize_symbol(&symbol, is_crypto.then_some("crypto"));
                    out.entry(key)
                        .or_default()
                        .extend(bars.iter().filter_map(parse::bar));
                }
                None => {}
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) if seen_tokens.insert(token.clone()) => page_token = Some(token),
                Some(_) => {
                    return Err(Error::Decode {
                        what: "bars".into(),
                        detail: "next_page_token repeated".into(),
                    });
                }
                None => return Ok(()),
            }
        }
    }

    /// The latest bar of each symbol.
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn latest_bars(&self, symbols: &[String]) -> Result<BTreeMap<String, Bar>> {
        let (crypto, stocks): (Vec<String>, Vec<String>) =
            symbols.iter().cloned().partition(|s| parse::is_crypto(s));
        let mut out = BTreeMap::new();
        for (symbols, is_crypto) in [(stocks, false), (crypto, true)] {
            if symbols.is_empty() {
                continue;
            }
            let segments: &[&str] = if is_crypto {
                &["v1beta3", "crypto", "us", "latest", "bars"]
            } else {
                &["v2", "stocks", "bars", "latest"]
            };
            let mut query = vec![("symbols", symbols.join(","))];
            if !is_crypto {
                query.push(("feed", self.config.feed.clone()));
            }
            let latest: models::LatestBars = self
                .get(Host::Data, segments, &query, "latest bars")
                .await?;
            for (symbol, bar) in latest.bars {
                if let Some(bar) = parse::bar(&bar) {
                    out.insert(
                        parse::normalize_symbol(&symbol, is_crypto.then_some("crypto")),
                        bar,
                    );
                }
            }
        }
        Ok(out)
    }
}
