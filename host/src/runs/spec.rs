//! [`RunSpec`]: a request to start a run, typed and validated before anything is loaded.
//!
//! # Invariants
//! - A `RunSpec` that exists is well-formed: a known mode and venue, never `live` on the
//!   simulated exchange, a timeframe (on a live venue one of
//!   [`crate::veda::periods::LIVE_TIMEFRAMES`]), 1–32 symbols, a starting cash in
//!   (0, [`MAX_CASH`]], a warm-up of at most [`MAX_WARMUP`] bars (given, or declared by the
//!   strategy: [`RunSpec::warmup`]).
//!   What depends on the server (is the venue configured, in which mode) is checked by
//!   [`super::Runs::create`].

use crate::domain::{Timeframe, text_params};
use crate::marvin::LimitRequest;
use crate::veda::live::aggregate::EmptyBars;
use crate::veda::periods::{self, Hours};
use crate::walle::StrategyRef;

use super::Error;

/// Largest starting cash of a paper account.
pub(crate) const MAX_CASH: f64 = 1e12;

/// Most warm-up bars a run may ask for (what a data window holds).
pub const MAX_WARMUP: u32 = crate::veda::live::MAX_LOOKBACK as u32;

/// How a run on a live venue builds its bars from the 1-minute stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LiveBarOptions {
    /// US equities: the regular session (default) or extended hours too.
    pub hours: Hours,
    /// A period without trades: skipped (default) or a flat bar at the last close.
    pub empty_bars: EmptyBars,
    /// Bars of lookback told before the first live bar, from the store (the missing part
    /// downloaded first); `None`: the strategy's declared warm-up ([`RunSpec::warmup`]).
    pub warmup: Option<u32>,
}

/// Where a run's warm-up came from (said in its first log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmupSource {
    /// The strategy's own declaration (contract 0.3), no `warmup` in the request.
    Declared,
    /// The request's `warmup`.
    Given,
}

impl WarmupSource {
    /// As the run log says it.
    pub fn as_str(self) -> &'static str {
        match self {
            WarmupSource::Declared => "declared by the strategy",
            WarmupSource::Given => "given with the run",
        }
    }
}

/// [`LiveBarOptions`] as stored with a run (`runs.options`) and shown by `GET /runs/{id}`: the
/// request's names, `warmup` `null` when none was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct StoredOptions {
    extended_hours: bool,
    empty_bars: EmptyBars,
    warmup: Option<u32>,
}

impl LiveBarOptions {
    /// The warm-up these options give a strategy that declares `declared` bars (see
    /// [`RunSpec::warmup`]).
    pub fn resolve_warmup(&self, declared: u32) -> (u32, WarmupSource) {
        match self.warmup {
            Some(w) => (w, WarmupSource::Given),
            None => (declared.min(MAX_WARMUP), WarmupSource::Declared),
        }
    }

    /// The JSON stored with the run and shown by the API.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::to_value(StoredOptions {
            extended_hours: self.hours == Hours::Extended,
            empty_bars: self.empty_bars,
            warmup: self.warmup,
        })
        .unwrap_or_default()
    }

    /// Reads what [`LiveBarOptions::to_json`] stored; `None` stored (a run stored before
    /// options were kept) is the defaults.
    ///
    /// # Errors
    /// [`Error::Internal`] when the stored JSON is not options (a damaged row).
    pub fn from_stored(stored: Option<&serde_json::Value>) -> Result<LiveBarOptions, Error> {
        let Some(v) = stored else {
            return Ok(LiveBarOptions::default());
        };
        let o: StoredOptions = serde_json::from_value(v.clone())
            .map_err(|e| Error::Internal(format!("stored run options unreadable: {e}")))?;
        Ok(LiveBarOptions {
            hours: if o.extended_hours {
                Hours::Extended
            } else {
                Hours::Regular
            },
            empty_bars: o.empty_bars,
            warmup: o.warmup,
        })
    }
}

/// Paper (simulated or paper-account money) or live (real money).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Paper trading.
    Paper,
    /// Real money.
    Live,
}

/// Where a run trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueName {
    /// Its own simulated exchange over stored candles (paper only).
    Sim,
    /// Alpaca (paper or live, as the server is configured).
    Alpaca,
    /// Its own simulated exchange over Alpaca's live market data (paper only;
    /// [`crate::veda::sim::LIVE_VENUE`]).
    SimLive,
}

impl VenueName {
    /// The API and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VenueName::Sim => "sim",
            VenueName::Alpaca => "alpaca",
            VenueName::SimLive => crate::veda::sim::LIVE_VENUE,
        }
    }
}

