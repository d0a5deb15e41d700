//! PID 1 duties: becoming a subreaper when not PID 1, taking over
//! Ctrl-Alt-Del, and the machine's last act (everything left is stopped,
//! the disks synced, then power off or reboot).
//!
//! Must not: call reboot(2) unless this process is PID 1. Inside a PID
//! namespace (`unshare --pid --fork`) the kernel turns reboot(2) into the
//! end of that namespace, which is how this is tested safely.

mod finale;

pub use finale::{power_off_or_reboot, FinalAct};

use std::time::Duration;

/// Whether this process is the init of its PID namespace.
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Make orphaned descendants reparent to zinit (not to the real init), so
/// zinit reaps them even when it is not PID 1.
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}

/// Ask the kernel to send SIGINT to PID 1 on Ctrl-Alt-Del instead of
/// rebooting at once, so the reboot is an ordered one.
pub fn take_over_ctrl_alt_del() {
    if !is_pid1() {
        return;
    }
    // In a child PID namespace the kernel refuses this (EINVAL): harmless.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        tracing::debug!("cannot take over ctrl-alt-del: {e}");
    }
}

/// PID 1 must never exit: when the supervisor itself has failed, keep the
/// reaper running and wait for an operator (the reaper is its own thread).
pub fn keep_reaping_forever() -> ! {
    tracing::error!(
        "zinit can no longer supervise services; it keeps reaping orphans. \
         Reboot the machine (e.g. with sysrq) to recover."
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
