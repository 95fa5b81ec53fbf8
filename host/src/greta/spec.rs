//! The specification of one backtest: which strategy, over which bars, with which engine
//! settings. `weaver backtest` builds it from its flags and `POST /backtests` from its request;
//! both turn it into an [`EngineConfig`] and a strategy factory here, so the two front ends
//! cannot drift apart.
//!
//! # Invariants
//! - [`BacktestSpec::engine_config`] refuses a money amount that is not finite or is negative,
//!   cash that is not positive or above [`MAX_CASH`], a percentage commission of 1 (100 %) or
//!   more, a per-unit or fixed commission above [`MAX_COMMISSION_AMOUNT`] and slippage above
//!   [`MAX_SLIPPAGE_BPS`], naming the setting; likewise a fill model's setting out of its range
//!   (`volume_limit` in (0, 1], `volume_impact` in [0, [`MAX_VOLUME_IMPACT`]], `spread_hl` in
//!   [0, 1], `latency_bars` up to [`MAX_LATENCY_BARS`]).
//! - A component strategy is loaded through the caller's [`Marvin`] (its engine, epoch ticker and
//!   compile cache): nothing here starts a sandbox engine of its own.
//! - Nothing here panics on input: unknown native names, missing or refused components and bad
//!   settings are errors with stable codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::broker::BrokerConfig;
use super::engine::{Backtest, EngineConfig, StrategyFactory};
use super::{
    Commission, CommissionModel, Error, FillModel, FillOptions, Remainder, Series, VolumeShare,
    csv, native,
};
use crate::domain::{Bar, Strategy, StrategyConfig, StrategyError, SymbolBar, Timeframe};
use crate::marvin::{LimitRequest, LimitsInForce, Marvin};

/// Largest starting cash of a backtest (as of a paper run, `runs::spec`): beyond it, equity
/// figures lose their cents and can overflow.
pub const MAX_CASH: f64 = 1e12;
/// Largest per-unit or fixed commission of a backtest.
pub const MAX_COMMISSION_AMOUNT: f64 = 1e6;
/// Largest slippage of a backtest, in basis points (100 %).
pub const MAX_SLIPPAGE_BPS: f64 = 10_000.0;
/// Largest volume-share price impact coefficient: at the default 2.5 % limit it moves the
/// price by at most 0.6 %.
pub const MAX_VOLUME_IMPACT: f64 = 10.0;
/// Largest latency, in bars.
pub const MAX_LATENCY_BARS: u32 = 10_000;

/// Where a backtest's strategy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategySource {
    /// A strategy compiled into the host, by name (`sma-cross`; `native:sma-cross` on the
    /// command line).
    Native(String),
    /// A strategy component (`.wasm`), run in the Marvin sandbox.
    Component(PathBuf),
}

/// The native strategies, by name.
const NATIVE: [&str; 1] = ["sma-cross"];

impl StrategySource {
    /// Reads `weaver backtest --strategy`: `native:<name>`, or the path of a component.
    pub fn parse(text: &str) -> StrategySource {
        match text.strip_prefix("native:") {
            Some(name) => StrategySource::Native(name.to_owned()),
            None => StrategySource::Component(PathBuf::from(text)),
        }
    }

    /// Whether loading this source needs the sandbox (a [`Marvin`]).
    pub fn is_component(&self) -> bool {
        matches!(self, StrategySource::Component(_))
    }

    /// Resolves the source into a factory that builds one strategy instance per run. A component
    /// is validated and compiled (or taken from the compile cache) by `marvin`, the process's
    /// shared sandbox engine; every instance is then its own sandbox. Native code needs no
    /// `marvin`. Blocking (a compile can take seconds): async callers use `spawn_blocking`.
    ///
    /// # Errors
    /// [`Error::UnknownNative`]; for a component [`Error::ComponentMissing`] when the file does
    /// not exist (checked first, so a caller may start its `marvin` only for a file that does),
    /// [`Error::Config`] when `marvin` is `None`, [`Error::Component`] when Marvin refuses or
    /// cannot load it.
    pub fn load(&self, marvin: Option<&Marvin>) -> Result<StrategyBuilder, Error> {
        self.load_with(marvin, &LimitRequest::default())
    }

