//! How Marvin is set up ([`MarvinConfig`]), and the operator's settings read from the
//! environment ([`MarvinConfig::from_lookup`]).
//!
//! # Invariants
//! - The ceilings are true maxima: a tier limit above its ceiling is lowered to it, so no run,
//!   asking or not, gets more than the operator allows.
//! - A malformed or out-of-range setting is refused with `invalid_config` listing every problem;
//!   none is ignored or silently cut.

use std::path::PathBuf;
use std::time::Duration;

use super::{Ceilings, CompileLimits, Error, Limits};

/// How Marvin is set up. [`MarvinConfig::default`] works on a fresh machine.
#[derive(Debug, Clone, PartialEq)]
pub struct MarvinConfig {
    /// Directory of compiled artifacts (`<sha256>-<engine hash>.cwasm`); created if missing.
    /// Default `$WEAVER_DATA_DIR/cache/compiled` (`WEAVER_DATA_DIR` defaults to `./weaver-data`).
    pub cache_dir: PathBuf,
    /// Largest accepted component, in bytes (default 50 MiB: Python components are ~18 MB).
    pub max_component_bytes: usize,
    /// Per-call limits of the light tier: compiled strategies (Rust, …) and QuickJS.
    pub limits: Limits,
    /// Per-call limits of the heavy tier: Python (CPython) and other large interpreters
    /// ([`super::Language::is_heavy`]). Default [`Limits::heavy_runtime`].
    pub heavy_limits: Limits,
    /// Epoch ticker period; the deadline granularity.
    pub epoch_tick: Duration,
    /// Compile in a child process: the `weaver` binary at this path, run as
    /// `weaver strategy precompile` (component on stdin, artifact on stdout). `None` compiles in
    /// this process. `weaver serve` sets it to itself, so Cranelift's memory (tens of MB that
    /// the allocator keeps after a compile) and any compiler crash stay out of the server.
    pub compiler: Option<PathBuf>,
    /// How many compiles run at once, and the child's time and address-space limits (the
    /// limits apply to compiles in a child, see `compiler`).
    pub compile: CompileLimits,
    /// The most a run may ask for instead of its tier's limits ([`super::LimitRequest`]).
    pub ceilings: Ceilings,
}

