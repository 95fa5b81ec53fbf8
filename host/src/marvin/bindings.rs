//! Host bindings generated from `wit/` (one module per supported world version; only 0.1 so far).

#![allow(missing_docs, unreachable_pub, clippy::all)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "strategy",
});
