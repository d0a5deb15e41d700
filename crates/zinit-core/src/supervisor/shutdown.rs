//! Ordered shutdown: dependents stop before what they depend on, services
//! with no ordering between them stop in parallel, cycles never hang it.

use super::service::Phase;
use super::types::*;
use super::Supervisor;
use crate::graph;
use crate::name::ServiceName;

impl Supervisor {
    pub(super) fn begin_shutdown(&mut self, mode: ShutdownMode) {
        self.shutdown = Some(mode);
        self.log(LogLevel::Info, format!("shutting down ({mode:?})"));
        let names: Vec<ServiceName> = self.services.keys().cloned().collect();
        for name in names {
            let Some(svc) = self.services.get_mut(&name) else {
                continue;
            };
            svc.target = Target::Down;
            match svc.phase {
                Phase::Blocked => {
                    svc.phase = Phase::Idle;
                    svc.state = State::Unknown;
                }
                Phase::BackingOff => {
                    svc.phase = Phase::Idle;
                    svc.next_start = None;
                    self.cancel_timer(&name);
                }
                Phase::Idle | Phase::Starting | Phase::Up { .. } | Phase::Stopping { .. } => {}
            }
        }
    }

    /// Stop every running service none of whose dependents still runs;
    /// report completion once nothing runs any more.
    pub(super) fn advance_shutdown(&mut self) {
        let Some(mode) = self.shutdown else {
            return;
        };
        if self.shutdown_reported {
            return;
        }
        let ready: Vec<ServiceName> = self
            .services
            .iter()
            .filter(|(_, s)| matches!(s.phase, Phase::Up { .. }))
            .map(|(n, _)| n)
            .filter(|n| !self.has_running_dependent(n))
            .cloned()
            .collect();
        for name in ready {
            if let Some(Phase::Up { pid, probe, .. }) =
                self.services.get(&name).map(|s| s.phase.clone())
            {
                self.send_stop(&name, pid, probe);
            }
        }
        let anything_left = self
            .services
            .values()
            .any(|s| s.phase.has_process() || s.phase == Phase::Starting);
        if !anything_left {
            self.shutdown_reported = true;
            self.log(LogLevel::Info, "all services are down".to_owned());
            self.effects.push(Effect::ShutdownComplete(mode));
        }
    }

    /// Whether a service that depends on `name`, directly or through
    /// services without a process (a finished oneshot, say), still has a
    /// process. Members of the same dependency cycle do not wait for each
    /// other, so a cycle can never hang a shutdown.
    fn has_running_dependent(&self, name: &ServiceName) -> bool {
        let edges: graph::Edges<'_> = self
            .services
            .iter()
            .map(|(n, s)| (n, s.spec.after.as_slice()))
            .collect();
        let my_cycle = self.cycles.get(name);
        let mut seen = std::collections::BTreeSet::from([name]);
        let mut frontier = vec![name];
        while let Some(current) = frontier.pop() {
            for dependent in graph::dependents(&edges, current) {
                if !seen.insert(dependent) {
                    continue;
                }
                if my_cycle.is_some() && self.cycles.get(dependent) == my_cycle {
                    continue;
                }
                let Some(svc) = self.services.get(dependent) else {
                    continue;
                };
                if svc.phase.has_process() || svc.phase == Phase::Starting {
                    return true;
                }
                frontier.push(dependent);
            }
        }
        false
    }
}
