//! The per-sandbox memory and table limiter: one budget for every linear memory and one for
//! every table the guest's store holds, whatever number of them it declares or grows.
//!
//! A component can hold many memories and tables: several core instances (each module may be
//! instantiated more than once), and several memories per module with multi-memory. wasmtime
//! asks the store's [`ResourceLimiter`] before it creates or grows each one, passing that one
//! memory's sizes; capping those per memory would let a guest hold the cap times the number of
//! memories. This limiter keeps running totals instead.
//!
//! # Invariants
//! - `memory_bytes` is the sum of the sizes of every memory in the store (creation counts as
//!   growth from 0) and never exceeds the cap; likewise `table_elements` for tables. Memories
//!   and tables only grow while the store lives, so the totals only go up, except when a growth
//!   the limiter allowed then fails (wasmtime reports it through `*_grow_failed`) and is taken
//!   back.
//! - `peak_memory_bytes` is the largest total reached: the figure the sandbox reports.
//! - A refused growth traps on the spot (an error, not `Ok(false)`) and leaves the reason in
//!   `refused`, so the trap is reported as `strategy_memory_limit` with that reason.

use wasmtime::ResourceLimiter;

/// Most core instances, tables and memories one store may create: a component has a handful of
/// each (the limits on their total size are separate).
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;

/// Totals of a store's memories and tables against the sandbox's caps.
#[derive(Debug)]
pub(super) struct Limiter {
    max_memory_bytes: usize,
    max_table_elements: usize,
    memory_bytes: usize,
    table_elements: usize,
    peak_memory_bytes: usize,
    /// The last memory growth allowed, undone if wasmtime then fails to perform it.
    pending_memory: usize,
    /// The last table growth allowed, likewise.
    pending_table: usize,
    /// Why a growth was refused, so the resulting trap is reported as a memory limit.
    pub(super) refused: Option<String>,
}

impl Limiter {
    pub(super) fn new(max_memory_bytes: usize, max_table_elements: usize) -> Limiter {
        Limiter {
            max_memory_bytes,
            max_table_elements,
            memory_bytes: 0,
            table_elements: 0,
            peak_memory_bytes: 0,
            pending_memory: 0,
            pending_table: 0,
            refused: None,
        }
    }

    /// The largest total of all linear memories reached so far, in bytes.
    pub(super) fn peak_memory_bytes(&self) -> usize {
        self.peak_memory_bytes
    }

    /// The total of all linear memories now, in bytes.
    #[cfg(test)]
    fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// The total of all table elements now.
    #[cfg(test)]
    fn table_elements(&self) -> usize {
        self.table_elements
    }

    fn refuse(&mut self, why: String) -> wasmtime::Result<bool> {
        self.refused = Some(why.clone());
        // An error (not `Ok(false)`) traps right here instead of letting the guest see -1 and
        // limp on.
        Err(wasmtime::Error::msg(why))
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current);
        let total = self.memory_bytes.saturating_add(delta);
        if total > self.max_memory_bytes {
            return self.refuse(format!(
                "linear memory growth from {current} to {desired} bytes refused: the sandbox's \
                 memories would total {total} bytes (limit {} bytes for all memories together)",
                self.max_memory_bytes
            ));
        }
        self.memory_bytes = total;
        self.pending_memory = delta;
        self.peak_memory_bytes = self.peak_memory_bytes.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_bytes = self.memory_bytes.saturating_sub(self.pending_memory);
        self.pending_memory = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current);
        let total = self.table_elements.saturating_add(delta);
        if total > self.max_table_elements {
            return self.refuse(format!(
                "table growth from {current} to {desired} elements refused: the sandbox's tables \
                 would total {total} elements (limit {} for all tables together)",
                self.max_table_elements
            ));
        }
        self.table_elements = total;
        self.pending_table = delta;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements = self.table_elements.saturating_sub(self.pending_table);
        self.pending_table = 0;
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn memories_are_capped_together_not_one_by_one() {
        let mut l = Limiter::new(32 * MIB, 100);
        // Two memories created at 10 MiB each, then one grows to 12 MiB.
        assert!(l.memory_growing(0, 10 * MIB, None).unwrap());
        assert!(l.memory_growing(0, 10 * MIB, None).unwrap());
        assert!(l.memory_growing(10 * MIB, 12 * MIB, None).unwrap());
        assert_eq!(l.memory_bytes(), 22 * MIB);
        // A third at 11 MiB would total 33 MiB: refused although it is alone under the cap.
        let err = l.memory_growing(0, 11 * MIB, None).unwrap_err();
        assert!(err.to_string().contains("33"), "{err}");
        assert!(l.refused.is_some());
        assert_eq!(l.memory_bytes(), 22 * MIB);
        assert_eq!(l.peak_memory_bytes(), 22 * MIB);
    }

    #[test]
    fn a_growth_wasmtime_could_not_perform_is_taken_back() {
        let mut l = Limiter::new(32 * MIB, 100);
        assert!(l.memory_growing(0, MIB, None).unwrap());
        assert!(l.memory_growing(MIB, 3 * MIB, Some(2 * MIB)).unwrap());
        l.memory_grow_failed(wasmtime::Error::msg("over the memory's own maximum"))
            .unwrap();
        assert_eq!(l.memory_bytes(), MIB);
        assert!(l.table_growing(0, 60, None).unwrap());
        assert!(l.table_growing(60, 80, Some(70)).unwrap());
        l.table_grow_failed(wasmtime::Error::msg("over the table's maximum"))
            .unwrap();
        assert_eq!(l.table_elements(), 60);
        assert!(
            l.table_growing(0, 41, None)
                .unwrap_err()
                .to_string()
                .contains("100")
        );
    }
}
