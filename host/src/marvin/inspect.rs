//! Checks untrusted component bytes before anything compiles them: structure, component or core
//! module, top-level imports against the allow-list, exports against the supported worlds.

use wasmparser::{Parser, Payload};

use super::Error;

/// Export names (interface + version track) of the strategy worlds this host runs.
pub const SUPPORTED_WORLDS: &[&str] = &["weaver:strategy/guest@0.1"];

/// What inspection found in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// The strategy world version the component implements, e.g. `0.1.0`.
    pub world_version: String,
    /// Top-level import names.
    pub imports: Vec<String>,
    /// Top-level export names.
    pub exports: Vec<String>,
}

/// WASI interfaces Rust's std links on `wasm32-wasip2` that carry no capability. Marvin defines
/// every function in them as a trap, so importing them is harmless and calling them ends the run.
const INERT_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
];

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, `Some("1.2.3")`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

fn import_allowed(name: &str) -> bool {
    let (base, version) = split_version(name);
    if let Some(rest) = base.strip_prefix("weaver:strategy/") {
        return !rest.is_empty() && version.is_some_and(|v| v.starts_with("0.1."));
    }
    INERT_WASI.contains(&base) && version.is_some_and(|v| v.starts_with("0.2."))
}

/// Inspects `bytes`; see the module doc.
pub(super) fn inspect(bytes: &[u8]) -> Result<ComponentInfo, Error> {
    if bytes.is_empty() {
        return Err(Error::InvalidComponent("the file is empty".into()));
    }
    if Parser::is_core_wasm(bytes) {
        return Err(Error::NotAComponent);
    }
    if !Parser::is_component(bytes) {
        return Err(Error::InvalidComponent(
            "no WebAssembly component header (\\0asm, component layer)".into(),
        ));
    }
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    // Nesting depth: only the outer component's imports and exports describe the contract.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| Error::InvalidComponent(e.to_string()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    let import = import.map_err(|e| Error::InvalidComponent(e.to_string()))?;
                    imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    let export = export.map_err(|e| Error::InvalidComponent(e.to_string()))?;
                    exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    let refused: Vec<String> = imports
        .iter()
        .filter(|name| !import_allowed(name))
        .cloned()
        .collect();
    if !refused.is_empty() {
        return Err(Error::UnsupportedImport(refused));
    }
    let world_version = exports
        .iter()
        .find_map(|name| match split_version(name) {
            ("weaver:strategy/guest", Some(version)) if version.starts_with("0.1.") => {
                Some(version.to_owned())
            }
            _ => None,
        })
        .ok_or_else(|| {
            let found = if exports.is_empty() {
                "it exports nothing".to_owned()
            } else {
                format!("it exports {}", exports.join(", "))
            };
            Error::UnsupportedWorld(found)
        })?;
    Ok(ComponentInfo {
        world_version,
        imports,
        exports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_takes_weaver_and_inert_wasi_only() {
        assert!(import_allowed("weaver:strategy/types@0.1.0"));
        assert!(import_allowed("weaver:strategy/types@0.1.7"));
        assert!(!import_allowed("weaver:strategy/types@0.2.0"));
        assert!(import_allowed("wasi:cli/stderr@0.2.6"));
        assert!(import_allowed("wasi:io/streams@0.2.0"));
        for refused in [
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:clocks/wall-clock@0.2.6",
            "wasi:random/random@0.2.6",
            "wasi:cli/stderr",
            "evil:thing/x@1.0.0",
            "env",
        ] {
            assert!(!import_allowed(refused), "{refused} must be refused");
        }
    }

    #[test]
    fn garbage_and_core_modules_are_told_apart() {
        assert_eq!(inspect(b"").unwrap_err().code(), "invalid_component");
        assert_eq!(
            inspect(b"hello world, not wasm").unwrap_err().code(),
            "invalid_component"
        );
        let core = wat::parse_str("(module)").unwrap();
        assert_eq!(inspect(&core).unwrap_err().code(), "not_a_component");
        let empty_component = wat::parse_str("(component)").unwrap();
        assert_eq!(
            inspect(&empty_component).unwrap_err().code(),
            "unsupported_world"
        );
    }
}
