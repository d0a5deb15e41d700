//! Whether a run that ended is restarted: the restart policy
//! (`always`, `on-failure`, `never`) and the crash-loop limit
//! (`restart.max_restarts` within `restart.window`), after which zinit
//! gives up until the operator starts the service again.

use super::types::{GaveUp, LogLevel, State};
use super::Supervisor;
use crate::config::format_duration;
use crate::name::ServiceName;
use std::time::Instant;

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
    /// Decide about a run of `name` that ended (`succeeded`: exit 0) while
    /// its target is Up, recording the restart against the crash-loop
    /// limit. Giving up rewrites the state to say so and logs it.
    pub(super) fn after_end(
        &mut self,
        now: Instant,
        name: &ServiceName,
        succeeded: bool,
    ) -> AfterEnd {
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
