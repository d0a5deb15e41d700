//! The vocabulary of the supervisor: inputs, effects, states and errors.

use crate::exit::{ExitStatus, Oom};
use crate::name::ServiceName;
use crate::signal::Signal;
use crate::spec::ServiceSpec;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A process id as the kernel reports it.
pub type Pid = i32;

/// Identifies a pending request so the shell can route the reply.
pub type ReplyTo = u64;

/// What the operator wants a service to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Up,
    Down,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Up => "Up",
            Target::Down => "Down",
        })
    }
}

/// The observed state, exactly as the wire shows it (see compat.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Monitored, never started (or stopped before it ever ran).
    Unknown,
    /// Waiting on `after` dependencies.
    Blocked,
    /// Process started; its `test` has not passed yet.
    Spawned,
    /// Running and, if it has a `test`, healthy.
    Running,
    /// Exited with code 0.
    Success,
    /// Exited non-zero or by a signal; the reason says which.
    Error(String),
    /// The `test` command could not be run.
    TestFailure(String),
    /// The process could not be spawned at all.
    Failure(String),
}

impl fmt::Display for State {
    /// `Name` or `Name(reason)`, matching `^(\w+)(?:\((.+)\))?$`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Unknown => f.write_str("Unknown"),
            State::Blocked => f.write_str("Blocked"),
            State::Spawned => f.write_str("Spawned"),
            State::Running => f.write_str("Running"),
            State::Success => f.write_str("Success"),
            State::Error(r) => write!(f, "Error({})", one_line(r)),
            State::TestFailure(r) => write!(f, "TestFailure({})", one_line(r)),
            State::Failure(r) => write!(f, "Failure({})", one_line(r)),
        }
    }
}

/// Reasons end up inside parentheses on one line: keep them parseable.
fn one_line(reason: &str) -> String {
    let cleaned: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.trim().is_empty() {
        "unknown".to_owned()
    } else {
        cleaned
    }
}

/// Which process of a service a pid belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunKind {
    /// The service's own command (`exec`).
    Main,
    /// Its health check (`test`).
    Probe,
}

/// How far a shutdown goes once every service is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Stop services and let zinit exit (not PID 1, or container mode).
    Exit,
    /// Stop services, then power the machine off (PID 1 only).
    PowerOff,
    /// Stop services, then reboot the machine (PID 1 only).
    Reboot,
}

/// Operator commands.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Monitor {
        name: ServiceName,
        spec: Arc<ServiceSpec>,
    },
    Forget(ServiceName),
    Start(ServiceName),
    Stop(ServiceName),
    Restart(ServiceName),
    Kill(ServiceName, Signal),
    Shutdown(ShutdownMode),
}

/// Everything that can happen to the supervisor.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A command; its reply is an [`Effect::Reply`] with the same `reply`.
    Command { reply: ReplyTo, command: Command },
    /// The shell's answer to [`Effect::Spawn`]; delivered before any other
    /// input, so an exit can never arrive for a pid the core does not know.
    SpawnResult {
        service: ServiceName,
        kind: RunKind,
        result: Result<Pid, String>,
    },
    /// The reaper collected a child. `oom`: whether the shell knows or
    /// suspects that the kernel's OOM killer ended it (it was SIGKILLed and
    /// the OOM kill counter of its cgroup, or the kernel's, rose); the core
    /// only records it.
    Exited {
        pid: Pid,
        status: ExitStatus,
        oom: Oom,
    },
    /// A timer set with [`Effect::SetTimer`] expired.
    TimerFired {
        service: ServiceName,
        generation: u64,
    },
}

/// How a service's last run ended. Kept until the next run ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitRecord {
    pub status: ExitStatus,
    /// When the exit was reported.
    pub at: Instant,
    /// How long the run had been up.
    pub ran_for: Duration,
    /// zinit had sent it the stop signal (stop, restart, shutdown): the
    /// exit was asked for. `false` when it ended on its own or was killed
    /// by someone else (an operator's `kill`, the kernel).
    pub stopped_by_zinit: bool,
    /// The kernel's OOM killer ended it, certainly or probably (see
    /// [`Input::Exited`]).
    pub oom: Oom,
}

