//! One stop path. What to stop is a [`Target`]: [`Target::signal`] is the
//! one way to signal it, [`Target::gone`] the one way to tell it ended and
//! [`Target::kill_remnants`] what follows once its leader is gone.
//! [`escalate`] is the one escalation (signal, wait with a deadline,
//! SIGKILL, wait) for those who wait: the leftovers of a killed
//! predecessor (`leftovers`), PID 1's finale (`pid1::finale`) and the HTTP
//! proxy child (`api::http_server`). A service's stop keeps its timing in
//! the core (its SIGKILL is a timer, its leader's exit an input) and
//! delivers through the same targets (`actor::launcher`,
//! `actor::effects`), so a fix to one reaches all.
//!
//! Who is signalled how (the invariant of [`super`]): a registered child,
//! or its process group, under the table lock ([`super::signal`]);
//! everything else only through a pidfd whose identity was checked after
//! opening it: a cgroup's members still listed in `cgroup.procs`
//! ([`super::cgroup::signal_all`]), the descendants a walk found (same
//! start time, and their parent still the one that listed them), a
//! predecessor's process with its recorded start time. [`Target::Everyone`]
//! is `kill(-1)`, for PID 1's finale only.
//!
//! Without cgroups a service is a [`Tree`]: its process group and the
//! descendants that left it (`setsid`, `setpgid`), found by walking the
//! tree below the main process before each signal and remembered, so they
//! are killed with the group's remnants once the leader exits. A
//! descendant orphaned before the walk (its parent exited, so it was
//! reparented to zinit or init) is no longer below the main process and
//! cannot be found: only cgroups hold those.
//!
//! Must not: wait for a child (only the reaper waits: "gone" is read from
//! the process table, a pidfd, a cgroup or /proc), or decide a service's
//! timing.

use super::cgroup;
use super::pidfd::{self, Pidfd};
use super::table::{self, Delivery, Scope, SignalError};
use super::tree;
use nix::errno::Errno;
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zinit_core::signal::Signal;

/// How often [`escalate`] looks whether its targets are gone.
const POLL: Duration = Duration::from_millis(10);

/// A signal could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error(transparent)]
    Child(#[from] SignalError),
    #[error("cannot send {signal} to cgroup {}: {error}", dir.display())]
    Cgroup {
        dir: PathBuf,
        signal: Signal,
        error: io::Error,
    },
    #[error("cannot send {signal} to all processes: {errno}")]
    Everyone { signal: Signal, errno: Errno },
}

/// Something to stop.
#[derive(Debug)]
pub enum Target {
    /// A registered child alone (`kill(pid)` under the table lock).
    Child(i32),
    /// A process group and the descendants that left it (see [`Tree`]).
    Tree(Tree),
    /// Every process in a cgroup directory and below.
    Cgroup(PathBuf),
    /// Every process but zinit (`kill(-1)`): PID 1's finale.
    Everyone,
}

impl Target {
    /// Send `signal` once to everything the target holds.
    pub fn signal(&mut self, signal: Signal) -> Result<Delivery, StopError> {
        match self {
            Target::Child(pid) => Ok(table::signal(*pid, signal, Scope::Process)?),
            Target::Tree(tree) => tree.signal(signal),
            Target::Cgroup(dir) => match signal_cgroup(dir, signal) {
                Ok(pids) if pids.is_empty() => Ok(Delivery::NotRunning),
                Ok(_) => Ok(Delivery::Sent),
                Err(error) => Err(StopError::Cgroup {
                    dir: dir.clone(),
                    signal,
                    error,
                }),
            },
            Target::Everyone => signal_everyone(signal),
        }
    }

    /// Whether the target has ended: a child reaped, a tree's leader gone,
    /// a cgroup empty, zinit alone.
    pub fn gone(&self) -> bool {
        match self {
            Target::Child(pid) => !table::is_registered(*pid),
            Target::Tree(tree) => tree.leader_gone(),
            Target::Cgroup(dir) => !cgroup::populated(dir).unwrap_or(false),
            Target::Everyone => !others_alive(),
        }
    }

    /// Once the leader is gone: SIGKILL what it left behind (a tree's
    /// group and remembered descendants; a cgroup's stragglers). Whether
    /// anything was signalled.
    pub fn kill_remnants(&mut self) -> bool {
        match self {
            Target::Child(_) | Target::Everyone => false,
            Target::Tree(tree) => tree.kill_remnants(),
            Target::Cgroup(dir) => cgroup::kill_all(dir).is_ok_and(|pids| !pids.is_empty()),
        }
    }
}

