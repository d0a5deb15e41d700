//! `requires`, `wants` and `conflicts`: which services start and stop
//! with which.
//!
//! - Starting a service starts what it `requires` (an `autostart: false`
//!   service included) and stops what it `conflicts` with, in either
//!   direction.
//! - When a required service stops (an operator's stop) or fails for good,
//!   the services that require it are stopped first and remember why
//!   (`held_by`); when it starts again, they start again. A start or
//!   restart of a held service itself ends its hold.
//! - A `wants` dependency orders the start only while the wanted service
//!   exists and is starting.

use super::service::{Phase, Service};
use super::types::{LogLevel, State, Target};
use super::Supervisor;
use crate::name::ServiceName;
use std::time::Instant;

impl Supervisor {
    /// The names of the monitored services for which `pick` holds.
    fn services_where(&self, pick: impl Fn(&ServiceName, &Service) -> bool) -> Vec<ServiceName> {
        self.services
            .iter()
            .filter(|(n, s)| pick(n, s))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Monitored services that `require` `name`.
    pub(super) fn requirers(&self, name: &ServiceName) -> Vec<ServiceName> {
        self.services_where(|_, s| s.spec.requires.contains(name))
    }

    /// Monitored services `name` conflicts with, declared on either side.
    fn conflicting(&self, name: &ServiceName) -> Vec<ServiceName> {
        let Some(svc) = self.services.get(name) else {
            return Vec::new();
        };
        self.services_where(|other, s| {
            other != name && (svc.spec.conflicts.contains(other) || s.spec.conflicts.contains(name))
        })
    }

    /// `name` is starting: start what it requires and stop what conflicts
    /// with it.
    pub(super) fn bind_start(&mut self, now: Instant, name: &ServiceName) {
        if !self.has_bindings || !self.bound_in_step.insert(name.clone()) {
            return;
        }
        let required = self
            .services
            .get(name)
            .map(|s| s.spec.requires.clone())
            .unwrap_or_default();
        for dep in required {
            if self
                .services
                .get(&dep)
                .is_some_and(|d| d.target == Target::Down)
            {
                self.log(
                    LogLevel::Info,
                    format!("starting service {dep}: {name} requires it"),
                );
                let _ = self.start(now, &dep);
            }
        }
        // A required service that conflicts with it stopped it: it is
        // no longer starting.
        if self
            .services
            .get(name)
            .is_none_or(|s| s.target == Target::Down)
        {
            return;
        }
        for other in self.conflicting(name) {
            if self
                .services
                .get(&other)
                .is_some_and(|o| o.target == Target::Up)
            {
                self.log(
                    LogLevel::Info,
                    format!("stopping service {other}: it conflicts with {name}"),
                );
                let _ = self.stop(&other);
            }
        }
    }

    /// `name` started (its run is starting, or it waits Blocked): the
    /// services its stop or failure held down start again, and wait for it
    /// like any dependent.
    pub(super) fn release_held(&mut self, now: Instant, name: &ServiceName) {
        if !self.has_bindings {
            return;
        }
        let held = self.services_where(|_, s| s.held_by.contains(name));
        for dependent in held {
            let Some(svc) = self.services.get_mut(&dependent) else {
                continue;
            };
            svc.held_by.remove(name);
            if svc.held_by.is_empty() && svc.target == Target::Down {
                self.log(
                    LogLevel::Info,
                    format!(
                        "starting service {dependent} again: {name}, which it requires, starts"
                    ),
                );
                let _ = self.start(now, &dependent);
            }
        }
    }

    /// `name` is stopping (an operator's stop) or failed for good: stop the
    /// services that require it, remembering why.
    pub(super) fn stop_requirers(&mut self, name: &ServiceName, why: &str) {
        if !self.has_bindings {
            return;
        }
        for dependent in self.requirers(name) {
            let Some(svc) = self.services.get_mut(&dependent) else {
                continue;
            };
            // Only what was meant to run is held: one that was down already
            // stays down when `name` starts again.
            if svc.target == Target::Up {
                svc.held_by.insert(name.clone());
                self.log(
                    LogLevel::Info,
                    format!("stopping service {dependent}: it requires {name}, which {why}"),
                );
                let _ = self.stop(&dependent);
            }
        }
    }

    /// Whether a service that `requires` `name` still has a process.
    pub(super) fn requirer_runs(&self, name: &ServiceName) -> bool {
        self.requirers(name)
            .iter()
            .any(|d| self.services.get(d).is_some_and(|s| s.phase.has_process()))
    }

    /// Send the stop signal of services whose stop waited for the services
    /// that require them, once those are gone.
    pub(super) fn advance_deferred_stops(&mut self) {
        if !self.has_bindings || self.shutdown.is_some() {
            return;
        }
        let waiting = self.services_where(|_, s| s.stop_after_requirers);
        for name in waiting {
            if self.requirer_runs(&name) {
                continue;
            }
            let Some(svc) = self.services.get_mut(&name) else {
                continue;
            };
            svc.stop_after_requirers = false;
            if let Phase::Up { pid, probe } = svc.phase {
                self.send_stop(&name, pid, probe);
            }
        }
    }

    /// Whether `dep`, wanted by a service, holds that service's start: it
    /// is monitored, meant to run, and still on its way up.
    pub(super) fn wanted_is_starting(&self, dep: &ServiceName) -> bool {
        self.services.get(dep).is_some_and(|d| {
            d.target == Target::Up
                && match d.phase {
                    Phase::Blocked | Phase::Starting => true,
                    Phase::Up { .. } => d.state == State::Spawned,
                    Phase::Idle | Phase::BackingOff | Phase::Stopping { .. } => false,
                }
        })
    }

    /// Whether any monitored service uses `requires` or `conflicts` (and so
    /// whether starts and stops must look at the others at all).
    pub(super) fn recompute_bindings(&mut self) {
        self.has_bindings = self
            .services
            .values()
            .any(|s| !s.spec.requires.is_empty() || !s.spec.conflicts.is_empty());
    }
}