/// The pending automatic restart of a service that is backing off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextStart {
    /// When the back-off timer fires.
    pub at: Instant,
    /// The delay chosen for this restart.
    pub delay: Duration,
}

/// zinit stopped restarting a service that kept ending: more than
/// `restart.max_restarts` ends within `restart.window`. Cleared by the
/// operator's `start` or `restart`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaveUp {
    /// The automatic restarts made within the window before giving up.
    pub restarts: u32,
    pub window: Duration,
    /// When zinit gave up.
    pub at: Instant,
}

/// The end of a service that took zinit down (`failure_action` or
/// `success_action`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownCause {
    pub service: ServiceName,
    /// `failure_action` or `success_action`.
    pub key: &'static str,
    pub action: crate::spec::EndAction,
    /// How it ended, in words (`exited with code 3`, `gave up after ...`).
    pub ended: String,
    /// The status a container or daemon exits with: the exit code, 128 +
    /// the signal number, or 127 when it could not be spawned.
    pub exit_code: u8,
}

impl fmt::Display for ShutdownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "service {} {} and its {} is {}",
            self.service,
            self.ended,
            self.key,
            self.action.name()
        )
    }
}

/// The result of a service's last `test` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRecord {
    /// When the result was known.
    pub at: Instant,
    pub outcome: TestOutcome,
}

/// How a `test` run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestOutcome {
    /// Exited 0.
    Passed,
    /// Exited non-zero or was killed (not by its timeout).
    Failed(ExitStatus),
    /// Still running at `test_timeout`; zinit killed it.
    TimedOut,
    /// Could not be spawned; the reason. The test is not retried.
    CannotRun(String),
}

/// Scope of a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalScope {
    /// Only the process itself.
    Process,
    /// The whole process group it leads.
    Group,
}

/// Severity of a daemon log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// What the shell must do on the supervisor's behalf.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Start a process and answer with [`Input::SpawnResult`] at once.
    Spawn {
        service: ServiceName,
        kind: RunKind,
        spec: Arc<ServiceSpec>,
    },
    /// Send a signal to a process the supervisor knows to be alive.
    Signal {
        pid: Pid,
        signal: Signal,
        scope: SignalScope,
    },
    /// SIGKILL whatever a stopped service left in its process group.
    KillGroupRemnants { pgid: Pid },
    /// A `stop` reached a service with no main process (it ended on its
    /// own: a oneshot that left a daemon behind, a crash waiting for its
    /// restart): SIGKILL what it left in its cgroup, if it has one.
    KillLeftovers { service: ServiceName },
    /// The main process `pid` of `service` was reaped: the shell drops
    /// what it kept for it (its cgroup handle).
    MainGone { service: ServiceName, pid: Pid },
    /// `service` was forgotten: the shell drops its cgroup.
    Forgotten { service: ServiceName },
    /// Deliver [`Input::TimerFired`] after `after`; any earlier timer of the
    /// same service is superseded (its generation is stale).
    SetTimer {
        service: ServiceName,
        generation: u64,
        after: Duration,
    },
    /// Answer a command.
    Reply {
        to: ReplyTo,
        result: Result<(), CommandError>,
    },
    /// A line for the daemon log.
    Log { level: LogLevel, message: String },
    /// Every service is down after a shutdown request.
    ShutdownComplete(ShutdownMode),
}

/// Why a command was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    NotFound(ServiceName),
    AlreadyMonitored(ServiceName),
    IsUp(ServiceName),
    IsDown(ServiceName),
    ShuttingDown,
}

impl fmt::Display for CommandError {
    /// These phrases are matched by deployed clients: keep them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NotFound(n) => write!(f, "service name \"{n}\" unknown"),
            CommandError::AlreadyMonitored(n) => write!(f, "service \"{n}\" already monitored"),
            CommandError::IsUp(n) => write!(f, "service \"{n}\" is up"),
            CommandError::IsDown(n) => write!(f, "service \"{n}\" is down"),
            CommandError::ShuttingDown => write!(f, "zinit is shutting down"),
        }
    }
}

impl std::error::Error for CommandError {}
