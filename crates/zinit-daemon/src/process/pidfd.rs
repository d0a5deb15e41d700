//! Process file descriptors: a handle on one process that can never refer
//! to another, even after its pid is recycled. Used for processes that are
//! not (or no longer) registered children: members of a service's cgroup
//! and the leftovers of a previous zinit.
//!
//! A pid read from somewhere (cgroup.procs, a state file) is only trusted
//! once a pidfd is open on it *and* a check made after the open still finds
//! the process where it is expected (its cgroup, its start time). If the
//! process died in between, the check may see a stranger that got the pid,
//! but then the pidfd refers to the dead process and signalling it fails
//! with ESRCH: a stranger is never signalled.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An open pidfd.
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
    pid: i32,
}

impl Pidfd {
    /// `pidfd_open(pid)`; `Ok(None)` if no such process exists.
    pub fn open(pid: i32) -> Result<Option<Pidfd>, Errno> {
        if pid <= 0 {
            return Ok(None);
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if rc < 0 {
            return match Errno::last() {
                Errno::ESRCH => Ok(None),
                errno => Err(errno),
            };
        }
        let raw = i32::try_from(rc).map_err(|_| Errno::EBADF)?;
        // SAFETY: the kernel just returned this fd (close-on-exec) to us.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Some(Pidfd { fd, pid }))
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Send `signo` to exactly this process. `Ok(false)`: it has exited.
    pub fn send(&self, signo: i32) -> Result<bool, Errno> {
        // SAFETY: pidfd_send_signal with no siginfo and no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signo,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            Ok(true)
        } else {
            match Errno::last() {
                Errno::ESRCH => Ok(false),
                errno => Err(errno),
            }
        }
    }

    /// Whether the process has exited (a pidfd polls readable then).
    pub fn exited(&self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
        rc > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0
    }
}

/// The start time of process `pid` (field 22 of /proc/PID/stat, in clock
/// ticks since boot): with the pid, it identifies one process for good.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a /proc/PID/stat line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts at field 3 (state); field 22 is the 20th after it.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_odd_names() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(parse_start_time(line), Some(987_654));
        assert_eq!(parse_start_time("42 (x) S 1"), None);
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn own_start_time_is_stable_and_a_pidfd_signals_only_the_living() {
        let me = std::process::id() as i32;
        let first = start_time(me).expect("own start time");
        assert_eq!(start_time(me), Some(first));
        let fd = Pidfd::open(me).expect("pidfd_open").expect("alive");
        assert!(!fd.exited());
        assert_eq!(fd.send(0), Ok(true));
        assert!(Pidfd::open(-5).expect("no error").is_none());
    }
}
