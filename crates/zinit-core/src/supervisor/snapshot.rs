//! The immutable view of all services published after each step, so reads
//! (list, status) never wait on the supervisor.

use super::service::Phase;
use super::types::*;
use super::Supervisor;
use crate::name::ServiceName;
use crate::spec::ServiceSpec;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    pub restarts: u32,
    pub phase: Phase,
}

/// All services at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub services: BTreeMap<ServiceName, ServiceView>,
    pub shutting_down: bool,
}

impl Supervisor {
    pub fn snapshot(&self) -> Snapshot {
        let services = self
            .services
            .iter()
            .map(|(name, svc)| {
                let after = svc
                    .spec
                    .after
                    .iter()
                    .map(|dep| (dep.clone(), self.services.get(dep).map(|d| d.state.clone())))
                    .collect();
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
                };
                (name.clone(), view)
            })
            .collect();
        Snapshot {
            services,
            shutting_down: self.shutdown.is_some(),
        }
    }
}
