//! The budgets of one sandbox ([`Limits`]): fuel per call, the wall-clock deadline derived from
//! it, and the caps on memory, tables and what a guest hands back.
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

use std::time::Duration;

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
}
