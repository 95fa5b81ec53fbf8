//! `weaver openapi`: print the API's OpenAPI document (the same JSON `GET /openapi.json` serves)
//! without starting a server, so the dashboard's types can be generated offline
//! (`haro/scripts/gen-api.mjs`).
//!
//! # Invariants
//! - stdout carries the document and nothing else (logs go to stderr).

use std::io::Write;

use clap::Args;
use utoipa::OpenApi;

use crate::glados::api::ApiDoc;

/// Arguments of `weaver openapi` (none).
#[derive(Debug, Args)]
pub struct OpenapiArgs {}

/// Prints the document as pretty JSON.
///
/// # Errors
/// Serialisation or stdout failures.
pub(super) fn run(_args: OpenapiArgs) -> anyhow::Result<()> {
    let json = ApiDoc::openapi().to_pretty_json()?;
    let mut out = std::io::stdout().lock();
    out.write_all(json.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}
