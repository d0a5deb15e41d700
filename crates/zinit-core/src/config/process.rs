//! Lowering of the keys that shape a run's process (issue #15): `user`,
//! `group`, `env_file`, `umask`, `nice`, `oom_score_adj` and `limits`.
//!
//! Only the text is checked here: whether a user exists is the daemon's
//! question (it looks names up when it starts a run, and warns at load).

use super::diagnostic::Diags;
use super::lower::{type_error, unknown_key_message};
use super::scalar::Typed;
use super::size::parse_size;
use super::yaml_tree::{Node, NodeKind};
use crate::spec::{Account, EnvFile, Limit, Resource, ResourceLimit};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `user` or `group`: a name, or a numeric id below 2^32-1.
pub(crate) fn account(node: &Node, key: &str, d: &mut Diags) -> Option<Account> {
    let text = match Typed::of(node) {
        Typed::Null => return None,
        Typed::Int(n) => return id(Some(n), node, key, d),
        // An integer too large for YAML's integers.
        Typed::Float(_) if node.scalar_text().is_some_and(is_integer_text) => {
            return id(None, node, key, d);
        }
        Typed::Str(text) => text,
        _ => {
            type_error(d, node, key, "a name or a numeric id");
            return None;
        }
    };
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return id(text.parse::<i64>().ok(), node, key, d);
    }
    let bad = text.is_empty()
        || text.starts_with('-')
        || text
            .chars()
            .any(|c| c == ':' || c == '/' || c.is_whitespace() || c.is_control());
    if bad {
        d.error(
            node.pos,
            Some(key),
            format!(
                "invalid {key} name {text:?}: expected a name like \"www-data\" or a numeric id"
            ),
        );
        return None;
    }
    Some(Account::Name(text.to_owned()))
}

fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// A numeric id; `None`: too large for an i64.
fn id(n: Option<i64>, node: &Node, key: &str, d: &mut Diags) -> Option<Account> {
    match n.map(u32::try_from) {
        Some(Ok(id)) if id != u32::MAX => Some(Account::Id(id)),
        _ => {
            let max = u32::MAX - 1;
            let text = node.scalar_text().unwrap_or_default();
            d.error(
                node.pos,
                Some(key),
                format!("{key} id {text} is out of range (0..={max})"),
            );
            None
        }
    }
}

/// `env_file`: one absolute path or a list of them; a leading `-` makes a
/// file optional. Relative paths are refused: a file read at every start
/// must not depend on zinit's working directory.
pub(crate) fn env_files(node: &Node, d: &mut Diags) -> Option<Vec<EnvFile>> {
    let items: Vec<(String, &Node)> = match Typed::of(node) {
        Typed::Null => return Some(Vec::new()),
        Typed::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("env_file[{i}]"), n))
            .collect(),
        _ => vec![("env_file".to_owned(), node)],
    };
    let mut files = Vec::new();
    let mut ok = true;
    for (key, item) in items {
        let Typed::Str(text) = Typed::of(item) else {
            type_error(d, item, &key, "a path or a list of paths");
            ok = false;
            continue;
        };
        let (optional, path) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let problem = if path.is_empty() {
            Some("path is empty".to_owned())
        } else if path.contains('\0') {
            Some("path must not contain a NUL byte".to_owned())
        } else if !path.starts_with('/') {
            Some(format!(
                "relative path {path:?}: write an absolute path (read at every start, it must not depend on zinit's working directory)"
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                d.error(item.pos, Some(&key), message);
                ok = false;
            }
            None => files.push(EnvFile {
                path: PathBuf::from(path),
                optional,
            }),
        }
    }
    ok.then_some(files)
}

/// `umask`: octal digits, as a string (`"0027"`) or a plain integer read
/// as its digits (`0027`, `027`, `27`: YAML 1.2 would read them as the
/// decimal 27, which no one means), or YAML's own octal `0o27`.
pub(crate) fn umask(node: &Node, d: &mut Diags) -> Option<u32> {
    let text = match (Typed::of(node), &node.kind) {
        (Typed::Null, _) => return None,
        (Typed::Int(_) | Typed::Str(_), NodeKind::Scalar { text, .. }) => text.as_str(),
        _ => {
            type_error(d, node, "umask", "octal digits like \"0027\"");
            return None;
        }
    };
    // `0o27` (YAML's octal, or its text as `service_get` shows it) too.
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let value = (!digits.is_empty() && digits.len() <= 4 && !digits.starts_with('+'))
        .then(|| u32::from_str_radix(digits, 8).ok())
        .flatten();
    check_umask(value, node, text, d)
}

