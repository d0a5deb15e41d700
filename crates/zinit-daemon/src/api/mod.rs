//! The operations of the control API, shared by both socket protocols (and
//! later HTTP): each validates its input, asks the actor or reads the
//! snapshot, and returns a domain result or an [`ApiError`].
//!
//! Must not: know about framing (lines, JSON-RPC ids) or block the runtime
//! (file and /proc work goes to `spawn_blocking`).

mod error;
mod facts;
mod http_server;
mod log_queries;
mod observe;
mod rpc_counters;
mod stats;

pub use error::{ApiError, ErrorKind};
use http_server::HttpServer;
pub use log_queries::{item as log_item, LogFollow, LogQuery};
pub use rpc_counters::{Protocol, RpcCounters};

use crate::actor::{ActorError, Handle};
use crate::config_dir::{self, LoadError};
use crate::logs::{LogFrom, LogHub};
use crate::probe_output::ProbeOutputs;
use crate::process::cgroup::Cgroups;
use crate::process::limits::LimitReports;
use crate::service_files::{self, ServiceFileError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use zinit_core::name::ServiceName;
use zinit_core::signal::Signal;
use zinit_core::supervisor::{Command, ShutdownMode, Snapshot};
use zinit_proto::errors::ErrorCode;
use zinit_proto::wire::ServiceStatus;

/// Everything a connection needs to serve requests.
#[derive(Clone)]
pub struct Api {
    actor: Handle,
    config_dir: Arc<PathBuf>,
    logs: Arc<LogHub>,
    http: Arc<HttpServer>,
    /// Previous CPU readings, for `stats` percentages between requests.
    cpu: Arc<stats::CpuTracker>,
    /// Each service's last test output, for `why`.
    probe_outputs: ProbeOutputs,
    /// Requests served, for `system_metrics`.
    rpc: Arc<RpcCounters>,
    /// What each service's last run lacked of its `resources`.
    limit_reports: LimitReports,
    /// The services' cgroups, for their figures; `None` without cgroups.
    cgroups: Option<Arc<Cgroups>>,
}

impl Api {
    /// `probe_outputs` is where the actor's shell records test output.
    pub fn new(
        actor: Handle,
        config_dir: PathBuf,
        logs: Arc<LogHub>,
        probe_outputs: ProbeOutputs,
    ) -> Api {
        Api {
            actor,
            config_dir: Arc::new(config_dir),
            logs,
            http: Arc::new(HttpServer::unavailable()),
            cpu: Arc::new(stats::CpuTracker::new()),
            probe_outputs,
            rpc: Arc::new(RpcCounters::default()),
            limit_reports: LimitReports::default(),
            cgroups: None,
        }
    }

    /// The services' cgroups, whose figures `stats` and metrics add.
    pub fn with_cgroups(mut self, cgroups: Option<Arc<Cgroups>>) -> Api {
        self.cgroups = cgroups;
        self
    }

    /// Where the actor's shell records the limits a run could not have.
    pub fn with_limit_reports(mut self, reports: LimitReports) -> Api {
        self.limit_reports = reports;
        self
    }

    /// Where the servers count the requests they answer.
    pub fn rpc_counters(&self) -> &RpcCounters {
        &self.rpc
    }

    /// The control socket this daemon serves, for the HTTP proxy it may
    /// start (`system_start_http_server`).
    pub fn with_control_socket(mut self, socket: PathBuf) -> Api {
        self.http = Arc::new(HttpServer::new(socket));
        self
    }

    /// Run the HTTP proxy as a child on `address`.
    pub async fn start_http_server(&self, address: &str) -> Result<String, ApiError> {
        if self.actor.snapshot().shutting_down {
            let refusal = zinit_core::supervisor::CommandError::ShuttingDown;
            return Err(ApiError::refused(refusal, "start_http_server"));
        }
        self.http.start(address, &self.logs).await
    }

    /// Stop the HTTP proxy started by [`start_http_server`](Self::start_http_server).
    pub async fn stop_http_server(&self) -> Result<(), ApiError> {
        self.http.stop().await
    }

    /// At daemon exit: stop the HTTP proxy if one runs.
    pub async fn stop_http_server_at_exit(&self) {
        self.http.stop_if_running().await;
    }

    pub fn logs(&self) -> &Arc<LogHub> {
        &self.logs
    }

    /// `{name: state}` for every monitored service.
    pub fn list(&self) -> BTreeMap<String, String> {
        self.actor
            .snapshot()
            .services
            .iter()
            .map(|(n, v)| (n.to_string(), v.state.to_string()))
            .collect()
    }

    pub fn status(&self, name: &str) -> Result<ServiceStatus, ApiError> {
        let name = parse_name(name, "status")?;
        let snapshot = self.actor.snapshot();
        let view = snapshot
            .services
            .get(&name)
            .ok_or_else(|| ApiError::not_found(&name, "status"))?;
        Ok(ServiceStatus {
            name: name.to_string(),
            pid: view.pid.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
            state: view.state.to_string(),
            target: view.target.to_string(),
            after: with_states(&view.after),
            reason: view.reason.clone(),
            requires: with_states(&view.requires),
            wants: with_states(&view.wants),
            conflicts: with_states(&view.conflicts),
            warnings: self.limit_reports.get(name.as_str()),
        })
    }

    pub async fn start(&self, name: &str) -> Result<(), ApiError> {
        self.by_name(name, "start", Command::Start).await
    }

    pub async fn stop(&self, name: &str) -> Result<(), ApiError> {
        self.by_name(name, "stop", Command::Stop).await
    }

    pub async fn restart(&self, name: &str) -> Result<(), ApiError> {
        self.by_name(name, "restart", Command::Restart).await
    }

    pub async fn forget(&self, name: &str) -> Result<(), ApiError> {
        self.by_name(name, "forget", Command::Forget).await
    }

    pub async fn kill(&self, name: &str, signal: &str) -> Result<(), ApiError> {
        let name = parse_name(name, "kill")?;
        let signal: Signal = signal.parse().map_err(|_| {
            ApiError::app(
                ErrorCode::InvalidSignal,
                format!("invalid signal {signal:?}"),
                Some(&name),
                "kill",
            )
        })?;
        self.command(Command::Kill(name.clone(), signal), &name, "kill")
            .await
    }

    /// Load `<name>.yaml` from the config directory and supervise it.
    pub async fn monitor(&self, name: &str) -> Result<(), ApiError> {
        let name = parse_name(name, "monitor")?;
        let snapshot = self.actor.snapshot();
        refuse_during_shutdown(&snapshot, &name, "monitor")?;
        if snapshot.services.contains_key(&name) {
            let refusal = zinit_core::supervisor::CommandError::AlreadyMonitored(name.clone());
            return Err(ApiError::refused(refusal, "monitor"));
        }
        let dir = self.config_dir.clone();
        let to_load = name.clone();
        let loaded = blocking(move || config_dir::load_one(&dir, &to_load)).await?;
        let loaded = loaded.map_err(|e| load_error(e, &name))?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        let command = Command::Monitor {
            name: name.clone(),
            spec: Arc::new(loaded.spec),
        };
        self.command(command, &name, "monitor").await
    }

    pub async fn create(&self, name: &str, content: Value) -> Result<String, ApiError> {
        let name = parse_name(name, "create")?;
        let dir = self.config_dir.clone();
        let target = name.clone();
        let path = blocking(move || service_files::create(&dir, &target, &content))
            .await?
            .map_err(|e| file_error(e, "create"))?;
        Ok(format!("service \"{name}\" created: {}", path.display()))
    }

    pub async fn delete(&self, name: &str) -> Result<String, ApiError> {
        let name = parse_name(name, "delete")?;
        let dir = self.config_dir.clone();
        let target = name.clone();
        let path = blocking(move || service_files::delete(&dir, &target))
            .await?
            .map_err(|e| file_error(e, "delete"))?;
        Ok(format!("service \"{name}\" deleted: {}", path.display()))
    }

    pub async fn get(&self, name: &str) -> Result<Value, ApiError> {
        let name = parse_name(name, "get")?;
        let dir = self.config_dir.clone();
        blocking(move || service_files::get(&dir, &name))
            .await?
            .map_err(|e| file_error(e, "get"))
    }

    pub async fn shutdown(&self, mode: ShutdownMode) -> Result<(), ApiError> {
        let action = match mode {
            ShutdownMode::Reboot => "reboot",
            ShutdownMode::Exit | ShutdownMode::PowerOff => "shutdown",
        };
        match self.actor.command(Command::Shutdown(mode)).await {
            Ok(()) => Ok(()),
            Err(ActorError::Refused(e)) => Err(ApiError::refused(e, action)),
            // The actor already finished shutting down: that is what was asked.
            Err(ActorError::Gone) => Ok(()),
        }
    }

    /// The ring buffer as legacy text lines, optionally for one service
    /// (a valid name, like every other method's).
    pub fn current_logs(&self, name: Option<&str>) -> Result<Vec<String>, ApiError> {
        let name = name
            .map(|raw| parse_name(raw, "current_logs"))
            .transpose()?;
        Ok(self
            .logs
            .read(name.as_ref().map(ServiceName::as_str), LogFrom::All)
            .lines
            .iter()
            .map(|l| l.legacy_text())
            .collect())
    }

    /// A command that takes only a service name.
    async fn by_name(
        &self,
        raw: &str,
        action: &'static str,
        command: fn(ServiceName) -> Command,
    ) -> Result<(), ApiError> {
        let name = parse_name(raw, action)?;
        self.command(command(name.clone()), &name, action).await
    }

    /// Ask the actor; a refusal that names no service (shutting down) is
    /// still about `name`, and says so in its data.
    async fn command(
        &self,
        command: Command,
        name: &ServiceName,
        action: &'static str,
    ) -> Result<(), ApiError> {
        self.actor.command(command).await.map_err(|e| match e {
            ActorError::Refused(refusal) => ApiError::refused(refusal, action).about(name),
            ActorError::Gone => ApiError::app(
                ErrorCode::ShuttingDown,
                "zinit is shutting down".to_owned(),
                Some(name),
                action,
            ),
        })
    }
}

/// Validate a name from the wire (never trust it near the file system).
pub fn parse_name(raw: &str, action: &'static str) -> Result<ServiceName, ApiError> {
    ServiceName::new(raw).map_err(|e| ApiError::invalid_name(raw, e, action))
}

fn refuse_during_shutdown(
    snapshot: &Snapshot,
    name: &ServiceName,
    action: &'static str,
) -> Result<(), ApiError> {
    if snapshot.shutting_down {
        let refusal = zinit_core::supervisor::CommandError::ShuttingDown;
        return Err(ApiError::refused(refusal, action).about(name));
    }
    Ok(())
}

/// Run blocking file or /proc work off the runtime's worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("background task failed: {e}")))
}

