//! Observability through the real binary: bounded, fair, timestamped logs
//! (`observability/logs.rs`), followers told what they missed
//! (`observability/follow.rs`), log files with rotation
//! (`observability/files.rs`), stats against /proc
//! (`observability/stats.rs`) and `why` (`observability/why.rs`).
//! Metrics over HTTP are in `http/metrics.rs`.

mod common;

#[path = "observability/files.rs"]
mod files;
#[path = "observability/follow.rs"]
mod follow;
#[path = "observability/logs.rs"]
mod logs;
#[path = "observability/stats.rs"]
mod stats;
#[path = "observability/why.rs"]
mod why;

use common::*;
use serde_json::{json, Value};

/// A service file running `script` under `sh -c`.
fn sh(script: &str) -> String {
    let escaped = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!("exec: \"sh -c '{escaped}'\"\n")
}

/// A oneshot service running `script`.
fn oneshot(script: &str) -> String {
    format!("{}oneshot: true\n", sh(script))
}

/// The text of each kept line of `name`, oldest first.
fn kept_texts(d: &Daemon, name: &str) -> Vec<String> {
    d.result("stream_readLogs", json!({ "name": name }))["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["text"].as_str().expect("text").to_owned())
        .collect()
}

/// Resident memory of `pid` in bytes, from /proc/PID/status.
fn vm_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// The RSS bound `docs/logs.md` promises with default settings.
const RSS_BOUND: u64 = 64 << 20;
