//! Host bindings generated from `wit/`: one module per supported world version. `v03` is the
//! current contract (`wit/strategy.wit`, `weaver:strategy@0.3.0`); `v02` is built against the
//! kept 0.2.0 text (`wit/v0.2/`) and reuses `v03`'s types, which 0.3.0 left unchanged (component
//! values are checked by structure, not by package), so one set of conversions serves both.
//!
//! # Invariants
//! - A type 0.2.0 uses that 0.3.0 changed would fail to compile here (`with` needs every 0.2.0
//!   type in `v03`), so the adapter cannot drift silently from the contract it adapts.

#![allow(missing_docs, unreachable_pub, clippy::all)]

/// `weaver:strategy@0.3.0`, the contract strategies are built against today.
pub mod v03 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "strategy",
    });
}

/// `weaver:strategy@0.2.0`, run through the adapter in `marvin/sandbox.rs`.
pub mod v02 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "strategy",
        with: {
            "weaver:strategy/types@0.2.0": super::v03::weaver::strategy::types,
        },
    });
}

pub use v03::weaver;
