//! Carrying out the supervisor's effects: spawning, signalling, timers,
//! replies and log lines. Everything here returns at once.

use super::launcher::Launcher;
use super::TimerFired;
use crate::logs::{spawn_pipe_reader, LogFile, LogHub, LogLine, Stream};
use crate::probe_output::ProbeOutputs;
use crate::process::cgroup::{self, Cgroups};
use crate::process::limits::{self, without_cgroups, LimitReports, NotApplied};
use crate::process::{identity, stop, Output, Reaped, Scope, SpawnError, SpawnRequest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;
use zinit_core::exit::Oom;
use zinit_core::name::ServiceName;
use zinit_core::signal::Signal;
use zinit_core::spec::{LogFileSpec, LogMode, ServiceSpec};
use zinit_core::supervisor::{
    CommandError, Effect, Input, LogLevel, ReplyTo, RunKind, ShutdownMode, SignalScope,
};

/// The environment every service starts from: zinit's own, overlaid with
/// `/etc/environment` (re-read when it changes), the account's variables
/// (with `user`), the service's `env_file` files (read at every start) and
/// the file's `env`.
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

    /// The complete environment for a service, `account` being the
    /// variables of its user. A stat per spawn keeps `/etc/environment`
    /// fresh without reading it every time; `env_file` files are read at
    /// every spawn (small, bounded), and one that cannot be used fails it.
    fn for_service(
        &mut self,
        spec: &ServiceSpec,
        account: &[(String, String)],
    ) -> Result<Vec<(String, String)>, String> {
        let mut merged: std::collections::BTreeMap<String, String> =
            self.base.iter().cloned().collect();
        merged.extend(self.file_vars());
        merged.extend(account.iter().cloned());
        for file in &spec.env_file {
            merged.extend(crate::config_dir::read_env_file(file)?);
        }
        merged.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(merged.into_iter().collect())
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
    /// Where each service gets its cgroup; `None`: process groups only.
    pub cgroups: Option<Arc<Cgroups>>,
    /// What each service's last run lacked of its `resources`, for
    /// `status` and `why`.
    pub limit_reports: LimitReports,
}

pub(super) struct Shell {
    logs: Arc<LogHub>,
    log_dir: PathBuf,
    probe_outputs: ProbeOutputs,
    /// The open log file of each service with `log_file`, shared by the
    /// pipe readers of its runs (so restarts append to the same file).
    log_files: HashMap<ServiceName, (LogFileSpec, LogFile)>,
    env: Environment,
    cgroups: Option<Arc<Cgroups>>,
    /// The cgroup of each live main process that runs in one, by pid:
    /// signals the core sends to its group go to the whole cgroup.
    main_cgroups: HashMap<i32, (ServiceName, PathBuf)>,
    /// For each live main process whose memory is limited: the cgroup with
    /// the OOM kill counter and its value when the run started.
    oom_counters: HashMap<i32, (PathBuf, u64)>,
    /// Limits of each service that its last run could not have.
    limit_reports: LimitReports,
    exits_tx: mpsc::UnboundedSender<Reaped>,
    exits_rx: Option<mpsc::UnboundedReceiver<Reaped>>,
    timers_tx: mpsc::UnboundedSender<TimerFired>,
    timers_rx: Option<mpsc::UnboundedReceiver<TimerFired>>,
    pub shutdown_complete: Option<ShutdownMode>,
    /// Real processes, or a test's fake.
    launcher: Box<dyn Launcher>,
}

impl Shell {
    pub fn new(sinks: OutputSinks, env: Environment, launcher: Box<dyn Launcher>) -> Shell {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (timers_tx, timers_rx) = mpsc::unbounded_channel();
        Shell {
            logs: sinks.logs,
            log_dir: sinks.log_dir,
            probe_outputs: sinks.probe_outputs,
            log_files: HashMap::new(),
            env,
            cgroups: sinks.cgroups,
            main_cgroups: HashMap::new(),
            oom_counters: HashMap::new(),
            limit_reports: sinks.limit_reports,
            exits_tx,
            exits_rx: Some(exits_rx),
            timers_tx,
            timers_rx: Some(timers_rx),
            shutdown_complete: None,
            launcher,
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
                if scope == Scope::Group && self.signal_cgroup(pid, signal) {
                    return None;
                }
                if let Err(e) = self.launcher.signal(pid, signal, scope) {
                    self.daemon_log(LogLevel::Error, format!("{e}"));
                }
                None
            }
            Effect::KillGroupRemnants { pgid } => {
                let in_cgroup = self.kill_cgroup_remnants(pgid);
                if self.launcher.kill_group_remnants(pgid) && !in_cgroup {
                    self.daemon_log(
                        LogLevel::Info,
                        format!("killed processes left behind in group {pgid}"),
                    );
                }
                None
            }
            Effect::KillLeftovers { service } => {
                self.kill_leftovers(&service);
                None
            }
            Effect::MainGone { pid, .. } => {
                self.main_cgroups.remove(&pid);
                self.oom_counters.remove(&pid);
                None
            }
            Effect::Forgotten { service } => {
                self.limit_reports.forget(service.as_str());
                if let Some(cgroups) = &self.cgroups {
                    cgroups.forget(service.as_str());
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
        // Looked up and read at every start: a fixed account, or a changed
        // env_file, is picked up by the next run.
        let prepared = identity::prepare(spec)
            .and_then(|(setup, account)| Ok((setup, self.env.for_service(spec, &account)?)));
        let (setup, env) = match prepared {
            Ok(prepared) => prepared,
            Err(reason) => return spawn_result(service, kind, Err(reason)),
        };
        let request = SpawnRequest {
            argv: &command.argv,
            env: &env,
            dir: &spec.dir,
            output,
        };
        let placed = self.service_cgroup(&service, spec, kind);
        let cgroups: Vec<PathBuf> = placed
            .iter()
            .flat_map(|p| std::iter::once(p.dir.clone()).chain(p.join.iter().cloned()))
            .collect();
        let spawned = match self
            .launcher
            .spawn(&request, &setup, &cgroups, &self.exits_tx)
        {
            Err(SpawnError::Cgroup { dir, errno }) => {
                // Never a reason not to supervise: run it outside.
                let e = SpawnError::Cgroup { dir, errno };
                self.daemon_log(
                    LogLevel::Warn,
                    format!("service {service}: {e}; starting it without a cgroup"),
                );
                self.launcher.spawn(&request, &setup, &[], &self.exits_tx)
            }
            Ok(spawned) => {
                if let (RunKind::Main, Some(placed)) = (kind, placed) {
                    if let Some(counter) = placed.oom_counter {
                        self.oom_counters.insert(spawned.pid, counter);
                    }
                    self.main_cgroups
                        .insert(spawned.pid, (service.clone(), placed.dir));
                }
                Ok(spawned)
            }
            other => other,
        };
        let result = match spawned {
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

    /// The cgroups a run of `service` joins, created if needed, with its
    /// `resources` in force; `None` without cgroups or if it cannot be
    /// made (said once per spawn). What of its limits is not in force is
    /// recorded for `status` and `why`, and logged when that changes.
    fn service_cgroup(
        &self,
        service: &ServiceName,
        spec: &ServiceSpec,
        kind: RunKind,
    ) -> Option<Placed> {
        let Some(cgroups) = self.cgroups.as_ref() else {
            if kind == RunKind::Main {
                let missing = without_cgroups(&spec.resources);
                self.report_limits(service, missing);
            }
            return None;
        };
        match cgroups.prepare_run(service.as_str(), &spec.resources) {
            Ok((dir, prepared)) => {
                if kind == RunKind::Main {
                    self.report_limits(service, prepared.not_applied);
                }
                let counter_dir = prepared.v1_memory.clone().or_else(|| {
                    (spec.resources.memory_max.is_some() && prepared.v1_memory.is_none())
                        .then(|| dir.clone())
                });
                let oom_counter = counter_dir.and_then(|d| {
                    crate::process::limits::oom_kills(&d)
                        .ok()
                        .map(|count| (d, count))
                });
                Some(Placed {
                    dir,
                    join: prepared.join,
                    oom_counter,
                })
            }
            Err(e) => {
                self.daemon_log(
                    LogLevel::Warn,
                    format!(
                        "service {service}: cannot create cgroup {}: {e}; starting it without one",
                        cgroups.service_dir(service.as_str()).display()
                    ),
                );
                None
            }
        }
    }

    /// A group signal to a main process that runs in a cgroup goes to every
    /// process of the cgroup (SIGKILL through `cgroup.kill`). `false`: not
    /// in a cgroup, or its leader is no longer in it; signal the group.
    fn signal_cgroup(&self, pid: i32, signal: Signal) -> bool {
        let Some((service, dir)) = self.main_cgroups.get(&pid) else {
            return false;
        };
        match stop::signal_cgroup(dir, signal) {
            Ok(pids) if pids.contains(&pid) => true,
            Ok(_) => false,
            Err(e) => {
                self.daemon_log(
                    LogLevel::Error,
                    format!(
                        "service {service}: cannot send {signal} to cgroup {}: {e}",
                        dir.display()
                    ),
                );
                false
            }
        }
    }

    /// The leader of a stopped service exited: SIGKILL what is left in its
    /// cgroup, and check off the actor (bounded) that it died. Whether the
    /// service runs in a cgroup.
    fn kill_cgroup_remnants(&self, pgid: i32) -> bool {
        let Some((service, dir)) = self.main_cgroups.get(&pgid) else {
            return false;
        };
        match stop::signal_cgroup(dir, Signal::Kill) {
            Ok(pids) if pids.is_empty() => {}
            Ok(pids) => {
                self.daemon_log(
                    LogLevel::Info,
                    format!(
                        "killed {} process(es) left behind in the cgroup of service {service}",
                        pids.len()
                    ),
                );
                watch_remnants(service.clone(), dir.clone(), pids, self.logs.clone());
            }
            Err(e) => {
                self.daemon_log(
                    LogLevel::Error,
                    format!(
                        "service {service}: cannot kill what is left in cgroup {}: {e}",
                        dir.display()
                    ),
                );
            }
        }
        true
    }

    /// The exit of `pid` was handled: it is no longer a main process.
    /// A stop reached `service`, whose main process had already ended on
    /// its own (the core decided, [`Effect::KillLeftovers`]): what it left
    /// in its cgroup is killed now, so nothing of a stopped service
    /// survives its stop. Without cgroups there is nothing to find: the
    /// process group went with its leader.
    fn kill_leftovers(&mut self, service: &ServiceName) {
        let Some(cgroups) = &self.cgroups else {
            return;
        };
        let dir = cgroups.service_dir(service.as_str());
        if !cgroup::populated(&dir).unwrap_or(false) {
            return;
        }
        match stop::signal_cgroup(&dir, Signal::Kill) {
            Ok(pids) if pids.is_empty() => {}
            Ok(pids) => {
                self.daemon_log(
                    LogLevel::Info,
                    format!(
                        "killed {} process(es) service {service} left behind in its cgroup",
                        pids.len()
                    ),
                );
                watch_remnants(service.clone(), dir, pids, self.logs.clone());
            }
            Err(e) => {
                self.daemon_log(
                    LogLevel::Error,
                    format!(
                        "service {service}: cannot kill what is left in cgroup {}: {e}",
                        dir.display()
                    ),
                );
            }
        }
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

/// Where a run goes: its cgroup2 directory, the v1 cgroups it joins for
/// limits, and its OOM kill counter with the count before the run.
struct Placed {
    dir: PathBuf,
    join: Vec<PathBuf>,
    oom_counter: Option<(PathBuf, u64)>,
}

impl Shell {
    /// Record what of `service`'s limits its new run lacks; say so in
    /// zinit's log when that changed since the last run.
    fn report_limits(&self, service: &ServiceName, missing: Vec<NotApplied>) {
        let lines: Vec<String> = missing.iter().map(ToString::to_string).collect();
        if self.limit_reports.set(service.as_str(), missing) {
            for line in lines {
                self.daemon_log(LogLevel::Warn, format!("service {service}: {line}"));
            }
        }
    }

    /// The core's input for a reaped child. A main process that died of
    /// SIGKILL while its cgroup's OOM kill counter rose was certainly
    /// killed by the OOM killer; otherwise the reaper's suspicion stands.
    pub(super) fn exit_input(&mut self, reaped: Reaped) -> Input {
        let mut oom = reaped.oom;
        if let Some((dir, before)) = self.oom_counters.get(&reaped.pid) {
            let killed = reaped.status == zinit_core::exit::ExitStatus::Signaled(libc::SIGKILL);
            let rose = limits::oom_kills(dir).is_ok_and(|now| now > *before);
            if killed && rose {
                oom = Oom::Killed;
            }
        }
        Input::Exited {
            pid: reaped.pid,
            status: reaped.status,
            oom,
        }
    }
}

/// How long SIGKILLed remnants may take to disappear before zinit says so.
const REMNANTS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Off the actor: report remnants of `service` that a SIGKILL did not end
/// within [`REMNANTS_WAIT`] (a process stuck in the kernel). Nothing waits
/// for this: the stop already completed.
fn watch_remnants(service: ServiceName, dir: PathBuf, pids: Vec<i32>, logs: Arc<LogHub>) {
    let spawned = std::thread::Builder::new()
        .name("zinit-remnants".into())
        .spawn(move || {
            let left = cgroup::wait_gone(&dir, &pids, REMNANTS_WAIT);
            if !left.is_empty() {
                let message = format!(
                    "service {service}: processes {left:?} in cgroup {} survived SIGKILL for {} s \
                     (stuck in the kernel?)",
                    dir.display(),
                    REMNANTS_WAIT.as_secs()
                );
                tracing::warn!("{message}");
                logs.push("zinit", Stream::Stderr, message);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start a thread to watch killed processes: {e}");
    }
}

fn spawn_result(service: ServiceName, kind: RunKind, result: Result<i32, String>) -> Input {
    Input::SpawnResult {
        service,
        kind,
        result,
    }
}