/// Every way `service_monitor` can fail to load the file is ConfigError
/// (-32005): upstream's OpenRPC document and server say so, and its client
/// maps that code, not -32008, to its config-error type. The message still
/// says which it was (missing, unreadable, not a regular file, invalid).
fn load_error(e: LoadError, name: &ServiceName) -> ApiError {
    ApiError::app(ErrorCode::ConfigError, e.to_string(), Some(name), "monitor")
}

fn file_error(e: ServiceFileError, action: &'static str) -> ApiError {
    let (code, service) = match &e {
        ServiceFileError::NotFound { name, .. } => (ErrorCode::ServiceNotFound, Some(name.clone())),
        ServiceFileError::AlreadyExists { name, .. } => {
            (ErrorCode::ServiceAlreadyExists, Some(name.clone()))
        }
        ServiceFileError::Invalid { name, .. } => (ErrorCode::ConfigError, Some(name.clone())),
        ServiceFileError::NotRegular { name, .. } => {
            (ErrorCode::ServiceFileError, Some(name.clone()))
        }
        ServiceFileError::Io { .. } => (ErrorCode::ServiceFileError, None),
    };
    ApiError {
        kind: ErrorKind::App(code),
        message: e.to_string(),
        service,
        action,
    }
}

/// Names with their states as the wire shows them (`Unknown` when not
/// monitored).
fn with_states(
    deps: &[(ServiceName, Option<zinit_core::supervisor::State>)],
) -> BTreeMap<String, String> {
    deps.iter()
        .map(|(dep, state)| {
            let shown = state
                .as_ref()
                .map_or("Unknown".to_owned(), |s| s.to_string());
            (dep.to_string(), shown)
        })
        .collect()
}
