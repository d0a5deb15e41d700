//! Lowering of the `log_file` key: `true` (defaults), `false` or null
//! (off), or a mapping `{max_size: <size>, keep: <count>}` whose missing
//! keys take their defaults. Whether `log` allows a file is checked by
//! the caller, once every key is known.

use super::diagnostic::Diags;
use super::lower::{size_node, type_error, unknown_key_message};
use super::scalar::Typed;
use super::size::format_size;
use super::yaml_tree::Node;
use crate::spec::{LogFileSpec, MAX_LOG_FILE_KEEP, MAX_LOG_FILE_MAX_SIZE, MIN_LOG_FILE_MAX_SIZE};

const EXPECTED: &str = "true, false or a mapping like `{max_size: 10MiB, keep: 5}`";

/// The `log_file` value: `Ok(None)` when off, `Err(())` after an error
/// (already reported).
pub(crate) fn log_file(node: &Node, d: &mut Diags) -> Result<Option<LogFileSpec>, ()> {
    let entries = match Typed::of(node) {
        Typed::Null | Typed::Bool(false) => return Ok(None),
        Typed::Bool(true) => return Ok(Some(LogFileSpec::default())),
        Typed::Map(entries) => entries,
        Typed::Str(s) => {
            let hint = match s.to_ascii_lowercase().as_str() {
                "yes" | "on" | "true" => "; write true",
                "no" | "off" | "false" => "; write false",
                _ => "",
            };
            d.error(
                node.pos,
                Some("log_file"),
                format!("expected {EXPECTED}, found the string {s:?}{hint}"),
            );
            return Err(());
        }
        _ => {
            type_error(d, node, "log_file", EXPECTED);
            return Err(());
        }
    };
    let mut spec = LogFileSpec::default();
    let mut ok = true;
    for (key, value) in entries {
        match key.scalar_text() {
            Some("max_size") => match max_size(value, d) {
                Ok(Some(size)) => spec.max_size = size,
                Ok(None) => {}
                Err(()) => ok = false,
            },
            Some("keep") => match keep(value, d) {
                Ok(Some(keep)) => spec.keep = keep,
                Ok(None) => {}
                Err(()) => ok = false,
            },
            Some(other) => {
                let path = format!("log_file.{other}");
                let known = ["max_size", "keep"];
                d.warn(key.pos, Some(&path), unknown_key_message(other, &known));
            }
            None => {}
        }
    }
    if ok {
        Ok(Some(spec))
    } else {
        Err(())
    }
}

fn max_size(node: &Node, d: &mut Diags) -> Result<Option<u64>, ()> {
    const KEY: &str = "log_file.max_size";
    let Some(size) = size_node(node, KEY, d)? else {
        return Ok(None);
    };
    let message = if size < MIN_LOG_FILE_MAX_SIZE {
        format!(
            "{} is below the minimum of {}",
            format_size(size),
            format_size(MIN_LOG_FILE_MAX_SIZE)
        )
    } else if size > MAX_LOG_FILE_MAX_SIZE {
        format!(
            "{} is above the maximum of {}",
            format_size(size),
            format_size(MAX_LOG_FILE_MAX_SIZE)
        )
    } else {
        return Ok(Some(size));
    };
    d.error(node.pos, Some(KEY), message);
    Err(())
}

fn keep(node: &Node, d: &mut Diags) -> Result<Option<u32>, ()> {
    const KEY: &str = "log_file.keep";
    match Typed::of(node) {
        Typed::Null => Ok(None),
        Typed::Int(n) => match u32::try_from(n) {
            Ok(keep) if keep <= MAX_LOG_FILE_KEEP => Ok(Some(keep)),
            _ => {
                let message = format!("must be between 0 and {MAX_LOG_FILE_KEEP}, found {n}");
                d.error(node.pos, Some(KEY), message);
                Err(())
            }
        },
        _ => {
            type_error(d, node, KEY, "a whole number of files (0 to 100)");
            Err(())
        }
    }
}
