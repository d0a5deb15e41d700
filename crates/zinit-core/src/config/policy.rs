//! Lowering of the duration keys and the restart policy:
//! `shutdown_timeout`, the `restart` key (a policy, or a mapping of policy,
//! back-off and crash-loop limit) and the probe timings (`test_interval`,
//! `test_timeout`).
//!
//! A duration is an integer or decimal number of seconds, or a string
//! accepted by [`super::duration::parse_duration`]. Every duration is at
//! most [`MAX_DURATION`]; which ones may be zero is decided here.

use super::diagnostic::Diags;
use super::duration::{format_duration, parse_duration};
use super::lower::{type_error, unknown_key_message};
use super::scalar::Typed;
use super::yaml_tree::Node;
use crate::spec::{ProbePolicy, RestartLimit, RestartPolicy, RestartWhen, DEFAULT_RESTART_WINDOW};
use std::time::Duration;

/// Upper bound of every duration in a service file: one day.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Whether a duration may be zero.
#[derive(Clone, Copy)]
pub(crate) struct Bounds {
    zero_ok: bool,
}

pub(crate) const ZERO_OK: Bounds = Bounds { zero_ok: true };
pub(crate) const POSITIVE: Bounds = Bounds { zero_ok: false };

/// A duration value; `None` for null (not set) and after an error.
pub(crate) fn duration(node: &Node, key: &str, bounds: Bounds, d: &mut Diags) -> Option<Duration> {
    let value = match Typed::of(node) {
        Typed::Null => return None,
        Typed::Int(n) if n < 0 => Err(format!("must not be negative, found {n}")),
        Typed::Int(n) => Ok(Duration::from_secs(n.unsigned_abs())),
        Typed::Float(f) if f < 0.0 => Err(format!("must not be negative, found {f}")),
        Typed::Float(f) => {
            Duration::try_from_secs_f64(f).map_err(|_| format!("invalid duration {f}"))
        }
        Typed::Str(text) => parse_duration(text).map_err(|e| e.to_string()),
        _ => {
            type_error(
                d,
                node,
                key,
                "a duration (seconds, or a string like \"2s\")",
            );
            return None;
        }
    };
    let checked = value.and_then(|v| {
        if v.is_zero() && !bounds.zero_ok {
            Err("must be greater than zero".to_owned())
        } else if v > MAX_DURATION {
            Err(format!(
                "{} is longer than the maximum of 1 day",
                format_duration(v)
            ))
        } else {
            Ok(v)
        }
    });
    checked
        .map_err(|message| d.error(node.pos, Some(key), message))
        .ok()
}

/// The `restart` key: a policy alone (`restart: on-failure`) or a mapping
/// of `policy`, the back-off (`delay`, `max_delay`, `stable_after`) and the
/// crash-loop limit (`max_restarts` within `window`). A delay or maximum
/// given alone moves the other default out of its way; given together they
/// must be ordered. `oneshot` is the file's `oneshot`, for the checks that
/// depend on it.
pub(crate) fn restart(node: Option<&Node>, oneshot: bool, d: &mut Diags) -> Option<RestartPolicy> {
    let mut policy = RestartPolicy::default();
    let Some(node) = node else {
        return Some(policy);
    };
    let entries = match Typed::of(node) {
        Typed::Null => return Some(policy),
        Typed::Str(_) => {
            policy.when = Some(restart_when(node, "restart", oneshot, d)?);
            return Some(policy);
        }
        Typed::Map(entries) => entries,
        _ => {
            type_error(
                d,
                node,
                "restart",
                "a restart policy (always, on-failure or never) or a mapping like \
                 `{policy: on-failure, delay: 1s}`",
            );
            return None;
        }
    };
    let errors_before = d.error_count();
    let (mut delay, mut max_delay, mut stable_after) = (None, None, None);
    let (mut max_restarts, mut window) = (None, None);
    for (key, value) in entries {
        match key.scalar_text() {
            // Null: the default policy.
            Some("policy") if Typed::of(value) == Typed::Null => {}
            Some("policy") => policy.when = restart_when(value, "restart.policy", oneshot, d),
            Some("delay") => delay = Some((duration(value, "restart.delay", POSITIVE, d), value)),
            Some("max_delay") => max_delay = duration(value, "restart.max_delay", POSITIVE, d),
            Some("stable_after") => {
                stable_after = duration(value, "restart.stable_after", POSITIVE, d);
            }
            Some("max_restarts") => max_restarts = restart_count(value, d).map(|n| (n, value)),
            Some("window") => {
                window = duration(value, "restart.window", POSITIVE, d).map(|w| (w, value));
            }
            Some(other) => {
                let path = format!("restart.{other}");
                d.warn(
                    key.pos,
                    Some(&path),
                    unknown_key_message(other, RESTART_KEYS),
                );
            }
            None => {}
        }
    }
    let given_delay = delay.and_then(|(value, _)| value);
    match (given_delay, max_delay) {
        (Some(initial), Some(max)) if initial > max => {
            let node = delay.map_or(node, |(_, n)| n);
            let message = format!(
                "{} is greater than restart.max_delay ({})",
                format_duration(initial),
                format_duration(max)
            );
            d.error(node.pos, Some("restart.delay"), message);
        }
        _ => {}
    }
    if let Some(initial) = given_delay {
        policy.initial_delay = initial;
        policy.max_delay = policy.max_delay.max(initial);
    }
    if let Some(max) = max_delay {
        policy.max_delay = max;
        policy.initial_delay = policy.initial_delay.min(max);
    }
    policy.stable_after = stable_after.unwrap_or(policy.stable_after);
    match (max_restarts, window) {
        (Some((max_restarts, _)), window) => {
            policy.limit = Some(RestartLimit {
                max_restarts,
                window: window.map_or(DEFAULT_RESTART_WINDOW, |(w, _)| w),
            });
        }
        (None, Some((_, node))) => d.warn(
            node.pos,
            Some("restart.window"),
            "has no effect without restart.max_restarts",
        ),
        (None, None) => {}
    }
    // Only when the file says so: a oneshot's implicit `never` with a
    // back-off of its own is harmless.
    if policy.when == Some(RestartWhen::Never) {
        for (key, value) in entries {
            let Some(name) = key.scalar_text() else {
                continue;
            };
            if name != "policy" && RESTART_KEYS.contains(&name) && Typed::of(value) != Typed::Null {
                let path = format!("restart.{name}");
                d.warn(
                    key.pos,
                    Some(&path),
                    "has no effect: the service is never restarted",
                );
            }
        }
    }
    (d.error_count() == errors_before).then_some(policy)
}