    /// [`StrategySource::load`] with every sandbox asking for `limits` instead of its tier's
    /// (checked against `marvin`'s ceilings here, before anything runs).
    ///
    /// # Errors
    /// As [`StrategySource::load`]; [`Error::Component`] `limit_not_allowed` for limits above
    /// the operator's ceilings; [`Error::Config`] for limits asked for a native strategy, which
    /// has no sandbox to apply them to.
    pub fn load_with(
        &self,
        marvin: Option<&Marvin>,
        limits: &LimitRequest,
    ) -> Result<StrategyBuilder, Error> {
        match self {
            StrategySource::Native(name) => {
                if !NATIVE.contains(&name.as_str()) {
                    return Err(Error::UnknownNative(name.clone()));
                }
                if !limits.is_empty() {
                    return Err(Error::Config(format!(
                        "native:{name} runs without a sandbox: sandbox limits apply to strategy components only"
                    )));
                }
                Ok(StrategyBuilder {
                    factory: Arc::new(
                        |cfg: &StrategyConfig| -> Result<Box<dyn Strategy>, StrategyError> {
                            Ok(Box::new(native::SmaCross::new(cfg)?))
                        },
                    ),
                    name: format!("native:{name}"),
                    sha256: String::new(),
                    limits: None,
                })
            }
            StrategySource::Component(path) => {
                if !path.is_file() {
                    return Err(Error::ComponentMissing(path.display().to_string()));
                }
                let marvin = marvin.ok_or_else(|| {
                    Error::Config("a strategy component needs the sandbox (Marvin)".into())
                })?;
                load_component(marvin, path, *limits)
            }
        }
    }
}

fn load_component(
    marvin: &Marvin,
    path: &Path,
    request: LimitRequest,
) -> Result<StrategyBuilder, Error> {
    let refused = |error| Error::Component {
        path: path.display().to_string(),
        error,
    };
    // Refused before the compile: a request above the ceilings never costs one.
    request.check(&marvin.config().ceilings).map_err(refused)?;
    let loaded = marvin.load_file(path).map_err(refused)?;
    let limits = loaded.limits_for(&request).map_err(refused)?;
    let sha256 = loaded.sha256().to_owned();
    let name = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(StrategyBuilder {
        factory: Arc::new(
            move |cfg: &StrategyConfig| -> Result<Box<dyn Strategy>, StrategyError> {
                Ok(Box::new(loaded.instantiate_with(cfg, &request)?))
            },
        ),
        name,
        sha256,
        limits: Some(LimitsInForce::from(&limits)),
    })
}

/// A resolved strategy source: how to build instances, and what to call it in reports.
#[derive(Clone)]
pub struct StrategyBuilder {
    /// Builds one instance per run.
    pub factory: Arc<StrategyFactory>,
    /// Report name: `native:<name>`, or the component file's stem.
    pub name: String,
    /// SHA-256 of the component (empty for native code).
    pub sha256: String,
    /// The limits every sandbox it builds runs under (`None` for native code).
    pub limits: Option<LimitsInForce>,
}

impl std::fmt::Debug for StrategyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyBuilder")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// One OHLCV CSV file and the symbol it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// The file (the format of `testdata/README.md`).
    pub path: PathBuf,
    /// Its symbol; `None`: the file's stem.
    pub symbol: Option<String>,
}

/// Candles stored in the database: these symbols' bars of one timeframe in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWindow {
    /// The symbols, in run order.
    pub symbols: Vec<String>,
    /// Bar timeframe.
    pub timeframe: Timeframe,
    /// First bar time (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
}

