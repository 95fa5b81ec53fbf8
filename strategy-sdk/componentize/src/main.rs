//! `weaver-componentize`: turns a strategy's core WebAssembly module into a component.
//!
//! Rust strategies are compiled for `wasm32-unknown-unknown`, where the standard library has no
//! operating system underneath and therefore imports nothing; `wit-bindgen` embeds the
//! `weaver:strategy` world in the module. This tool wraps that module into a component whose only
//! imports are Weaver's own interfaces. (Built for `wasm32-wasip2` instead, std's panic and stdio
//! machinery would make every strategy import a dozen WASI interfaces.)
//!
//! # Invariants
//! - The output is validated before it is written; a module without an embedded world is an error.

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        bail!("usage: weaver-componentize <module.wasm> <component.wasm>");
    };
    let module = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| {
            format!("{input} carries no usable component type (built with wit-bindgen?)")
        })?
        .validate(true)
        .encode()
        .with_context(|| format!("turning {input} into a component"))?;
    std::fs::write(output, component).with_context(|| format!("writing {output}"))?;
    Ok(())
}