/// What to run: the strategy, where, on what, with which parameters and cash.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The strategy.
    pub strategy: StrategyRef,
    /// Paper or live.
    pub mode: Mode,
    /// Where.
    pub venue: VenueName,
    /// Symbols, in the order bars index them.
    pub symbols: Vec<String>,
    /// Bar timeframe.
    pub timeframe: Timeframe,
    /// Strategy parameters as given (stored with the run).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Starting cash of the run's account (`sim`: default 10000; live venue: default the venue
    /// account's equity at the start).
    pub cash: Option<f64>,
    /// Sandbox limits asked for instead of the strategy tier's (checked against the operator's
    /// ceilings by [`super::Runs::create`]; stored with the run, so a resumed run keeps them).
    pub limits: LimitRequest,
    /// The request's `risk` object (a patch over the venue's defaults, [`super::risk`]).
    pub risk: Option<serde_json::Value>,
    /// How a run on a live venue builds its bars (ignored on `sim`).
    pub live: LiveBarOptions,
}

impl RunSpec {
    /// Validates the request's fields, in this order: mode, venue, timeframe, symbols, cash.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first bad field (`invalid_mode`, `invalid_venue`,
    /// `invalid_timeframe`, `invalid_symbols`, `invalid_cash`).
    pub fn parse(
        strategy: StrategyRef,
        mode: &str,
        venue: &str,
        symbols: Vec<String>,
        timeframe: &str,
        params: Option<serde_json::Map<String, serde_json::Value>>,
        cash: Option<f64>,
    ) -> Result<RunSpec, Error> {
        let mode = match mode {
            "paper" => Mode::Paper,
            "live" => Mode::Live,
            _ => return Err(Error::invalid("invalid_mode", "mode must be paper or live")),
        };
        let venue = match venue {
            "sim" => VenueName::Sim,
            "alpaca" => VenueName::Alpaca,
            "sim-live" => VenueName::SimLive,
            _ => {
                return Err(Error::invalid(
                    "invalid_venue",
                    "venue must be sim, sim-live or alpaca",
                ));
            }
        };
        if mode == Mode::Live && venue != VenueName::Alpaca {
            return Err(Error::invalid(
                "invalid_mode",
                format!(
                    "venue {} is a simulated exchange: it only runs paper runs; live runs need venue alpaca",
                    venue.as_str()
                ),
            ));
        }
        let accepted = periods::live_timeframe_names;
        let timeframe = timeframe
            .parse::<Timeframe>()
            .map_err(|e| Error::Timeframe {
                code: "invalid_timeframe",
                message: e.to_string(),
                accepted: accepted(),
            })?;
        if venue != VenueName::Sim && !periods::is_live_timeframe(timeframe) {
            return Err(Error::Timeframe {
                code: "unsupported_timeframe",
                message: format!(
                    "runs on {} take one of {}: their bars are built from the 1-minute stream as Alpaca's historical bars are",
                    venue.as_str(),
                    accepted().join(", ")
                ),
                accepted: accepted(),
            });
        }
        if symbols.is_empty() || symbols.len() > 32 {
            return Err(Error::invalid("invalid_symbols", "give 1 to 32 symbols"));
        }
        if let Some(c) = cash
            && !(c.is_finite() && c > 0.0 && c <= MAX_CASH)
        {
            return Err(Error::invalid(
                "invalid_cash",
                format!("cash must be more than 0 and at most {MAX_CASH}"),
            ));
        }
        Ok(RunSpec {
            risk: None,
            strategy,
            mode,
            venue,
            symbols,
            timeframe,
            params: params.unwrap_or_default(),
            cash,
            limits: LimitRequest::default(),
            live: LiveBarOptions::default(),
        })
    }

    /// This spec with the request's live bar options.
    ///
    /// # Errors
    /// [`Error::Invalid`] `invalid_warmup` beyond [`MAX_WARMUP`].
    pub fn with_live(self, live: LiveBarOptions) -> Result<RunSpec, Error> {
        if live.warmup.is_some_and(|w| w > MAX_WARMUP) {
            return Err(Error::invalid(
                "invalid_warmup",
                format!("warmup is at most {MAX_WARMUP} bars"),
            ));
        }
        Ok(RunSpec { live, ..self })
    }

    /// The warm-up the run gets, in bars, and where it came from: the request's `warmup`, else
    /// `declared` (the strategy's own, contract 0.3), as backtests do; at most [`MAX_WARMUP`].
    pub fn warmup(&self, declared: u32) -> (u32, WarmupSource) {
        self.live.resolve_warmup(declared)
    }

    /// This spec asking for `limits` instead of the strategy tier's.
    pub fn with_limits(self, limits: LimitRequest) -> RunSpec {
        RunSpec { limits, ..self }
    }

    /// This spec with the request's `risk` object.
    pub fn with_risk(self, risk: Option<serde_json::Value>) -> RunSpec {
        RunSpec { risk, ..self }
    }

    /// The strategy reference as text, for messages.
    pub(crate) fn strategy_text(&self) -> String {
        match &self.strategy {
            StrategyRef::Id(id) => id.to_string(),
            StrategyRef::Name(n) => n.chars().take(64).collect(),
            StrategyRef::Version { name, version } => format!(
                "{}@{}",
                name.chars().take(64).collect::<String>(),
                version.chars().take(64).collect::<String>()
            ),
        }
    }

