//! Checks untrusted component bytes before anything compiles them: structure, component or core
//! module, top-level imports against the allow-list, exports against the supported worlds. It
//! also tells which language runtime a component embeds ([`Language`]), which sets its limits
//! tier.

use wasmparser::{Parser, Payload};

use super::Error;

/// Export names (interface + version track) of the strategy worlds this host runs.
pub const SUPPORTED_WORLDS: &[&str] =
    &["weaver:strategy/guest@0.3.0", "weaver:strategy/guest@0.2.0"];

/// The contract version tracks (`weaver:strategy@0.2.x` and `@0.3.x`, see `wit/` and
/// `wit/v0.2/`) this host accepts, in exports and imports alike; what [`SUPPORTED_WORLDS`] names.
const TRACKS: &[&str] = &["0.3.", "0.2."];

fn on_track(version: &str) -> bool {
    TRACKS.iter().any(|track| version.starts_with(track))
}

/// The supported range as users read it (README, `GET /strategies/{id}`).
pub const SUPPORTED_RANGE: &str = "weaver:strategy@0.2.0 to @0.3.0";

/// What inspection found in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// The strategy world version the component implements, e.g. `0.2.0`.
    pub world_version: String,
    /// Top-level import names.
    pub imports: Vec<String>,
    /// Top-level export names.
    pub exports: Vec<String>,
    /// The language runtime the component embeds, as far as inspection can tell.
    pub language: Language,
}

/// The language runtime inside a component; it picks the limits tier (see `Limits`).
///
/// Detected from the core modules' import and export names, which the toolchains set for their
/// dynamic linking and which a strategy cannot change without rebuilding the runtime:
/// componentize-py links `libpython3.*.so`, componentize-qjs links `componentize_qjs_runtime.wasm`. An
/// unrecognised component larger than [`LARGE_RUNTIME_BYTES`] embeds a big interpreter
/// (StarlingMonkey JS is ~12 MB); anything else is compiled code (Rust, C, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Compiled to wasm directly (Rust, C, Go, …): small, no interpreter.
    Compiled,
    /// CPython via componentize-py.
    Python,
    /// QuickJS via componentize-qjs.
    QuickJs,
    /// An unrecognised component above [`LARGE_RUNTIME_BYTES`] (e.g. StarlingMonkey JS).
    LargeRuntime,
}

/// Size above which an unrecognised component is assumed to embed a large interpreter.
pub const LARGE_RUNTIME_BYTES: usize = 8 << 20;

impl Language {
    /// Stable lower-case name (`compiled`, `python`, `quickjs`, `large-runtime`).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Compiled => "compiled",
            Language::Python => "python",
            Language::QuickJs => "quickjs",
            Language::LargeRuntime => "large-runtime",
        }
    }

    /// Whether the runtime needs the heavy limits tier (more memory and fuel).
    pub fn is_heavy(self) -> bool {
        matches!(self, Language::Python | Language::LargeRuntime)
    }
}

/// Tells the runtime from a core module import/export name (module name or field name).
fn language_of_name(name: &str) -> Option<Language> {
    if name.starts_with("libpython3") || name.starts_with("libcomponentize_py") {
        Some(Language::Python)
    } else if name.starts_with("componentize_qjs_runtime") || name.starts_with("qjs_runtime") {
        Some(Language::QuickJs)
    } else {
        None
    }
}

/// WASI interfaces Rust's std links on `wasm32-wasip2` that carry no capability. Marvin serves
/// them from an empty context (no environment or arguments, empty stdin, captured and capped
/// stdout/stderr, `exit` ends the run), so importing them grants nothing.
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
        return !rest.is_empty() && version.is_some_and(on_track);
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
    let mut language = None;
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
            Payload::ImportSection(section) if language.is_none() => {
                for import in section.into_imports().flatten() {
                    language = language_of_name(import.module).or(language_of_name(import.name));
                    if language.is_some() {
                        break;
                    }
                }
            }
            // Dynamic-linking glue may also name the runtime in a core instance of exports.
            Payload::InstanceSection(section) if language.is_none() => {
                for instance in section.into_iter().flatten() {
                    if let wasmparser::Instance::FromExports(exports) = instance {
                        language = exports.iter().find_map(|e| language_of_name(e.name));
                        if language.is_some() {
                            break;
                        }
                    }
                }
            }
            Payload::ExportSection(section) if language.is_none() => {
                for export in section.into_iter().flatten() {
                    language = language_of_name(export.name);
                    if language.is_some() {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    let language = language.unwrap_or(if bytes.len() > LARGE_RUNTIME_BYTES {
        Language::LargeRuntime
    } else {
        Language::Compiled
    });
    let world_version = exports.iter().find_map(|name| match split_version(name) {
        ("weaver:strategy/guest", Some(version)) if on_track(version) => Some(version.to_owned()),
        _ => None,
    });
    let unsupported_world = || {
        let found = if exports.is_empty() {
            "it exports nothing".to_owned()
        } else {
            format!("it exports {}", exports.join(", "))
        };
        Error::UnsupportedWorld(found)
    };
    // A strategy built against another contract version is told that (rebuild it), rather than
    // that its `weaver:strategy/types` import of that version is refused.
    let other_contract = exports
        .iter()
        .any(|name| split_version(name).0 == "weaver:strategy/guest");
    if world_version.is_none() && other_contract {
        return Err(unsupported_world());
    }
    let refused: Vec<String> = imports
        .iter()
        .filter(|name| !import_allowed(name))
        .cloned()
        .collect();
    if !refused.is_empty() {
        return Err(Error::UnsupportedImport(refused));
    }
    let world_version = world_version.ok_or_else(unsupported_world)?;
    Ok(ComponentInfo {
        world_version,
        imports,
        exports,
        language,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_takes_weaver_and_inert_wasi_only() {
        assert!(import_allowed("weaver:strategy/types@0.2.0"));
        assert!(import_allowed("weaver:strategy/types@0.2.7"));
        assert!(!import_allowed("weaver:strategy/types@0.1.0"));
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