impl Default for MarvinConfig {
    fn default() -> MarvinConfig {
        let data_dir = std::env::var_os("WEAVER_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("weaver-data"));
        MarvinConfig {
            cache_dir: data_dir.join("cache").join("compiled"),
            max_component_bytes: 50 << 20,
            limits: Limits::default(),
            heavy_limits: Limits::heavy_runtime(),
            epoch_tick: Duration::from_millis(5),
            compiler: None,
            compile: CompileLimits::default(),
            ceilings: Ceilings::default(),
        }
    }
}

/// A setting [`MarvinConfig::from_lookup`] reads: its variable, smallest and largest value, and
/// the unit it is given in (bytes per unit).
struct Setting {
    name: &'static str,
    min: u64,
    max: u64,
    unit: u64,
}

const MAX_FUEL_PER_EVENT: Setting = Setting {
    name: "WEAVER_MAX_FUEL_PER_EVENT",
    min: 1,
    max: u64::MAX,
    unit: 1,
};
const MAX_FUEL_PER_BAR: Setting = Setting {
    name: "WEAVER_MAX_FUEL_PER_BAR",
    min: 1,
    max: u64::MAX,
    unit: 1,
};
// Linear memories are 32-bit: 4 GiB is the most any sandbox could use.
const MAX_MEMORY_MB: Setting = Setting {
    name: "WEAVER_MAX_MEMORY_MB",
    min: 1,
    max: 4096,
    unit: 1 << 20,
};
const COMPILE_SLOTS: Setting = Setting {
    name: "WEAVER_COMPILE_SLOTS",
    min: 1,
    max: 256,
    unit: 1,
};
const COMPILE_CPU_SECONDS: Setting = Setting {
    name: "WEAVER_COMPILE_CPU_SECONDS",
    min: 1,
    max: 86_400,
    unit: 1,
};
const COMPILE_MEMORY_MB: Setting = Setting {
    name: "WEAVER_COMPILE_MEMORY_MB",
    min: 64,
    max: 1 << 20,
    unit: 1 << 20,
};

impl MarvinConfig {
    /// [`MarvinConfig::from_lookup`] on the process environment.
    ///
    /// # Errors
    /// As [`MarvinConfig::from_lookup`].
    pub fn from_env() -> Result<MarvinConfig, Error> {
        MarvinConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// The defaults with the operator's settings from `lookup`: the ceilings on what runs may
    /// ask for (`WEAVER_MAX_FUEL_PER_EVENT`, `WEAVER_MAX_FUEL_PER_BAR`, `WEAVER_MAX_MEMORY_MB`)
    /// and the compile limits (`WEAVER_COMPILE_SLOTS`, `WEAVER_COMPILE_CPU_SECONDS`,
    /// `WEAVER_COMPILE_MEMORY_MB`). Tier limits above a ceiling are lowered to it.
    ///
    /// # Errors
    /// `invalid_config` naming every variable that is not a whole number in its range.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<MarvinConfig, Error> {
        let mut config = MarvinConfig::default();
        let mut problems = Vec::new();
        let mut read = |setting: &Setting| -> Option<u64> {
            let text = lookup(setting.name)?;
            match text.trim().parse::<u64>() {
                Ok(v) if (setting.min..=setting.max).contains(&v) => {
                    Some(v.saturating_mul(setting.unit))
                }
                _ => {
                    problems.push(format!(
                        "{} must be a whole number from {} to {}, got {text:?}",
                        setting.name, setting.min, setting.max
                    ));
                    None
                }
            }
        };
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(v) = read(&MAX_FUEL_PER_EVENT) {
            config.ceilings.fuel_per_event = v;
        }
        if let Some(v) = read(&MAX_FUEL_PER_BAR) {
            config.ceilings.fuel_per_bar = v;
        }
        if let Some(v) = read(&MAX_MEMORY_MB) {
            config.ceilings.max_memory_bytes = size(v);
        }
        if let Some(v) = read(&COMPILE_SLOTS) {
            config.compile.slots = size(v);
        }
        if let Some(v) = read(&COMPILE_CPU_SECONDS) {
            config.compile.cpu_time = Duration::from_secs(v);
        }
        if let Some(v) = read(&COMPILE_MEMORY_MB) {
            config.compile.max_address_space = v;
        }
        if !problems.is_empty() {
            return Err(Error::InvalidConfig(problems.join("; ")));
        }
        let ceilings = config.ceilings;
        for tier in [&mut config.limits, &mut config.heavy_limits] {
            cap(tier, &ceilings);
        }
        Ok(config)
    }
}

/// Lowers `tier` to `ceilings` where it is above them.
fn cap(tier: &mut Limits, ceilings: &Ceilings) {
    tier.fuel_per_event = tier.fuel_per_event.min(ceilings.fuel_per_event);
    tier.fuel_per_bar = tier.fuel_per_bar.min(ceilings.fuel_per_bar);
    tier.max_memory_bytes = tier.max_memory_bytes.min(ceilings.max_memory_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn operator_settings_are_read_checked_and_lower_the_tiers() {
        let config = MarvinConfig::from_lookup(lookup(&[
            ("WEAVER_MAX_FUEL_PER_EVENT", "100000000"),
            ("WEAVER_MAX_MEMORY_MB", "48"),
            ("WEAVER_COMPILE_SLOTS", "3"),
            ("WEAVER_COMPILE_CPU_SECONDS", "30"),
            ("WEAVER_COMPILE_MEMORY_MB", "2048"),
        ]))
        .expect("valid");
        assert_eq!(config.ceilings.fuel_per_event, 100_000_000);
        assert_eq!(config.ceilings.max_memory_bytes, 48 << 20);
        assert_eq!(config.compile.slots, 3);
        assert_eq!(config.compile.cpu_time, Duration::from_secs(30));
        assert_eq!(config.compile.max_address_space, 2 << 30);
        // The light tier is under both; the heavy tier's 200 M and 64 MiB are lowered.
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.heavy_limits.fuel_per_event, 100_000_000);
        assert_eq!(config.heavy_limits.max_memory_bytes, 48 << 20);
        let err = MarvinConfig::from_lookup(lookup(&[
            ("WEAVER_MAX_MEMORY_MB", "lots"),
            ("WEAVER_COMPILE_SLOTS", "0"),
        ]))
        .unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        let text = err.to_string();
        assert!(
            text.contains("WEAVER_MAX_MEMORY_MB") && text.contains("WEAVER_COMPILE_SLOTS"),
            "{text}"
        );
        assert_eq!(
            MarvinConfig::from_lookup(lookup(&[])).expect("defaults"),
            MarvinConfig::default()
        );
    }
}
