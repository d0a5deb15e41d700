//! What the supervisor knows about a run, as the wire shows it: wall-clock
//! times from the core's monotonic instants, and last exits in words.
//!
//! The core keeps `Instant`s (it has no clock of its own); readers want
//! RFC 3339 times. The conversion is done here, once, against a pair of
//! readings of both clocks taken together.

use std::time::{Instant, SystemTime};
use zinit_core::exit::{ExitStatus, Oom};
use zinit_core::signal::Signal;
use zinit_core::supervisor::{ExitRecord, ServiceView};
use zinit_proto::wire::{LastExit, ServiceStats};

/// Both clocks read at (nearly) the same moment.
#[derive(Clone, Copy, Debug)]
pub struct Clocks {
    pub monotonic: Instant,
    pub wall: SystemTime,
}

impl Clocks {
    pub fn now() -> Clocks {
        Clocks {
            // The actor's clock: tokio's, which is std's outside paused tests.
            monotonic: tokio::time::Instant::now().into_std(),
            wall: SystemTime::now(),
        }
    }

    /// The wall-clock time of `at`.
    pub fn wall_time(&self, at: Instant) -> SystemTime {
        match self.monotonic.checked_duration_since(at) {
            Some(ago) => self.wall - ago,
            None => self.wall + at.duration_since(self.monotonic),
        }
    }

    /// `at` as RFC 3339 in UTC with milliseconds.
    pub fn rfc3339(&self, at: Instant) -> String {
        rfc3339(self.wall_time(at))
    }
}

/// RFC 3339 in UTC with milliseconds (`2026-11-24T10:00:00.123Z`).
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// The signal name of a raw number, or the number when it has none.
pub fn signal_name(number: i32) -> String {
    Signal::from_number(number).map_or_else(|| number.to_string(), |s| s.to_string())
}

/// The wire form of a last exit.
pub fn last_exit(record: &ExitRecord, clocks: &Clocks) -> LastExit {
    let (code, signal) = match record.status {
        ExitStatus::Code(c) => (Some(c), None),
        ExitStatus::Signaled(n) => (None, Some(signal_name(n))),
    };
    let mut description = record.status.to_string();
    if record.oom == Oom::Killed {
        description.push_str(" (by the kernel's OOM killer: out of memory in its cgroup)");
    } else if record.oom == Oom::Suspected {
        description.push_str(" (probably by the kernel's OOM killer)");
    } else if record.stopped_by_zinit {
        description.push_str(" (stopped by zinit)");
    }
    LastExit {
        code,
        signal,
        at: clocks.rfc3339(record.at),
        ran_for_seconds: round3(record.ran_for.as_secs_f64()),
        oom_suspected: record.oom.any(),
        oom_killed: record.oom == Oom::Killed,
        description,
    }
}

/// Add what the supervisor knows (restarts, the current run, the last
/// exit) to a `service_stats` result read from /proc.
pub fn add_run_facts(stats: &mut ServiceStats, view: &ServiceView, clocks: &Clocks) {
    stats.restarts = Some(view.restarts);
    if let Some(since) = view.up_since {
        stats.started_at = Some(clocks.rfc3339(since));
        let uptime = clocks.monotonic.saturating_duration_since(since);
        stats.uptime_seconds = Some(round3(uptime.as_secs_f64()));
    }
    stats.last_exit = view.last_exit.as_ref().map(|r| last_exit(r, clocks));
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn clocks() -> Clocks {
        Clocks {
            monotonic: Instant::now(),
            wall: humantime::parse_rfc3339("2026-11-24T10:00:00Z").unwrap(),
        }
    }

    #[test]
    fn instants_become_wall_times() {
        let c = clocks();
        assert_eq!(
            c.rfc3339(c.monotonic - Duration::from_millis(1500)),
            "2026-11-24T09:59:58.500Z"
        );
        assert_eq!(
            c.rfc3339(c.monotonic + Duration::from_secs(2)),
            "2026-11-24T10:00:02.000Z"
        );
    }

    #[test]
    fn last_exits_in_words() {
        let c = clocks();
        let record = ExitRecord {
            status: ExitStatus::Signaled(9),
            at: c.monotonic - Duration::from_secs(1),
            ran_for: Duration::from_millis(2500),
            stopped_by_zinit: false,
            oom: Oom::Suspected,
        };
        let wire = last_exit(&record, &c);
        assert_eq!(wire.code, None);
        assert_eq!(wire.signal.as_deref(), Some("SIGKILL"));
        assert_eq!(wire.at, "2026-11-24T09:59:59.000Z");
        assert_eq!(wire.ran_for_seconds, 2.5);
        assert!(wire.oom_suspected);
        assert_eq!(
            wire.description,
            "killed by signal SIGKILL (probably by the kernel's OOM killer)"
        );
        let crashed = ExitRecord {
            status: ExitStatus::Code(3),
            oom: Oom::No,
            ..record
        };
        let wire = last_exit(&crashed, &c);
        assert_eq!((wire.code, wire.signal), (Some(3), None));
        assert_eq!(wire.description, "exited with code 3");
        assert!(!wire.oom_suspected && !wire.oom_killed);
        let certain = ExitRecord {
            oom: Oom::Killed,
            ..record
        };
        let wire = last_exit(&certain, &c);
        assert!(wire.oom_suspected && wire.oom_killed);
        assert_eq!(
            wire.description,
            "killed by signal SIGKILL (by the kernel's OOM killer: out of memory in its cgroup)"
        );
        let json = serde_json::to_value(last_exit(&crashed, &c)).unwrap();
        assert!(json.get("oom_killed").is_none(), "{json}");
    }
}
