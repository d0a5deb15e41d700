//! What follows a run that ended on its own: a restart, if the restart
//! policy (`always`, `on-failure`, `never`) says so and the crash-loop
//! limit (`restart.max_restarts` within `restart.window`) allows it; else
//! the service stays down, and its `failure_action` or `success_action`
//! may take zinit down with it.

use super::types::{GaveUp, LogLevel, ShutdownCause, ShutdownMode, State};
use super::Supervisor;
use crate::config::format_duration;
use crate::exit::ExitStatus;
use crate::name::ServiceName;
use crate::spec::EndAction;
use std::time::Instant;

/// How a run ended, as far as restarting and end actions care.
#[derive(Clone, Debug)]
pub(super) struct RunEnd {
    pub succeeded: bool,
    /// In words, for the log and `why`.
    pub what: String,
    /// What a container exits with when this end shuts it down.
    pub exit_code: u8,
}

impl RunEnd {
    pub fn exited(status: ExitStatus) -> RunEnd {
        let exit_code = match status {
            ExitStatus::Code(code) => u8::try_from(code).unwrap_or(1),
            ExitStatus::Signaled(n) => u8::try_from(128 + n).unwrap_or(255),
        };
        RunEnd {
            succeeded: status.success(),
            what: status.to_string(),
            exit_code,
        }
    }

    /// The process could not be spawned: 127, as a shell says for a
    /// command it cannot run.
    pub fn not_spawned(reason: &str) -> RunEnd {
        RunEnd {
            succeeded: false,
            what: format!("could not be spawned: {reason}"),
            exit_code: 127,
        }
    }
}

/// What to do about a run that ended on its own (or could not start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AfterEnd {
    /// Restart it, with the back-off.
    Restart,
    /// Leave it down: its policy does not restart this end.
    StayDown,
    /// Leave it down: it hit the crash-loop limit.
    GaveUp,
}

impl Supervisor {
    /// Decide about a run of `name` that ended on its own while its target
    /// is Up: restart it (recorded against the crash-loop limit) or leave
    /// it down, and then run its end action, if it has one.
    pub(super) fn after_end(&mut self, now: Instant, name: &ServiceName, end: &RunEnd) -> AfterEnd {
        let decision = self.restart_decision(now, name, end.succeeded);
        match decision {
            AfterEnd::Restart => {}
            AfterEnd::StayDown if end.succeeded => self.end_action(name, "success_action", end),
            AfterEnd::StayDown => {
                self.stop_requirers(name, "failed");
                self.end_action(name, "failure_action", end);
            }
            AfterEnd::GaveUp => {
                self.stop_requirers(name, "failed");
                let gave_up = RunEnd {
                    what: format!("{}: {}", self.gave_up_phrase(name), end.what),
                    succeeded: false,
                    exit_code: if end.succeeded { 1 } else { end.exit_code },
                };
                self.end_action(name, "failure_action", &gave_up);
            }
        }
        decision
    }

    /// `gave up after N restarts in WINDOW`, for a service that just did.
    fn gave_up_phrase(&self, name: &ServiceName) -> String {
        match self.services.get(name).and_then(|s| s.gave_up) {
            Some(g) => format!(
                "gave up after {} restarts in {}",
                g.restarts,
                format_duration(g.window)
            ),
            None => "gave up".to_owned(),
        }
    }

    /// A service ended for good: shut zinit down if its `key` action says
    /// so (once: a second service ending meanwhile changes nothing).
    fn end_action(&mut self, name: &ServiceName, key: &'static str, end: &RunEnd) {
        let Some(svc) = self.services.get(name) else {
            return;
        };
        let action = match key {
            "success_action" => svc.spec.success_action,
            _ => svc.spec.failure_action,
        };
        let mode = match action {
            EndAction::None => return,
            EndAction::Shutdown | EndAction::Poweroff => ShutdownMode::PowerOff,
            EndAction::Reboot => ShutdownMode::Reboot,
        };
        if self.shutdown.is_some() {
            return;
        }
        let cause = ShutdownCause {
            service: name.clone(),
            key,
            action,
            ended: end.what.clone(),
            exit_code: end.exit_code,
        };
        self.log(LogLevel::Warn, format!("{cause}: shutting down"));
        self.cause = Some(cause);
        self.begin_shutdown(mode);
    }

    /// Whether to restart a run that ended (`succeeded`: exit 0), recording
    /// the restart against the crash-loop limit. Giving up rewrites the
    /// state to say so and logs it.
    fn restart_decision(&mut self, now: Instant, name: &ServiceName, succeeded: bool) -> AfterEnd {
        let Some(svc) = self.services.get_mut(name) else {
            return AfterEnd::StayDown;
        };
        if !svc.spec.restart_when().restarts(succeeded) {
            return AfterEnd::StayDown;
        }
        let Some(limit) = svc.spec.restart.limit else {
            return AfterEnd::Restart;
        };
        while svc
            .recent_restarts
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= limit.window)
        {
            svc.recent_restarts.pop_front();
        }
        let restarts = u32::try_from(svc.recent_restarts.len()).unwrap_or(u32::MAX);
        if restarts < limit.max_restarts {
            svc.recent_restarts.push_back(now);
            return AfterEnd::Restart;
        }
        let window = format_duration(limit.window);
        let gave_up = format!("gave up after {restarts} restarts in {window}");
        svc.state = match &svc.state {
            State::Error(reason) => State::Error(format!("{gave_up}: {reason}")),
            State::Failure(reason) => State::Failure(format!("{gave_up}: {reason}")),
            other => other.clone(),
        };
        svc.gave_up = Some(GaveUp {
            restarts,
            window: limit.window,
            at: now,
        });
        svc.recent_restarts.clear();
        self.log(
            LogLevel::Error,
            format!(
                "service {name}: {gave_up} (restart.max_restarts {}); it stays down until \
                 `zinit start {name}`",
                limit.max_restarts
            ),
        );
        AfterEnd::GaveUp
    }

    /// The operator starts the service again: the crash-loop count and a
    /// give-up are forgotten.
    pub(super) fn forget_crash_loop(&mut self, name: &ServiceName) {
        if let Some(svc) = self.services.get_mut(name) {
            svc.gave_up = None;
            svc.recent_restarts.clear();
        }
    }
}
