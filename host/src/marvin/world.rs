//! Type-checks a compiled component's exports against the strategy world at load, so a component
//! whose exports have the right names but the wrong types is refused at upload
//! (`unsupported_world`, naming the function) instead of failing at its first instantiation.
//!
//! Imports need no separate pass: `Linker::instantiate_pre` (in `Marvin::load`) already
//! type-checks every import against what the linker defines (the inert WASI interfaces with their
//! full function types, and the types-only `weaver:strategy/types`), and its error names the
//! import.
//!
//! # Invariants
//! - A component passes only if `weaver:strategy/guest` of its contract version (0.2.0 or 0.3.0)
//!   is an instance exporting `init`, `on-event` and `on-bars`, each a synchronous function whose
//!   parameter and result types are exactly those of that version's WIT (the same check the
//!   generated bindings make when they look the functions up on an instance, done here before
//!   anything is cached or stored).

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, InstancePre, Lift, Lower,
};

use super::Error;
use super::bindings::weaver::strategy::types as wit;

/// A contract version this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Contract {
    /// `weaver:strategy@0.2.0`: `init` returns only subscriptions; adapted by the host.
    V02,
    /// `weaver:strategy@0.3.0`: `init` returns a declaration.
    V03,
}

impl Contract {
    /// The contract of a component whose `weaver:strategy/guest` export has `version`.
    pub(super) fn of(version: &str) -> Option<Contract> {
        if version.starts_with("0.2.") {
            Some(Contract::V02)
        } else if version.starts_with("0.3.") {
            Some(Contract::V03)
        } else {
            None
        }
    }

    /// The export the host instantiates (the world's `guest` interface of this version).
    fn guest(self) -> &'static str {
        match self {
            Contract::V02 => "weaver:strategy/guest@0.2.0",
            Contract::V03 => "weaver:strategy/guest@0.3.0",
        }
    }
}

/// Checks every function of the strategy world's exports; see the module doc.
pub(super) fn check_exports<T>(pre: &InstancePre<T>, contract: Contract) -> Result<(), Error> {
    let component = pre.component();
    let cx = pre.instance_type();
    let refuse = |why: String| Error::UnsupportedWorld(why);
    let name = contract.guest();
    let Some((item, guest)) = component.get_export(None, name) else {
        return Err(refuse(format!("no export named `{name}`")));
    };
    if !matches!(item, ComponentItem::ComponentInstance(_)) {
        return Err(refuse(format!("export `{name}` is not an instance")));
    }
    let check = Checker {
        component,
        guest: &guest,
        cx: &cx,
        name,
    };
    match contract {
        Contract::V02 => check
            .func::<(wit::Config,), (Result<wit::Subscriptions, wit::StrategyError>,)>(
                "init",
                "func(config: config) -> result<subscriptions, strategy-error>",
            )?,
        Contract::V03 => check
            .func::<(wit::Config,), (Result<wit::Declaration, wit::StrategyError>,)>(
                "init",
                "func(config: config) -> result<declaration, strategy-error>",
            )?,
    }
    check.func::<(wit::Envelope,), (Result<Vec<wit::Intent>, wit::StrategyError>,)>(
        "on-event",
        "func(event: envelope) -> result<list<intent>, strategy-error>",
    )?;
    check.func::<(wit::BarBatch,), (Result<wit::BatchReply, wit::StrategyError>,)>(
        "on-bars",
        "func(bars: bar-batch) -> result<batch-reply, strategy-error>",
    )?;
    Ok(())
}

struct Checker<'a> {
    component: &'a Component,
    guest: &'a ComponentExportIndex,
    cx: &'a wasmtime::component::__internal::InstanceType<'a>,
    name: &'static str,
}

impl Checker<'_> {
    /// Checks that `guest` exports function `name` with exactly the types `P` -> `R`.
    fn func<P, R>(&self, name: &str, wit_type: &str) -> Result<(), Error>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        let refuse = |why: String| {
            Error::UnsupportedWorld(format!(
                "function `{name}` of `{guest}` {why}; the world declares `{name}: {wit_type}`",
                guest = self.name
            ))
        };
        let Some((item, _)) = self.component.get_export(Some(self.guest), name) else {
            return Err(refuse("is missing".into()));
        };
        let ComponentItem::ComponentFunc(func) = item else {
            return Err(refuse("is not a function".into()));
        };
        if func.async_() {
            return Err(refuse("is async".into()));
        }
        func.typecheck::<P, R>(self.cx)
            .map_err(|e| refuse(format!("has the wrong type ({e:#})")))
    }
}
