//! Result objects as they travel on the wire (both protocols), with the
//! field names and order deployed clients know (compat.md).
//!
//! These are deliberately plain (strings for state and target): the domain
//! types live in `zinit-core`, and the daemon converts at the edge. Nothing
//! here may grow behaviour beyond encoding and light decoding helpers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `list` / `service_list` result: service name to state string.
pub type ServiceList = BTreeMap<String, String>;

/// `status` / `service_status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    /// 0 when the service has no running process.
    pub pid: u32,
    /// `Running`, `Error(exited with code 3)`, ... (see [`split_state`]).
    pub state: String,
    /// `Up` or `Down`.
    pub target: String,
    /// Each `after` dependency and its current state.
    #[serde(default)]
    pub after: BTreeMap<String, String>,
    /// Extra, not in the original protocol: why the service is in this
    /// state (e.g. which dependency blocks it). Old clients ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Extras, only when the service file uses them (so a zinit 0.2 file
    /// gets exactly the original object): each `requires`, `wants` and
    /// `conflicts` entry and its state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requires: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wants: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conflicts: BTreeMap<String, String>,
    /// Extra, only when there are any: what of the service file's settings
    /// its current (or last) run lacks, one line each, such as a
    /// `resources` limit this machine's cgroups cannot apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `stats` / `service_stats` result.
///
/// The first five fields are the original protocol's (`memory_usage` and
/// `cpu_usage` are the main process's own). The rest are extras that old
/// clients ignore: they are left out of the JSON when unknown, and default
/// to `None` when an older daemon did not send them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    pub name: String,
    pub pid: u32,
    /// Resident memory of the main process, in bytes.
    pub memory_usage: u64,
    /// CPU usage of the main process, in percent of one core.
    pub cpu_usage: f64,
    #[serde(default)]
    pub children: Vec<ChildStats>,
    /// Resident memory of the whole tree (main process and every
    /// descendant), in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_memory_usage: Option<u64>,
    /// CPU usage of the whole tree, in percent of one core (can pass 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cpu_usage: Option<f64>,
    /// CPU time (user + system) used so far by the processes of the tree
    /// alive now, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// Automatic restarts since monitored (operator restarts do not count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
    /// When the current run started (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// How long the current run has lasted, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<f64>,
    /// How the previous run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<LastExit>,
    /// What the service's cgroup says, when it runs in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupUsage>,
}

/// A service's use of resources as its cgroups count it (cgroup2, and the
/// v1 hierarchies of a hybrid host). Each figure is left out where the
/// kernel does not keep it (a controller not enabled, PSI off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_current_bytes: Option<u64>,
    /// The most memory it used at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_peak_bytes: Option<u64>,
    /// The memory limit in force; absent when unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max_bytes: Option<u64>,
    /// CPU time of every process that ever ran in the cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_usage_seconds: Option<f64>,
    /// Time held back by its CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_throttled_seconds: Option<f64>,
    /// Tasks (processes and threads) now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_current: Option<u64>,
    /// The task limit in force; absent when unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_max: Option<u64>,
    /// Processes of the cgroup the OOM killer ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kills: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<Pressure>,
}

/// Pressure stall information: the share of the last 10 s (percent) in
/// which some (or all) of the cgroup's tasks waited for the resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_some_avg10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_some_avg10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_full_avg10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_some_avg10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_full_avg10: Option<f64>,
}

impl ServiceStats {
    /// Only the original protocol's fields, for the line protocol, whose
    /// replies keep exactly the keys deployed clients know (compat.md).
    pub fn into_original(self) -> ServiceStats {
        ServiceStats {
            name: self.name,
            pid: self.pid,
            memory_usage: self.memory_usage,
            cpu_usage: self.cpu_usage,
            children: self
                .children
                .into_iter()
                .map(|child| ChildStats {
                    cpu_seconds: None,
                    ..child
                })
                .collect(),
            ..ServiceStats::default()
        }
    }
}

/// One descendant process in [`ServiceStats::children`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildStats {
    pub pid: u32,
    pub memory_usage: u64,
    pub cpu_usage: f64,
    /// Extra: CPU time (user + system) used so far, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
}

