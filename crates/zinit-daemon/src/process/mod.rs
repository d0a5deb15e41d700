//! The process edge: spawning children, the one reaper, and signalling.
//!
//! Invariants this module keeps (see the submodules for how):
//!
//! - **Only the reaper waits.** [`reaper`] is the only code in the project
//!   that calls `wait*`. Nothing else may, not even `std::process::Command`
//!   or `tokio::process` (they wait on their own children and would race it).
//! - **Every child is known before it can be reaped.** [`spawn`] holds the
//!   process table lock from just before `fork` until the new pid is
//!   registered, and the reaper takes the same lock before it reaps.
//! - **A pid is only signalled while it is still ours.** The reaper peeks at
//!   an exited child with `WNOWAIT` and reaps it under the table lock;
//!   [`signal`] sends under that lock and only to registered pids, so the
//!   pid cannot have been recycled (promise 4).
//! - **A service's cgroup holds all of it** (when cgroups are on, see
//!   [`cgroup`]): the child joins before exec; cgroup members are signalled
//!   through pidfds checked after opening, never by a bare pid.
//! - **One stop path.** Every stop (a service's, a predecessor's
//!   leftovers, PID 1's finale, the HTTP proxy child) signals a
//!   [`stop::Target`] and, when it waits, waits through [`stop::escalate`].
//! - **Children start clean** (promise 8): own session and group, default
//!   signal dispositions, empty mask, stdin on /dev/null, only fds 0-2, the
//!   given environment and directory, and the service's limits, niceness,
//!   OOM score, umask, groups and user ([`identity`]) set before exec.
//!
//! This module must not decide policy: when to restart, which signal to send
//! or how long to wait belongs to the supervisor.

pub mod cgroup;
pub mod cgroup_base;
pub mod cgroup_usage;
pub mod cgroup_v1;
mod child;
mod fds;
pub mod identity;
mod inherited;
pub mod limit_places;
pub mod limits;
pub mod mountinfo;
mod oom;
pub mod pidfd;
mod reaper;
mod resolve;
mod spawn;
pub mod stop;
mod table;
pub mod tree;

#[cfg(test)]
mod tests;

pub use fds::mark_inherited_fds_cloexec;
pub use identity::ChildSetup;
pub use inherited::reset_inherited_signals;
pub use reaper::start_reaper;
pub use spawn::{spawn, spawn_in, spawn_with, Output, SpawnError, SpawnRequest, Spawned};
pub use table::{
    is_registered, kill_group_remnants, signal, start_time_of_child, Delivery, Scope, SignalError,
};

use zinit_core::exit::{ExitStatus, Oom};

/// One child's end, sent by the reaper to the channel given at spawn time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reaped {
    pub pid: i32,
    pub status: ExitStatus,
    /// Died of SIGKILL while the kernel's OOM killer acted (see [`oom`]):
    /// [`Oom::Suspected`] at most; the shell, which knows the service's
    /// cgroup, may make it certain.
    pub oom: Oom,
}

impl Reaped {
    fn new(pid: i32, status: ExitStatus) -> Reaped {
        Reaped {
            pid,
            status,
            oom: if oom::suspect_oom(status) {
                Oom::Suspected
            } else {
                Oom::No
            },
        }
    }
}