/// The keys of the `restart` mapping.
const RESTART_KEYS: &[&str] = &[
    "policy",
    "delay",
    "max_delay",
    "stable_after",
    "max_restarts",
    "window",
];

/// A restart policy name, checked against `oneshot`.
fn restart_when(node: &Node, key: &str, oneshot: bool, d: &mut Diags) -> Option<RestartWhen> {
    let Typed::Str(text) = Typed::of(node) else {
        type_error(d, node, key, "always, on-failure or never");
        return None;
    };
    let Some(when) = RestartWhen::parse(text) else {
        let names: Vec<&str> = RestartWhen::ALL.iter().map(|w| w.name()).collect();
        d.error(
            node.pos,
            Some(key),
            format!(
                "unknown restart policy {text:?}; expected {}",
                names.join(", ")
            ),
        );
        return None;
    };
    if oneshot && when == RestartWhen::Always {
        d.error(
            node.pos,
            Some(key),
            "a oneshot cannot restart always (it would run again each time it succeeds); \
             on-failure retries a failed oneshot",
        );
        return None;
    }
    Some(when)
}

/// `restart.max_restarts`: a whole number, at least 1.
fn restart_count(node: &Node, d: &mut Diags) -> Option<u32> {
    const KEY: &str = "restart.max_restarts";
    match Typed::of(node) {
        Typed::Null => None,
        Typed::Int(0) => {
            d.error(
                node.pos,
                Some(KEY),
                "must be at least 1; to never restart, write `restart: never`",
            );
            None
        }
        Typed::Int(n) if n > 0 => match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                d.error(
                    node.pos,
                    Some(KEY),
                    format!("{n} is more than {}", u32::MAX),
                );
                None
            }
        },
        _ => {
            type_error(d, node, KEY, "a whole number of restarts (1 or more)");
            None
        }
    }
}

/// The probe timings; they only matter when the service has a `test`.
pub(crate) fn probe(
    interval: Option<&Node>,
    timeout: Option<&Node>,
    has_test: bool,
    d: &mut Diags,
) -> Option<ProbePolicy> {
    let mut policy = ProbePolicy::default();
    let mut ok = true;
    for (node, key) in [(interval, "test_interval"), (timeout, "test_timeout")] {
        let Some(node) = node else { continue };
        if Typed::of(node) == Typed::Null {
            continue;
        }
        let Some(value) = duration(node, key, POSITIVE, d) else {
            ok = false;
            continue;
        };
        if !has_test {
            d.warn(node.pos, Some(key), "has no effect without `test`");
        }
        if key == "test_interval" {
            policy.interval = value;
        } else {
            policy.timeout = value;
        }
    }
    ok.then_some(policy)
}