/// How a service's previous run ended ([`ServiceStats::last_exit`]).
/// Exactly one of `code` and `signal` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastExit {
    /// The exit code, when the process exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal's name (`SIGKILL`), when a signal ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// When it ended (RFC 3339, UTC).
    pub at: String,
    /// How long that run lasted, in seconds.
    pub ran_for_seconds: f64,
    /// Killed by the kernel's OOM killer, as far as zinit can tell (also
    /// true when it is certain).
    #[serde(default)]
    pub oom_suspected: bool,
    /// Certainly killed by the OOM killer: its cgroup's OOM kill counter
    /// rose during the run (services with a memory limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
    /// In words: `exited with code 3`, `killed by SIGKILL (out of memory?)`.
    pub description: String,
}

/// The eight state words of the wire protocol, as [`split_state`] returns
/// them (`Error(exited with code 3)` is `Error`).
pub const STATE_WORDS: [&str; 8] = [
    "Unknown",
    "Blocked",
    "Spawned",
    "Running",
    "Success",
    "Error",
    "TestFailure",
    "Failure",
];

/// `system_metrics` result: what `GET /metrics` on the HTTP proxy renders
/// as OpenMetrics (docs/metrics.md). Every part defaults when missing, so
/// a proxy and a daemon of neighbouring versions still understand each
/// other.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsSnapshot {
    /// One entry per monitored service, in name order.
    pub services: Vec<ServiceMetrics>,
    /// The daemon's log ring and its drops.
    pub log: LogMetrics,
    /// Requests served, per protocol and method.
    pub rpc: Vec<RpcMethodMetrics>,
    /// The daemon's own process.
    pub process: ProcessMetrics,
}

/// One service in [`MetricsSnapshot::services`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceMetrics {
    pub name: String,
    /// The wire state, e.g. `Running` or `Error(exited with code 3)`.
    pub state: String,
    /// `Up` or `Down`.
    pub target: String,
    /// Whether the service has a live process.
    pub up: bool,
    /// 0 when the service has no process.
    pub pid: u32,
    /// Automatic restarts since monitored (operator restarts do not count).
    pub restarts: u32,
    /// The previous run's exit code, when it exited by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i32>,
    /// The signal (`SIGKILL`) that ended the previous run, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit_signal: Option<String>,
    /// Resident memory of the whole process tree, in bytes; `None` when
    /// the service has no process (or it vanished while being read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_rss_bytes: Option<u64>,
    /// CPU seconds (user + system) of the process tree alive now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds_total: Option<f64>,
    /// Log lines captured from the service since the daemon started.
    pub log_lines_total: u64,
    /// What the service's cgroup says, when it runs in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupUsage>,
}

/// [`MetricsSnapshot::log`]: the log ring's counters since the daemon
/// started, and what it holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogMetrics {
    /// Lines captured.
    pub lines_total: u64,
    /// Lines pushed out of the ring by its limits.
    pub evicted_total: u64,
    /// Lines followers (log streams, subscriptions) missed by lagging.
    pub follower_missed_total: u64,
    /// Lines that could not be written to log files.
    pub file_dropped_total: u64,
    /// Lines in the ring now.
    pub kept_lines: u64,
    /// Bytes of text in the ring now.
    pub kept_bytes: u64,
}

/// [`MetricsSnapshot::rpc`]: requests for one method on one protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcMethodMetrics {
    /// `jsonrpc` or `legacy`.
    pub protocol: String,
    /// The method (`service_status`) or line command (`status`).
    pub method: String,
    /// Requests answered, errors included.
    pub requests: u64,
    /// Errors answered, by code (JSON-RPC codes; the line protocol's
    /// errors are mapped to the same codes).
    pub errors: Vec<RpcErrorCount>,
}

/// How many errors with one code a method answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcErrorCount {
    pub code: i64,
    pub count: u64,
}

/// [`MetricsSnapshot::process`]: the daemon's own process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessMetrics {
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
    /// CPU time (user + system), in seconds.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
}