fn check_umask(value: Option<u32>, node: &Node, text: &str, d: &mut Diags) -> Option<u32> {
    match value {
        Some(mask) if mask <= 0o777 => Some(mask),
        _ => {
            d.error(
                node.pos,
                Some("umask"),
                format!("invalid umask {text:?}: expected octal digits from \"0000\" to \"0777\", like \"0027\""),
            );
            None
        }
    }
}

/// An integer key within `min..=max` (`nice`, `oom_score_adj`).
pub(crate) fn bounded_int(
    node: &Node,
    key: &str,
    min: i32,
    max: i32,
    d: &mut Diags,
) -> Option<i32> {
    match Typed::of(node) {
        Typed::Null => None,
        Typed::Int(n) => match i32::try_from(n) {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                d.error(
                    node.pos,
                    Some(key),
                    format!("{n} is out of range ({min}..={max})"),
                );
                None
            }
        },
        _ => {
            type_error(d, node, key, &format!("an integer from {min} to {max}"));
            None
        }
    }
}

/// `limits`: a mapping of resource names to limits.
pub(crate) fn limits(node: &Node, d: &mut Diags) -> Option<BTreeMap<Resource, ResourceLimit>> {
    let entries = match Typed::of(node) {
        Typed::Null => return Some(BTreeMap::new()),
        Typed::Map(entries) => entries,
        _ => {
            type_error(d, node, "limits", "a mapping like `{nofile: 65536}`");
            return None;
        }
    };
    let known: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
    let mut limits = BTreeMap::new();
    let mut ok = true;
    for (key, value) in entries {
        let Some(name) = key.scalar_text() else {
            continue;
        };
        let path = format!("limits.{name}");
        let Some(resource) = Resource::parse(name) else {
            let message = format!(
                "{}; known: {}",
                unknown_key_message(name, &known).replace("unknown key", "unknown resource limit"),
                known.join(", ")
            );
            d.warn(key.pos, Some(&path), message);
            continue;
        };
        match limit(value, resource, &path, d) {
            Ok(Some(limit)) => {
                limits.insert(resource, limit);
            }
            Ok(None) => {}
            Err(()) => ok = false,
        }
    }
    ok.then_some(limits)
}

/// One limit: a value for both bounds, or `"SOFT:HARD"`.
fn limit(
    node: &Node,
    resource: Resource,
    path: &str,
    d: &mut Diags,
) -> Result<Option<ResourceLimit>, ()> {
    let text = match Typed::of(node) {
        Typed::Null => return Ok(None),
        Typed::Int(_) | Typed::Str(_) => node.scalar_text().unwrap_or_default(),
        _ => {
            let expected = if resource.is_bytes() {
                "a number, a size like \"8MiB\", \"unlimited\" or \"SOFT:HARD\""
            } else {
                "a number, \"unlimited\" or \"SOFT:HARD\""
            };
            type_error(d, node, path, expected);
            return Err(());
        }
    };
    let mut fail = |message: String| {
        d.error(node.pos, Some(path), message);
        Err(())
    };
    let (soft, hard) = match text.split_once(':') {
        Some((soft, hard)) => (bound(soft, resource), bound(hard, resource)),
        None => (bound(text, resource), bound(text, resource)),
    };
    let (soft, hard) = match (soft, hard) {
        (Ok(soft), Ok(hard)) => (soft, hard),
        (Err(message), _) | (_, Err(message)) => return fail(message),
    };
    if soft > hard {
        return fail(format!(
            "soft limit {soft} is above hard limit {hard} (write \"SOFT:HARD\")"
        ));
    }
    Ok(Some(ResourceLimit { soft, hard }))
}

fn bound(text: &str, resource: Resource) -> Result<Limit, String> {
    let text = text.trim();
    if matches!(text, "unlimited" | "infinity") {
        return Ok(Limit::Unlimited);
    }
    let value = if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        text.parse::<u64>().ok()
    } else if resource.is_bytes() {
        match parse_size(text) {
            Ok(v) => Some(v),
            Err(e) => return Err(e.to_string()),
        }
    } else {
        return Err(format!(
            "invalid limit {text:?}: expected a number or \"unlimited\""
        ));
    };
    match value {
        Some(v) if v < u64::MAX => Ok(Limit::Value(v)),
        _ => Err(format!("limit {text:?} is too large (write \"unlimited\")")),
    }
}