/// Send `signal` to every process of cgroup `dir` (SIGKILL through
/// `cgroup.kill`); the pids signalled.
pub fn signal_cgroup(dir: &std::path::Path, signal: Signal) -> io::Result<Vec<i32>> {
    if signal == Signal::Kill {
        cgroup::kill_all(dir)
    } else {
        cgroup::signal_all(dir, signal.number())
    }
}

/// `kill(-1)`: every process zinit may signal, except itself.
fn signal_everyone(signal: Signal) -> Result<Delivery, StopError> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(-1, signal.number()) };
    if rc == 0 {
        return Ok(Delivery::Sent);
    }
    match Errno::last() {
        Errno::ESRCH => Ok(Delivery::NotRunning),
        errno => Err(StopError::Everyone { signal, errno }),
    }
}

/// The kernel marks its own threads with this flag (`PF_KTHREAD`).
const PF_KTHREAD: u32 = 0x0020_0000;

/// Whether any process other than zinit and the kernel's threads exists.
/// (`kill(-1, 0)` cannot tell: in the initial namespace it also "reaches"
/// kernel threads, which never exit.)
pub fn others_alive() -> bool {
    let me = std::process::id() as i32;
    let Ok(all) = procfs::process::all_processes() else {
        return false;
    };
    all.flatten()
        .filter(|p| p.pid != me)
        .filter_map(|p| p.stat().ok())
        .any(|stat| stat.flags & PF_KTHREAD == 0)
}

/// How a tree's leader is reached.
#[derive(Debug)]
enum Leader {
    /// A registered child: through the table.
    Child,
    /// Not our child (a predecessor's): through this verified pidfd.
    Adopted(Pidfd),
}

/// A leader, its process group, and the descendants found outside the
/// group, each held by a pidfd checked when found.
#[derive(Debug)]
pub struct Tree {
    pid: i32,
    /// The leader's start time: with its pid it names the leader for good.
    start: u64,
    leader: Leader,
    /// Descendants outside the leader's group, by pid.
    found: BTreeMap<i32, Found>,
}

#[derive(Debug)]
struct Found {
    start: u64,
    fd: Pidfd,
}

impl Tree {
    /// The tree of registered child `pid`; `None` if it is not running.
    pub fn of_child(pid: i32) -> Option<Tree> {
        let start = table::start_time_of_child(pid)?;
        Some(Tree {
            pid,
            start,
            leader: Leader::Child,
            found: BTreeMap::new(),
        })
    }

