//! File descriptor hygiene for spawning: close-on-exec everywhere, the fds a
//! child gets kept away from 0-2 until it places them, and the start-up
//! sweep over fds zinit inherited.
//!
//! Nothing here runs in a forked child.

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Set FD_CLOEXEC on every fd >= 3, so nothing zinit inherited from whoever
/// started it (or opened without the flag) leaks into services. Call once
/// at daemon start.
///
/// Uses `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)` (Linux 5.11+) and falls
/// back to setting the flag on each fd listed in /proc/self/fd.
pub fn mark_inherited_fds_cloexec() -> std::io::Result<()> {
    if close_range_cloexec(3) {
        return Ok(());
    }
    mark_listed_fds_cloexec()
}

/// The fallback of [`mark_inherited_fds_cloexec`] for kernels before 5.11.
fn mark_listed_fds_cloexec() -> std::io::Result<()> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= 3)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD/F_SETFD only touch the fd's flags; a stale number
        // (the directory fd read_dir used, already closed) fails with EBADF.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`; false if the kernel does
/// not support it. Async-signal-safe (a bare system call), so the forked
/// child uses it too.
pub(super) fn close_range_cloexec(first: u32) -> bool {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing; it only
    // sets a flag on open fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    rc == 0
}

/// A new close-on-exec pipe `(read, write)`, both ends above 2.
pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// /dev/null opened read-write and close-on-exec, above 2.
pub(super) fn open_devnull() -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    above_stdio(fd)
}

/// Move `fd` to a number >= 3 if it is 0, 1 or 2 (possible when zinit was
/// started with those closed), so the child's `dup2` onto 0-2 never
/// clobbers a source it still needs.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() >= 3 {
        return Ok(fd);
    }
    let moved = fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(moved) })
}

/// Put `fd` in non-blocking mode.
pub(super) fn set_nonblocking(fd: &OwnedFd) -> Result<(), Errno> {
    let flags = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Whether `fd` has FD_CLOEXEC set (tests).
#[cfg(test)]
pub(super) fn is_cloexec(fd: &OwnedFd) -> bool {
    fcntl(fd.as_fd(), FcntlArg::F_GETFD)
        .map(|f| nix::fcntl::FdFlag::from_bits_retain(f).contains(nix::fcntl::FdFlag::FD_CLOEXEC))
        .unwrap_or(false)
}

/// An errno as lowercase text, e.g. "no such file or directory".
#[derive(Clone, Copy, Debug)]
pub(super) struct ErrText(pub Errno);

impl fmt::Display for ErrText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = self.0.desc();
        let mut chars = desc.chars();
        if let Some(first) = chars.next() {
            write!(f, "{}", first.to_ascii_lowercase())?;
        }
        f.write_str(chars.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_lowercase() {
        assert_eq!(
            ErrText(Errno::ENOENT).to_string(),
            "no such file or directory"
        );
    }

    #[test]
    fn helpers_give_cloexec_fds_above_stdio() {
        let (r, w) = pipe().unwrap();
        let null = open_devnull().unwrap();
        for fd in [&r, &w, &null] {
            assert!(fd.as_raw_fd() >= 3);
            assert!(is_cloexec(fd));
        }
        set_nonblocking(&r).unwrap();
        let flags = fcntl(r.as_fd(), FcntlArg::F_GETFL).unwrap();
        assert_ne!(flags & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn marks_leaked_fds_cloexec() {
        let mut raw = [0; 2];
        // SAFETY: `raw` has room for the two fds pipe writes.
        assert_eq!(unsafe { libc::pipe(raw.as_mut_ptr()) }, 0);
        // SAFETY: pipe just created these fds and nothing else owns them.
        let fds = raw.map(|fd| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        assert!(!is_cloexec(&fds[0]));
        mark_listed_fds_cloexec().unwrap();
        assert!(is_cloexec(&fds[0]) && is_cloexec(&fds[1]));

        // SAFETY: as above.
        assert_eq!(unsafe { libc::pipe(raw.as_mut_ptr()) }, 0);
        // SAFETY: as above.
        let fds = raw.map(|fd| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        mark_inherited_fds_cloexec().unwrap();
        assert!(is_cloexec(&fds[0]) && is_cloexec(&fds[1]));
    }
}
