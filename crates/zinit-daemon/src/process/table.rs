//! The process-wide table of children that are ours and not yet reaped, and
//! the signalling that depends on it.
//!
//! The table is global because `waitpid(-1)` is: several supervisors in one
//! process (tests) each register their children with their own exit channel
//! and receive exactly their own exits. A pid is in the table from the
//! instant `fork` returns (the lock is held across `fork`) until the reaper
//! reaps it under the same lock. So "registered" means "alive or a zombie",
//! and a signal sent while holding the lock can never reach a recycled pid.
//!
//! This module does not call `wait*` (that is the reaper's job) and does not
//! fork (that is `spawn`'s).

use super::Reaped;
use nix::errno::Errno;
use std::collections::HashMap;
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use zinit_core::exit::ExitStatus;
use zinit_core::signal::Signal;

/// Where a child stands between `fork` and its reaping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Forked; `spawn` does not know yet whether `execve` succeeded, and its
    /// caller has not seen the pid.
    Starting,
    /// Exec succeeded; the owner knows the pid and gets its exit.
    Running,
}

/// A registered child.
pub(super) struct Registration {
    /// Where the reaper sends the exit.
    pub exits: UnboundedSender<Reaped>,
    /// Unique per spawn, so a status parked in [`Table::early`] can never be
    /// claimed by a later child that got the same pid.
    pub token: u64,
    pub phase: Phase,
}

/// The state behind the one lock.
pub(super) struct Table {
    /// Children that are alive or zombies, by pid.
    pub entries: HashMap<i32, Registration>,
    /// Statuses of children reaped while still [`Phase::Starting`], by token;
    /// `spawn` claims them once it knows whether exec succeeded.
    pub early: HashMap<u64, ExitStatus>,
    pub next_token: u64,
    pub reaper_started: bool,
}

struct Shared {
    table: Mutex<Table>,
    /// Notified after every fork, for a reaper that found no children.
    children: Condvar,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| Shared {
    table: Mutex::new(Table {
        entries: HashMap::new(),
        early: HashMap::new(),
        next_token: 0,
        reaper_started: false,
    }),
    children: Condvar::new(),
});

/// Take the table lock. A panic while holding it cannot leave the table
/// half-updated in a way that matters more than stopping reaping would, so
/// poisoning is ignored.
pub(super) fn lock() -> MutexGuard<'static, Table> {
    SHARED.table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wake a reaper waiting in [`wait_for_child`].
pub(super) fn notify_forked() {
    SHARED.children.notify_all();
}

/// Release `guard` and sleep until a fork is announced or `backstop` passes.
pub(super) fn wait_for_child(guard: MutexGuard<'static, Table>, backstop: Duration) {
    let _unused = SHARED
        .children
        .wait_timeout(guard, backstop)
        .unwrap_or_else(PoisonError::into_inner);
}

impl Table {
    /// Record a child forked under this lock.
    pub(super) fn register(&mut self, pid: i32, exits: &UnboundedSender<Reaped>) -> u64 {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.entries.insert(
            pid,
            Registration {
                exits: exits.clone(),
                token,
                phase: Phase::Starting,
            },
        );
        token
    }
}

/// Settle a child's registration once `spawn` knows whether exec succeeded.
///
/// On success the child becomes [`Phase::Running`]; if it already exited,
/// its parked status is sent to `exits` now. On failure the registration is
/// dropped, so the reaper treats the child as an unknown pid (it reaps it and
/// logs at debug level) and the owner never hears of a pid it was not given.
pub(super) fn settle(pid: i32, token: u64, exec_ok: bool, exits: &UnboundedSender<Reaped>) {
    let mut table = lock();
    if let Some(status) = table.early.remove(&token) {
        drop(table);
        if exec_ok {
            let _ignored = exits.send(Reaped::new(pid, status));
        }
        return;
    }
    let ours = table.entries.get(&pid).is_some_and(|r| r.token == token);
    if !ours {
        tracing::warn!(pid, "spawned process vanished from the process table");
        return;
    }
    if exec_ok {
        if let Some(reg) = table.entries.get_mut(&pid) {
            reg.phase = Phase::Running;
        }
    } else {
        table.entries.remove(&pid);
    }
}

