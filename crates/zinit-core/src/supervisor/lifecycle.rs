//! Per-service transitions: start, stop, restart, kill, spawn results,
//! exits and timers. Each (phase, input) pair is matched explicitly.

use super::restarts::{AfterEnd, RunEnd};
use super::service::{Phase, Probe};
use super::types::*;
use super::Supervisor;
use crate::exit::{ExitStatus, Oom};
use crate::name::ServiceName;
use crate::signal::Signal;
use std::time::{Duration, Instant};

impl Supervisor {
    pub(super) fn start(&mut self, now: Instant, name: &ServiceName) -> Result<(), CommandError> {
        let svc = self
            .services
            .get_mut(name)
            .ok_or_else(|| CommandError::NotFound(name.clone()))?;
        svc.target = Target::Up;
        svc.backoff.reset();
        // A stop still waiting for the services that require it is off.
        svc.stop_after_requirers = false;
        // Meant to run now, it is no longer held down by the services it
        // requires: a later stop of its own must not be undone when they
        // start again.
        svc.held_by.clear();
        let phase = svc.phase.clone();
        self.forget_crash_loop(name);
        match phase {
            // Running already, or already scheduled: only what it is bound
            // to may need starting or stopping.
            Phase::Up { .. } | Phase::Blocked | Phase::Starting => {
                self.bind_start(now, name);
                self.release_held(now, name);
            }
            // Start again as soon as the old run is gone.
            Phase::Stopping { pid, .. } => {
                if let Some(svc) = self.services.get_mut(name) {
                    svc.phase = Phase::Stopping {
                        pid,
                        then_start: true,
                    };
                }
            }
            // An operator start skips the remaining back-off delay.
            Phase::BackingOff => {
                self.cancel_timer(name);
                self.try_start(now, name);
            }
            Phase::Idle => self.try_start(now, name),
        }
        Ok(())
    }

    pub(super) fn stop(&mut self, name: &ServiceName) -> Result<(), CommandError> {
        let svc = self
            .services
            .get_mut(name)
            .ok_or_else(|| CommandError::NotFound(name.clone()))?;
        svc.target = Target::Down;
        let phase = svc.phase.clone();
        // Services that require it stop first.
        self.stop_requirers(name, "was stopped");
        let wait_for_requirers = self.has_bindings && self.requirer_runs(name);
        let Some(svc) = self.services.get_mut(name) else {
            return Ok(());
        };
        match phase {
            Phase::Up { .. } if wait_for_requirers => svc.stop_after_requirers = true,
            Phase::Up { pid, probe, .. } => self.send_stop(name, pid, probe),
            Phase::Stopping { pid, .. } => {
                svc.phase = Phase::Stopping {
                    pid,
                    then_start: false,
                };
            }
            Phase::BackingOff => {
                svc.phase = Phase::Idle;
                svc.next_start = None;
                self.cancel_timer(name);
                self.kill_leftovers(name);
            }
            Phase::Blocked => {
                svc.phase = Phase::Idle;
                svc.state = State::Unknown;
                self.kill_leftovers(name);
            }
            Phase::Idle => self.kill_leftovers(name),
            // The spawn result sees target Down and stops the new run.
            Phase::Starting => {}
        }
        Ok(())
    }

    /// Deferred reply: answered once the old run is gone and the new one
    /// was started (or immediately if nothing was running).
    pub(super) fn restart(
        &mut self,
        now: Instant,
        reply: ReplyTo,
        name: &ServiceName,
    ) -> Option<Result<(), CommandError>> {
        let Some(svc) = self.services.get_mut(name) else {
            return Some(Err(CommandError::NotFound(name.clone())));
        };
        svc.target = Target::Up;
        svc.backoff.reset();
        // No longer held down, as in `start`.
        svc.held_by.clear();
        let phase = svc.phase.clone();
        self.forget_crash_loop(name);
        let Some(svc) = self.services.get_mut(name) else {
            return Some(Err(CommandError::NotFound(name.clone())));
        };
        match phase {
            Phase::Up { pid, probe, .. } => {
                svc.restart_waiters.push(reply);
                self.send_stop(name, pid, probe);
                if let Some(Phase::Stopping { then_start, .. }) =
                    self.services.get_mut(name).map(|s| &mut s.phase)
                {
                    *then_start = true;
                }
                None
            }
            Phase::Stopping { pid, .. } => {
                svc.restart_waiters.push(reply);
                svc.phase = Phase::Stopping {
                    pid,
                    then_start: true,
                };
                None
            }
            Phase::BackingOff => {
                self.cancel_timer(name);
                self.try_start(now, name);
                Some(Ok(()))
            }
            Phase::Blocked | Phase::Starting => Some(Ok(())),
            Phase::Idle => {
                self.try_start(now, name);
                Some(Ok(()))
            }
        }
    }