impl StoredWindow {
    /// One symbol's stored bars (oldest first) as a series, named `db:<symbol>/<timeframe>` in
    /// the report.
    pub fn series(&self, symbol: &str, bars: impl IntoIterator<Item = Bar>) -> Series {
        Series {
            symbol: symbol.to_owned(),
            path: format!("db:{symbol}/{}", self.timeframe),
            bars: bars
                .into_iter()
                .map(|bar| SymbolBar { symbol: 0, bar })
                .collect(),
        }
    }
}

/// The bars a backtest runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataWindow {
    /// CSV files (`weaver backtest --data`), aligned by timestamp.
    Files(Vec<DataFile>),
    /// Stored candles (`POST /backtests`). Greta does no database I/O: the caller reads the
    /// candles and builds each symbol's series with [`StoredWindow::series`].
    Stored(StoredWindow),
}

/// Everything that defines one backtest. [`BacktestSpec::new`] gives the defaults of
/// `weaver backtest` and `POST /backtests`.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestSpec {
    /// The strategy.
    pub strategy: StrategySource,
    /// The bars.
    pub data: DataWindow,
    /// Starting cash (default 10000).
    pub cash: f64,
    /// Commission per side: a fraction of traded value (default 0.002), per unit, and fixed per
    /// fill (both default 0).
    pub commission: Commission,
    /// Market-order fill price (default the next bar's open).
    pub fill: FillModel,
    /// Slippage on market and stop fills, in basis points (default 0).
    pub slippage_bps: f64,
    /// Allow fractional units (default: whole units, rounded down).
    pub fractional: bool,
    /// Close trades still open at the end (at the last bar's open) so they count in the stats.
    pub finalize: bool,
    /// Indicator warm-up in bars: buy & hold is measured from this bar's close. `None` (the
    /// default): the warm-up the strategy declares in `init` (0 for a 0.2 component).
    pub warmup: Option<usize>,
    /// Strategy parameters, `key = value`, in order (a later key wins).
    pub params: Vec<(String, String)>,
    /// Sandbox limits instead of the strategy tier's (default: none asked for).
    pub limits: LimitRequest,
    /// Fill models beyond the reference's (default: none, reference-exact). With
    /// [`CommissionModel::Alpaca`] the flat `commission` is not charged.
    pub fills: FillOptions,
}

/// A setting [`BacktestSpec::engine_config`] refuses, named by its spec field (`cash`,
/// `commission`, `commission_per_unit`, `commission_fixed`, `slippage_bps`) so each front end
/// can name its own input (`--commission-per-unit`, or the request field).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{setting} {problem}")]
pub struct InvalidSetting {
    /// The setting.
    pub setting: &'static str,
    /// What is wrong with it, starting with the value where it helps (`-5 must be a
    /// non-negative number`).
    pub problem: String,
}

/// The fill-model settings as `weaver backtest` flags and `POST /backtests` fields name them
/// (`--volume-limit` is `volume_limit`); unset ones take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct FillSettings {
    /// Volume-share slippage on.
    pub volume_share: Option<bool>,
    /// Share of a bar's volume an order may take (default 0.025); needs `volume_share`.
    pub volume_limit: Option<f64>,
    /// Price impact coefficient (default 0.1); needs `volume_share`.
    pub volume_impact: Option<f64>,
    /// What happens to the unfilled rest (default carry); needs `volume_share`.
    pub remainder: Option<Remainder>,
    /// Half-spread as a fraction of the bar's high − low (default 0).
    pub spread_hl: Option<f64>,
    /// Bars an order waits before it reaches the market (default 0).
    pub latency_bars: Option<u32>,
    /// Commission schedule (default flat).
    pub commission_model: Option<CommissionModel>,
}

