//! `run`: the daemon's one entry point, used by `zinit init` and by tests
//! alike (mini-redis style: the caller binds the socket and owns the
//! shutdown trigger).

use crate::actor::{self, Environment, OutputSinks, ShutdownOutcome};
use crate::api::Api;
use crate::config_dir;
use crate::leftovers;
use crate::logs::{LogHub, RingLimits};
use crate::probe_output::ProbeOutputs;
use crate::server::{self, socket::ControlSockets};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use zinit_core::supervisor::{Command, ShutdownMode};

/// zinit's own settings that services must never see (the HTTP proxy's
/// bearer token: any service could otherwise read it and use the API).
const SECRET_VARIABLES: &[&str] = &["ZINIT_HTTP_TOKEN"];

/// Bytes the log ring may hold, on top of its line limit.
const LOG_RING_BYTES: usize = 16 << 20;

/// How long requests under way at exit (the shutdown request itself, say)
/// may take to write their answers.
const REPLY_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How the daemon was configured on the command line.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Directory of `<name>.yaml` service files.
    pub config_dir: PathBuf,
    /// Lines kept in the log ring.
    pub log_lines: usize,
    /// Where services with `log_file` write `<name>.log`.
    pub log_dir: PathBuf,
    /// Usually `/etc/environment`; `None` for none.
    pub environment_file: Option<PathBuf>,
    /// Whether and where services get cgroups (`--cgroup`).
    pub cgroup: crate::process::cgroup::CgroupChoice,
}

/// How `run` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// What the shutdown asked for (exit, power off, reboot).
    pub mode: ShutdownMode,
    /// Services that had to be SIGKILLed at their timeout.
    pub forced: Vec<String>,
    /// The supervisor itself failed (a bug): services may still be running.
    pub supervisor_failed: bool,
    /// A service's `failure_action` or `success_action` began the
    /// shutdown: what happened, and the status a container or daemon exits
    /// with (the service's exit code, 128 + signal, 127 if not spawned).
    pub cause: Option<(String, u8)>,
}

/// Run the daemon until a shutdown (requested over the socket, or by
/// `shutdown` resolving with the mode it wants) has stopped every service.
/// Without a socket (PID 1 could not bind one) zinit still supervises.
/// The caller decides what the outcome means (exit, power off, reboot).
pub async fn run(
    config: DaemonConfig,
    sockets: Option<ControlSockets>,
    shutdown: impl Future<Output = ShutdownMode>,
) -> Stopped {
    if let Err(e) = crate::process::mark_inherited_fds_cloexec() {
        tracing::warn!("cannot mark inherited file descriptors close-on-exec: {e}");
    }
    if let Err(e) = crate::process::start_reaper() {
        tracing::error!("cannot start the reaper thread: {e}");
    }
    let logs = LogHub::new(RingLimits {
        max_lines: config.log_lines,
        max_bytes: LOG_RING_BYTES,
    });
    // Services inherit zinit's environment, except its secrets.
    let inherited = std::env::vars()
        .filter(|(key, _)| !SECRET_VARIABLES.contains(&key.as_str()))
        .collect();
    let env = Environment::new(inherited, config.environment_file.clone());
    let probe_outputs = ProbeOutputs::default();
    let socket = sockets.as_ref().map(|s| s.primary.path.as_path());
    let cgroups = crate::process::cgroup::Cgroups::setup(&config.cgroup, socket);
    let limit_reports = crate::process::limits::LimitReports::default();
    let sinks = OutputSinks {
        logs: logs.clone(),
        log_dir: config.log_dir.clone(),
        probe_outputs: probe_outputs.clone(),
        cgroups: cgroups.clone(),
        limit_reports: limit_reports.clone(),
    };
    let (handle, done) = actor::start(sinks, env);
    let mut api = Api::new(
        handle.clone(),
        config.config_dir.clone(),
        logs,
        probe_outputs,
    );
    api = api
        .with_limit_reports(limit_reports)
        .with_cgroups(cgroups.clone());
    if let Some(sockets) = &sockets {
        api = api.with_control_socket(sockets.primary.path.clone());
    }

    // Load before serving, so the first answer already shows every service;
    // clients that connect meanwhile wait in the socket's backlog.
    let state = sockets
        .as_ref()
        .map(|s| leftovers::state_path(&s.primary.path));
    let recorder = load_services(&handle, config.config_dir.clone(), state, cgroups.clone()).await;

    let server = sockets.as_ref().map(|sockets| {
        let listeners = sockets
            .all()
            .filter_map(|socket| {
                match socket
                    .listener
                    .try_clone()
                    .and_then(tokio::net::UnixListener::from_std)
                {
                    Ok(listener) => Some(listener),
                    Err(e) => {
                        let path = socket.path.display();
                        tracing::error!("cannot serve the control socket {path}: {e}");
                        None
                    }
                }
            })
            .collect();
        server::start(listeners, api.clone(), sockets.primary.access())
    });

    tokio::pin!(shutdown);
    tokio::pin!(done);
    let stopped = tokio::select! {
        ended = &mut done => outcome(ended),
        mode = &mut shutdown => {
            tracing::info!("shutdown requested by signal");
            // Refused only if a shutdown is already under way: fine.
            let _ = handle.command(Command::Shutdown(mode)).await;
            outcome(done.await)
        }
    };
    if let Some(server) = server {
        server.stop(REPLY_GRACE).await;
    }
    api.stop_http_server_at_exit().await;
    if let Some(recorder) = recorder {
        recorder.finish(!stopped.supervisor_failed).await;
    }
    if let Some(cgroups) = cgroups {
        let _ = tokio::task::spawn_blocking(move || cgroups.clean_up_at_exit()).await;
    }
    if let Some(sockets) = &sockets {
        sockets.remove_files();
    }
    tracing::info!("zinit stopped");
    stopped
}

