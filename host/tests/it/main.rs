//! The one integration-test binary (wasmtime and sqlx are linked once). One module per area.

mod backpressure;
mod contract;
mod glados;
mod greta;
mod greta_engine;
mod greta_fills;
mod greta_portfolio;
mod layers;
mod marvin;
mod ops;
mod polyglot;
mod spine;
mod support;
mod testdata;
mod veda;
mod walle;
