//! The last act of PID 1 after every service has been stopped in order:
//! SIGTERM to everything left, a grace period, SIGKILL, sync, reboot(2).

use nix::errno::Errno;
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// What the machine does at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalAct {
    PowerOff,
    Reboot,
}

/// How long processes not managed as services get after SIGTERM.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for SIGKILLed processes to be reaped.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Stop every remaining process, sync and power off or reboot.
///
/// Returns only if zinit is not PID 1 (it refuses, and says so) or the
/// kernel refused the reboot; the caller must then not exit if it is PID 1.
/// `flush_logs` runs right before reboot(2), so the last lines reach the
/// console and the kernel log.
pub fn power_off_or_reboot(act: FinalAct, flush_logs: impl FnOnce()) -> Result<(), String> {
    if !super::is_pid1() {
        let message = format!(
            "refusing to {}: zinit is not PID 1 (pid {})",
            describe(act),
            std::process::id()
        );
        tracing::error!("{message}");
        return Err(message);
    }
    tracing::info!("sending SIGTERM to all remaining processes");
    signal_everyone(Signal::SIGTERM);
    if !wait_until_alone(TERM_GRACE) {
        tracing::warn!(
            "processes left after {} s: sending SIGKILL",
            TERM_GRACE.as_secs()
        );
        signal_everyone(Signal::SIGKILL);
        wait_until_alone(KILL_GRACE);
    }
    tracing::info!("syncing disks, then {}", describe(act));
    flush_logs();
    nix::unistd::sync();
    let mode = match act {
        FinalAct::PowerOff => RebootMode::RB_POWER_OFF,
        FinalAct::Reboot => RebootMode::RB_AUTOBOOT,
    };
    // Only returns on failure (in a PID namespace the kernel ends it here).
    let error = match reboot(mode) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let message = format!("reboot(2) failed: {error}");
    tracing::error!("{message}");
    Err(message)
}

fn describe(act: FinalAct) -> &'static str {
    match act {
        FinalAct::PowerOff => "power off",
        FinalAct::Reboot => "reboot",
    }
}

/// kill(-1): every process PID 1 may signal, except itself.
fn signal_everyone(signal: Signal) {
    match kill(Pid::from_raw(-1), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => tracing::warn!("cannot send {signal} to all processes: {e}"),
    }
}

/// Poll until no other process is left (the reaper collects them), or the
/// deadline passes. Whether everyone is gone.
fn wait_until_alone(deadline: Duration) -> bool {
    let start = Instant::now();
    loop {
        if !others_alive() {
            return true;
        }
        if start.elapsed() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The kernel marks its own threads with this flag (`PF_KTHREAD`).
const PF_KTHREAD: u32 = 0x0020_0000;

/// Whether any process other than zinit and the kernel's threads exists.
/// (`kill(-1, 0)` cannot tell: in the initial namespace it also "reaches"
/// kernel threads, which never exit.)
fn others_alive() -> bool {
    let me = std::process::id() as i32;
    let Ok(all) = procfs::process::all_processes() else {
        return false;
    };
    all.flatten()
        .filter(|p| p.pid != me)
        .filter_map(|p| p.stat().ok())
        .any(|stat| stat.flags & PF_KTHREAD == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_process_is_not_alone() {
        // The test harness itself has other processes around (cargo, the
        // shell): the check must see them, and must not count itself.
        assert!(others_alive());
    }
}
