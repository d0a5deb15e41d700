//! Carrying out the supervisor's effects: spawning, signalling, timers,
//! replies and log lines. Everything here returns at once.

use super::TimerFired;
use crate::logs::{spawn_pipe_reader, LogFile, LogHub, LogLine, Stream};
use crate::probe_output::ProbeOutputs;
use crate::process::{self, Output, Reaped, Scope, SpawnRequest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;
use zinit_core::name::ServiceName;
use zinit_core::spec::{LogFileSpec, LogMode, ServiceSpec};
use zinit_core::supervisor::{
    CommandError, Effect, Input, LogLevel, ReplyTo, RunKind, ShutdownMode, SignalScope,
};

/// The environment every service starts from: zinit's own, overlaid with
/// `/etc/environment` (re-read when it changes), overlaid with the file's
/// `env`.
pub struct Environment {
    base: Vec<(String, String)>,
    file: Option<PathBuf>,
    cached: Option<(SystemTime, Vec<(String, String)>)>,
}

impl Environment {
    /// `file`: usually `/etc/environment`; `None` to use none.
    pub fn new(base: Vec<(String, String)>, file: Option<PathBuf>) -> Environment {
        Environment {
            base,
            file,
            cached: None,
        }
    }

    /// The complete environment for a service. A stat per spawn keeps
    /// `/etc/environment` fresh without reading it every time.
    fn for_service(&mut self, spec: &ServiceSpec) -> Vec<(String, String)> {
        let mut merged: std::collections::BTreeMap<String, String> =
            self.base.iter().cloned().collect();
        merged.extend(self.file_vars());
        merged.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged.into_iter().collect()
    }

    fn file_vars(&mut self) -> Vec<(String, String)> {
        let Some(path) = &self.file else {
            return Vec::new();
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        match (modified, &self.cached) {
            (None, _) => {
                self.cached = None;
                Vec::new()
            }
            (Some(m), Some((seen, vars))) if *seen == m => vars.clone(),
            (Some(m), _) => match crate::config_dir::read_environment_file(path) {
                Ok(vars) => {
                    self.cached = Some((m, vars.clone()));
                    vars
                }
                Err(e) => {
                    tracing::warn!("cannot read {}: {e}", path.display());
                    Vec::new()
                }
            },
        }
    }
}

/// Where the output of services and of their tests goes.
pub struct OutputSinks {
    /// The log ring every captured line goes to.
    pub logs: Arc<LogHub>,
    /// Where services with `log_file` get `<name>.log`.
    pub log_dir: PathBuf,
    /// The last output of each service's test, for `why`.
    pub probe_outputs: ProbeOutputs,
}

pub(super) struct Shell {
    logs: Arc<LogHub>,
    log_dir: PathBuf,
    probe_outputs: ProbeOutputs,
    /// The open log file of each service with `log_file`, shared by the
    /// pipe readers of its runs (so restarts append to the same file).
    log_files: HashMap<ServiceName, (LogFileSpec, LogFile)>,
    env: Environment,
    exits_tx: mpsc::UnboundedSender<Reaped>,
    exits_rx: Option<mpsc::UnboundedReceiver<Reaped>>,
    timers_tx: mpsc::UnboundedSender<TimerFired>,
    timers_rx: Option<mpsc::UnboundedReceiver<TimerFired>>,
    pub shutdown_complete: Option<ShutdownMode>,
}

impl Shell {
    pub fn new(sinks: OutputSinks, env: Environment) -> Shell {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (timers_tx, timers_rx) = mpsc::unbounded_channel();
        Shell {
            logs: sinks.logs,
            log_dir: sinks.log_dir,
            probe_outputs: sinks.probe_outputs,
            log_files: HashMap::new(),
            env,
            exits_tx,
            exits_rx: Some(exits_rx),
            timers_tx,
            timers_rx: Some(timers_rx),
            shutdown_complete: None,
        }
    }

    pub fn take_exit_receiver(&mut self) -> mpsc::UnboundedReceiver<Reaped> {
        self.exits_rx.take().unwrap_or_else(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            self.exits_tx = tx;
            rx
        })
    }

    pub fn take_timer_receiver(&mut self) -> mpsc::UnboundedReceiver<TimerFired> {
        self.timers_rx.take().unwrap_or_else(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            self.timers_tx = tx;
            rx
        })
    }

    /// Carry out one effect; a spawn returns its result as the next input.
    pub fn execute(
        &mut self,
        effect: Effect,
        replies: &mut Vec<(ReplyTo, Result<(), CommandError>)>,
    ) -> Option<Input> {
        match effect {
            Effect::Spawn {
                service,
                kind,
                spec,
            } => Some(self.spawn(service, kind, &spec)),
            Effect::Signal { pid, signal, scope } => {
                let scope = match scope {
                    SignalScope::Process => Scope::Process,
                    SignalScope::Group => Scope::Group,
                };
                if let Err(e) = process::signal(pid, signal, scope) {
                    self.daemon_log(LogLevel::Error, format!("{e}"));
                }
                None
            }
            Effect::KillGroupRemnants { pgid } => {
                if process::kill_group_remnants(pgid) {
                    self.daemon_log(
                        LogLevel::Info,
                        format!("killed processes left behind in group {pgid}"),
                    );
                }
                None
            }
            Effect::SetTimer {
                service,
                generation,
                after,
            } => {
                let tx = self.timers_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    // The actor may be gone (shutdown); then nobody cares.
                    let _ = tx.send((service, generation));
                });
                None
            }
            Effect::Reply { to, result } => {
                replies.push((to, result));
                None
            }
            Effect::Log { level, message } => {
                self.daemon_log(level, message);
                None
            }
            Effect::ShutdownComplete(mode) => {
                self.shutdown_complete = Some(mode);
                None
            }
        }
    }

    fn spawn(&mut self, service: ServiceName, kind: RunKind, spec: &ServiceSpec) -> Input {
        let (command, output) = match kind {
            RunKind::Main => (
                &spec.exec,
                match spec.log {
                    LogMode::Ring => Output::Capture,
                    LogMode::Stdout => Output::Inherit,
                    LogMode::Null => Output::Null,
                },
            ),
            // Kept for `why`, never in the ring (see probe_output).
            RunKind::Probe => match &spec.test {
                Some(test) => (test, Output::Capture),
                None => {
                    return spawn_result(service, kind, Err("service has no test".to_owned()));
                }
            },
        };
        let env = self.env.for_service(spec);
        let request = SpawnRequest {
            argv: &command.argv,
            env: &env,
            dir: &spec.dir,
            output,
        };
        let result = match process::spawn(&request, &self.exits_tx) {
            Ok(spawned) if kind == RunKind::Probe => {
                let (out, err) = (spawned.stdout, spawned.stderr);
                self.probe_outputs.capture(service.to_string(), out, err);
                Ok(spawned.pid)
            }
            Ok(spawned) => {
                let file = self.log_file(&service, spec);
                // Before the pipe readers start: the marker precedes
                // anything the service prints.
                let marker = self.daemon_log(
                    LogLevel::Info,
                    format!("service {service} started (pid {})", spawned.pid),
                );
                if let Some(file) = &file {
                    file.write(&marker);
                }
                let name: Arc<str> = Arc::from(service.as_str());
                if let Some(fd) = spawned.stdout {
                    let (hub, file) = (self.logs.clone(), file.clone());
                    spawn_pipe_reader(hub, name.clone(), Stream::Stdout, fd, file);
                }
                if let Some(fd) = spawned.stderr {
                    spawn_pipe_reader(self.logs.clone(), name, Stream::Stderr, fd, file);
                }
                Ok(spawned.pid)
            }
            Err(e) => Err(e.to_string()),
        };
        spawn_result(service, kind, result)
    }

    /// The log file a run of `service` writes to, if its spec asks for one
    /// and its output is captured; opened once and kept across restarts
    /// (reopened if the settings changed).
    fn log_file(&mut self, service: &ServiceName, spec: &ServiceSpec) -> Option<LogFile> {
        let settings = match (spec.log_file, spec.log) {
            (Some(settings), LogMode::Ring) => settings,
            _ => {
                // Dropping ours lets the writer thread end with the runs.
                self.log_files.remove(service);
                return None;
            }
        };
        if let Some((open_with, file)) = self.log_files.get(service) {
            if *open_with == settings {
                return Some(file.clone());
            }
        }
        let file = LogFile::open(
            &self.log_dir,
            service.as_str(),
            settings.max_size,
            settings.keep,
            self.logs.clone(),
        );
        self.log_files
            .insert(service.clone(), (settings, file.clone()));
        Some(file)
    }

    /// zinit's own messages go to its log output and to the ring.
    fn daemon_log(&self, level: LogLevel, message: String) -> Arc<LogLine> {
        match level {
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
        let stream = match level {
            LogLevel::Info => Stream::Stdout,
            LogLevel::Warn | LogLevel::Error => Stream::Stderr,
        };
        self.logs.push("zinit", stream, message)
    }
}

fn spawn_result(service: ServiceName, kind: RunKind, result: Result<i32, String>) -> Input {
    Input::SpawnResult {
        service,
        kind,
        result,
    }
}
