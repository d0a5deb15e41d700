//! The last act of PID 1 after every service has been stopped in order:
//! SIGTERM to everything left, a grace period, SIGKILL (the one
//! escalation, `process::stop`, on its `Everyone` target), sync,
//! reboot(2).

use crate::process::stop::{self, Step, Stop, Target};
use nix::sys::reboot::{reboot, RebootMode};
use std::time::Duration;
use zinit_core::signal::Signal;

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
    let mut everyone = [Stop {
        target: Target::Everyone,
        signal: Signal::Term,
        grace: TERM_GRACE,
    }];
    stop::escalate(&mut everyone, KILL_GRACE, |_, step| match step {
        Step::Killing => tracing::warn!(
            "processes left after {} s: sending SIGKILL",
            TERM_GRACE.as_secs()
        ),
        Step::Failed(e) => tracing::warn!("{e}"),
        Step::Ended(_) => {}
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_process_is_not_alone() {
        // The test harness itself has other processes around (cargo, the
        // shell): the check must see them, and must not count itself.
        assert!(stop::others_alive());
    }
}