    /// The tree of a process that is not our child, whose pidfd was
    /// opened and then found with start time `start`.
    pub fn adopted(fd: Pidfd, start: u64) -> Tree {
        Tree {
            pid: fd.pid(),
            start,
            leader: Leader::Adopted(fd),
            found: BTreeMap::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Walk first (a signalled leader may exit and orphan its children),
    /// then the group, then every remembered descendant still alive.
    fn signal(&mut self, signal: Signal) -> Result<Delivery, StopError> {
        self.discover();
        let signo = signal.number();
        let delivery = match &self.leader {
            Leader::Child => table::signal(self.pid, signal, Scope::Group).map_err(StopError::from),
            // The group only while its leader is verified alive: then the
            // pgid is still its pid (a session leader cannot leave it).
            Leader::Adopted(fd) => {
                if !fd.exited() && fd.send(signo) == Ok(true) {
                    // SAFETY: kill(2); the pid is > 1 (checked when parsed).
                    unsafe { libc::kill(-self.pid, signo) };
                    Ok(Delivery::Sent)
                } else {
                    Ok(Delivery::NotRunning)
                }
            }
        };
        let reached = self.signal_found(signo);
        match delivery {
            Ok(Delivery::NotRunning) if reached > 0 => Ok(Delivery::Sent),
            other => other,
        }
    }

    /// Whether the leader has ended (reaped, for a child).
    fn leader_gone(&self) -> bool {
        match &self.leader {
            Leader::Child => !table::is_registered(self.pid),
            Leader::Adopted(fd) => fd.exited(),
        }
    }

    /// After the leader exited: SIGKILL its group's remnants and every
    /// remembered descendant (and what they started meanwhile).
    fn kill_remnants(&mut self) -> bool {
        self.discover();
        let group = match &self.leader {
            Leader::Child => table::kill_group_remnants(self.pid),
            Leader::Adopted(_) => {
                // SAFETY: kill(2) on a group id > 1.
                unsafe { libc::kill(-self.pid, libc::SIGKILL) == 0 }
            }
        };
        let reached = self.signal_found(libc::SIGKILL);
        group || reached > 0
    }

    /// Send `signo` to each remembered descendant still alive; how many.
    fn signal_found(&mut self, signo: i32) -> usize {
        self.found.retain(|_, f| !f.fd.exited());
        let mut reached = 0;
        for (pid, f) in &self.found {
            match f.fd.send(signo) {
                Ok(true) => reached += 1,
                Ok(false) => {}
                Err(e) => tracing::debug!("cannot signal descendant {pid}: {e}"),
            }
        }
        reached
    }

    /// Walk below the leader and below each remembered descendant; remember
    /// every descendant outside the leader's group, through a pidfd
    /// checked after opening it.
    fn discover(&mut self) {
        let roots: Vec<(i32, u64)> = std::iter::once((self.pid, self.start))
            .chain(self.found.iter().map(|(pid, f)| (*pid, f.start)))
            .collect();
        for (pid, start) in roots {
            // The root read now is still the process it names.
            let Some(root) = tree::read_stat(pid).filter(|s| s.starttime == start) else {
                continue;
            };
            let group = self.pid;
            let found = &mut self.found;
            tree::walk(&root, |parent, child| {
                if found
                    .get(&child.pid)
                    .is_some_and(|f| f.start == child.starttime)
                {
                    return true;
                }
                let Some(fd) = checked_pidfd(parent, child) else {
                    return false;
                };
                if child.pgrp != group {
                    found.insert(
                        child.pid,
                        Found {
                            start: child.starttime,
                            fd,
                        },
                    );
                }
                true
            });
        }
    }
}

/// A pidfd on `child` if, read after opening it, the child still has the
/// start time it had when found (so the pidfd is that process) and its
/// parent still has its own (so the child was read while the parent that
/// listed it lived: the walk's parent, not a stranger with its pid).
fn checked_pidfd(parent: &procfs::process::Stat, child: &procfs::process::Stat) -> Option<Pidfd> {
    let fd = Pidfd::open(child.pid).ok()??;
    let same_child = pidfd::start_time(child.pid) == Some(child.starttime);
    let same_parent = pidfd::start_time(parent.pid) == Some(parent.starttime);
    (same_child && same_parent).then_some(fd)
}

/// One thing [`escalate`] stops: `signal`, then SIGKILL after `grace`.
#[derive(Debug)]
pub struct Stop {
    pub target: Target,
    pub signal: Signal,
    pub grace: Duration,
}

/// How a stop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Gone within its grace.
    Stopped,
    /// Gone after SIGKILL.
    Killed,
    /// Still there `kill_wait` after SIGKILL.
    Survived,
}

/// What [`escalate`] tells its caller about stop number `i`, to log.
#[derive(Debug)]
pub enum Step<'a> {
    /// A signal could not be delivered.
    Failed(&'a StopError),
    /// Its grace passed: SIGKILL follows.
    Killing,
    /// It ended this way (its remnants were killed then).
    Ended(Outcome),
}

/// Signal every stop, wait up to each one's grace for it to be gone,
/// SIGKILL the rest and wait up to `kill_wait` more; all in parallel, all
/// bounded. Blocking: call it off the runtime. The outcome of each stop,
/// in order; `report(i, step)` is told each step as it happens.
pub fn escalate(
    stops: &mut [Stop],
    kill_wait: Duration,
    mut report: impl FnMut(usize, Step<'_>),
) -> Vec<Outcome> {
    let began = Instant::now();
    let mut killed_at: Vec<Option<Instant>> = vec![None; stops.len()];
    let mut outcomes: Vec<Option<Outcome>> = vec![None; stops.len()];
    for (i, stop) in stops.iter_mut().enumerate() {
        if let Err(e) = stop.target.signal(stop.signal) {
            report(i, Step::Failed(&e));
        }
    }
    loop {
        let now = Instant::now();
        let mut open = false;
        for (i, stop) in stops.iter_mut().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            if stop.target.gone() {
                stop.target.kill_remnants();
                let outcome = match killed_at[i] {
                    None => Outcome::Stopped,
                    Some(_) => Outcome::Killed,
                };
                outcomes[i] = Some(outcome);
                report(i, Step::Ended(outcome));
                continue;
            }
            match killed_at[i] {
                None if now >= began + stop.grace => {
                    report(i, Step::Killing);
                    if let Err(e) = stop.target.signal(Signal::Kill) {
                        report(i, Step::Failed(&e));
                    }
                    killed_at[i] = Some(now);
                }
                Some(at) if now >= at + kill_wait => {
                    outcomes[i] = Some(Outcome::Survived);
                    report(i, Step::Ended(Outcome::Survived));
                    continue;
                }
                _ => {}
            }
            open = true;
        }
        if !open {
            break;
        }
        std::thread::sleep(POLL);
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Survived))
        .collect()
}

#[cfg(test)]
#[path = "stop_tests.rs"]
mod tests;
