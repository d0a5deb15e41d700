//! Undoing the signal state zinit inherited from whoever started it.
//!
//! Both survive `execve`, and both would break supervision silently:
//!
//! - **SIGCHLD set to SIG_IGN** makes the kernel reap zinit's children
//!   itself: the reaper's `waitid` never sees them, so every exit is lost
//!   (promise 2) and crashed services are never restarted.
//! - **A blocked signal mask** keeps SIGTERM, SIGINT and SIGPWR pending
//!   forever: zinit would never shut down on them.
//!
//! Children get a clean state anyway (see `child::reset_signals`); this is
//! about zinit itself. Other inherited SIG_IGN dispositions are harmless:
//! the signals zinit acts on get handlers, which replace SIG_IGN.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Set SIGCHLD back to its default action, so exited children stay
/// zombies until the reaper waits for them. Process-wide; call before the
/// first child is forked.
pub fn reset_sigchld() -> nix::Result<()> {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL runs no code of ours in signal context.
    unsafe { sigaction(Signal::SIGCHLD, &default) }.map(drop)
}

/// [`reset_sigchld`], and unblock every signal in the calling thread.
/// Threads inherit the mask of the thread that creates them, so call this
/// first thing in `main`, before any thread exists.
pub fn reset_inherited_signals() -> nix::Result<()> {
    reset_sigchld()?;
    // The kernel's whole set, including glibc's reserved 32 and 33, which
    // `pthread_sigmask` would leave as they were.
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask reads only `empty`; the size is the kernel's
    // 64-signal set on the architectures zinit supports.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        )
    };
    if rc == -1 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Run `check` in a forked child (so the test process's own signal
    /// state is never touched) and return the byte it reports.
    fn in_child(check: fn() -> u8) -> u8 {
        let (read, write) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only makes raw system calls and `_exit`s.
        match unsafe { libc::fork() } {
            0 => unsafe {
                let byte = check();
                libc::write(write.as_raw_fd(), (&byte as *const u8).cast(), 1);
                libc::_exit(0)
            },
            pid => {
                assert!(pid > 0, "fork failed");
                drop(write);
                let mut byte = [0u8; 1];
                assert_eq!(nix::unistd::read(&read, &mut byte), Ok(1));
                // The child is reaped by whoever reaps in this process (the
                // reaper thread if another test started it).
                byte[0]
            }
        }
    }

    /// SIGCHLD ignored and everything blocked, as a hostile parent would
    /// leave it; then the reset; 1 if the state is clean.
    fn hostile_then_reset() -> u8 {
        // SAFETY: raw system calls on local buffers (in a forked child).
        unsafe {
            let ignore: [u64; 4] = [libc::SIG_IGN as u64, 0, 0, 0];
            libc::syscall(
                libc::SYS_rt_sigaction,
                libc::SIGCHLD,
                ignore.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
            let all: u64 = !0;
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &all as *const u64,
                std::ptr::null_mut::<u64>(),
                8usize,
            );
            if reset_inherited_signals().is_err() {
                return 0;
            }
            let mut old: [u64; 4] = [7; 4];
            libc::syscall(
                libc::SYS_rt_sigaction,
                libc::SIGCHLD,
                std::ptr::null::<u64>(),
                old.as_mut_ptr(),
                8usize,
            );
            let mut mask: u64 = 7;
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                std::ptr::null::<u64>(),
                &mut mask as *mut u64,
                8usize,
            );
            u8::from(old[0] == libc::SIG_DFL as u64 && mask == 0)
        }
    }

    #[test]
    fn an_ignored_sigchld_and_a_blocked_mask_are_undone() {
        assert_eq!(in_child(hostile_then_reset), 1);
    }
}
