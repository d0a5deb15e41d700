//! The immutable view of all services published after each step, so reads
//! (list, status) never wait on the supervisor.

use super::service::Phase;
use super::types::*;
use super::Supervisor;
use crate::name::ServiceName;
use crate::spec::ServiceSpec;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// One service as readers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceView {
    pub state: State,
    pub target: Target,
    /// The main process, while one exists.
    pub pid: Option<Pid>,
    /// Each dependency with its state (`None`: not monitored).
    pub after: Vec<(ServiceName, Option<State>)>,
    /// Why it is blocked, in words.
    pub reason: Option<String>,
    pub spec: Arc<ServiceSpec>,
    /// Automatic restarts since monitored: starts zinit made on its own
    /// after the process ended or could not be spawned. Operator starts
    /// and restarts do not count.
    pub restarts: u32,
    pub phase: Phase,
    /// Start of the current run, while it has a process (Up, Stopping).
    pub up_since: Option<Instant>,
    /// How the last run ended (kept across later runs until the next exit).
    pub last_exit: Option<ExitRecord>,
    /// While backing off: the delay chosen and when the timer fires.
    pub next_start: Option<NextStart>,
    /// The result of the last `test` run, if any ever finished.
    pub last_test: Option<TestRecord>,
    /// zinit gave up restarting it (`restart.max_restarts`), until the
    /// operator starts it again.
    pub gave_up: Option<GaveUp>,
    /// `requires`, `wants` and `conflicts`, each with its state (`None`:
    /// not monitored).
    pub requires: Vec<(ServiceName, Option<State>)>,
    pub wants: Vec<(ServiceName, Option<State>)>,
    pub conflicts: Vec<(ServiceName, Option<State>)>,
    /// Required services whose stop or failure stopped it; it starts again
    /// with them.
    pub held_by: Vec<ServiceName>,
}

/// All services at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub services: BTreeMap<ServiceName, ServiceView>,
    pub shutting_down: bool,
    /// The service end that began the shutdown, if one did.
    pub shutdown_cause: Option<ShutdownCause>,
}

impl Supervisor {
    pub fn snapshot(&self) -> Snapshot {
        let services = self
            .services
            .iter()
            .map(|(name, svc)| {
                let with_states = |names: &[ServiceName]| -> Vec<(ServiceName, Option<State>)> {
                    names
                        .iter()
                        .map(|dep| (dep.clone(), self.services.get(dep).map(|d| d.state.clone())))
                        .collect()
                };
                let after = with_states(&svc.spec.after);
                let reason = match svc.phase {
                    Phase::Blocked => self.blocker(name),
                    _ => None,
                };
                let view = ServiceView {
                    state: svc.state.clone(),
                    target: svc.target,
                    pid: svc.phase.pid(),
                    after,
                    reason,
                    spec: svc.spec.clone(),
                    restarts: svc.restarts,
                    phase: svc.phase.clone(),
                    up_since: svc.run_since.filter(|_| svc.phase.has_process()),
                    last_exit: svc.last_exit.clone(),
                    next_start: svc.next_start.filter(|_| svc.phase == Phase::BackingOff),
                    last_test: svc.last_test.clone(),
                    gave_up: svc.gave_up,
                    requires: with_states(&svc.spec.requires),
                    wants: with_states(&svc.spec.wants),
                    conflicts: with_states(&svc.spec.conflicts),
                    held_by: svc.held_by.iter().cloned().collect(),
                };
                (name.clone(), view)
            })
            .collect();
        Snapshot {
            services,
            shutting_down: self.shutdown.is_some(),
            shutdown_cause: self.cause.clone(),
        }
    }
}