    pub(super) fn kill(&mut self, name: &ServiceName, signal: Signal) -> Result<(), CommandError> {
        let svc = self.service(name)?;
        match svc.phase.pid() {
            Some(pid) => {
                self.effects.push(Effect::Signal {
                    pid,
                    signal,
                    scope: SignalScope::Process,
                });
                Ok(())
            }
            None => Err(CommandError::IsDown(name.clone())),
        }
    }

    /// Nothing of a stopped service survives its stop: what a run that
    /// ended on its own left behind is killed now.
    fn kill_leftovers(&mut self, name: &ServiceName) {
        self.effects.push(Effect::KillLeftovers {
            service: name.clone(),
        });
    }

    /// Send the stop signal to the group and arm the SIGKILL deadline.
    pub(super) fn send_stop(&mut self, name: &ServiceName, pid: Pid, probe: Probe) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.phase = Phase::Stopping {
            pid,
            then_start: false,
        };
        let signal = svc.spec.stop_signal;
        let timeout = svc.spec.shutdown_timeout;
        if let Probe::Running(probe_pid) = probe {
            self.abandon_probe(probe_pid);
        }
        self.log(
            LogLevel::Info,
            format!("stopping service {name} (pid {pid}) with {signal}"),
        );
        self.effects.push(Effect::Signal {
            pid,
            signal,
            scope: SignalScope::Group,
        });
        self.set_timer(name, timeout);
    }

    /// Kill a probe whose result no longer matters; its exit is ignored.
    fn abandon_probe(&mut self, probe_pid: Pid) {
        self.pids.remove(&probe_pid);
        self.effects.push(Effect::Signal {
            pid: probe_pid,
            signal: Signal::Kill,
            scope: SignalScope::Group,
        });
    }

    /// Start the service now if its dependencies allow, else block it.
    pub(super) fn try_start(&mut self, now: Instant, name: &ServiceName) {
        // Stopped meanwhile, in this very step (a service it conflicts
        // with started first): it stays down.
        if self
            .services
            .get(name)
            .is_none_or(|s| s.target == Target::Down)
        {
            return;
        }
        self.bind_start(now, name);
        if self
            .services
            .get(name)
            .is_none_or(|s| s.target == Target::Down)
        {
            return;
        }
        let blocked = self.blocker(name).is_some();
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.next_start = None;
        if blocked {
            svc.phase = Phase::Blocked;
            svc.state = State::Blocked;
        } else {
            svc.phase = Phase::Starting;
            let spec = svc.spec.clone();
            self.effects.push(Effect::Spawn {
                service: name.clone(),
                kind: RunKind::Main,
                spec,
            });
        }
        // After its own phase is set, so the dependents wait for this run.
        self.release_held(now, name);
    }

    /// Start every waiting service whose dependencies are now satisfied:
    /// blocked ones, and freshly monitored ones that never ran.
    pub(super) fn start_unblocked(&mut self, now: Instant) {
        if self.shutdown.is_some() {
            return;
        }
        let candidates: Vec<ServiceName> = self
            .services
            .iter()
            .filter(|(_, s)| s.target == Target::Up)
            .filter(|(_, s)| {
                s.phase == Phase::Blocked || (s.phase == Phase::Idle && s.state == State::Unknown)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in candidates {
            self.try_start(now, &name);
        }
    }

    pub(super) fn spawn_result(
        &mut self,
        now: Instant,
        name: &ServiceName,
        kind: RunKind,
        result: Result<Pid, String>,
    ) {
        match (kind, result) {
            (RunKind::Main, Ok(pid)) => self.main_spawned(now, name, pid),
            (RunKind::Main, Err(reason)) => self.main_spawn_failed(now, name, reason),
            (RunKind::Probe, Ok(pid)) => self.probe_spawned(name, pid),
            (RunKind::Probe, Err(reason)) => {
                self.log(
                    LogLevel::Error,
                    format!("service {name}: test cannot be run: {reason}"),
                );
                if let Some(svc) = self.services.get_mut(name) {
                    if let Phase::Up { probe, .. } = &mut svc.phase {
                        *probe = Probe::Idle;
                        svc.last_test = Some(TestRecord {
                            at: now,
                            outcome: TestOutcome::CannotRun(reason.clone()),
                        });
                        svc.state = State::TestFailure(reason);
                    }
                }
            }
        }
    }

    fn main_spawned(&mut self, now: Instant, name: &ServiceName, pid: Pid) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        self.pids.insert(pid, (name.clone(), RunKind::Main));
        // The shell logs the start itself, before the service's output can
        // reach the ring, so the marker always comes first.
        let wants_probe = !svc.spec.oneshot && svc.spec.test.is_some();
        svc.state = if svc.spec.oneshot || wants_probe {
            State::Spawned
        } else {
            State::Running
        };
        svc.phase = Phase::Up {
            pid,
            probe: Probe::Idle,
        };
        svc.run_since = Some(now);
        svc.timed_out_probe = None;
        if svc.target == Target::Down {
            // Stopped between the spawn request and now (shutdown).
            let probe = Probe::Idle;
            self.send_stop(name, pid, probe);
            return;
        }
        if wants_probe {
            self.spawn_probe(name);
        }
    }

    fn main_spawn_failed(&mut self, now: Instant, name: &ServiceName, reason: String) {
        self.log(
            LogLevel::Error,
            format!("service {name}: cannot spawn: {reason}"),
        );
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let end = RunEnd::not_spawned(&reason);
        svc.state = State::Failure(reason);
        svc.phase = Phase::Idle;
        if svc.target != Target::Up || self.shutdown.is_some() {
            return;
        }
        if self.after_end(now, name, &end) != AfterEnd::Restart {
            return;
        }
        if let Some(svc) = self.services.get_mut(name) {
            let delay = svc.backoff.next_delay(&svc.spec.restart);
            svc.phase = Phase::BackingOff;
            svc.next_start = Some(NextStart {
                at: now + delay,
                delay,
            });
            self.set_timer(name, delay);
        }
    }

    fn spawn_probe(&mut self, name: &ServiceName) {
        if let Some(svc) = self.services.get_mut(name) {
            if let Phase::Up { probe, .. } = &mut svc.phase {
                *probe = Probe::Waiting;
            }
            self.effects.push(Effect::Spawn {
                service: name.clone(),
                kind: RunKind::Probe,
                spec: svc.spec.clone(),
            });
        }
    }

    fn probe_spawned(&mut self, name: &ServiceName, probe_pid: Pid) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        match &mut svc.phase {
            Phase::Up { probe, .. } => {
                *probe = Probe::Running(probe_pid);
                self.pids.insert(probe_pid, (name.clone(), RunKind::Probe));
                let timeout = svc.spec.probe.timeout;
                self.set_timer(name, timeout);
            }
            // The run ended before its probe started: the probe is moot.
            _ => self.effects.push(Effect::Signal {
                pid: probe_pid,
                signal: Signal::Kill,
                scope: SignalScope::Group,
            }),
        }
    }

    pub(super) fn exited(&mut self, now: Instant, pid: Pid, status: ExitStatus, oom: Oom) {
        let Some((name, kind)) = self.pids.remove(&pid) else {
            return; // an orphan, or a probe we already abandoned
        };
        match kind {
            RunKind::Main => {
                self.main_exited(now, &name, pid, status, oom);
                // After the remnants of its group were killed.
                self.effects.push(Effect::MainGone { service: name, pid });
            }
            RunKind::Probe => self.probe_exited(now, &name, pid, status),
        }
    }

    fn main_exited(
        &mut self,
        now: Instant,
        name: &ServiceName,
        pid: Pid,
        status: ExitStatus,
        oom: Oom,
    ) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let ran_for = svc
            .run_since
            .take()
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        svc.last_exit = Some(ExitRecord {
            status,
            at: now,
            ran_for,
            stopped_by_zinit: matches!(svc.phase, Phase::Stopping { .. }),
            oom,
        });
        svc.state = if status.success() {
            State::Success
        } else {
            State::Error(status.to_string())
        };
        let phase = std::mem::replace(&mut svc.phase, Phase::Idle);
        self.cancel_timer(name);
        match phase {
            Phase::Up { probe, .. } => {
                if let Probe::Running(probe_pid) = probe {
                    self.abandon_probe(probe_pid);
                }
                let level = if status.success() {
                    LogLevel::Info
                } else {
                    LogLevel::Warn
                };
                self.log(level, format!("service {name} (pid {pid}) {status}"));
                self.after_unexpected_exit(now, name, ran_for, &RunEnd::exited(status));
            }
            Phase::Stopping { then_start, .. } => {
                self.log(LogLevel::Info, format!("service {name} stopped ({status})"));
                // Nothing of a stopped service may survive it.
                self.effects.push(Effect::KillGroupRemnants { pgid: pid });
                self.after_stop(now, name, then_start);
            }
            Phase::Idle | Phase::Blocked | Phase::BackingOff | Phase::Starting => {}
        }
    }

    /// The process ended on its own: restart it if its policy says so.
    fn after_unexpected_exit(
        &mut self,
        now: Instant,
        name: &ServiceName,
        uptime: Duration,
        end: &RunEnd,
    ) {
        if self.shutdown.is_some() {
            return;
        }
        if self
            .services
            .get(name)
            .is_none_or(|s| s.target == Target::Down)
        {
            return;
        }
        if self.after_end(now, name, end) != AfterEnd::Restart {
            return;
        }
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let delay = svc.backoff.after_exit(&svc.spec.restart, uptime);
        if delay.is_zero() {
            svc.restarts = svc.restarts.saturating_add(1);
            self.try_start(now, name);
        } else {
            svc.phase = Phase::BackingOff;
            svc.next_start = Some(NextStart {
                at: now + delay,
                delay,
            });
            self.log(
                LogLevel::Info,
                format!("restarting service {name} in {} ms", delay.as_millis()),
            );
            self.set_timer(name, delay);
        }
    }

    /// The stop completed: start again if a restart or start asked for it.
    fn after_stop(&mut self, now: Instant, name: &ServiceName, then_start: bool) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let waiters = std::mem::take(&mut svc.restart_waiters);
        let start = then_start && svc.target == Target::Up && self.shutdown.is_none();
        if start {
            self.try_start(now, name);
        }
        for to in waiters {
            let result = if self.shutdown.is_some() {
                Err(CommandError::ShuttingDown)
            } else {
                Ok(())
            };
            self.effects.push(Effect::Reply { to, result });
        }
    }

    fn probe_exited(
        &mut self,
        now: Instant,
        name: &ServiceName,
        probe_pid: Pid,
        status: ExitStatus,
    ) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let timed_out = svc.timed_out_probe.take() == Some(probe_pid);
        let Phase::Up { probe, .. } = &mut svc.phase else {
            return;
        };
        if *probe != Probe::Running(probe_pid) {
            return;
        }
        let outcome = match status {
            _ if status.success() => TestOutcome::Passed,
            _ if timed_out => TestOutcome::TimedOut,
            _ => TestOutcome::Failed(status),
        };
        svc.last_test = Some(TestRecord { at: now, outcome });
        if status.success() {
            *probe = Probe::Idle;
            svc.state = State::Running;
            self.cancel_timer(name);
            self.log(
                LogLevel::Info,
                format!("service {name} is running (test passed)"),
            );
        } else if self.shutdown.is_some() {
            // Nothing new is spawned once a shutdown began.
            *probe = Probe::Idle;
            self.cancel_timer(name);
        } else {
            *probe = Probe::Waiting;
            let interval = svc.spec.probe.interval;
            self.set_timer(name, interval);
        }
    }

    pub(super) fn timer_fired(&mut self, now: Instant, name: &ServiceName, generation: u64) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if svc.timer_generation != generation {
            return; // superseded
        }
        match svc.phase.clone() {
            Phase::BackingOff => {
                svc.restarts = svc.restarts.saturating_add(1);
                self.try_start(now, name);
            }
            Phase::Stopping { pid, .. } => {
                let timeout = svc.spec.shutdown_timeout;
                if self.shutdown.is_some() {
                    self.forced_stops.insert(name.clone());
                }
                self.log(
                    LogLevel::Warn,
                    format!(
                        "service {name} (pid {pid}) did not stop within {} s: sending SIGKILL",
                        timeout.as_secs_f64()
                    ),
                );
                self.effects.push(Effect::Signal {
                    pid,
                    signal: Signal::Kill,
                    scope: SignalScope::Group,
                });
            }
            Phase::Up { probe, .. } => match probe {
                // Nothing new is spawned once a shutdown began.
                Probe::Waiting if self.shutdown.is_some() => {
                    if let Phase::Up { probe, .. } = &mut svc.phase {
                        *probe = Probe::Idle;
                    }
                }
                Probe::Waiting => self.spawn_probe(name),
                Probe::Running(probe_pid) => {
                    // Timed out: kill it; its exit counts as a failed test.
                    svc.timed_out_probe = Some(probe_pid);
                    self.effects.push(Effect::Signal {
                        pid: probe_pid,
                        signal: Signal::Kill,
                        scope: SignalScope::Group,
                    });
                }
                Probe::Idle => {}
            },
            Phase::Idle | Phase::Blocked | Phase::Starting => {}
        }
    }
}
