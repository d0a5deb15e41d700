//! Lowering of the `resources` mapping: cgroup limits of a service.
//!
//! ```yaml
//! resources:
//!   memory_max: 512MiB     # sizes as elsewhere; memory_high <= memory_max
//!   memory_high: 400MiB
//!   memory_swap_max: 0
//!   cpu: 0.5               # cores, 0.01 to 4096
//!   cpu_weight: 100        # 1 to 10000
//!   pids_max: 256          # at least 1
//!   io_weight: 100         # 1 to 10000
//! ```
//!
//! Only the meaning of the values is checked here; whether this machine's
//! cgroups can apply each limit is the daemon's business (it warns).

use super::diagnostic::Diags;
use super::lower::{size_node, type_error, unknown_key_message};
use super::scalar::Typed;
use super::size::format_size;
use super::yaml_tree::Node;
use crate::spec::{CpuQuota, Resources, MAX_WEIGHT, MIN_WEIGHT};

/// The keys of the `resources` mapping.
pub(crate) const RESOURCE_KEYS: &[&str] = &[
    "memory_max",
    "memory_high",
    "memory_swap_max",
    "cpu",
    "cpu_weight",
    "pids_max",
    "io_weight",
];

/// The `resources` value: `Ok(None)` for null, `Err(())` after an error
/// (already reported).
pub(crate) fn resources(node: &Node, d: &mut Diags) -> Result<Option<Resources>, ()> {
    let entries = match Typed::of(node) {
        Typed::Null => return Ok(None),
        Typed::Map(entries) => entries,
        _ => {
            let expected = "a mapping like `{memory_max: 512MiB, cpu: 0.5, pids_max: 100}`";
            type_error(d, node, "resources", expected);
            return Err(());
        }
    };
    let mut r = Resources::default();
    let mut ok = true;
    let mut memory_high_at = None;
    for (key, value) in entries {
        let Some(name) = key.scalar_text() else {
            continue;
        };
        let path = format!("resources.{name}");
        let result = match name {
            "memory_max" => memory(value, &path, 1, d).map(|v| r.memory_max = v),
            "memory_high" => {
                memory_high_at = Some(value);
                memory(value, &path, 1, d).map(|v| r.memory_high = v)
            }
            "memory_swap_max" => memory(value, &path, 0, d).map(|v| r.memory_swap_max = v),
            "cpu" => cpu(value, &path, d).map(|v| r.cpu = v),
            "cpu_weight" => weight(value, &path, d).map(|v| r.cpu_weight = v),
            "io_weight" => weight(value, &path, d).map(|v| r.io_weight = v),
            "pids_max" => count(value, &path, d).map(|v| r.pids_max = v),
            other => {
                d.warn(
                    key.pos,
                    Some(&path),
                    unknown_key_message(other, RESOURCE_KEYS),
                );
                Ok(())
            }
        };
        ok &= result.is_ok();
    }
    if let (Some(max), Some(high), Some(node)) = (r.memory_max, r.memory_high, memory_high_at) {
        if high > max {
            d.error(
                node.pos,
                Some("resources.memory_high"),
                format!(
                    "{} is above resources.memory_max ({}): the throttling threshold must not \
                     exceed the hard limit",
                    format_size(high),
                    format_size(max)
                ),
            );
            ok = false;
        }
    }
    if ok {
        Ok(Some(r))
    } else {
        Err(())
    }
}

/// A memory size of at least `min` bytes.
fn memory(node: &Node, key: &str, min: u64, d: &mut Diags) -> Result<Option<u64>, ()> {
    let Some(bytes) = size_node(node, key, d)? else {
        return Ok(None);
    };
    if bytes < min {
        d.error(
            node.pos,
            Some(key),
            "must be more than 0 bytes (leave it out for no limit)",
        );
        return Err(());
    }
    Ok(Some(bytes))
}

/// Cores as a number: `0.5`, `2`, or a string of one (`"0.5"`).
fn cpu(node: &Node, key: &str, d: &mut Diags) -> Result<Option<CpuQuota>, ()> {
    let cores = match Typed::of(node) {
        Typed::Null => return Ok(None),
        Typed::Int(n) => n as f64,
        Typed::Float(f) => f,
        Typed::Str(s) => match s.trim().parse::<f64>() {
            Ok(f) => f,
            Err(_) => {
                let message = format!("expected a number of cores like 0.5 or 2, found {s:?}");
                d.error(node.pos, Some(key), message);
                return Err(());
            }
        },
        _ => {
            type_error(d, node, key, "a number of cores like 0.5 or 2");
            return Err(());
        }
    };
    let (min, max) = (CpuQuota::MIN.cores(), CpuQuota::MAX.cores());
    if !cores.is_finite() || cores < min || cores > max {
        let message = if cores == 0.0 {
            "a CPU limit of 0 cores would never let the service run; leave it out for no \
             limit"
                .to_owned()
        } else {
            format!("must be between {min} and {max} cores, found {cores}")
        };
        d.error(node.pos, Some(key), message);
        return Err(());
    }
    Ok(Some(CpuQuota((cores * 1_000_000.0).round() as u64)))
}

/// A weight from 1 to 10000.
fn weight(node: &Node, key: &str, d: &mut Diags) -> Result<Option<u32>, ()> {
    match Typed::of(node) {
        Typed::Null => Ok(None),
        Typed::Int(n) if (i64::from(MIN_WEIGHT)..=i64::from(MAX_WEIGHT)).contains(&n) => {
            Ok(Some(n as u32))
        }
        Typed::Int(n) => {
            let message = format!("must be between {MIN_WEIGHT} and {MAX_WEIGHT}, found {n}");
            d.error(node.pos, Some(key), message);
            Err(())
        }
        _ => {
            type_error(
                d,
                node,
                key,
                "a whole number from 1 to 10000 (100 is the default)",
            );
            Err(())
        }
    }
}

/// A count of at least 1.
fn count(node: &Node, key: &str, d: &mut Diags) -> Result<Option<u64>, ()> {
    match Typed::of(node) {
        Typed::Null => Ok(None),
        Typed::Int(n) if n >= 1 => Ok(Some(n as u64)),
        Typed::Int(n) => {
            let message = format!("must be at least 1, found {n} (leave it out for no limit)");
            d.error(node.pos, Some(key), message);
            Err(())
        }
        _ => {
            type_error(d, node, key, "a whole number of at least 1");
            Err(())
        }
    }
}
