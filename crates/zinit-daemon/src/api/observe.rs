//! The read-only views of the API beyond status: `why`, stats with the
//! supervisor's facts, and the metrics snapshot. Each reads the published
//! snapshot (never waiting on the actor) and does its /proc work on a
//! blocking thread.

use super::facts::{self, Clocks};
use super::rpc_counters::RpcCounters;
use super::{blocking, parse_name, stats, Api, ApiError};
use crate::logs::LogCounters;
use crate::process::cgroup::Cgroups;
use crate::process::cgroup_usage;
use zinit_core::exit::ExitStatus;
use zinit_core::supervisor::{self, Snapshot};
use zinit_proto::observe::WhyReport;
use zinit_proto::wire::{
    LogMetrics, MetricsSnapshot, RpcErrorCount, RpcMethodMetrics, ServiceMetrics, ServiceStats,
};

impl Api {
    /// `why NAME`: the service's state explained in words.
    pub fn why(&self, name: &str) -> Result<WhyReport, ApiError> {
        let name = parse_name(name, "why")?;
        let snapshot = self.actor.snapshot();
        let view = snapshot
            .services
            .get(&name)
            .ok_or_else(|| ApiError::not_found(&name, "why"))?;
        let outputs = &self.probe_outputs;
        let test_output = |service: &zinit_core::name::ServiceName| outputs.get(service.as_str());
        let now = Clocks::now().monotonic;
        let mut why = supervisor::why(&snapshot, &name, now, &test_output)
            .ok_or_else(|| ApiError::not_found(&name, "why"))?;
        why.details.extend(
            self.limit_reports
                .get(name.as_str())
                .into_iter()
                .map(|line| format!("Its limit {line}.")),
        );
        Ok(WhyReport {
            name: name.to_string(),
            state: view.state.to_string(),
            target: view.target.to_string(),
            summary: why.summary,
            details: why.details,
            blocked_by: why.blocked_by.iter().map(ToString::to_string).collect(),
        })
    }

    /// `stats NAME`: /proc figures for the process tree, plus restarts,
    /// the current run and the last exit.
    pub async fn stats(&self, name: &str) -> Result<ServiceStats, ApiError> {
        let name = parse_name(name, "stats")?;
        let snapshot = self.actor.snapshot();
        let view = snapshot
            .services
            .get(&name)
            .ok_or_else(|| ApiError::not_found(&name, "stats"))?
            .clone();
        let is_down = || {
            let refusal = zinit_core::supervisor::CommandError::IsDown(name.clone());
            ApiError::refused(refusal, "stats")
        };
        let pid = view.pid.ok_or_else(is_down)?;
        let cpu = self.cpu.clone();
        let dirs = self.cgroups.as_ref().map(|c| c.usage_dirs(name.as_str()));
        let (tree, cgroup) = blocking(move || {
            let usage = dirs.as_ref().and_then(cgroup_usage::read_usage);
            (stats::sample(pid, &cpu), usage)
        })
        .await?;
        let mut wire = tree.ok_or_else(is_down)?.to_wire(name.as_str());
        wire.cgroup = cgroup;
        facts::add_run_facts(&mut wire, &view, &Clocks::now());
        Ok(wire)
    }

    /// `system_metrics`: every service, the log ring, request counts and
    /// the daemon itself, for `GET /metrics`.
    pub async fn metrics(&self) -> Result<MetricsSnapshot, ApiError> {
        let snapshot = self.actor.snapshot();
        let logs = self.logs.counters();
        let log = log_metrics(&logs);
        let cpu = self.cpu.clone();
        let cgroups = self.cgroups.clone();
        let (services, process) = blocking(move || {
            let services = service_metrics(&snapshot, &logs, &cpu, cgroups.as_deref());
            (services, stats::own_process())
        })
        .await?;
        Ok(MetricsSnapshot {
            services,
            log,
            rpc: rpc_metrics(&self.rpc),
            process,
        })
    }
}

/// One entry per service; the /proc part only for those with a process.
fn service_metrics(
    snapshot: &Snapshot,
    logs: &LogCounters,
    cpu: &stats::CpuTracker,
    cgroups: Option<&Cgroups>,
) -> Vec<ServiceMetrics> {
    snapshot
        .services
        .iter()
        .map(|(name, view)| {
            let tree = view.pid.and_then(|pid| stats::sample(pid, cpu));
            let (last_exit_code, last_exit_signal) = match view.last_exit.as_ref().map(|e| e.status)
            {
                Some(ExitStatus::Code(c)) => (Some(c), None),
                Some(ExitStatus::Signaled(n)) => (None, Some(facts::signal_name(n))),
                None => (None, None),
            };
            ServiceMetrics {
                name: name.to_string(),
                state: view.state.to_string(),
                target: view.target.to_string(),
                up: view.pid.is_some(),
                pid: view.pid.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                restarts: view.restarts,
                last_exit_code,
                last_exit_signal,
                memory_rss_bytes: tree.as_ref().map(|t| t.total_rss_bytes),
                cpu_seconds_total: tree.as_ref().map(|t| t.total_cpu_seconds),
                log_lines_total: logs
                    .per_service
                    .iter()
                    .find(|s| &*s.service == name.as_str())
                    .map_or(0, |s| s.lines_total),
                cgroup: cgroups
                    .and_then(|c| cgroup_usage::read_usage(&c.usage_dirs(name.as_str()))),
            }
        })
        .collect()
}

fn log_metrics(logs: &LogCounters) -> LogMetrics {
    LogMetrics {
        lines_total: logs.lines_total,
        evicted_total: logs.evicted_total,
        follower_missed_total: logs.follower_missed_total,
        file_dropped_total: logs.file_dropped_total,
        kept_lines: logs.kept_lines as u64,
        kept_bytes: logs.kept_bytes as u64,
    }
}

fn rpc_metrics(counters: &RpcCounters) -> Vec<RpcMethodMetrics> {
    counters
        .snapshot()
        .into_iter()
        .map(|(protocol, method, counts)| RpcMethodMetrics {
            protocol: protocol.label().to_owned(),
            method: method.to_owned(),
            requests: counts.requests,
            errors: counts
                .errors
                .into_iter()
                .map(|(code, count)| RpcErrorCount { code, count })
                .collect(),
        })
        .collect()
}
