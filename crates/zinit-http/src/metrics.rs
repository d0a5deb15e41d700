//! `GET /metrics`: asks the daemon for `system_metrics` on a fresh socket
//! connection and renders the answer as OpenMetrics text for Prometheus
//! (the names and labels are documented in docs/metrics.md).
//!
//! The daemon only counts; every metric name, type and unit is decided
//! here, in one place, with the Prometheus project's own client library
//! doing the encoding (escaping, `_total` suffixes, `# EOF`).
//!
//! Answers: 200 with the metrics; 503 when the daemon cannot be reached;
//! 502 when it answers something that is not a `system_metrics` result;
//! 504 when it does not answer in time. Errors are plain text, which is
//! what a scraper shows.
//!
//! Must not: keep state between scrapes, or cache the daemon's answer.

use crate::config::ProxyConfig;
use crate::daemon::{self, DaemonError};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use zinit_proto::wire::{
    split_state, CgroupUsage, MetricsSnapshot, RpcMethodMetrics, ServiceMetrics, STATE_WORDS,
};

/// The content type of OpenMetrics text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// How long the daemon may take to answer a scrape.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// The request sent to the daemon, one line.
const REQUEST: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system_metrics\"}\n";

/// The handler for `GET /metrics`.
pub async fn get(State(config): State<Arc<ProxyConfig>>) -> Response {
    let snapshot = match tokio::time::timeout(SCRAPE_TIMEOUT, fetch(&config.socket)).await {
        Err(_) => {
            let reason = format!("zinit did not answer system_metrics within {SCRAPE_TIMEOUT:?}");
            return failure(StatusCode::GATEWAY_TIMEOUT, &reason);
        }
        Ok(Err(e)) => return failure(e.status(), &e.to_string()),
        Ok(Ok(snapshot)) => snapshot,
    };
    match render(snapshot) {
        Ok(text) => {
            let mut response = (StatusCode::OK, text).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(std::fmt::Error) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot render the metrics",
        ),
    }
}

fn failure(status: StatusCode, reason: &str) -> Response {
    tracing::warn!("GET /metrics: {reason}");
    let mut response = (status, format!("{reason}\n")).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Why a scrape got no snapshot.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    #[error("zinit answered system_metrics with an error: {0}")]
    Refused(String),
    #[error("zinit's answer to system_metrics is not a metrics snapshot: {0}")]
    BadAnswer(String),
}

