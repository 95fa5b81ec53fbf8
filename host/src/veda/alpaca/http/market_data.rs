//! Alpaca's market data v2 over [`AlpacaHttp`]: historical bars (paged by
//! `next_page_token`, stocks and crypto from their own endpoints) and the latest bars.
//!
//! # Invariants
//! - Bars come back keyed by the symbol as asked (crypto as `BTC/USD`), oldest first.

use std::collections::BTreeMap;

use super::{AlpacaHttp, Host, rfc3339};
use crate::domain::Bar;
use crate::veda::alpaca::{models, parse};
use crate::veda::types::BarsRequest;
use crate::veda::{Error, Result};

impl AlpacaHttp {
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