fn outcome(ended: Result<ShutdownOutcome, tokio::sync::oneshot::error::RecvError>) -> Stopped {
    match ended {
        Ok(ShutdownOutcome {
            mode,
            forced,
            cause,
        }) => Stopped {
            mode,
            forced: forced.iter().map(ToString::to_string).collect(),
            supervisor_failed: false,
            cause: cause.map(|c| (c.to_string(), c.exit_code)),
        },
        Err(_) => {
            // Only a bug can end the actor without a shutdown.
            tracing::error!("the supervisor stopped unexpectedly");
            Stopped {
                mode: ShutdownMode::Exit,
                forced: Vec::new(),
                supervisor_failed: true,
                cause: None,
            }
        }
    }
}

/// The limits of `resources` this machine cannot apply, known at load.
fn unsupported_limits(
    cgroups: Option<&crate::process::cgroup::Cgroups>,
    resources: &zinit_core::spec::Resources,
) -> Vec<crate::process::limits::NotApplied> {
    match cgroups {
        Some(cgroups) => cgroups.limits().unsupported(resources),
        None => crate::process::limits::without_cgroups(resources),
    }
}

/// Monitor every valid service file; report the broken ones and go on.
/// First, stop what a previous zinit left running (see `leftovers`), and
/// from then on record what runs in `state`.
async fn load_services(
    handle: &actor::Handle,
    dir: PathBuf,
    state: Option<PathBuf>,
    cgroups: Option<Arc<crate::process::cgroup::Cgroups>>,
) -> Option<leftovers::Recorder> {
    let shown = dir.display().to_string();
    let loaded = tokio::task::spawn_blocking(move || config_dir::load_dir(&dir)).await;
    let policies = match &loaded {
        Ok(Ok(report)) => report
            .services
            .iter()
            .map(|s| {
                let policy = leftovers::StopPolicy {
                    signal: s.spec.stop_signal,
                    timeout: s.spec.shutdown_timeout,
                };
                (s.name.to_string(), policy)
            })
            .collect(),
        _ => std::collections::BTreeMap::new(),
    };
    let recorded = state.clone();
    let cgroups_for_leftovers = cgroups.clone();
    let stopped = tokio::task::spawn_blocking(move || {
        let cgroups = cgroups_for_leftovers.as_deref();
        leftovers::stop_leftovers(recorded.as_deref(), cgroups, &policies);
    })
    .await;
    if let Err(e) = stopped {
        tracing::error!("stopping leftovers failed: {e}");
    }
    let recorder = state.and_then(|state| leftovers::start_recorder(state, handle.subscribe()));
    let report = match loaded {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            tracing::error!("cannot read config directory {shown}: {e}; no services loaded");
            return recorder;
        }
        Err(e) => {
            tracing::error!("loading {shown} failed: {e}");
            return recorder;
        }
    };
    for diagnostic in &report.diagnostics {
        match diagnostic.severity {
            zinit_core::config::Severity::Error => tracing::error!("{diagnostic}"),
            zinit_core::config::Severity::Warning => tracing::warn!("{diagnostic}"),
        }
    }
    // Every Monitor is queued before any answer is awaited, so the actor
    // takes them in batches and publishes one snapshot per batch instead of
    // one per service (which made loading quadratic in the service count).
    let mut answers = Vec::with_capacity(report.services.len());
    for service in report.services {
        for warning in &service.warnings {
            tracing::warn!("{warning}");
        }
        for missing in unsupported_limits(cgroups.as_deref(), &service.spec.resources) {
            tracing::warn!("service {}: {missing}", service.name);
        }
        let command = Command::Monitor {
            name: service.name.clone(),
            spec: Arc::new(service.spec),
        };
        answers.push((service.name, handle.send(command)));
    }
    for (name, answer) in answers {
        let outcome = match answer {
            Ok(answer) => answer.await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::error!("cannot monitor {name}: {e}");
        }
    }
    recorder
}