/// Splits a wire state like `Error(exited with code 3)` into its word and
/// reason, the way clients do with `^(\w+)(?:\((.+)\))?$`. A string that
/// does not have that shape comes back whole with no reason.
pub fn split_state(state: &str) -> (&str, Option<&str>) {
    let word_end = state
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(state.len());
    let (word, rest) = state.split_at(word_end);
    if word.is_empty() {
        return (state, None);
    }
    match rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(reason) if !reason.is_empty() => (word, Some(reason)),
        _ if rest.is_empty() => (word, None),
        _ => (state, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_field_order_and_reason_omitted() {
        let status = ServiceStatus {
            name: "redis".into(),
            pid: 42,
            state: "Running".into(),
            target: "Up".into(),
            after: BTreeMap::from([("net".to_string(), "Success".to_string())]),
            reason: None,
            requires: BTreeMap::new(),
            wants: BTreeMap::new(),
            conflicts: BTreeMap::new(),
            warnings: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"name":"redis","pid":42,"state":"Running","target":"Up","after":{"net":"Success"}}"#
        );
        let with_reason = ServiceStatus {
            reason: Some("waiting for net".into()),
            ..status.clone()
        };
        let text = serde_json::to_string(&with_reason).unwrap();
        assert!(text.ends_with(r#","reason":"waiting for net"}"#), "{text}");
        let back: ServiceStatus = serde_json::from_str(&text).unwrap();
        assert_eq!(back, with_reason);
    }

    #[test]
    fn status_decodes_old_server_output() {
        let old = json!({"name":"a","pid":0,"state":"Blocked","target":"Up","after":{}});
        let status: ServiceStatus = serde_json::from_value(old).unwrap();
        assert_eq!(status.pid, 0);
        assert_eq!(status.reason, None);
    }

    #[test]
    fn stats_shape() {
        let stats = ServiceStats {
            name: "a".into(),
            pid: 7,
            memory_usage: 1024,
            cpu_usage: 1.5,
            children: vec![ChildStats {
                pid: 8,
                memory_usage: 10,
                cpu_usage: 0.0,
                cpu_seconds: None,
            }],
            ..ServiceStats::default()
        };
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"name":"a","pid":7,"memory_usage":1024,"cpu_usage":1.5,"children":[{"pid":8,"memory_usage":10,"cpu_usage":0.0}]}"#
        );
    }

    #[test]
    fn stats_extras_follow_the_original_fields() {
        let stats = ServiceStats {
            name: "a".into(),
            pid: 7,
            memory_usage: 1024,
            cpu_usage: 1.5,
            children: vec![ChildStats {
                pid: 8,
                memory_usage: 10,
                cpu_usage: 0.0,
                cpu_seconds: Some(0.25),
            }],
            total_memory_usage: Some(1034),
            total_cpu_usage: Some(1.5),
            cpu_seconds: Some(3.75),
            restarts: Some(2),
            started_at: Some("2025-01-02T03:04:05.678Z".into()),
            uptime_seconds: Some(12.5),
            last_exit: Some(LastExit {
                code: None,
                signal: Some("SIGKILL".into()),
                at: "2025-01-02T03:04:04.000Z".into(),
                ran_for_seconds: 0.5,
                oom_suspected: true,
                oom_killed: false,
                description: "killed by SIGKILL (out of memory?)".into(),
            }),
            cgroup: None,
        };
        let text = serde_json::to_string(&stats).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"name":"a","pid":7,"memory_usage":1024,"cpu_usage":1.5,"#,
                r#""children":[{"pid":8,"memory_usage":10,"cpu_usage":0.0,"cpu_seconds":0.25}],"#,
                r#""total_memory_usage":1034,"total_cpu_usage":1.5,"cpu_seconds":3.75,"#,
                r#""restarts":2,"started_at":"2025-01-02T03:04:05.678Z","uptime_seconds":12.5,"#,
                r#""last_exit":{"signal":"SIGKILL","at":"2025-01-02T03:04:04.000Z","#,
                r#""ran_for_seconds":0.5,"oom_suspected":true,"#,
                r#""description":"killed by SIGKILL (out of memory?)"}}"#
            )
        );
        let back: ServiceStats = serde_json::from_str(&text).unwrap();
        assert_eq!(back, stats);
        assert_eq!(
            serde_json::to_string(&stats.into_original()).unwrap(),
            r#"{"name":"a","pid":7,"memory_usage":1024,"cpu_usage":1.5,"children":[{"pid":8,"memory_usage":10,"cpu_usage":0.0}]}"#
        );
    }

    #[test]
    fn stats_decode_old_server_output() {
        let old = json!({"name":"a","pid":7,"memory_usage":1,"cpu_usage":0.5,
                         "children":[{"pid":8,"memory_usage":2,"cpu_usage":0.0}]});
        let stats: ServiceStats = serde_json::from_value(old).unwrap();
        assert_eq!(stats.children[0].cpu_seconds, None);
        assert_eq!(
            stats,
            ServiceStats {
                name: "a".into(),
                pid: 7,
                memory_usage: 1,
                cpu_usage: 0.5,
                children: vec![ChildStats {
                    pid: 8,
                    memory_usage: 2,
                    cpu_usage: 0.0,
                    cpu_seconds: None,
                }],
                ..ServiceStats::default()
            }
        );
        let exit = json!({"code":3,"at":"2025-01-02T03:04:04Z","ran_for_seconds":1.0,
                          "description":"exited with code 3"});
        let exit: LastExit = serde_json::from_value(exit).unwrap();
        assert_eq!(
            (exit.code, exit.signal, exit.oom_suspected),
            (Some(3), None, false)
        );
    }

    fn metrics_sample() -> MetricsSnapshot {
        MetricsSnapshot {
            services: vec![ServiceMetrics {
                name: "web".into(),
                state: "Error(exited with code 3)".into(),
                target: "Up".into(),
                up: false,
                pid: 0,
                restarts: 4,
                last_exit_code: Some(3),
                last_exit_signal: None,
                memory_rss_bytes: None,
                cpu_seconds_total: None,
                log_lines_total: 17,
                cgroup: None,
            }],
            log: LogMetrics {
                lines_total: 100,
                evicted_total: 5,
                follower_missed_total: 6,
                file_dropped_total: 7,
                kept_lines: 95,
                kept_bytes: 4096,
            },
            rpc: vec![RpcMethodMetrics {
                protocol: "jsonrpc".into(),
                method: "service_status".into(),
                requests: 9,
                errors: vec![RpcErrorCount {
                    code: -32000,
                    count: 2,
                }],
            }],
            process: ProcessMetrics {
                rss_bytes: 1 << 20,
                cpu_seconds: 0.5,
                open_fds: 12,
            },
        }
    }

    #[test]
    fn metrics_snapshot_shape_and_round_trip() {
        let snapshot = metrics_sample();
        let value = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(
            value,
            json!({
                "services": [{"name":"web","state":"Error(exited with code 3)","target":"Up",
                              "up":false,"pid":0,"restarts":4,"last_exit_code":3,
                              "log_lines_total":17}],
                "log": {"lines_total":100,"evicted_total":5,"follower_missed_total":6,
                        "file_dropped_total":7,"kept_lines":95,"kept_bytes":4096},
                "rpc": [{"protocol":"jsonrpc","method":"service_status","requests":9,
                         "errors":[{"code":-32000,"count":2}]}],
                "process": {"rss_bytes":1048576,"cpu_seconds":0.5,"open_fds":12}
            })
        );
        let back: MetricsSnapshot = serde_json::from_value(value).unwrap();
        assert_eq!(back, snapshot);
    }

    #[test]
    fn metrics_snapshot_tolerates_missing_and_unknown_parts() {
        let partial = json!({"services":[{"name":"a","state":"Running","up":true,"pid":5,
                                          "memory_rss_bytes":10,"cpu_seconds_total":1.5,
                                          "something_new":1}],
                             "later_addition":{}});
        let snapshot: MetricsSnapshot = serde_json::from_value(partial).unwrap();
        assert_eq!(snapshot.log, LogMetrics::default());
        assert!(snapshot.rpc.is_empty());
        let service = &snapshot.services[0];
        assert_eq!(
            (
                service.up,
                service.pid,
                service.restarts,
                service.memory_rss_bytes
            ),
            (true, 5, 0, Some(10))
        );
        assert_eq!(service.cpu_seconds_total, Some(1.5));
    }

    #[test]
    fn state_words_are_what_split_state_returns() {
        for word in STATE_WORDS {
            assert_eq!(split_state(word), (word, None));
        }
    }

    #[test]
    fn split_state_matches_client_regex() {
        assert_eq!(split_state("Running"), ("Running", None));
        assert_eq!(
            split_state("Error(exited with code 3)"),
            ("Error", Some("exited with code 3"))
        );
        assert_eq!(split_state("Error()"), ("Error()", None));
        assert_eq!(split_state("Error(x"), ("Error(x", None));
        assert_eq!(split_state(""), ("", None));
        assert_eq!(split_state("(x)"), ("(x)", None));
    }
}
