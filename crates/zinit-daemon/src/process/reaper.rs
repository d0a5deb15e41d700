//! The one reaper: a dedicated OS thread, the only code in zinit that calls
//! `wait*`.
//!
//! It blocks in `waitid(P_ALL, WEXITED | WNOWAIT)` to learn which child is
//! exiting without reaping it, then takes the process table lock, reaps
//! exactly that pid with `waitpid(pid, WNOHANG)`, settles its registration
//! and, after releasing the lock, sends the exit to the owner's channel.
//! Unknown pids (orphans reparented to us, children whose exec failed) are
//! reaped and logged at debug level.
//!
//! zinit must never set SIGCHLD to SIG_IGN or use SA_NOCLDWAIT: the kernel
//! would then reap children itself and their statuses would be lost.
//!
//! It is a thread and not a tokio task so that it outlives any runtime and
//! keeps reaping whatever the async side is doing. It must never panic and
//! never stop.

use super::table::{self, Phase};
use super::Reaped;
use nix::errno::Errno;
use std::time::Duration;
use zinit_core::exit::ExitStatus;

/// With no children at all, the reaper sleeps until `spawn` announces a
/// fork. Orphans can also be reparented to a PID 1 or subreaper that has no
/// children of its own (a process that joined our pid namespace from
/// outside), and nobody announces those; this bounds how long such a zombie
/// waits. It only runs while there are no children.
const IDLE_BACKSTOP: Duration = Duration::from_secs(1);

/// Start the reaper thread if it is not running yet. Idempotent; `spawn`
/// calls it too.
pub fn start_reaper() -> std::io::Result<()> {
    let mut table = table::lock();
    ensure_started(&mut table)
}

/// Start the reaper with the table lock already held.
pub(super) fn ensure_started(table: &mut table::Table) -> std::io::Result<()> {
    if table.reaper_started {
        return Ok(());
    }
    // With SIGCHLD inherited as SIG_IGN the kernel would reap our children
    // itself and every exit would be lost.
    if let Err(errno) = super::inherited::reset_sigchld() {
        tracing::error!("cannot reset SIGCHLD: {}", super::fds::ErrText(errno));
    }
    super::oom::remember_oom_kills();
    std::thread::Builder::new()
        .name("zinit-reaper".into())
        .spawn(run)?;
    table.reaper_started = true;
    Ok(())
}

fn run() {
    loop {
        match peek_exited(Block::Yes) {
            Ok(Some(pid)) => reap(pid),
            Ok(None) | Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => wait_for_children(),
            Err(errno) => {
                // Only EINVAL is documented, which our fixed flags rule out.
                tracing::error!("waitid failed: {}", super::fds::ErrText(errno));
                std::thread::sleep(IDLE_BACKSTOP);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Yes,
    No,
}

/// The pid of a child that has exited, left a zombie (`WNOWAIT`). `None`
/// only with [`Block::No`] when children exist but none has exited.
fn peek_exited(block: Block) -> Result<Option<i32>, Errno> {
    // __WALL: also children whose exit signal is not SIGCHLD.
    let mut flags = libc::WEXITED | libc::WNOWAIT | libc::__WALL;
    if block == Block::No {
        flags |= libc::WNOHANG;
    }
    // SAFETY: siginfo_t is plain data for which all-zero bytes are valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t for the whole call.
    let rc = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) };
    if rc == -1 {
        return Err(Errno::last());
    }
    // SAFETY: waitid filled `info` for a child event (or left it zeroed,
    // where si_pid reads as 0).
    let pid = unsafe { info.si_pid() };
    Ok((pid > 0).then_some(pid))
}

/// With no children at all: sleep until a fork is announced. The check is
/// repeated under the table lock, which `spawn` holds across `fork`, so a
/// child forked after the first check is never missed.
fn wait_for_children() {
    let guard = table::lock();
    if peek_exited(Block::No) == Err(Errno::ECHILD) {
        table::wait_for_child(guard, IDLE_BACKSTOP);
    }
}

/// Reap `pid`, which `waitid` reported exited, and tell its owner.
fn reap(pid: i32) {
    let mut table = table::lock();
    let status = match reap_now(pid) {
        Ok(Some(status)) => status,
        Ok(None) => return,
        Err(errno) => {
            // Someone else waited for it, against the rules.
            let lost = table.entries.remove(&pid).is_some();
            drop(table);
            tracing::error!(
                pid,
                lost,
                "cannot reap process {pid}: {}",
                super::fds::ErrText(errno)
            );
            return;
        }
    };
    let Some(reg) = table.entries.remove(&pid) else {
        drop(table);
        tracing::debug!(pid, "reaped unknown process {pid}: {status}");
        return;
    };
    if reg.phase == Phase::Starting {
        // `spawn` still reads the exec report: park the status for it.
        table.early.insert(reg.token, status);
        return;
    }
    drop(table);
    if reg.exits.send(Reaped::new(pid, status)).is_err() {
        tracing::debug!(pid, "owner of process {pid} is gone: {status}");
    }
}

/// `waitpid(pid, WNOHANG)`, decoding the raw status ourselves: nix refuses
/// statuses with signals it has no name for (real-time signals), and a
/// child we cannot reap would stall the reaper forever.
fn reap_now(pid: i32) -> Result<Option<ExitStatus>, Errno> {
    let mut raw = 0;
    loop {
        // SAFETY: `raw` is a valid, writable int for the call.
        let rc = unsafe { libc::waitpid(pid, &mut raw, libc::WNOHANG | libc::__WALL) };
        match rc {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            0 => return Ok(None),
            _ => return Ok(decode(raw)),
        }
    }
}

fn decode(raw: i32) -> Option<ExitStatus> {
    if libc::WIFEXITED(raw) {
        Some(ExitStatus::Code(libc::WEXITSTATUS(raw)))
    } else if libc::WIFSIGNALED(raw) {
        Some(ExitStatus::Signaled(libc::WTERMSIG(raw)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_wait_statuses() {
        assert_eq!(decode(7 << 8), Some(ExitStatus::Code(7)));
        assert_eq!(decode(0), Some(ExitStatus::Code(0)));
        assert_eq!(decode(9), Some(ExitStatus::Signaled(9)));
        assert_eq!(decode(34 | 0x80), Some(ExitStatus::Signaled(34)));
        assert_eq!(decode(0x137f), None); // stopped by SIGSTOP
    }
}
