//! The budgets of one sandbox ([`Limits`]): fuel per call, the wall-clock deadline derived from
//! it, and the caps on memory, tables and what a guest hands back; what a run may ask for beyond
//! its tier ([`LimitRequest`]) and the operator's ceilings on that ([`Ceilings`]).
//!
//! # Invariants
//! - Fuel decides; the deadline is a safety net. A call's deadline is
//!   `deadline_floor + budget × deadline_per_megafuel`, so a call allowed more fuel is allowed
//!   proportionally more time, and the default rate is several times slower than the slowest
//!   legal work measured on the 2-core reference machine under full load (figures in
//!   `docs/adr/0002-fuel-and-epoch-deadlines.md`): a guest within its fuel finishes, a guest
//!   over it fails with `strategy_fuel_exhausted` at the same call on an idle or a busy machine.
//!   Only a stall fuel does not count (a host call that blocks, a machine far slower than
//!   expected) reaches the deadline.
//! - A run's limits are its tier's, with what it asked for in their place; a request above the
//!   operator's ceiling, or zero, is refused with `limit_not_allowed` naming the setting, never
//!   cut silently. The deadline follows the fuel in force.
//! - A [`LimitRequest`]'s JSON form is stored with a run (so a resumed run gets the same limits):
//!   its field names are a stored contract.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Error;

/// Per-call limits of every sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Fuel (≈ wasm operators; bulk memory ops pay per byte) of one guest call. Deterministic:
    /// the same events always use the same fuel.
    pub fuel_per_event: u64,
    /// Extra fuel per bar in a call: a call carrying `n` bars (a batch, or a `bars` event) gets
    /// `fuel_per_event + n × fuel_per_bar`.
    pub fuel_per_bar: u64,
    /// Fuel for instantiation plus `init`.
    pub fuel_for_init: u64,
    /// The part of every call's deadline that does not depend on its fuel (see
    /// [`Limits::deadline`]).
    pub deadline_floor: Duration,
    /// Wall time allowed per million units of a call's fuel budget (see [`Limits::deadline`]).
    pub deadline_per_megafuel: Duration,
    /// Cap on the total size of all the linear memories of a sandbox (every memory of every
    /// core instance, as declared and grown), in bytes.
    pub max_memory_bytes: usize,
    /// Cap on the total elements of all the tables of a sandbox.
    pub max_table_elements: usize,
    /// Cap on the bytes of lists and strings a guest call may return to the host.
    pub max_output_bytes: usize,
    /// Cap on the number of intents one event may produce.
    pub max_intents_per_event: usize,
    /// Cap on what a guest may print to stdout/stderr over its whole life (kept for the run's
    /// log; a guest printing more fails with `strategy_output_too_large`).
    pub max_guest_output_bytes: usize,
    /// Cap on what the host holds or builds on the guest's behalf for one bar and every event it
    /// causes: the intents returned, the data windows they ask for, the deliveries they queue
    /// (`marvin/ledger.rs`); past it the reply fails with `strategy_host_budget_exceeded`.
    pub max_host_bytes: usize,
}

impl Limits {
    /// The heavy tier's defaults: runtimes that start with 9–13 MiB of linear memory and pay
    /// ~17k (CPython) to ~180k (StarlingMonkey) fuel for a trivial call (measured figures in
    /// `docs/adr/0002-fuel-and-epoch-deadlines.md`) get twice the memory and ten times the
    /// per-event fuel of the light tier.
    pub fn heavy_runtime() -> Limits {
        Limits {
            fuel_per_event: 200_000_000,
            fuel_per_bar: 2_000_000,
            fuel_for_init: 4_000_000_000,
            max_memory_bytes: 64 << 20,
            ..Limits::default()
        }
    }

    /// Fuel of a call carrying `bars` bars: `fuel_per_event + bars × fuel_per_bar`.
    pub fn budget(&self, bars: u64) -> u64 {
        self.fuel_per_event
            .saturating_add(self.fuel_per_bar.saturating_mul(bars))
    }

    /// The wall-clock deadline of a call with `budget` fuel:
    /// `deadline_floor + budget / 1,000,000 × deadline_per_megafuel` (saturating).
    pub fn deadline(&self, budget: u64) -> Duration {
        let scaled = u128::from(budget)
            .checked_mul(self.deadline_per_megafuel.as_nanos())
            .map(|nanos| nanos / 1_000_000)
            .and_then(|nanos| {
                let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
                Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
            })
            .unwrap_or(Duration::MAX);
        self.deadline_floor.saturating_add(scaled)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // ~1000× a trivial call of the slowest supported language (figures in
            // `docs/adr/0002-fuel-and-epoch-deadlines.md`).
            fuel_per_event: 20_000_000,
            fuel_per_bar: 1_000_000,
            fuel_for_init: 2_000_000_000,
            deadline_floor: Duration::from_secs(1),
            // 500 ns per unit of fuel, five times the slowest legal work measured: a pointer
            // chase with a cache miss per step ran at ~95 ns per unit with every core of the
            // 2-core reference machine busy (hostile case 21; figures in the ADR).
            deadline_per_megafuel: Duration::from_millis(500),
            max_memory_bytes: 32 << 20,
            max_table_elements: 100_000,
            max_output_bytes: 1 << 20,
            max_intents_per_event: 1_000,
            max_guest_output_bytes: 64 << 10,
            // 130 windows of 10,000 bars per bar, or a thousand intents with 4 KiB log lines
            // many times over; the thousand windows of 100,000 bars one reply may ask for
            // (4.8 GB) are refused.
            max_host_bytes: 64 << 20,
        }
    }
}

