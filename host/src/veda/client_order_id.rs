//! The deterministic `client_order_id`: the idempotency key shared with the venue, derived from the
//! run and the intent's sequence number in that run.
//!
//! # Invariants
//! - The same (run, sequence) always yields the same id, across restarts and processes, so a
//!   re-sent order can only ever be a duplicate the venue refuses, never a second order.
//! - Different (run, sequence) pairs yield different ids: a readable prefix plus a SHA-256 digest
//!   over an unambiguous encoding of both parts (collisions are cryptographically unlikely).
//! - Ids are at most [`MAX_LEN`] ASCII characters of `[a-z0-9-]`, valid on every venue.

use sha2::{Digest, Sha256};

/// Longest id a venue accepts (Alpaca: 128).
pub(crate) const MAX_LEN: usize = 128;

/// Derives the client order id of intent number `sequence` of run `run_id`.
///
/// Shape: `w-<run prefix>-<sequence>-<24 hex digits>`, where the run prefix is the first 16
/// `[a-z0-9]` characters of the run id (for a human reading venue screens) and the digest binds
/// the full run id and the sequence.
pub fn derive(run_id: &str, sequence: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"weaver-client-order-id-v1\0");
    hasher.update((run_id.len() as u64).to_be_bytes());
    hasher.update(run_id.as_bytes());
    hasher.update(sequence.to_be_bytes());
    let digest = hasher.finalize();
    let prefix: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(16)
        .collect();
    let id = format!("w-{prefix}-{sequence}-{}", hex::encode(&digest[..12]));
    debug_assert!(id.len() <= MAX_LEN);
    id
}

/// The sequence number embedded in an id made by [`derive`] (`w-<prefix>-<sequence>-<digest>`);
/// `None` for other ids.
pub fn sequence(id: &str) -> Option<u64> {
    let mut parts = id.rsplitn(3, '-');
    let _digest = parts.next()?;
    parts.next()?.parse().ok()
}

/// True when `id` is [`derive`]d from `scope` (for some sequence).
pub fn derived_from(scope: &str, id: &str) -> bool {
    sequence(id).is_some_and(|n| derive(scope, n) == id)
}

/// True when `id` is acceptable as a client order id (non-empty, ≤ [`MAX_LEN`], printable ASCII).
pub fn is_valid(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn deterministic_distinct_and_short() {
        assert_eq!(derive("run-1", 7), derive("run-1", 7));
        assert_ne!(derive("run-1", 7), derive("run-1", 8));
        assert_ne!(derive("run-1", 7), derive("run-2", 7));
        // Prefix collisions ("run-1" + 12 vs "run-11" + 2) must not collide.
        assert_ne!(derive("run-1", 12), derive("run-11", 2));
        let long = "x".repeat(10_000);
        let id = derive(&long, u64::MAX);
        assert!(id.len() <= MAX_LEN, "{} chars", id.len());
        assert!(is_valid(&id));
        assert_eq!(sequence(&derive("7-3f2a", 42)), Some(42));
        assert_eq!(sequence("not-derived"), None);
        let ids: HashSet<String> = (0..10_000).map(|s| derive("0193a2b4-run", s)).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn odd_run_ids_still_give_valid_ids() {
        for run in ["", "ünïcødé run/with spaces", "\u{0}\n"] {
            let id = derive(run, 1);
            assert!(is_valid(&id), "{id:?}");
        }
        assert!(!is_valid(""));
        assert!(!is_valid(&"a".repeat(129)));
        assert!(!is_valid("has space"));
    }
}