impl FillSettings {
    /// The fill options these settings ask for; ranges are checked by
    /// [`BacktestSpec::engine_config`].
    ///
    /// # Errors
    /// A volume-share setting without `volume_share` on.
    pub fn resolve(&self) -> Result<FillOptions, InvalidSetting> {
        let on = self.volume_share.unwrap_or(false);
        if !on {
            let stray = [
                ("volume_limit", self.volume_limit.is_some()),
                ("volume_impact", self.volume_impact.is_some()),
                ("remainder", self.remainder.is_some()),
            ];
            if let Some((setting, _)) = stray.into_iter().find(|(_, given)| *given) {
                return Err(InvalidSetting {
                    setting,
                    problem: "applies to volume-share fills only (volume_share, --volume-share)"
                        .into(),
                });
            }
        }
        let d = VolumeShare::default();
        Ok(FillOptions {
            volume_share: on.then(|| VolumeShare {
                limit: self.volume_limit.unwrap_or(d.limit),
                impact: self.volume_impact.unwrap_or(d.impact),
                remainder: self.remainder.unwrap_or(d.remainder),
            }),
            spread_hl: self.spread_hl.unwrap_or(0.0),
            latency_bars: self.latency_bars.unwrap_or(0),
            commission_model: self.commission_model.unwrap_or_default(),
        })
    }
}

impl BacktestSpec {
    /// A spec with the default settings.
    pub fn new(strategy: StrategySource, data: DataWindow) -> BacktestSpec {
        BacktestSpec {
            strategy,
            data,
            cash: 10_000.0,
            commission: Commission {
                pct: 0.002,
                per_unit: 0.0,
                fixed: 0.0,
            },
            fill: FillModel::NextOpen,
            slippage_bps: 0.0,
            fractional: false,
            finalize: false,
            warmup: None,
            params: Vec::new(),
            limits: LimitRequest::default(),
            fills: FillOptions::default(),
        }
    }

