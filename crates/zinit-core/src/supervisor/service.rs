//! One service's record inside the supervisor.

use super::types::{Pid, State, Target};
use crate::backoff::Backoff;
use crate::spec::ServiceSpec;
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
    /// The process is alive.
    Up {
        pid: Pid,
        since: Instant,
        probe: Probe,
    },
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
    /// Automatic restarts since monitored.
    pub restarts: u32,
    /// Replies owed to `restart` callers, sent once the old run is gone.
    pub restart_waiters: Vec<super::ReplyTo>,
}

impl Service {
    pub fn new(spec: Arc<ServiceSpec>) -> Service {
        Service {
            spec,
            target: Target::Up,
            state: State::Unknown,
            phase: Phase::Idle,
            timer_generation: 0,
            backoff: Backoff::default(),
            restarts: 0,
            restart_waiters: Vec::new(),
        }
    }
}