    /// The parameters as the guest's `init` takes them (text values).
    pub fn text_params(&self) -> Vec<(String, String)> {
        text_params(Some(&self.params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        mode: &str,
        venue: &str,
        symbols: &[&str],
        tf: &str,
        cash: Option<f64>,
    ) -> Result<RunSpec, Error> {
        RunSpec::parse(
            StrategyRef::Name("s".into()),
            mode,
            venue,
            symbols.iter().map(|s| (*s).to_owned()).collect(),
            tf,
            None,
            cash,
        )
    }

    #[test]
    fn validation_names_the_first_bad_field() {
        let ok = parse("paper", "sim", &["A"], "1Day", Some(5.0)).unwrap();
        assert_eq!((ok.mode, ok.venue), (Mode::Paper, VenueName::Sim));
        assert_eq!(ok.timeframe, Timeframe::DAY);
        let code = |r: Result<RunSpec, Error>| r.unwrap_err().code();
        assert_eq!(
            code(parse("real", "sim", &["A"], "1Day", None)),
            "invalid_mode"
        );
        assert_eq!(
            code(parse("live", "sim", &["A"], "1Day", None)),
            "invalid_mode"
        );
        assert_eq!(
            code(parse("live", "sim-live", &["A"], "1Min", None)),
            "invalid_mode"
        );
        let ok = parse("paper", "sim-live", &["A"], "1Min", None).unwrap();
        assert_eq!(ok.venue.as_str(), "sim-live");
        assert_eq!(
            code(parse("paper", "nyse", &["A"], "1Day", None)),
            "invalid_venue"
        );
        assert_eq!(
            code(parse("paper", "sim", &["A"], "1Fortnight", None)),
            "invalid_timeframe"
        );
        assert_eq!(
            code(parse("paper", "sim", &[], "1Day", None)),
            "invalid_symbols"
        );
        let many: Vec<&str> = vec!["A"; 33];
        assert_eq!(
            code(parse("paper", "sim", &many, "1Day", None)),
            "invalid_symbols"
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e12] {
            assert_eq!(
                code(parse("paper", "sim", &["A"], "1Day", Some(bad))),
                "invalid_cash"
            );
        }
        assert!(parse("live", "alpaca", &["A"], "1Min", None).is_ok());
    }

    #[test]
    fn live_runs_take_alpacas_timeframes_only() {
        for tf in periods::live_timeframe_names() {
            assert!(parse("paper", "alpaca", &["A"], &tf, None).is_ok(), "{tf}");
        }
        match parse("paper", "alpaca", &["A"], "7Min", None) {
            Err(Error::Timeframe { code, accepted, .. }) => {
                assert_eq!(code, "unsupported_timeframe");
                assert_eq!(accepted.len(), 9);
            }
            other => panic!("7Min accepted: {other:?}"),
        }
        // The simulated exchange replays whatever candles are stored.
        assert!(parse("paper", "sim", &["A"], "7Min", None).is_ok());
        let spec = parse("paper", "alpaca", &["A"], "5Min", None).unwrap();
        let too_long = LiveBarOptions {
            warmup: Some(MAX_WARMUP + 1),
            ..LiveBarOptions::default()
        };
        assert_eq!(
            spec.with_live(too_long).unwrap_err().code(),
            "invalid_warmup"
        );
    }

    #[test]
    fn options_round_trip_and_warmup_defaults_to_the_declared_one() {
        let given = LiveBarOptions {
            hours: Hours::Extended,
            empty_bars: EmptyBars::Carry,
            warmup: Some(7),
        };
        let json = given.to_json();
        assert_eq!(
            json,
            serde_json::json!({"extended_hours": true, "empty_bars": "carry", "warmup": 7})
        );
        assert_eq!(LiveBarOptions::from_stored(Some(&json)).unwrap(), given);
        assert_eq!(
            LiveBarOptions::from_stored(None).unwrap(),
            LiveBarOptions::default()
        );
        assert!(LiveBarOptions::from_stored(Some(&serde_json::json!([1]))).is_err());
        assert_eq!(given.resolve_warmup(19), (7, WarmupSource::Given));
        let none = LiveBarOptions::default();
        assert_eq!(none.resolve_warmup(19), (19, WarmupSource::Declared));
        assert_eq!(
            none.resolve_warmup(u32::MAX),
            (MAX_WARMUP, WarmupSource::Declared)
        );
    }

    #[test]
    fn parameters_reach_the_guest_as_text() {
        let mut params = serde_json::Map::new();
        params.insert("fast".into(), serde_json::json!(5));
        params.insert("name".into(), serde_json::json!("x"));
        params.insert("on".into(), serde_json::json!(true));
        let got = text_params(Some(&params));
        assert_eq!(
            got,
            vec![
                ("fast".to_owned(), "5".to_owned()),
                ("name".to_owned(), "x".to_owned()),
                ("on".to_owned(), "true".to_owned()),
            ]
        );
    }
}