/// Who receives a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The process alone: `kill(pid)`.
    Process,
    /// Its whole process group: `kill(-pid)`. Services are session and
    /// group leaders, so this reaches everything they started that did not
    /// move to another group or session.
    Group,
}

/// What happened to a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The pid is not (or no longer) a registered child; nothing was sent.
    NotRunning,
}

/// The kernel refused a signal to a registered child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot send {signal} to {} {pid}: {}", scope_noun(*.scope), super::fds::ErrText(*.errno))]
pub struct SignalError {
    pub pid: i32,
    pub signal: Signal,
    pub scope: Scope,
    pub errno: Errno,
}

fn scope_noun(scope: Scope) -> &'static str {
    match scope {
        Scope::Process => "process",
        Scope::Group => "process group",
    }
}

/// Send `signal` to a child of ours (or its group), only if it has not been
/// reaped yet. Holding the table lock while sending is what makes this safe:
/// the reaper cannot reap (and so free the pid for reuse) in between.
pub fn signal(pid: i32, signal: Signal, scope: Scope) -> Result<Delivery, SignalError> {
    let table = lock();
    let live = pid > 1
        && table
            .entries
            .get(&pid)
            .is_some_and(|r| r.phase == Phase::Running);
    if !live {
        return Ok(Delivery::NotRunning);
    }
    let target = match scope {
        Scope::Process => pid,
        Scope::Group => -pid,
    };
    let result = send(target, signal.number());
    drop(table);
    match result {
        Ok(()) => Ok(Delivery::Sent),
        // A group whose members are all gone (cannot happen while its
        // session-leader is registered, but the kernel decides).
        Err(Errno::ESRCH) => Ok(Delivery::NotRunning),
        Err(errno) => Err(SignalError {
            pid,
            signal,
            scope,
            errno,
        }),
    }
}

/// The start time (/proc/PID/stat field 22) of a running child of ours,
/// read under the table lock: the pid cannot be reaped and recycled while
/// it is read, so the pair (pid, start time) names this child for good.
/// `None` if `pid` is not a running child.
pub fn start_time_of_child(pid: i32) -> Option<u64> {
    let table = lock();
    let live = table
        .entries
        .get(&pid)
        .is_some_and(|r| r.phase == Phase::Running);
    let start = live.then(|| super::pidfd::start_time(pid)).flatten();
    drop(table);
    start
}

/// Whether `pid` is a child of ours not yet reaped (alive or a zombie).
pub fn is_registered(pid: i32) -> bool {
    lock().entries.contains_key(&pid)
}

/// SIGKILL whatever is left in process group `pgid` after its leader (a
/// service we stopped) exited and was reaped. Returns whether anything was
/// signalled.
///
/// There is no liveness check to hold here: the leader is gone. While any
/// member of the group remains, the kernel will not hand out `pgid` as a new
/// pid, so the signal reaches exactly the leftovers. The residual risk is
/// tiny: the group emptied on its own, `pgid` was recycled for a stranger and
/// that stranger made itself a group leader (`setsid`/`setpgid`), all between
/// the reap and this call. If the recycled pid is one of our own live
/// children (services are group leaders), we notice and send nothing.
pub fn kill_group_remnants(pgid: i32) -> bool {
    if pgid <= 1 {
        // kill(0) and kill(-1) would hit ourselves or every process.
        return false;
    }
    let table = lock();
    if table.entries.contains_key(&pgid) {
        return false;
    }
    let sent = send(-pgid, Signal::Kill.number()).is_ok();
    drop(table);
    sent
}

/// `kill(2)` with a raw signal number.
fn send(target: i32, signo: i32) -> Result<(), Errno> {
    // SAFETY: kill has no memory-safety preconditions; callers never pass a
    // target of 0 or -1.
    let rc = unsafe { libc::kill(target, signo) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}
