//! Where the shell's processes come from. The daemon uses [`Processes`]:
//! real fork/exec, signals through the process table, the one reaper. The
//! actor's tests use a fake that forks nothing, so batching, replies after
//! the snapshot and effect execution are tested in process, in
//! milliseconds, without root (`actor::tests`).

use crate::process::{
    self, ChildSetup, Delivery, Reaped, Scope, SignalError, SpawnError, SpawnRequest, Spawned,
};
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

    /// Signal a process started here (or its group), if it still runs.
    fn signal(&mut self, pid: i32, signal: Signal, scope: Scope) -> Result<Delivery, SignalError>;

    /// SIGKILL what is left of the process group `pgid` after its leader
    /// was reaped; whether anything was.
    fn kill_group_remnants(&mut self, pgid: i32) -> bool;
}

/// Real processes.
pub struct Processes;

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

    fn signal(&mut self, pid: i32, signal: Signal, scope: Scope) -> Result<Delivery, SignalError> {
        process::signal(pid, signal, scope)
    }

    fn kill_group_remnants(&mut self, pgid: i32) -> bool {
        process::kill_group_remnants(pgid)
    }
}
