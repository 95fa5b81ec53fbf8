//! Weaver strategy SDK: write a trading strategy in Rust and build it into a WebAssembly component.