/// What a run asks for instead of its tier's limits; `None` keeps the tier's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitRequest {
    /// [`Limits::fuel_per_event`].
    pub fuel_per_event: Option<u64>,
    /// [`Limits::fuel_per_bar`].
    pub fuel_per_bar: Option<u64>,
    /// [`Limits::max_memory_bytes`].
    pub max_memory_bytes: Option<usize>,
}

impl LimitRequest {
    /// A request as the API and the CLI take it: memory in MiB (as `WEAVER_MAX_MEMORY_MB`).
    pub fn new(
        fuel_per_event: Option<u64>,
        fuel_per_bar: Option<u64>,
        memory_mb: Option<u64>,
    ) -> Self {
        LimitRequest {
            fuel_per_event,
            fuel_per_bar,
            // Beyond the address space it is above any ceiling anyway.
            max_memory_bytes: memory_mb.map(|mb| {
                usize::try_from(mb)
                    .ok()
                    .and_then(|mb| mb.checked_mul(1 << 20))
                    .unwrap_or(usize::MAX)
            }),
        }
    }
}

/// The most a run may ask for, set by the operator (`WEAVER_MAX_FUEL_PER_EVENT`,
/// `WEAVER_MAX_FUEL_PER_BAR`, `WEAVER_MAX_MEMORY_MB`; see `MarvinConfig::from_lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceilings {
    /// Largest [`Limits::fuel_per_event`] a run may ask for.
    pub fuel_per_event: u64,
    /// Largest [`Limits::fuel_per_bar`] a run may ask for.
    pub fuel_per_bar: u64,
    /// Largest [`Limits::max_memory_bytes`] a run may ask for.
    pub max_memory_bytes: usize,
}

impl Default for Ceilings {
    /// Ten times the heavy tier's fuel (2 G per event, 20 M per bar) and 256 MiB.
    fn default() -> Ceilings {
        Ceilings {
            fuel_per_event: 2_000_000_000,
            fuel_per_bar: 20_000_000,
            max_memory_bytes: 256 << 20,
        }
    }
}

/// Whole MiB of `bytes`, rounded up: how memory is named to people (`WEAVER_MAX_MEMORY_MB`,
/// `memory_mb`, `--memory-mb`).
fn mib(bytes: usize) -> usize {
    bytes.div_ceil(1 << 20)
}

impl LimitRequest {
    /// Whether it asks for nothing (every limit stays the tier's).
    pub fn is_empty(&self) -> bool {
        *self == LimitRequest::default()
    }

    /// Checks the request against the operator's `ceilings`, without a component: what the API
    /// and the CLI do before anything is stored or loaded.
    ///
    /// # Errors
    /// `limit_not_allowed` when a requested value is zero or above its ceiling; the message
    /// names the field (`fuel_per_event`, `fuel_per_bar`, `memory_mb`), the ceiling and the
    /// operator's variable.
    pub fn check(&self, ceilings: &Ceilings) -> Result<(), Error> {
        fn check(
            name: &str,
            asked: Option<u64>,
            ceiling: u64,
            variable: &str,
        ) -> Result<(), Error> {
            match asked {
                Some(0) => Err(Error::LimitNotAllowed(format!(
                    "{name} must be greater than 0"
                ))),
                Some(v) if v > ceiling => Err(Error::LimitNotAllowed(format!(
                    "{name} {v} is above the operator's maximum {ceiling} ({variable})"
                ))),
                _ => Ok(()),
            }
        }
        let wide = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        check(
            "fuel_per_event",
            self.fuel_per_event,
            ceilings.fuel_per_event,
            "WEAVER_MAX_FUEL_PER_EVENT",
        )?;
        check(
            "fuel_per_bar",
            self.fuel_per_bar,
            ceilings.fuel_per_bar,
            "WEAVER_MAX_FUEL_PER_BAR",
        )?;
        // Memory is asked for and capped in MiB; a byte count that is not whole MiB is compared
        // exactly but named rounded up.
        match self.max_memory_bytes {
            Some(0) => Err(Error::LimitNotAllowed(
                "memory_mb must be greater than 0".into(),
            )),
            Some(v) if v > ceilings.max_memory_bytes => Err(Error::LimitNotAllowed(format!(
                "memory_mb {} is above the operator's maximum {} (WEAVER_MAX_MEMORY_MB)",
                wide(mib(v)),
                wide(mib(ceilings.max_memory_bytes))
            ))),
            _ => Ok(()),
        }
    }
}

