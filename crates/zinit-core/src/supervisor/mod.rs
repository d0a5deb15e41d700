//! The supervisor: all service state, one owner, one pure step function.
//!
//! `Supervisor::handle(now, input)` decides; it returns the [`Effect`]s the
//! shell must carry out. It never blocks, never reads a clock and never
//! touches a process: that is what makes every policy here (dependencies,
//! restarts, back-off, stop escalation, shutdown order) testable with a
//! fake clock and no processes. The per-service transition table is in
//! `docs/state-machine.md`.
//!
//! Must not: perform I/O, sleep, or keep a pid after its exit was reported.

mod bindings;
mod lifecycle;
mod restarts;
mod service;
mod shutdown;
mod snapshot;
#[cfg(test)]
mod tests;
mod types;
mod why;

pub use service::Phase;
pub use snapshot::{ServiceView, Snapshot};
pub use types::*;
pub use why::{format_elapsed, why, Why};

use crate::graph;
use crate::name::ServiceName;
use service::Service;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// The owner of all service state.
#[derive(Debug, Default)]
pub struct Supervisor {
    services: BTreeMap<ServiceName, Service>,
    /// Every live pid the supervisor started: main runs and probes.
    pids: HashMap<Pid, (ServiceName, RunKind)>,
    /// Services in a dependency cycle -> the cycle, as a message.
    cycles: BTreeMap<ServiceName, String>,
    shutdown: Option<ShutdownMode>,
    /// `ShutdownComplete` was emitted (once).
    shutdown_reported: bool,
    /// The `after` graph frozen when the shutdown began.
    stop_order: shutdown::StopOrder,
    /// The last timer generation handed out. Generations are unique across
    /// all services and their incarnations: the shell never cancels a
    /// timer, so one armed for a service that was since forgotten and
    /// monitored again must still be recognised as stale.
    timer_seq: u64,
    /// Services SIGKILLed at their timeout during the shutdown.
    forced_stops: std::collections::BTreeSet<ServiceName>,
    /// The service end whose `failure_action` or `success_action` began
    /// the shutdown, if one did.
    cause: Option<ShutdownCause>,
    /// Some monitored service uses `requires` or `conflicts`.
    has_bindings: bool,
    /// Services whose bindings were applied in this step: each once, so
    /// contradictory ones (b requires c, c conflicts with b) settle instead
    /// of starting and stopping each other without end.
    bound_in_step: std::collections::BTreeSet<ServiceName>,
    effects: Vec<Effect>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Decide what `input` means at time `now`.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Effect> {
        self.bound_in_step.clear();
        match input {
            Input::Command { reply, command } => {
                let result = self.command(now, reply, command);
                if let Some(result) = result {
                    self.effects.push(Effect::Reply { to: reply, result });
                }
            }
            Input::SpawnResult {
                service,
                kind,
                result,
            } => self.spawn_result(now, &service, kind, result),
            Input::Exited { pid, status, oom } => self.exited(now, pid, status, oom),
            Input::TimerFired {
                service,
                generation,
            } => self.timer_fired(now, &service, generation),
        }
        self.start_unblocked(now);
        self.advance_deferred_stops();
        self.advance_shutdown();
        std::mem::take(&mut self.effects)
    }

    /// Services that had to be SIGKILLed at their `shutdown_timeout` during
    /// the shutdown (a container's exit status reports them).
    pub fn forced_stops(&self) -> Vec<ServiceName> {
        self.forced_stops.iter().cloned().collect()
    }

    /// What began the shutdown, when a service's end action did: a
    /// container or daemon exits with its status.
    pub fn shutdown_cause(&self) -> Option<&ShutdownCause> {
        self.cause.as_ref()
    }

    /// Carry out a command. `None` means the reply is deferred (restart
    /// answers once the old process is gone).
    fn command(
        &mut self,
        now: Instant,
        reply: ReplyTo,
        command: Command,
    ) -> Option<Result<(), CommandError>> {
        if self.shutdown.is_some() {
            // A repeated shutdown request is harmless; anything else is late.
            return Some(match command {
                Command::Shutdown(_) => Ok(()),
                _ => Err(CommandError::ShuttingDown),
            });
        }
        match command {
            Command::Monitor { name, spec } => Some(self.monitor(name, spec)),
            Command::Forget(name) => Some(self.forget(&name)),
            Command::Start(name) => Some(self.start(now, &name)),
            Command::Stop(name) => Some(self.stop(&name)),
            Command::Restart(name) => self.restart(now, reply, &name),
            Command::Kill(name, signal) => Some(self.kill(&name, signal)),
            Command::Shutdown(mode) => {
                self.begin_shutdown(mode);
                Some(Ok(()))
            }
        }
    }

    fn monitor(
        &mut self,
        name: ServiceName,
        spec: std::sync::Arc<crate::spec::ServiceSpec>,
    ) -> Result<(), CommandError> {
        if self.services.contains_key(&name) {
            return Err(CommandError::AlreadyMonitored(name));
        }
        self.services.insert(name.clone(), Service::new(spec));
        self.recompute_bindings();
        self.log(LogLevel::Info, format!("monitoring service {name}"));
        if self.may_close_cycle(&name) {
            self.recompute_cycles(Some(&name));
        }
        // `start_unblocked` at the end of this step starts it if it can.
        Ok(())
    }

