//! Where the shell's processes come from. The daemon uses [`Processes`]:
//! real fork/exec, signals through the process table, the one reaper. The
//! actor's tests use a fake that forks nothing, so batching, replies after
//! the snapshot and effect execution are tested in process, in
//! milliseconds, without root (`actor::tests`).

use crate::process::stop::{StopError, Target, Tree};
use crate::process::{
    self, ChildSetup, Delivery, Reaped, Scope, SpawnError, SpawnRequest, Spawned,
};
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;
use zinit_core::signal::Signal;

/// Starts and signals the processes of services.
pub trait Launcher: Send + 'static {
    /// Start `request` (set up as `setup` says, in `cgroups`: none, or its
    /// cgroup2 directory and v1 ones for limits); its exit must reach
    /// `exits` exactly once.
    fn spawn(
        &mut self,
        request: &SpawnRequest<'_>,
        setup: &ChildSetup,
        cgroups: &[PathBuf],
        exits: &UnboundedSender<Reaped>,
    ) -> Result<Spawned, SpawnError>;

    /// Signal a process started here (or its group, and the descendants
    /// that left it), if it still runs.
    fn signal(&mut self, pid: i32, signal: Signal, scope: Scope) -> Result<Delivery, StopError>;

    /// SIGKILL what is left of the process group `pgid` (and of the
    /// descendants found when it was signalled) after its leader was
    /// reaped; whether anything was.
    fn kill_group_remnants(&mut self, pgid: i32) -> bool;
}

/// Real processes. A group signal reaches a [`Tree`]: the group and the
/// descendants below the leader that left it; the trees of leaders being
/// stopped are kept until their remnants are killed, so a descendant that
/// outlives its leader is still found then.
#[derive(Default)]
pub struct Processes {
    stopping: HashMap<i32, Tree>,
}

impl Launcher for Processes {
    fn spawn(
        &mut self,
        request: &SpawnRequest<'_>,
        setup: &ChildSetup,
        cgroups: &[PathBuf],
        exits: &UnboundedSender<Reaped>,
    ) -> Result<Spawned, SpawnError> {
        process::spawn_with(request, setup, cgroups, exits)
    }

    fn signal(&mut self, pid: i32, signal: Signal, scope: Scope) -> Result<Delivery, StopError> {
        if scope == Scope::Process {
            return Target::Child(pid).signal(signal);
        }
        let kept = self.stopping.remove(&pid);
        let remember = kept.is_some() || signal != Signal::Kill;
        let Some(tree) = kept.or_else(|| Tree::of_child(pid)) else {
            return Ok(Delivery::NotRunning);
        };
        let mut target = Target::Tree(tree);
        let result = target.signal(signal);
        if let (true, Target::Tree(tree)) = (remember, target) {
            self.stopping.insert(pid, tree);
        }
        result
    }

    fn kill_group_remnants(&mut self, pgid: i32) -> bool {
        match self.stopping.remove(&pgid) {
            Some(tree) => Target::Tree(tree).kill_remnants(),
            None => process::kill_group_remnants(pgid),
        }
    }
}
