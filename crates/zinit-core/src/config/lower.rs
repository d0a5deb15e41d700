//! Lowering: a marked YAML tree into a [`ServiceSpec`].
//!
//! Each key is lowered on its own so that every problem of a file is
//! reported at once; the spec is only built when no key failed. A null
//! value (`key:`, `key: ~`) means "not set" for every optional key except
//! `log`, where it means `null` (discard). Duration keys live in
//! [`super::policy`]. No I/O, no knowledge of the file's name.

use super::actions;
use super::diagnostic::{Diags, Pos};
use super::log_file;
use super::policy;
use super::process;
use super::resources;
use super::scalar::Typed;
use super::yaml_tree::Node;
use crate::name::ServiceName;
use crate::signal::Signal;
use crate::spec::{Account, EnvFile, Resource, ResourceLimit};
use crate::spec::{
    CommandLine, EndAction, LogFileSpec, LogMode, Resources, RestartWhen, ServiceSpec,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The top-level keys of a service file.
pub(crate) const KEYS: &[&str] = &[
    "exec",
    "test",
    "oneshot",
    "shutdown_timeout",
    "after",
    "signal",
    "log",
    "log_file",
    "env",
    "dir",
    "restart",
    "test_interval",
    "test_timeout",
    "failure_action",
    "success_action",
    "autostart",
    "requires",
    "wants",
    "conflicts",
    "resources",
    // The process environment of a run (`process`).
    "user",
    "group",
    "env_file",
    "umask",
    "nice",
    "oom_score_adj",
    "limits",
];

/// The keys of a file, each checked but not yet combined.
#[derive(Default)]
struct Fields<'a> {
    exec: Option<CommandLine>,
    exec_seen: bool,
    test: Option<CommandLine>,
    test_at: Option<Pos>,
    oneshot: Option<bool>,
    shutdown_timeout: Option<std::time::Duration>,
    after: Option<Vec<ServiceName>>,
    requires: Option<(Vec<ServiceName>, &'a Node)>,
    wants: Option<(Vec<ServiceName>, &'a Node)>,
    conflicts: Option<(Vec<ServiceName>, &'a Node)>,
    stop_signal: Option<Signal>,
    log: Option<LogMode>,
    /// `log` was written, valid or not.
    log_seen: bool,
    log_file: Option<(LogFileSpec, &'a Node)>,
    env: Option<BTreeMap<String, String>>,
    dir: Option<PathBuf>,
    restart: Option<&'a Node>,
    test_interval: Option<&'a Node>,
    test_timeout: Option<&'a Node>,
    autostart: Option<bool>,
    failure_action: Option<(EndAction, &'a Node)>,
    success_action: Option<(EndAction, &'a Node)>,
    resources: Option<Resources>,
    // The process environment of a run (`process`).
    user: Option<Account>,
    group: Option<Account>,
    env_file: Option<Vec<EnvFile>>,
    umask: Option<u32>,
    nice: Option<i32>,
    oom_score_adj: Option<i32>,
    limits: Option<BTreeMap<Resource, ResourceLimit>>,
}

/// Lower `root` into a spec; `None` when an error was recorded. `own_name`
/// is the service's name, when known, to refuse a service that requires,
/// wants or conflicts with itself.
pub(crate) fn lower(root: &Node, own_name: Option<&str>, d: &mut Diags) -> Option<ServiceSpec> {
    let Typed::Map(entries) = Typed::of(root) else {
        let found = Typed::of(root).describe();
        d.error(
            root.pos,
            None,
            format!("expected a mapping of service keys, found {found}"),
        );
        return None;
    };
    let mut f = Fields::default();
    for (key, value) in entries {
        // Non-scalar keys were reported while building the tree.
        if let Some(name) = key.scalar_text() {
            lower_key(&mut f, name, key, value, d);
        }
    }
    if !f.exec_seen {
        d.error(
            root.pos,
            Some("exec"),
            "missing required key (the command to run)",
        );
    }
    if let Some((_, node)) = &f.log_file {
        check_log_file_mode(f.log, f.log_seen, node, d);
    }
    check_dependency_kinds(&f, own_name, d);
    let oneshot = f.oneshot.unwrap_or(false);
    let restart = policy::restart(f.restart, oneshot, d);
    if let Some(restart) = &restart {
        let when = restart.when.unwrap_or(if oneshot {
            RestartWhen::Never
        } else {
            RestartWhen::Always
        });
        actions::check_reachable(f.failure_action, "failure_action", when, restart, d);
        actions::check_reachable(f.success_action, "success_action", when, restart, d);
    }
    let probe = policy::probe(f.test_interval, f.test_timeout, f.test_at.is_some(), d);
    if d.has_errors() {
        return None;
    }
    let mut spec = ServiceSpec::from_exec(f.exec?);
    spec.test = f.test;
    spec.oneshot = f.oneshot.unwrap_or(spec.oneshot);
    spec.shutdown_timeout = f.shutdown_timeout.unwrap_or(spec.shutdown_timeout);
    spec.after = f.after.unwrap_or_default();
    spec.requires = f.requires.map(|(n, _)| n).unwrap_or_default();
    spec.wants = f.wants.map(|(n, _)| n).unwrap_or_default();
    spec.conflicts = f.conflicts.map(|(n, _)| n).unwrap_or_default();
    spec.stop_signal = f.stop_signal.unwrap_or(spec.stop_signal);
    spec.log = f.log.unwrap_or(spec.log);
    spec.log_file = f.log_file.map(|(file, _)| file);
    spec.env = f.env.unwrap_or_default();
    spec.dir = f.dir.unwrap_or(spec.dir);
    spec.restart = restart?;
    spec.probe = probe?;
    spec.autostart = f.autostart.unwrap_or(spec.autostart);
    spec.resources = f.resources.unwrap_or_default();
    spec.failure_action = f.failure_action.map_or(EndAction::None, |(a, _)| a);
    spec.success_action = f.success_action.map_or(EndAction::None, |(a, _)| a);
    spec.user = f.user;
    spec.group = f.group;
    spec.env_file = f.env_file.unwrap_or_default();
    spec.umask = f.umask;
    spec.nice = f.nice;
    spec.oom_score_adj = f.oom_score_adj;
    spec.limits = f.limits.unwrap_or_default();
    Some(spec)
}

fn lower_key<'a>(f: &mut Fields<'a>, name: &str, key: &Node, value: &'a Node, d: &mut Diags) {
    match name {
        "exec" => {
            f.exec_seen = true;
            f.exec = command(value, "exec", true, d);
        }
        "test" => {
            f.test = command(value, "test", false, d);
            f.test_at = f.test.as_ref().map(|_| value.pos);
        }
        "oneshot" => f.oneshot = boolean(value, "oneshot", d),
        "autostart" => f.autostart = boolean(value, "autostart", d),
        "shutdown_timeout" => {
            f.shutdown_timeout = policy::duration(value, "shutdown_timeout", policy::ZERO_OK, d);
        }
        "after" => f.after = names(value, "after", d),
        "requires" => f.requires = names(value, "requires", d).map(|n| (n, value)),
        "wants" => f.wants = names(value, "wants", d).map(|n| (n, value)),
        "conflicts" => f.conflicts = names(value, "conflicts", d).map(|n| (n, value)),
        "signal" => f.stop_signal = signal(value, d),
        "log" => {
            f.log_seen = true;
            f.log = log(value, d);
        }
        "log_file" => {
            if let Ok(Some(file)) = log_file::log_file(value, d) {
                f.log_file = Some((file, value));
            }
        }
        "resources" => f.resources = resources::resources(value, d).ok().flatten(),
        "env" => f.env = env(value, d),
        "dir" => f.dir = dir(value, d),
        "restart" => f.restart = Some(value),
        "test_interval" => f.test_interval = Some(value),
        "test_timeout" => f.test_timeout = Some(value),
        "failure_action" => {
            f.failure_action = actions::end_action(value, name, d).map(|a| (a, value));
        }
        "success_action" => {
            f.success_action = actions::end_action(value, name, d).map(|a| (a, value));
        }
        "user" | "group" => {
            let account = process::account(value, name, d);
            if name == "user" {
                f.user = account;
            } else {
                f.group = account;
            }
        }
        "env_file" => f.env_file = process::env_files(value, d),
        "umask" => f.umask = process::umask(value, d),
        "nice" => f.nice = process::bounded_int(value, name, -20, 19, d),
        "oom_score_adj" => f.oom_score_adj = process::bounded_int(value, name, -1000, 1000, d),
        "limits" => f.limits = process::limits(value, d),
        other => d.warn(key.pos, Some(other), unknown_key_message(other, KEYS)),
    }
}

/// "unknown key (ignored)", with a suggestion when a known key is close.
pub(crate) fn unknown_key_message(key: &str, known: &[&str]) -> String {
    let close = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(dist, _)| *dist <= 2)
        .min();
    match close {
        Some((_, k)) => format!("unknown key (ignored); did you mean `{k}`?"),
        None => "unknown key (ignored)".to_owned(),
    }
}

/// Levenshtein distance, for typo suggestions on short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// A byte size: a whole number of bytes or a string like `"10MiB"` (see
/// [`super::size`]); `Ok(None)` for null. Bounds are the caller's.
pub(crate) fn size_node(node: &Node, key: &str, d: &mut Diags) -> Result<Option<u64>, ()> {
    let value = match Typed::of(node) {
        Typed::Null => return Ok(None),
        Typed::Int(n) => u64::try_from(n).map_err(|_| format!("must not be negative, found {n}")),
        Typed::Float(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 2f64.powi(64) => {
            Ok(f as u64)
        }
        Typed::Float(f) => Err(format!("expected a whole number of bytes, found {f}")),
        Typed::Str(text) => super::size::parse_size(text).map_err(|e| e.to_string()),
        _ => {
            type_error(d, node, key, "a size (bytes, or a string like \"10MiB\")");
            return Err(());
        }
    };
    value
        .map(Some)
        .map_err(|message| d.error(node.pos, Some(key), message))
}

pub(crate) fn type_error(d: &mut Diags, node: &Node, key: &str, expected: &str) {
    let found = Typed::of(node).describe();
    d.error(
        node.pos,
        Some(key),
        format!("expected {expected}, found {found}"),
    );
}

fn command(node: &Node, key: &str, required: bool, d: &mut Diags) -> Option<CommandLine> {
    match Typed::of(node) {
        Typed::Null if required => {
            d.error(node.pos, Some(key), "expected a command line, found null");
            None
        }
        Typed::Null => None,
        Typed::Str(raw) => CommandLine::parse(raw)
            .map_err(|e| d.error(node.pos, Some(key), format!("invalid command line: {e}")))
            .ok(),
        _ => {
            type_error(d, node, key, "a command line (a string)");
            None
        }
    }
}

fn boolean(node: &Node, key: &str, d: &mut Diags) -> Option<bool> {
    match Typed::of(node) {
        Typed::Null => None,
        Typed::Bool(b) => Some(b),
        Typed::Str(s) => {
            let hint = match s.to_ascii_lowercase().as_str() {
                "yes" | "on" | "y" | "true" => "; write true",
                "no" | "off" | "n" | "false" => "; write false",
                _ => "",
            };
            d.error(
                node.pos,
                Some(key),
                format!("expected true or false, found the string {s:?}{hint}"),
            );
            None
        }
        _ => {
            type_error(d, node, key, "true or false");
            None
        }
    }
}

/// Text of a scalar that names something (a service, a signal); numbers
/// count as their text, so `15` and a service file `15.yaml` work.
fn name_text(node: &Node) -> Option<&str> {
    match Typed::of(node) {
        Typed::Str(_) | Typed::Int(_) | Typed::Float(_) | Typed::Bool(_) => node.scalar_text(),
        _ => None,
    }
}

/// `requires`, `wants` and `conflicts` never name the service itself, and
/// nothing is both a dependency and a conflict.
fn check_dependency_kinds(f: &Fields<'_>, own_name: Option<&str>, d: &mut Diags) {
    let kinds = [
        ("requires", &f.requires, "require"),
        ("wants", &f.wants, "want"),
        ("conflicts", &f.conflicts, "conflict with"),
    ];
    for (key, list, verb) in kinds {
        if let (Some((names, node)), Some(own)) = (list, own_name) {
            if names.iter().any(|n| n.as_str() == own) {
                d.error(
                    node.pos,
                    Some(key),
                    format!("a service cannot {verb} itself ({own})"),
                );
            }
        }
    }
    let Some((conflicts, node)) = &f.conflicts else {
        return;
    };
    let depends: [(&str, Option<&Vec<ServiceName>>); 3] = [
        ("after", f.after.as_ref()),
        ("requires", f.requires.as_ref().map(|(n, _)| n)),
        ("wants", f.wants.as_ref().map(|(n, _)| n)),
    ];
    // The service itself was reported above.
    for name in conflicts.iter().filter(|n| Some(n.as_str()) != own_name) {
        for (key, list) in depends {
            if list.is_some_and(|l| l.contains(name)) {
                d.error(
                    node.pos,
                    Some("conflicts"),
                    format!("{name} is in both conflicts and {key}: it cannot run with this service and before it"),
                );
            }
        }
    }
}

/// A list of service names (`after`, `requires`, `wants`, `conflicts`);
/// a single name may stand without a list.
fn names(node: &Node, key: &str, d: &mut Diags) -> Option<Vec<ServiceName>> {
    let items: Vec<(String, &Node)> = match Typed::of(node) {
        Typed::Null => return Some(Vec::new()),
        Typed::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{key}[{i}]"), n))
            .collect(),
        _ if name_text(node).is_some() => vec![(key.to_owned(), node)],
        _ => {
            type_error(d, node, key, "a list of service names");
            return None;
        }
    };
    let mut names: Vec<ServiceName> = Vec::new();
    let mut ok = true;
    for (key, item) in items {
        let Some(text) = name_text(item) else {
            type_error(d, item, &key, "a service name");
            ok = false;
            continue;
        };
        match ServiceName::new(text) {
            Ok(name) if names.contains(&name) => {
                d.warn(
                    item.pos,
                    Some(&key),
                    format!("{text:?} is listed more than once"),
                );
            }
            Ok(name) => names.push(name),
            Err(e) => {
                d.error(
                    item.pos,
                    Some(&key),
                    format!("invalid service name {text:?}: {e}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(names)
}

fn signal(node: &Node, d: &mut Diags) -> Option<Signal> {
    let entries = match Typed::of(node) {
        Typed::Null => return None,
        Typed::Map(entries) => entries,
        _ => {
            type_error(d, node, "signal", "a mapping like `{stop: SIGTERM}`");
            return None;
        }
    };
    let mut stop = None;
    for (key, value) in entries {
        match key.scalar_text() {
            Some("stop") => stop = stop_signal(value, d),
            Some(other) => {
                let path = format!("signal.{other}");
                d.warn(key.pos, Some(&path), unknown_key_message(other, &["stop"]));
            }
            None => {}
        }
    }
    stop
}

fn stop_signal(node: &Node, d: &mut Diags) -> Option<Signal> {
    if Typed::of(node) == Typed::Null {
        return None;
    }
    let Some(text) = name_text(node) else {
        type_error(d, node, "signal.stop", "a signal name like SIGTERM");
        return None;
    };
    text.parse::<Signal>()
        .map_err(|e| d.error(node.pos, Some("signal.stop"), e.to_string()))
        .ok()
}

fn log(node: &Node, d: &mut Diags) -> Option<LogMode> {
    let text = match Typed::of(node) {
        Typed::Null => return Some(LogMode::Null),
        Typed::Str(text) => text,
        _ => {
            type_error(d, node, "log", "one of ring, stdout, null, none");
            return None;
        }
    };
    match text.to_ascii_lowercase().as_str() {
        "ring" => Some(LogMode::Ring),
        "stdout" => Some(LogMode::Stdout),
        "null" | "none" => Some(LogMode::Null),
        _ => {
            let message = format!("unknown log mode {text:?}: expected ring, stdout, null or none");
            d.error(node.pos, Some("log"), message);
            None
        }
    }
}

/// A log file holds what the ring captures: with `log: stdout` or `null`
/// there is nothing to write. Not checked when `log` itself was invalid.
fn check_log_file_mode(mode: Option<LogMode>, log_seen: bool, at: &Node, d: &mut Diags) {
    let why = match mode {
        None if log_seen => return,
        None | Some(LogMode::Ring) => return,
        Some(LogMode::Stdout) => {
            "with `log: stdout` the output goes to zinit's own output and is not captured"
        }
        Some(LogMode::Null) => "with `log: null` the output is discarded",
    };
    let message = format!("needs `log: ring` (the default): {why}");
    d.error(at.pos, Some("log_file"), message);
}

fn env(node: &Node, d: &mut Diags) -> Option<BTreeMap<String, String>> {
    let entries = match Typed::of(node) {
        Typed::Null => return Some(BTreeMap::new()),
        Typed::Map(entries) => entries,
        _ => {
            type_error(d, node, "env", "a mapping of variable names to values");
            return None;
        }
    };
    let mut vars = BTreeMap::new();
    let mut ok = true;
    for (key, value) in entries {
        let Some(name) = key.scalar_text() else {
            continue;
        };
        let path = format!("env.{name}");
        if let Err(why) = check_env_name(name) {
            d.error(key.pos, Some(&path), why);
            ok = false;
        }
        match env_value(value, &path, d) {
            Some(text) => {
                vars.insert(name.to_owned(), text);
            }
            None => ok = false,
        }
    }
    ok.then_some(vars)
}

fn check_env_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("variable name is empty")
    } else if name.contains('=') {
        Err("variable name must not contain '='")
    } else if name.contains('\0') {
        Err("variable name must not contain a NUL byte")
    } else {
        Ok(())
    }
}

fn env_value(node: &Node, path: &str, d: &mut Diags) -> Option<String> {
    let text = match Typed::of(node) {
        Typed::Null => {
            d.warn(
                node.pos,
                Some(path),
                "no value; the variable is set to an empty string",
            );
            ""
        }
        Typed::Str(_) | Typed::Int(_) | Typed::Float(_) | Typed::Bool(_) => node.scalar_text()?,
        _ => {
            type_error(d, node, path, "a string");
            return None;
        }
    };
    if text.contains('\0') {
        d.error(node.pos, Some(path), "value must not contain a NUL byte");
        return None;
    }
    Some(text.to_owned())
}

fn dir(node: &Node, d: &mut Diags) -> Option<PathBuf> {
    let text = match Typed::of(node) {
        Typed::Null => return None,
        Typed::Str(text) => text,
        _ => {
            type_error(d, node, "dir", "a path");
            return None;
        }
    };
    if text.is_empty() {
        d.error(node.pos, Some("dir"), "path is empty");
        return None;
    }
    if text.contains('\0') {
        d.error(node.pos, Some("dir"), "path must not contain a NUL byte");
        return None;
    }
    if !text.starts_with('/') {
        let message =
            format!("relative path {text:?} is resolved against zinit's working directory");
        d.warn(node.pos, Some("dir"), message);
    }
    Some(PathBuf::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("afer", "after"), 1);
        assert_eq!(
            unknown_key_message("afer", KEYS),
            "unknown key (ignored); did you mean `after`?"
        );
        assert_eq!(unknown_key_message("colour", KEYS), "unknown key (ignored)");
    }
}
