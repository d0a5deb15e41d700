//! One service's record inside the supervisor.

use super::types::{ExitRecord, GaveUp, NextStart, Pid, State, Target, TestRecord};
use crate::backoff::Backoff;
use crate::spec::ServiceSpec;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// Where a service is in its life, beyond the wire [`State`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No process and nothing scheduled.
    Idle,
    /// Target Up; waiting for dependencies (or for a cycle to be broken).
    Blocked,
    /// Target Up; a restart timer is pending.
    BackingOff,
    /// The shell was asked to spawn; its result is the very next input.
    Starting,
    /// The process is alive (since `Service::run_since`, which outlives
    /// this phase into `Stopping`).
    Up { pid: Pid, probe: Probe },
    /// The stop signal was sent; waiting for the process to exit.
    Stopping { pid: Pid, then_start: bool },
}

impl Phase {
    pub fn has_process(&self) -> bool {
        matches!(self, Phase::Up { .. } | Phase::Stopping { .. })
    }

    /// The phase's name, as `docs/state-machine.md` writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "Idle",
            Phase::Blocked => "Blocked",
            Phase::BackingOff => "BackingOff",
            Phase::Starting => "Starting",
            Phase::Up { .. } => "Up",
            Phase::Stopping { .. } => "Stopping",
        }
    }

    pub fn pid(&self) -> Option<Pid> {
        match self {
            Phase::Up { pid, .. } | Phase::Stopping { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

/// The health check of a live run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// No test, the test passed, or it cannot run: nothing to do.
    Idle,
    /// Waiting for the interval timer before the next test run.
    Waiting,
    /// A test run is in flight (its timeout timer is armed).
    Running(Pid),
}

#[derive(Debug)]
pub(super) struct Service {
    pub spec: Arc<ServiceSpec>,
    pub target: Target,
    pub state: State,
    pub phase: Phase,
    pub timer_generation: u64,
    pub backoff: Backoff,
    /// Automatic restarts since monitored: starts zinit made on its own
    /// after the process ended or could not be spawned (a back-off timer
    /// firing, or the immediate restart after a stable run). Operator
    /// starts and restarts do not count.
    pub restarts: u32,
    /// Start of the current run, while it has a process.
    pub run_since: Option<Instant>,
    /// How the last run ended.
    pub last_exit: Option<ExitRecord>,
    /// The pending restart, while backing off.
    pub next_start: Option<NextStart>,
    /// The last `test` result (of this run or an earlier one).
    pub last_test: Option<TestRecord>,
    /// A probe killed at its `test_timeout`, whose exit is still due.
    pub timed_out_probe: Option<Pid>,
    /// Replies owed to `restart` callers, sent once the old run is gone.
    pub restart_waiters: Vec<super::ReplyTo>,
    /// When each automatic restart within the crash-loop window was
    /// decided, oldest first (only with `restart.max_restarts`).
    pub recent_restarts: VecDeque<Instant>,
    /// zinit gave up restarting it (crash-loop limit).
    pub gave_up: Option<GaveUp>,
    /// Services it `requires` whose stop or failure stopped it; it starts
    /// again once none is left (each removed when it starts again). A
    /// start or restart of the service itself clears them all.
    pub held_by: std::collections::BTreeSet<crate::name::ServiceName>,
    /// Stopped by an operator while services that require it still run:
    /// its stop signal waits until they are gone.
    pub stop_after_requirers: bool,
}

impl Service {
    pub fn new(spec: Arc<ServiceSpec>) -> Service {
        Service {
            // `autostart: false` waits Down for an operator's start.
            target: if spec.autostart {
                Target::Up
            } else {
                Target::Down
            },
            spec,
            state: State::Unknown,
            phase: Phase::Idle,
            timer_generation: 0,
            backoff: Backoff::default(),
            restarts: 0,
            run_since: None,
            last_exit: None,
            next_start: None,
            last_test: None,
            timed_out_probe: None,
            restart_waiters: Vec::new(),
            recent_restarts: VecDeque::new(),
            gave_up: None,
            held_by: std::collections::BTreeSet::new(),
            stop_after_requirers: false,
        }
    }
}