impl FetchError {
    fn status(&self) -> StatusCode {
        match self {
            FetchError::Daemon(DaemonError::Unreachable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// One `system_metrics` request on a fresh connection.
async fn fetch(socket: &Path) -> Result<MetricsSnapshot, FetchError> {
    let io = |source| DaemonError::Io {
        socket: socket.display().to_string(),
        source,
    };
    let stream = daemon::connect(socket).await?;
    let (read, mut write) = stream.into_split();
    write.write_all(REQUEST).await.map_err(io)?;
    write.flush().await.map_err(io)?;
    let mut reader = BufReader::new(read);
    let Some(line) = daemon::read_line(&mut reader, socket).await? else {
        return Err(DaemonError::NoAnswer {
            socket: socket.display().to_string(),
        }
        .into());
    };
    parse_answer(&line)
}

/// The snapshot in a JSON-RPC response line.
fn parse_answer(line: &[u8]) -> Result<MetricsSnapshot, FetchError> {
    let mut response: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| FetchError::BadAnswer(e.to_string()))?;
    if let Some(error) = response.get("error") {
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| error.to_string(), str::to_owned);
        return Err(FetchError::Refused(message));
    }
    let result = response
        .get_mut("result")
        .map(serde_json::Value::take)
        .ok_or_else(|| FetchError::BadAnswer("no result".into()))?;
    serde_json::from_value(result).map_err(|e| FetchError::BadAnswer(e.to_string()))
}

/// `snapshot` as OpenMetrics text, ending with `# EOF`.
pub fn render(snapshot: MetricsSnapshot) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("zinit");
    registry.register_collector(Box::new(Snapshot(snapshot)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// One scrape's snapshot, encoded in the order of docs/metrics.md.
#[derive(Debug)]
struct Snapshot(MetricsSnapshot);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = &self.0;
        let e = &mut encoder;
        let services = &snapshot.services;
        let per_service = |value: fn(&ServiceMetrics) -> Option<Num>| {
            services
                .iter()
                .filter_map(move |s| Some(([("service", s.name.as_str())], value(s)?)))
        };

        family(
            e,
            "service_up",
            "Whether the service has a live process (1) or not (0).",
            None,
            Kind::Gauge,
            per_service(|s| Some(s.up.into())),
        )?;
        family(
            e,
            "service_state",
            "1 for the service's current state, 0 for the other states.",
            None,
            Kind::Gauge,
            services.iter().flat_map(|s| {
                let (current, _reason) = split_state(&s.state);
                let unusual = (!STATE_WORDS.contains(&current)).then_some(current);
                STATE_WORDS.iter().copied().chain(unusual).map(move |word| {
                    let labels = [("service", s.name.as_str()), ("state", word)];
                    (labels, Num::from(word == current))
                })
            }),
        )?;
        family(
            e,
            "service_target_up",
            "Whether the service is meant to run (target Up, 1) or not (target Down, 0).",
            None,
            Kind::Gauge,
            per_service(|s| Some((s.target == "Up").into())),
        )?;
        family(
            e,
            "service_restarts",
            "Restarts of the service by the supervisor since the daemon started.",
            None,
            Kind::Counter,
            per_service(|s| Some(s.restarts.into())),
        )?;
        family(
            e,
            "service_last_exit_code",
            "Exit code of the service's previous run, when it exited by itself.",
            None,
            Kind::Gauge,
            per_service(|s| s.last_exit_code.map(Num::from)),
        )?;
        family(
            e,
            "service_last_exit_signal",
            "1 with the signal that ended the service's previous run, when a signal did.",
            None,
            Kind::Gauge,
            services.iter().filter_map(|s| {
                let signal = s.last_exit_signal.as_deref()?;
                Some((
                    [("service", s.name.as_str()), ("signal", signal)],
                    Num::Int(1),
                ))
            }),
        )?;
        family(
            e,
            "service_memory_rss",
            "Resident memory of the service's whole process tree, in bytes.",
            Some(Unit::Bytes),
            Kind::Gauge,
            per_service(|s| s.memory_rss_bytes.map(Num::from)),
        )?;
        family(
            e,
            "service_cpu",
            "CPU time (user and system) of the service's live process tree, in seconds.",
            Some(Unit::Seconds),
            Kind::Counter,
            per_service(|s| s.cpu_seconds_total.map(Num::from)),
        )?;
        // What the services' cgroups count (only for services in one, and
        // only the figures the kernel keeps there).
        let per_cgroup = |value: fn(&CgroupUsage) -> Option<Num>| {
            services.iter().filter_map(move |s| {
                Some(([("service", s.name.as_str())], value(s.cgroup.as_ref()?)?))
            })
        };
        family(
            e,
            "service_cgroup_memory",
            "Memory the service's cgroup uses now, in bytes.",
            Some(Unit::Bytes),
            Kind::Gauge,
            per_cgroup(|c| c.memory_current_bytes.map(Num::from)),
        )?;
        family(
            e,
            "service_cgroup_memory_peak",
            "The most memory the service's cgroup used at once, in bytes.",
            Some(Unit::Bytes),
            Kind::Gauge,
            per_cgroup(|c| c.memory_peak_bytes.map(Num::from)),
        )?;
        family(
            e,
            "service_cgroup_memory_max",
            "The memory limit of the service's cgroup, in bytes (absent when unlimited).",
            Some(Unit::Bytes),
            Kind::Gauge,
            per_cgroup(|c| c.memory_max_bytes.map(Num::from)),
        )?;
        family(
            e,
            "service_cgroup_cpu",
            "CPU time of every process that ran in the service's cgroup, in seconds.",
            Some(Unit::Seconds),
            Kind::Counter,
            per_cgroup(|c| c.cpu_usage_seconds.map(Num::from)),
        )?;
        family(
            e,
            "service_cgroup_cpu_throttled",
            "Time the service's CPU limit held it back, in seconds.",
            Some(Unit::Seconds),
            Kind::Counter,
            per_cgroup(|c| c.cpu_throttled_seconds.map(Num::from)),
        )?;
        family(
            e,
            "service_cgroup_tasks",
            "Tasks (processes and threads) in the service's cgroup.",
            None,
            Kind::Gauge,
            per_cgroup(|c| c.pids_current.map(Num::from)),
        )?;
        family(
            e,
            "service_cgroup_tasks_max",
            "The task limit of the service's cgroup (absent when unlimited).",
            None,
            Kind::Gauge,
            per_cgroup(|c| c.pids_max.map(Num::from)),
        )?;
        family(
            e,
            "service_oom_kills",
            "Processes of the service's cgroup ended by the OOM killer.",
            None,
            Kind::Counter,
            per_cgroup(|c| c.oom_kills.map(Num::from)),
        )?;
        family(
            e,
            "service_pressure_avg10",
            "Pressure stall information of the service's cgroup: percent of the last 10 s in \
             which some (or all) of its tasks waited for the resource.",
            None,
            Kind::Gauge,
            services.iter().flat_map(|s| {
                let p = s
                    .cgroup
                    .as_ref()
                    .and_then(|c| c.pressure.clone())
                    .unwrap_or_default();
                [
                    ("cpu", "some", p.cpu_some_avg10),
                    ("memory", "some", p.memory_some_avg10),
                    ("memory", "full", p.memory_full_avg10),
                    ("io", "some", p.io_some_avg10),
                    ("io", "full", p.io_full_avg10),
                ]
                .into_iter()
                .filter_map(move |(resource, kind, value)| {
                    let labels = [
                        ("service", s.name.as_str()),
                        ("resource", resource),
                        ("kind", kind),
                    ];
                    Some((labels, Num::from(value?)))
                })
            }),
        )?;
        family(
            e,
            "service_log_lines",
            "Log lines captured from the service since the daemon started.",
            None,
            Kind::Counter,
            per_service(|s| Some(s.log_lines_total.into())),
        )?;

        let log = &snapshot.log;
        single(
            e,
            "log_lines",
            "Log lines captured from all services.",
            None,
            Kind::Counter,
            log.lines_total,
        )?;
        single(
            e,
            "log_lines_evicted",
            "Log lines pushed out of the in-memory ring by its limits.",
            None,
            Kind::Counter,
            log.evicted_total,
        )?;
        family(
            e,
            "log_lines_dropped",
            "Log lines lost: missed by lagging followers, or not written to log files.",
            None,
            Kind::Counter,
            [
                (
                    [("reason", "follower_lag")],
                    log.follower_missed_total.into(),
                ),
                ([("reason", "file")], log.file_dropped_total.into()),
            ],
        )?;
        single(
            e,
            "log_ring_lines",
            "Log lines held in the in-memory ring.",
            None,
            Kind::Gauge,
            log.kept_lines,
        )?;
        single(
            e,
            "log_ring",
            "Bytes of log text held in the in-memory ring.",
            Some(Unit::Bytes),
            Kind::Gauge,
            log.kept_bytes,
        )?;

        let rpc = merged_rpc(&snapshot.rpc);
        family(
            e,
            "rpc_requests",
            "Requests answered by the daemon, errors included.",
            None,
            Kind::Counter,
            rpc.iter().map(|((protocol, method), (requests, _))| {
                let labels = [("protocol", protocol.as_str()), ("method", method.as_str())];
                (labels, Num::from(*requests))
            }),
        )?;
        let codes: Vec<(String, String, String, u64)> = rpc
            .iter()
            .flat_map(|((protocol, method), (_, errors))| {
                errors.iter().map(move |(code, count)| {
                    (protocol.clone(), method.clone(), code.to_string(), *count)
                })
            })
            .collect();
        family(
            e,
            "rpc_errors",
            "Requests answered with an error, by JSON-RPC error code.",
            None,
            Kind::Counter,
            codes.iter().map(|(protocol, method, code, count)| {
                let labels = [
                    ("protocol", protocol.as_str()),
                    ("method", method.as_str()),
                    ("code", code.as_str()),
                ];
                (labels, Num::from(*count))
            }),
        )?;

        let process = &snapshot.process;
        single(
            e,
            "process_resident_memory",
            "Resident memory of the zinit daemon, in bytes.",
            Some(Unit::Bytes),
            Kind::Gauge,
            process.rss_bytes,
        )?;
        single(
            e,
            "process_cpu",
            "CPU time (user and system) used by the zinit daemon, in seconds.",
            Some(Unit::Seconds),
            Kind::Counter,
            process.cpu_seconds,
        )?;
        single(
            e,
            "process_open_fds",
            "File descriptors open in the zinit daemon.",
            None,
            Kind::Gauge,
            process.open_fds,
        )
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn metric_type(self) -> MetricType {
        match self {
            Kind::Gauge => MetricType::Gauge,
            Kind::Counter => MetricType::Counter,
        }
    }

    fn encode(self, value: Num, encoder: prometheus_client::encoding::MetricEncoder) -> Fmt {
        match (self, value) {
            (Kind::Gauge, Num::Int(v)) => ConstGauge::new(v).encode(encoder),
            (Kind::Gauge, Num::Float(v)) => ConstGauge::new(v).encode(encoder),
            (Kind::Counter, Num::Int(v)) => {
                ConstCounter::new(u64::try_from(v).unwrap_or(0)).encode(encoder)
            }
            (Kind::Counter, Num::Float(v)) => ConstCounter::new(v.max(0.0)).encode(encoder),
        }
    }
}

/// A sample's value: integers are written as integers (`3`, not `3.0`).
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i64),
    Float(f64),
}

impl From<u64> for Num {
    fn from(v: u64) -> Num {
        Num::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Num {
    fn from(v: u32) -> Num {
        Num::Int(i64::from(v))
    }
}

impl From<i32> for Num {
    fn from(v: i32) -> Num {
        Num::Int(i64::from(v))
    }
}

impl From<f64> for Num {
    fn from(v: f64) -> Num {
        Num::Float(v)
    }
}

impl From<bool> for Num {
    fn from(v: bool) -> Num {
        Num::Int(i64::from(v))
    }
}

type Fmt = Result<(), std::fmt::Error>;

/// One metric family with labelled series (the family is described even
/// when it has none, so every name is always listed).
fn family<S: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: Kind,
    series: impl IntoIterator<Item = (S, Num)>,
) -> Fmt {
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), kind.metric_type())?;
    for (labels, value) in series {
        kind.encode(value, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One metric family with a single series and no labels.
fn single(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: Kind,
    value: impl Into<Num>,
) -> Fmt {
    let metric = encoder.encode_descriptor(name, help, unit.as_ref(), kind.metric_type())?;
    kind.encode(value.into(), metric)
}

/// Requests and errors by code, per (protocol, method), in order; a pair
/// listed twice is summed, so no series is written twice.
type RpcTable = BTreeMap<(String, String), (u64, BTreeMap<i64, u64>)>;

fn merged_rpc(rpc: &[RpcMethodMetrics]) -> RpcTable {
    let mut table = RpcTable::new();
    for entry in rpc {
        let key = (entry.protocol.clone(), entry.method.clone());
        let (requests, errors) = table.entry(key).or_default();
        *requests = requests.saturating_add(entry.requests);
        for error in &entry.errors {
            let count = errors.entry(error.code).or_default();
            *count = count.saturating_add(error.count);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use zinit_proto::wire::{LogMetrics, ProcessMetrics, RpcErrorCount};

    fn service(name: &str, state: &str) -> ServiceMetrics {
        ServiceMetrics {
            name: name.into(),
            state: state.into(),
            target: "Up".into(),
            ..ServiceMetrics::default()
        }
    }

    fn sample() -> MetricsSnapshot {
        MetricsSnapshot {
            services: vec![
                ServiceMetrics {
                    up: true,
                    pid: 42,
                    restarts: 2,
                    last_exit_signal: Some("SIGKILL".into()),
                    memory_rss_bytes: Some(1_716_224),
                    cpu_seconds_total: Some(1.5),
                    log_lines_total: 7,
                    cgroup: Some(CgroupUsage {
                        memory_current_bytes: Some(4096),
                        memory_peak_bytes: Some(8192),
                        memory_max_bytes: Some(65536),
                        cpu_usage_seconds: Some(2.5),
                        pids_current: Some(3),
                        oom_kills: Some(1),
                        pressure: Some(zinit_proto::wire::Pressure {
                            cpu_some_avg10: Some(1.25),
                            ..Default::default()
                        }),
                        ..CgroupUsage::default()
                    }),
                    ..service("web", "Running")
                },
                ServiceMetrics {
                    target: "Down".into(),
                    restarts: 5,
                    last_exit_code: Some(3),
                    ..service("db", "Error(exited with code 3)")
                },
                service("we\"ird", "Blocked"),
            ],
            log: LogMetrics {
                lines_total: 100,
                evicted_total: 4,
                follower_missed_total: 3,
                file_dropped_total: 2,
                kept_lines: 96,
                kept_bytes: 4096,
            },
            rpc: vec![
                RpcMethodMetrics {
                    protocol: "jsonrpc".into(),
                    method: "service_status".into(),
                    requests: 9,
                    errors: vec![RpcErrorCount {
                        code: -32000,
                        count: 2,
                    }],
                },
                RpcMethodMetrics {
                    protocol: "legacy".into(),
                    method: "odd\\name\n".into(),
                    requests: 1,
                    errors: vec![],
                },
                RpcMethodMetrics {
                    protocol: "jsonrpc".into(),
                    method: "service_status".into(),
                    requests: 1,
                    errors: vec![RpcErrorCount {
                        code: -32000,
                        count: 1,
                    }],
                },
            ],
            process: ProcessMetrics {
                rss_bytes: 9_000_000,
                cpu_seconds: 0.25,
                open_fds: 12,
            },
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn renders_each_metric() {
        let text = render(sample()).unwrap();
        let lines = lines(&text);
        for expected in [
            "# HELP zinit_service_up Whether the service has a live process (1) or not (0).",
            "# TYPE zinit_service_up gauge",
            r#"zinit_service_up{service="web"} 1"#,
            r#"zinit_service_up{service="db"} 0"#,
            r#"zinit_service_state{service="web",state="Running"} 1"#,
            r#"zinit_service_state{service="web",state="Error"} 0"#,
            r#"zinit_service_state{service="db",state="Error"} 1"#,
            r#"zinit_service_state{service="db",state="Running"} 0"#,
            r#"zinit_service_target_up{service="web"} 1"#,
            r#"zinit_service_target_up{service="db"} 0"#,
            "# TYPE zinit_service_restarts counter",
            r#"zinit_service_restarts_total{service="web"} 2"#,
            r#"zinit_service_restarts_total{service="db"} 5"#,
            r#"zinit_service_last_exit_code{service="db"} 3"#,
            r#"zinit_service_last_exit_signal{service="web",signal="SIGKILL"} 1"#,
            "# TYPE zinit_service_memory_rss_bytes gauge",
            "# UNIT zinit_service_memory_rss_bytes bytes",
            r#"zinit_service_memory_rss_bytes{service="web"} 1716224"#,
            "# TYPE zinit_service_cpu_seconds counter",
            "# UNIT zinit_service_cpu_seconds seconds",
            r#"zinit_service_cpu_seconds_total{service="web"} 1.5"#,
            r#"zinit_service_log_lines_total{service="web"} 7"#,
            "# UNIT zinit_service_cgroup_memory_bytes bytes",
            r#"zinit_service_cgroup_memory_bytes{service="web"} 4096"#,
            r#"zinit_service_cgroup_memory_peak_bytes{service="web"} 8192"#,
            r#"zinit_service_cgroup_memory_max_bytes{service="web"} 65536"#,
            r#"zinit_service_cgroup_cpu_seconds_total{service="web"} 2.5"#,
            r#"zinit_service_cgroup_tasks{service="web"} 3"#,
            "# TYPE zinit_service_oom_kills counter",
            r#"zinit_service_oom_kills_total{service="web"} 1"#,
            r#"zinit_service_pressure_avg10{service="web",resource="cpu",kind="some"} 1.25"#,
            r#"zinit_service_log_lines_total{service="db"} 0"#,
            "zinit_log_lines_total 100",
            "zinit_log_lines_evicted_total 4",
            r#"zinit_log_lines_dropped_total{reason="follower_lag"} 3"#,
            r#"zinit_log_lines_dropped_total{reason="file"} 2"#,
            "zinit_log_ring_lines 96",
            "zinit_log_ring_bytes 4096",
            r#"zinit_rpc_requests_total{protocol="jsonrpc",method="service_status"} 10"#,
            r#"zinit_rpc_errors_total{protocol="jsonrpc",method="service_status",code="-32000"} 3"#,
            "zinit_process_resident_memory_bytes 9000000",
            "zinit_process_cpu_seconds_total 0.25",
            "zinit_process_open_fds 12",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(lines.last(), Some(&"# EOF"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn absent_values_have_no_series() {
        let text = render(sample()).unwrap();
        // db has no process: no memory or CPU series, no signal; web exited
        // by a signal: no exit code.
        for absent in [
            r#"zinit_service_memory_rss_bytes{service="db"}"#,
            r#"zinit_service_cpu_seconds_total{service="db"}"#,
            r#"zinit_service_last_exit_code{service="web"}"#,
            r#"zinit_service_last_exit_signal{service="db""#,
            r#"zinit_service_cgroup_memory_bytes{service="db"}"#,
            r#"zinit_service_cgroup_tasks_max{service="web"}"#,
            r#"zinit_service_pressure_avg10{service="web",resource="io""#,
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        // Every service has each of the eight states, exactly one set.
        for name in ["web", "db"] {
            let states: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("zinit_service_state{{service=\"{name}\",")))
                .collect();
            assert_eq!(states.len(), 8, "{states:?}");
            assert_eq!(states.iter().filter(|l| l.ends_with(" 1")).count(), 1);
        }
    }

    #[test]
    fn odd_names_are_escaped() {
        let text = render(sample()).unwrap();
        let lines = lines(&text);
        for expected in [
            r#"zinit_service_up{service="we\"ird"} 0"#,
            r#"zinit_service_state{service="we\"ird",state="Blocked"} 1"#,
            r#"zinit_rpc_requests_total{protocol="legacy",method="odd\\name\n"} 1"#,
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn an_unknown_state_word_is_shown_too() {
        let snapshot = MetricsSnapshot {
            services: vec![service("x", "Stopping")],
            ..MetricsSnapshot::default()
        };
        let text = render(snapshot).unwrap();
        let lines = lines(&text);
        assert!(lines.contains(&r#"zinit_service_state{service="x",state="Stopping"} 1"#));
        assert!(lines.contains(&r#"zinit_service_state{service="x",state="Running"} 0"#));
    }

    #[test]
    fn an_empty_snapshot_still_names_every_metric() {
        let text = render(MetricsSnapshot::default()).unwrap();
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            types,
            [
                "zinit_service_up gauge",
                "zinit_service_state gauge",
                "zinit_service_target_up gauge",
                "zinit_service_restarts counter",
                "zinit_service_last_exit_code gauge",
                "zinit_service_last_exit_signal gauge",
                "zinit_service_memory_rss_bytes gauge",
                "zinit_service_cpu_seconds counter",
                "zinit_service_cgroup_memory_bytes gauge",
                "zinit_service_cgroup_memory_peak_bytes gauge",
                "zinit_service_cgroup_memory_max_bytes gauge",
                "zinit_service_cgroup_cpu_seconds counter",
                "zinit_service_cgroup_cpu_throttled_seconds counter",
                "zinit_service_cgroup_tasks gauge",
                "zinit_service_cgroup_tasks_max gauge",
                "zinit_service_oom_kills counter",
                "zinit_service_pressure_avg10 gauge",
                "zinit_service_log_lines counter",
                "zinit_log_lines counter",
                "zinit_log_lines_evicted counter",
                "zinit_log_lines_dropped counter",
                "zinit_log_ring_lines gauge",
                "zinit_log_ring_bytes gauge",
                "zinit_rpc_requests counter",
                "zinit_rpc_errors counter",
                "zinit_process_resident_memory_bytes gauge",
                "zinit_process_cpu_seconds counter",
                "zinit_process_open_fds gauge",
            ]
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn answers_are_parsed_or_refused() {
        let snapshot = sample();
        let line = serde_json::to_vec(&serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "result": snapshot
        }))
        .unwrap();
        assert_eq!(parse_answer(&line).unwrap(), snapshot);
        let error =
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}"#;
        let refused = parse_answer(error).unwrap_err();
        assert!(matches!(refused, FetchError::Refused(ref m) if m == "method not found"));
        assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
        for bad in [
            &b"not json"[..],
            br#"{"jsonrpc":"2.0","id":1}"#,
            br#"{"result":[1]}"#,
        ] {
            let e = parse_answer(bad).unwrap_err();
            assert!(matches!(e, FetchError::BadAnswer(_)), "{e}");
            assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        }
    }
}
