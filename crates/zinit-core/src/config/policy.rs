//! Lowering of the duration keys: `shutdown_timeout`, the `restart`
//! mapping and the probe timings (`test_interval`, `test_timeout`).
//!
//! A duration is an integer or decimal number of seconds, or a string
//! accepted by [`super::duration::parse_duration`]. Every duration is at
//! most [`MAX_DURATION`]; which ones may be zero is decided here.

use super::diagnostic::Diags;
use super::duration::{format_duration, parse_duration};
use super::lower::{type_error, unknown_key_message};
use super::scalar::Typed;
use super::yaml_tree::Node;
use crate::spec::{ProbePolicy, RestartPolicy};
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

/// The `restart` mapping. A delay or maximum given alone moves the other
/// default out of its way; given together they must be ordered.
pub(crate) fn restart(node: Option<&Node>, d: &mut Diags) -> Option<RestartPolicy> {
    let mut policy = RestartPolicy::default();
    let Some(node) = node else {
        return Some(policy);
    };
    let entries = match Typed::of(node) {
        Typed::Null => return Some(policy),
        Typed::Map(entries) => entries,
        _ => {
            type_error(
                d,
                node,
                "restart",
                "a mapping like `{delay: 1s, max_delay: 1m}`",
            );
            return None;
        }
    };
    let errors_before = d.error_count();
    let (mut delay, mut max_delay, mut stable_after) = (None, None, None);
    for (key, value) in entries {
        match key.scalar_text() {
            Some("delay") => delay = Some((duration(value, "restart.delay", POSITIVE, d), value)),
            Some("max_delay") => max_delay = duration(value, "restart.max_delay", POSITIVE, d),
            Some("stable_after") => {
                stable_after = duration(value, "restart.stable_after", POSITIVE, d);
            }
            Some(other) => {
                let path = format!("restart.{other}");
                let known = ["delay", "max_delay", "stable_after"];
                d.warn(key.pos, Some(&path), unknown_key_message(other, &known));
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
    (d.error_count() == errors_before).then_some(policy)
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
