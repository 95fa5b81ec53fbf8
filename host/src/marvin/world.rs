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
//! - A component passes only if `weaver:strategy/guest` is an instance exporting `init`,
//!   `on-event` and `on-bars`, each a synchronous function whose parameter and result types are
//!   exactly those of the WIT (the same check the generated bindings make when they look the
//!   functions up on an instance, done here before anything is cached or stored).

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, InstancePre, Lift, Lower,
};

use super::Error;
use super::bindings::weaver::strategy::types as wit;

/// The export the host instantiates (the world's `guest` interface, this host's version).
const GUEST: &str = "weaver:strategy/guest@0.2.0";

/// Checks every function of the strategy world's exports; see the module doc.
pub(super) fn check_exports<T>(pre: &InstancePre<T>) -> Result<(), Error> {
    let component = pre.component();
    let cx = pre.instance_type();
    let refuse = |why: String| Error::UnsupportedWorld(why);
    let Some((item, guest)) = component.get_export(None, GUEST) else {
        return Err(refuse(format!("no export named `{GUEST}`")));
    };
    if !matches!(item, ComponentItem::ComponentInstance(_)) {
        return Err(refuse(format!("export `{GUEST}` is not an instance")));
    }
    let check = Checker {
        component,
        guest: &guest,
        cx: &cx,
    };
    check.func::<(wit::Config,), (Result<wit::Subscriptions, wit::StrategyError>,)>(
        "init",
        "func(config: config) -> result<subscriptions, strategy-error>",
    )?;
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
                "function `{name}` of `{GUEST}` {why}; the world declares `{name}: {wit_type}`"
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