impl Limits {
    /// These limits with `request` in their place, checked against `ceilings`.
    ///
    /// # Errors
    /// `limit_not_allowed` as [`LimitRequest::check`].
    pub fn with_request(
        &self,
        request: &LimitRequest,
        ceilings: &Ceilings,
    ) -> Result<Limits, Error> {
        request.check(ceilings)?;
        Ok(Limits {
            fuel_per_event: request.fuel_per_event.unwrap_or(self.fuel_per_event),
            fuel_per_bar: request.fuel_per_bar.unwrap_or(self.fuel_per_bar),
            max_memory_bytes: request.max_memory_bytes.unwrap_or(self.max_memory_bytes),
            ..self.clone()
        })
    }
}

/// The limits in force in one sandbox, as figures and reports show them (plain numbers, no
/// durations: the deadline follows from the fuel, see [`Limits::deadline`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsInForce {
    /// [`Limits::fuel_per_event`].
    pub fuel_per_event: u64,
    /// [`Limits::fuel_per_bar`].
    pub fuel_per_bar: u64,
    /// [`Limits::fuel_for_init`].
    pub fuel_for_init: u64,
    /// [`Limits::max_memory_bytes`].
    pub max_memory_bytes: u64,
    /// [`Limits::max_table_elements`].
    pub max_table_elements: u64,
    /// [`Limits::max_host_bytes`].
    pub max_host_bytes: u64,
}

impl From<&Limits> for LimitsInForce {
    fn from(l: &Limits) -> LimitsInForce {
        let wide = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        LimitsInForce {
            fuel_per_event: l.fuel_per_event,
            fuel_per_bar: l.fuel_per_bar,
            fuel_for_init: l.fuel_for_init,
            max_memory_bytes: wide(l.max_memory_bytes),
            max_table_elements: wide(l.max_table_elements),
            max_host_bytes: wide(l.max_host_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_grows_with_the_fuel_budget_and_saturates() {
        let l = Limits::default();
        assert_eq!(l.deadline(0), Duration::from_secs(1));
        // One bar through the per-event path: 21 M fuel, 10.5 s on top of the floor.
        assert_eq!(l.deadline(l.budget(1)), Duration::from_millis(11_500));
        assert_eq!(
            l.deadline(u64::MAX),
            Duration::from_secs(1) + Duration::from_nanos(u64::MAX) * 500
        );
        let huge = Limits {
            deadline_per_megafuel: Duration::MAX,
            ..Limits::default()
        };
        assert_eq!(huge.deadline(u64::MAX), Duration::MAX);
        assert_eq!(l.budget(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_request_replaces_the_tier_within_the_ceilings() {
        let tier = Limits::default();
        let ceilings = Ceilings::default();
        assert_eq!(
            tier.with_request(&LimitRequest::default(), &ceilings)
                .unwrap(),
            tier
        );
        let more = LimitRequest {
            fuel_per_event: Some(100_000_000),
            max_memory_bytes: Some(128 << 20),
            ..LimitRequest::default()
        };
        let limits = tier.with_request(&more, &ceilings).unwrap();
        assert_eq!(
            (
                limits.fuel_per_event,
                limits.fuel_per_bar,
                limits.max_memory_bytes
            ),
            (100_000_000, tier.fuel_per_bar, 128 << 20)
        );
        let too_much = LimitRequest {
            max_memory_bytes: Some(512 << 20),
            ..LimitRequest::default()
        };
        let err = tier.with_request(&too_much, &ceilings).unwrap_err();
        assert_eq!(err.code(), "limit_not_allowed");
        assert_eq!(
            err.to_string(),
            "limit not allowed: memory_mb 512 is above the operator's maximum 256 (WEAVER_MAX_MEMORY_MB)"
        );
        assert_eq!(too_much.check(&ceilings), Err(err));
        let json = serde_json::to_value(more).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"fuel_per_event": 100_000_000, "fuel_per_bar": null, "max_memory_bytes": 128 << 20})
        );
        assert_eq!(serde_json::from_value::<LimitRequest>(json).unwrap(), more);
        assert!(LimitRequest::default().is_empty() && !more.is_empty());
        let zero = LimitRequest {
            fuel_per_bar: Some(0),
            ..LimitRequest::default()
        };
        assert_eq!(
            tier.with_request(&zero, &ceilings).unwrap_err().code(),
            "limit_not_allowed"
        );
    }
}