    fn forget(&mut self, name: &ServiceName) -> Result<(), CommandError> {
        let svc = self.service(name)?;
        if svc.target == Target::Up || svc.phase.has_process() {
            return Err(CommandError::IsUp(name.clone()));
        }
        self.services.remove(name);
        // Nothing can start it again: what it held down stays down.
        for other in self.services.values_mut() {
            other.held_by.remove(name);
        }
        self.recompute_bindings();
        self.effects.push(Effect::Forgotten {
            service: name.clone(),
        });
        self.log(LogLevel::Info, format!("forgot service {name}"));
        self.recompute_cycles(None);
        Ok(())
    }

    fn service(&self, name: &ServiceName) -> Result<&Service, CommandError> {
        self.services
            .get(name)
            .ok_or_else(|| CommandError::NotFound(name.clone()))
    }

    fn log(&mut self, level: LogLevel, message: String) {
        self.effects.push(Effect::Log { level, message });
    }

    /// Arm the single timer slot of a service; earlier timers go stale.
    fn set_timer(&mut self, name: &ServiceName, after: std::time::Duration) {
        if let Some(svc) = self.services.get_mut(name) {
            self.timer_seq += 1;
            svc.timer_generation = self.timer_seq;
            self.effects.push(Effect::SetTimer {
                service: name.clone(),
                generation: svc.timer_generation,
                after,
            });
        }
    }

    /// Invalidate any pending timer of a service.
    fn cancel_timer(&mut self, name: &ServiceName) {
        if let Some(svc) = self.services.get_mut(name) {
            // A generation no timer carries.
            self.timer_seq += 1;
            svc.timer_generation = self.timer_seq;
        }
    }

    /// Whether monitoring `name` (just inserted) can have put it in a
    /// dependency cycle. Every edge the new service brings touches it, so
    /// any new cycle runs through it, which needs an edge out of it to a
    /// monitored service and one into it from a monitored service. Without
    /// either, the cycles are exactly what they were and the search over
    /// the whole graph can be skipped.
    fn may_close_cycle(&self, name: &ServiceName) -> bool {
        let Some(svc) = self.services.get(name) else {
            return false;
        };
        // Without building lists: this runs for every monitor at boot.
        let orders_after = |spec: &crate::spec::ServiceSpec, dep: &ServiceName| {
            spec.after.contains(dep) || spec.requires.contains(dep) || spec.wants.contains(dep)
        };
        let has_edge_out = [&svc.spec.after, &svc.spec.requires, &svc.spec.wants]
            .into_iter()
            .flatten()
            .any(|d| self.services.contains_key(d));
        has_edge_out && self.services.values().any(|s| orders_after(&s.spec, name))
    }

    /// Recompute which services sit in dependency cycles; log the cycles
    /// that involve `changed` (a service just monitored).
    fn recompute_cycles(&mut self, changed: Option<&ServiceName>) {
        // Every ordering edge: `after`, `requires` and `wants`.
        let deps: Vec<(&ServiceName, Vec<ServiceName>)> = self
            .services
            .iter()
            .map(|(n, s)| (n, s.spec.ordering_deps()))
            .collect();
        let edges: graph::Edges<'_> = deps.iter().map(|(n, d)| (*n, d.as_slice())).collect();
        let found = graph::cycle_groups(&edges);
        let mut cycles = BTreeMap::new();
        let mut messages = Vec::new();
        for group in &found {
            let text = format!("dependency cycle: {}", graph::describe_cycle(&group.path));
            if changed.is_some_and(|c| group.members.contains(c)) {
                messages.push(text.clone());
            }
            // Every member of the group, not only those on the path shown:
            // a shutdown relies on knowing all of them (none waits on
            // another member, so a cycle never hangs it).
            for member in &group.members {
                cycles.insert(member.clone(), text.clone());
            }
        }
        self.cycles = cycles;
        for m in messages {
            self.log(LogLevel::Error, m);
        }
    }

    /// Whether `dep` is in the state its dependents wait for: a oneshot
    /// must have succeeded (and not be running again: its state still says
    /// Success while a restart spawns it anew), a long-running service must
    /// be running.
    fn satisfies_dependents(&self, dep: &ServiceName) -> bool {
        self.services.get(dep).is_some_and(|d| {
            if d.spec.oneshot {
                d.state == State::Success && d.phase == Phase::Idle
            } else {
                d.state == State::Running && d.phase.has_process()
            }
        })
    }

    /// Why a service that wants to start cannot, in words; `None` if it can.
    fn blocker(&self, name: &ServiceName) -> Option<String> {
        if let Some(cycle) = self.cycles.get(name) {
            return Some(cycle.clone());
        }
        let svc = self.services.get(name)?;
        let hard = svc.spec.hard_deps();
        let wanted = svc.spec.wants.iter().filter(|w| !hard.contains(w));
        let waiting: Vec<String> = hard
            .iter()
            .filter(|dep| !self.satisfies_dependents(dep))
            .chain(wanted.filter(|dep| self.wanted_is_starting(dep)))
            .map(|dep| match self.services.get(dep) {
                None => format!("{dep} (not monitored)"),
                Some(d) => format!("{dep} ({})", d.state),
            })
            .collect();
        if waiting.is_empty() {
            None
        } else {
            Some(format!("waiting for {}", waiting.join(", ")))
        }
    }
}