    /// The engine configuration of this spec, after checking the money amounts.
    ///
    /// # Errors
    /// [`InvalidSetting`]: an amount that is not finite or is negative, cash that is not
    /// positive, or a percentage commission of 1 or more.
    pub fn engine_config(&self) -> Result<EngineConfig, InvalidSetting> {
        for (setting, v) in [
            ("cash", self.cash),
            ("commission", self.commission.pct),
            ("commission_per_unit", self.commission.per_unit),
            ("commission_fixed", self.commission.fixed),
            ("slippage_bps", self.slippage_bps),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(InvalidSetting {
                    setting,
                    problem: format!("{v} must be a non-negative number"),
                });
            }
        }
        for (setting, v, most) in [
            ("cash", self.cash, MAX_CASH),
            (
                "commission_per_unit",
                self.commission.per_unit,
                MAX_COMMISSION_AMOUNT,
            ),
            (
                "commission_fixed",
                self.commission.fixed,
                MAX_COMMISSION_AMOUNT,
            ),
            ("slippage_bps", self.slippage_bps, MAX_SLIPPAGE_BPS),
        ] {
            if v > most {
                return Err(InvalidSetting {
                    setting,
                    problem: format!("{} must be at most {}", short(v), short(most)),
                });
            }
        }
        if self.cash <= 0.0 {
            return Err(InvalidSetting {
                setting: "cash",
                problem: "must be positive".into(),
            });
        }
        if self.commission.pct >= 1.0 {
            return Err(InvalidSetting {
                setting: "commission",
                problem: format!(
                    "{} is a fraction of traded value and must be below 1 (0.002 = 0.2 %)",
                    self.commission.pct
                ),
            });
        }
        self.check_fills()?;
        let commission = match self.fills.commission_model {
            CommissionModel::Flat => self.commission,
            CommissionModel::Alpaca => Commission::default(),
        };
        Ok(EngineConfig {
            broker: BrokerConfig {
                cash: self.cash,
                commission,
                slippage_bps: self.slippage_bps,
                fill: self.fill,
                fractional: self.fractional,
            },
            finalize: self.finalize,
            warmup: self.warmup,
            params: self.params.clone(),
            fills: self.fills,
        })
    }

    fn check_fills(&self) -> Result<(), InvalidSetting> {
        let f = &self.fills;
        let out_of = |setting: &'static str, v: f64, range: &str| InvalidSetting {
            setting,
            problem: format!("{} must be a number in {range}", short(v)),
        };
        if let Some(v) = f.volume_share {
            if !(v.limit > 0.0 && v.limit <= 1.0) {
                return Err(out_of("volume_limit", v.limit, "(0, 1]"));
            }
            if !(0.0..=MAX_VOLUME_IMPACT).contains(&v.impact) {
                return Err(out_of(
                    "volume_impact",
                    v.impact,
                    &format!("[0, {MAX_VOLUME_IMPACT}]"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&f.spread_hl) {
            return Err(out_of("spread_hl", f.spread_hl, "[0, 1]"));
        }
        if f.latency_bars > MAX_LATENCY_BARS {
            return Err(InvalidSetting {
                setting: "latency_bars",
                problem: format!("{} must be at most {MAX_LATENCY_BARS}", f.latency_bars),
            });
        }
        Ok(())
    }

    /// Loads the CSV files of a [`DataWindow::Files`] window and aligns them.
    ///
    /// # Errors
    /// The first unreadable or malformed file; [`Error::Config`] for a stored window, whose
    /// candles the caller reads.
    pub fn load_files(&self) -> Result<Backtest, Error> {
        let DataWindow::Files(files) = &self.data else {
            return Err(Error::Config(
                "stored candles are read by the caller, not from files".into(),
            ));
        };
        let series = files
            .iter()
            .map(|f| csv::load(&f.path, f.symbol.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        Backtest::new(series)
    }
}

/// A number for a message: large ones in exponent form (`1e308`, not 309 digits).
fn short(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BacktestSpec {
        BacktestSpec::new(
            StrategySource::parse("native:sma-cross"),
            DataWindow::Files(Vec::new()),
        )
    }

    #[test]
    fn parses_native_and_component_sources() {
        assert_eq!(
            StrategySource::parse("native:sma-cross"),
            StrategySource::Native("sma-cross".into())
        );
        assert_eq!(
            StrategySource::parse("strategies/dist/sma-cross.wasm"),
            StrategySource::Component("strategies/dist/sma-cross.wasm".into())
        );
        assert!(!spec().strategy.is_component());
    }

    #[test]
    fn engine_config_carries_every_setting() {
        let mut s = spec();
        s.cash = 5_000.0;
        s.commission = Commission {
            pct: 0.001,
            per_unit: 0.01,
            fixed: 1.0,
        };
        s.fill = FillModel::Close;
        s.slippage_bps = 2.5;
        s.fractional = true;
        s.finalize = true;
        s.warmup = Some(19);
        s.params = vec![("fast".into(), "5".into())];
        let cfg = s.engine_config().unwrap();
        assert_eq!(cfg.broker.cash, 5_000.0);
        assert_eq!(cfg.broker.commission, s.commission);
        assert_eq!(cfg.broker.fill, FillModel::Close);
        assert_eq!(cfg.broker.slippage_bps, 2.5);
        assert!(cfg.broker.fractional && cfg.finalize);
        assert_eq!(cfg.warmup, Some(19));
        assert_eq!(cfg.params, s.params);
    }

    #[test]
    fn engine_config_names_the_refused_setting() {
        let refused = |f: fn(&mut BacktestSpec)| {
            let mut s = spec();
            f(&mut s);
            s.engine_config().unwrap_err()
        };
        let e = refused(|s| s.cash = -5.0);
        assert_eq!(e.setting, "cash");
        assert_eq!(e.to_string(), "cash -5 must be a non-negative number");
        assert_eq!(
            refused(|s| s.cash = 0.0).to_string(),
            "cash must be positive"
        );
        assert_eq!(
            refused(|s| s.commission.per_unit = f64::NAN).setting,
            "commission_per_unit"
        );
        assert_eq!(
            refused(|s| s.commission.fixed = f64::INFINITY).setting,
            "commission_fixed"
        );
        assert_eq!(refused(|s| s.slippage_bps = -1.0).setting, "slippage_bps");
        let e = refused(|s| s.cash = 1e308);
        assert_eq!(e.setting, "cash");
        assert_eq!(e.to_string(), "cash 1e308 must be at most 1e12");
        assert_eq!(
            refused(|s| s.slippage_bps = 10_001.0).setting,
            "slippage_bps"
        );
        assert_eq!(
            refused(|s| s.commission.fixed = 1e7).setting,
            "commission_fixed"
        );
        let e = refused(|s| s.commission.pct = 1.0);
        assert_eq!(e.setting, "commission");
        assert!(e.problem.starts_with("1 is a fraction of traded value"));
    }

    #[test]
    fn fill_settings_resolve_with_defaults_and_are_range_checked() {
        assert_eq!(
            FillSettings::default().resolve().unwrap(),
            FillOptions::default()
        );
        let on = FillSettings {
            volume_share: Some(true),
            volume_impact: Some(0.2),
            latency_bars: Some(3),
            commission_model: Some(CommissionModel::Alpaca),
            ..FillSettings::default()
        }
        .resolve()
        .unwrap();
        let v = on.volume_share.unwrap();
        assert_eq!(
            (v.limit, v.impact, v.remainder),
            (0.025, 0.2, Remainder::Carry)
        );
        assert_eq!(on.latency_bars, 3);
        let stray = FillSettings {
            remainder: Some(Remainder::Cancel),
            ..FillSettings::default()
        };
        assert_eq!(stray.resolve().unwrap_err().setting, "remainder");
        let refused = |fills: FillOptions| {
            let mut s = spec();
            s.fills = fills;
            s.engine_config().unwrap_err()
        };
        let bad_limit = FillOptions {
            volume_share: Some(VolumeShare {
                limit: 1.5,
                ..VolumeShare::default()
            }),
            ..FillOptions::default()
        };
        assert_eq!(
            refused(bad_limit).to_string(),
            "volume_limit 1.5 must be a number in (0, 1]"
        );
        let bad_spread = FillOptions {
            spread_hl: f64::NAN,
            ..FillOptions::default()
        };
        assert_eq!(refused(bad_spread).setting, "spread_hl");
        let late = FillOptions {
            latency_bars: MAX_LATENCY_BARS + 1,
            ..FillOptions::default()
        };
        assert_eq!(refused(late).setting, "latency_bars");
        // Alpaca's schedule replaces the flat commission.
        let mut s = spec();
        s.fills = on;
        let cfg = s.engine_config().unwrap();
        assert_eq!(cfg.broker.commission, Commission::default());
        assert_eq!(cfg.fills, on);
    }

    #[test]
    fn sources_fail_with_stable_codes() {
        let code = |source: StrategySource| source.load(None).unwrap_err().code();
        assert_eq!(
            code(StrategySource::Native("luck".into())),
            "unknown_strategy"
        );
        assert_eq!(
            code(StrategySource::Component("/nonexistent.wasm".into())),
            "strategy_unavailable"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(
            code(StrategySource::Component(file.path().into())),
            "invalid_config",
            "a component without a sandbox"
        );
        let native = StrategySource::Native("sma-cross".into())
            .load(None)
            .unwrap();
        assert_eq!(native.name, "native:sma-cross");
        assert!(native.sha256.is_empty());
    }

    #[test]
    fn a_stored_window_names_its_series_and_is_not_loaded_from_files() {
        let window = StoredWindow {
            symbols: vec!["SYN".into()],
            timeframe: "1Day".parse().unwrap(),
            start: DateTime::<Utc>::UNIX_EPOCH,
            end: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(1),
        };
        let s = window.series("SYN", Vec::new());
        assert_eq!(s.path, "db:SYN/1Day");
        let mut spec = spec();
        spec.data = DataWindow::Stored(window);
        assert_eq!(spec.load_files().unwrap_err().code(), "invalid_config");
    }
}
