//! Telling a probable OOM kill from any other SIGKILL.
//!
//! Without a cgroup per service the kernel does not say whom its OOM killer
//! chose, but it counts its kills in /proc/vmstat (`oom_kill`). A child
//! that died of SIGKILL while that count rose since the last such death is
//! *suspected* of having been OOM-killed; `why` says "probably". The file is
//! read only for SIGKILL deaths, on the reaper's thread.

use std::sync::atomic::{AtomicU64, Ordering};
use zinit_core::exit::ExitStatus;

/// The last `oom_kill` count seen; `u64::MAX` before the first reading.
static LAST_OOM_KILLS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Take the first reading, so a kill before any child died still counts.
pub(super) fn remember_oom_kills() {
    if let Some(count) = oom_kills() {
        LAST_OOM_KILLS.store(count, Ordering::Relaxed);
    }
}

/// Whether `status` is a SIGKILL death during which the kernel's OOM
/// killer acted.
pub(super) fn suspect_oom(status: ExitStatus) -> bool {
    if status != ExitStatus::Signaled(libc::SIGKILL) {
        return false;
    }
    let Some(now) = oom_kills() else {
        return false;
    };
    let before = LAST_OOM_KILLS.swap(now, Ordering::Relaxed);
    before != u64::MAX && now > before
}

fn oom_kills() -> Option<u64> {
    let vmstat = std::fs::read_to_string("/proc/vmstat").ok()?;
    parse_oom_kills(&vmstat)
}

fn parse_oom_kills(vmstat: &str) -> Option<u64> {
    vmstat
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_counter() {
        let sample = "nr_free_pages 1\noom_kill 7\nnr_foo 3\n";
        assert_eq!(parse_oom_kills(sample), Some(7));
        assert_eq!(parse_oom_kills("nr_free_pages 1\n"), None);
        // The real file has it on any kernel since 4.13.
        assert!(oom_kills().is_some());
    }

    #[test]
    fn only_sigkill_deaths_are_suspects() {
        assert!(!suspect_oom(ExitStatus::Code(137)));
        assert!(!suspect_oom(ExitStatus::Signaled(libc::SIGTERM)));
    }
}
