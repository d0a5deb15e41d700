//! How a process ended, as reported by the reaper.

use crate::signal::Signal;
use std::fmt;

/// The end of a process: an exit code, or the signal that killed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    /// Killed by a signal (raw number, since the kernel may use one zinit
    /// has no name for).
    Signaled(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

/// Whether the kernel's OOM killer ended a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Oom {
    /// Nothing says so.
    #[default]
    No,
    /// It died of SIGKILL while the kernel's OOM kill count rose: likely,
    /// not certain (no cgroup memory accounting to ask).
    Suspected,
    /// Its cgroup's OOM kill counter (`memory.events` or v1
    /// `memory.oom_control`) rose during the run and it died of SIGKILL.
    Killed,
}

impl Oom {
    /// Suspected or certain.
    pub fn any(self) -> bool {
        self != Oom::No
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exited with code {c}"),
            ExitStatus::Signaled(n) => match Signal::from_number(*n) {
                Some(s) => write!(f, "killed by signal {s}"),
                None => write!(f, "killed by signal {n}"),
            },
        }
    }
}
