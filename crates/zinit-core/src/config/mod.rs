//! Service files: YAML text lowered into typed [`ServiceSpec`]s, with
//! diagnostics.
//!
//! The pipeline is `text -> yaml_tree (marked nodes) -> lower (spec)`.
//! Every problem of a file is collected, not just the first, each with its
//! line, column and key path. Pure code: the caller reads the file and
//! passes its name (as the operator knows it) for the diagnostics.
//!
//! - [`diagnostic`]: `Diagnostic`, `Severity` and their rendering.
//! - `yaml_tree`: yaml-rust2 events into a marked tree (aliases, duplicate
//!   keys, depth and size limits).
//! - `scalar`: YAML 1.2 core-schema typing of plain scalars.
//! - `lower`, `policy`, `actions`: the tree into a spec, key by key.
//! - [`duration`]: `250ms`, `1.5s`, `1m30s`, ...
//! - [`size`]: `128KiB`, `10MiB`, ... (`log_file.max_size`).
//! - `log_file`: the `log_file` key.
//! - `process`: the keys of a run's process: `user`, `group`, `env_file`,
//!   `umask`, `nice`, `oom_score_adj`, `limits`.
//! - `json`: the tree as a generic JSON value (`service_get`).
//! - [`keys`]: the one list of key paths the rest is checked against.

mod actions;
pub mod diagnostic;
pub mod duration;
mod json;
pub mod keys;
mod log_file;
mod lower;
mod policy;
mod process;
mod resources;
mod scalar;
pub mod size;
mod yaml_tree;

#[cfg(test)]
mod tests;

pub use diagnostic::{Diagnostic, Severity};
pub use duration::{format_duration, parse_duration, DurationError};
pub use keys::{KeyPath, SERVICE_KEY_PATHS};
pub use policy::MAX_DURATION;
pub use size::{format_size, parse_size, SizeError};

use crate::spec::ServiceSpec;
use diagnostic::{Diags, Pos};
use scalar::Typed;

/// A service file that lowered without errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub spec: ServiceSpec,
    /// Problems that did not stop the service from loading (unknown keys,
    /// relative `dir`, ...), in file order.
    pub warnings: Vec<Diagnostic>,
}

/// The keys a service file may have at the top level.
pub const SERVICE_KEYS: &[&str] = lower::KEYS;

/// Parse and lower one service file. `file` only labels the diagnostics.
///
/// On failure, returns every error and warning of the file, in file
/// order; the list is never empty and holds at least one error.
pub fn parse_service(file: &str, text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let mut diags = Diags::new(file);
    // The service is named after its file: `web.yaml` is `web`.
    let own_name = std::path::Path::new(file)
        .file_stem()
        .and_then(|stem| stem.to_str());
    let spec = yaml_tree::parse(text, &mut diags)
        .and_then(|root| lower::lower(&root, own_name, &mut diags));
    match spec {
        Some(spec) if !diags.has_errors() => Ok(Parsed {
            spec,
            warnings: diags.into_sorted_within(text),
        }),
        _ => {
            if !diags.has_errors() {
                // Lowering returns None only after an error; stay total anyway.
                diags.error(Pos::default(), None, "invalid service file");
            }
            Err(diags.into_sorted_within(text))
        }
    }
}

/// The file as a generic JSON object (for `service_get`): integers and
/// finite floats as numbers, `true`/`false` as bools, null as null,
/// strings otherwise. Only YAML-level problems (syntax, duplicate keys,
/// not a mapping, ...) are errors; the keys are not checked.
pub fn service_file_to_json(file: &str, text: &str) -> Result<serde_json::Value, Vec<Diagnostic>> {
    let mut diags = Diags::new(file);
    let value = yaml_tree::parse(text, &mut diags).and_then(|root| match Typed::of(&root) {
        Typed::Map(_) => Some(json::file_to_json(&root)),
        other => {
            let message = format!(
                "expected a mapping of service keys, found {}",
                other.describe()
            );
            diags.error(root.pos, None, message);
            None
        }
    });
    match value {
        Some(value) if !diags.has_errors() => Ok(value),
        _ => {
            if !diags.has_errors() {
                diags.error(Pos::default(), None, "invalid service file");
            }
            Err(diags.into_sorted_within(text))
        }
    }
}
