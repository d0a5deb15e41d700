//! What runs in the forked child between `fork` and `execve`, and the
//! report it leaves behind when a step fails.
//!
//! zinit is multi-threaded, so after `fork` the child may only call
//! async-signal-safe functions: no allocation, no locks, no `tracing`, no
//! nix helpers that allocate. Everything the child needs is built by the
//! parent beforehand ([`Plan`]); here only raw `libc` calls run. On failure
//! the child writes `[step, errno, detail]` to the close-on-exec report pipe and
//! `_exit(127)`s; if exec succeeds the pipe closes with nothing written.

use std::ffi::{c_char, CStr};
use std::os::fd::RawFd;

/// The step of the child set-up that failed, as written to the report pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub(super) enum Step {
    Setsid = 1,
    Signals = 2,
    Stdio = 3,
    Chdir = 4,
    Exec = 5,
    Cgroup = 6,
    /// `detail`: the index of the limit in [`Plan::limits`].
    Rlimit = 7,
    Nice = 8,
    OomScoreAdj = 9,
    Setgroups = 10,
    Setgid = 11,
    Setuid = 12,
}

impl Step {
    pub(super) fn from_raw(raw: i32) -> Option<Step> {
        [
            Step::Setsid,
            Step::Signals,
            Step::Stdio,
            Step::Chdir,
            Step::Exec,
            Step::Cgroup,
            Step::Rlimit,
            Step::Nice,
            Step::OomScoreAdj,
            Step::Setgroups,
            Step::Setgid,
            Step::Setuid,
        ]
        .into_iter()
        .find(|s| *s as i32 == raw)
    }
}

/// The size of a failure report: step, errno and a detail (which limit),
/// native-endian i32s.
pub(super) const REPORT_LEN: usize = 12;

/// A decoded failure report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Report {
    pub step: Option<Step>,
    pub errno: i32,
    pub detail: i32,
}

/// Decode a report written by [`fail`].
pub(super) fn decode_report(bytes: [u8; REPORT_LEN]) -> Report {
    let word = |i: usize| i32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Report {
        step: Step::from_raw(word(0)),
        errno: word(4),
        detail: word(8),
    }
}

/// Everything the child needs, prepared before `fork`. The pointers point
/// into `CString`s and arrays owned by the parent's stack frame, which the
/// child's copy of memory keeps intact.
pub(super) struct Plan<'a> {
    pub program: &'a CStr,
    /// NULL-terminated.
    pub argv: &'a [*const c_char],
    /// NULL-terminated.
    pub envp: &'a [*const c_char],
    pub dir: &'a CStr,
    /// Opened on /dev/null.
    pub stdin: RawFd,
    /// `None`: keep (inherit) zinit's own fd 1 / fd 2.
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
    /// The write end of the report pipe.
    pub report: RawFd,
    /// `cgroup.procs` of each cgroup of the service (its cgroup2 one, and
    /// v1 ones for limits on hybrid hosts), open for writing: the child
    /// writes "0" (itself) to each first, so all it starts stays inside.
    /// A failure's detail is the index of the cgroup.
    pub cgroup_procs: &'a [RawFd],
    /// `(RLIMIT_*, limit)` pairs, set in order.
    pub limits: &'a [(i32, libc::rlimit)],
    pub nice: Option<libc::c_int>,
    /// The text written to `/proc/self/oom_score_adj`.
    pub oom_score_adj: Option<&'a [u8]>,
    pub umask: Option<libc::mode_t>,
    /// Supplementary groups; `None`: keep zinit's.
    pub groups: Option<&'a [libc::gid_t]>,
    pub gid: Option<libc::gid_t>,
    pub uid: Option<libc::uid_t>,
}

/// Set up the child and exec. Never returns.
///
/// # Safety
/// Must only be called in the child right after `fork`, with `plan` built
/// by the parent (all fds valid and >= 3, arrays NULL-terminated).
pub(super) unsafe fn exec(plan: &Plan<'_>) -> ! {
    // SAFETY (whole function): only async-signal-safe libc calls on memory
    // the parent prepared and fds it opened.
    unsafe {
        for (index, fd) in plan.cgroup_procs.iter().enumerate() {
            if libc::write(*fd, c"0".as_ptr().cast(), 1) != 1 {
                fail_at(plan.report, Step::Cgroup, index as i32);
            }
        }
        if libc::setsid() == -1 {
            fail(plan.report, Step::Setsid);
        }
        if !reset_signals() {
            fail(plan.report, Step::Signals);
        }
        if !place_stdio(plan) {
            fail(plan.report, Step::Stdio);
        }
        // Whatever another thread opened without O_CLOEXEC while we forked
        // must not reach the service either. Failure means an old kernel;
        // everything zinit opens is close-on-exec anyway.
        super::fds::close_range_cloexec(3);
        apply_attributes(plan);
        if libc::chdir(plan.dir.as_ptr()) == -1 {
            fail(plan.report, Step::Chdir);
        }
        libc::execve(
            plan.program.as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
        );
        fail(plan.report, Step::Exec)
    }
}

/// Limits, priority, OOM score and mask while still privileged, then the
/// groups and the user (the user last: after it nothing else may change).
/// `setgroups`/`setgid`/`setuid` are glibc's wrappers, as std's `Command`
/// uses them in the same place: in the forked child there is one thread.
unsafe fn apply_attributes(plan: &Plan<'_>) {
    // SAFETY: setrlimit, setpriority, open, write, close, umask, setgroups,
    // setgid and setuid on values the parent prepared; async-signal-safe.
    unsafe {
        for (index, (resource, limit)) in plan.limits.iter().enumerate() {
            if libc::setrlimit(*resource as _, limit) == -1 {
                fail_at(plan.report, Step::Rlimit, index as i32);
            }
        }
        if let Some(nice) = plan.nice {
            if libc::setpriority(libc::PRIO_PROCESS as _, 0, nice) == -1 {
                fail(plan.report, Step::Nice);
            }
        }
        if let Some(text) = plan.oom_score_adj {
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if fd == -1 || libc::write(fd, text.as_ptr().cast(), text.len()) != text.len() as isize
            {
                fail(plan.report, Step::OomScoreAdj);
            }
            libc::close(fd);
        }
        if let Some(mask) = plan.umask {
            libc::umask(mask);
        }
        if let Some(groups) = plan.groups {
            if libc::setgroups(groups.len(), groups.as_ptr()) == -1 {
                fail(plan.report, Step::Setgroups);
            }
        }
        if let Some(gid) = plan.gid {
            if libc::setgid(gid) == -1 {
                fail(plan.report, Step::Setgid);
            }
        }
        if let Some(uid) = plan.uid {
            if libc::setuid(uid) == -1 {
                fail(plan.report, Step::Setuid);
            }
        }
    }
}

/// Default disposition for every signal (1..=64 but KILL and STOP) and an
/// empty mask. Raw system calls, because glibc refuses to touch its
/// reserved signals 32 and 33, and an inherited SIG_IGN or block on them
/// would survive exec.
unsafe fn reset_signals() -> bool {
    // An all-zero kernel `struct sigaction` is SIG_DFL (0) with no flags and
    // an empty mask on every Linux layout (with or without sa_restorer), so
    // this buffer is valid whatever the architecture's field order.
    let default = [0u64; 4];
    let empty_mask: u64 = 0;
    // SAFETY: rt_sigaction and rt_sigprocmask read only the buffers above
    // and are async-signal-safe; the set size is the kernel's 64 signals.
    unsafe {
        for sig in 1..=64 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let rc = libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                SIGSET_SIZE,
            );
            if rc == -1 && sig < 32 {
                return false;
            }
        }
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty_mask as *const u64,
            std::ptr::null_mut::<u64>(),
            SIGSET_SIZE,
        ) == 0
    }
}

/// The kernel's signal set size (64 signals) on the architectures zinit
/// supports (x86, arm, riscv).
const SIGSET_SIZE: usize = std::mem::size_of::<u64>();

/// stdin from /dev/null, stdout/stderr per plan. `dup2` clears
/// close-on-exec on the new fd; inherited 1 and 2 have it cleared
/// explicitly in case zinit's own were opened with it.
unsafe fn place_stdio(plan: &Plan<'_>) -> bool {
    // SAFETY: dup2/fcntl on fds the parent validated; async-signal-safe.
    unsafe {
        if libc::dup2(plan.stdin, 0) == -1 {
            return false;
        }
        for (source, target) in [(plan.stdout, 1), (plan.stderr, 2)] {
            match source {
                Some(fd) => {
                    if libc::dup2(fd, target) == -1 {
                        return false;
                    }
                }
                None => {
                    // A closed fd 1/2 (EBADF) is left closed.
                    libc::fcntl(target, libc::F_SETFD, 0);
                }
            }
        }
        true
    }
}

/// Report `step` with the current errno and exit.
unsafe fn fail(report: RawFd, step: Step) -> ! {
    // SAFETY: as fail_at.
    unsafe { fail_at(report, step, 0) }
}

/// Report `step` with the current errno and `detail`, and exit.
unsafe fn fail_at(report: RawFd, step: Step, detail: i32) -> ! {
    // SAFETY: reading errno, write(2) and _exit(2) are async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let mut bytes = [0u8; REPORT_LEN];
        bytes[..4].copy_from_slice(&(step as i32).to_ne_bytes());
        bytes[4..8].copy_from_slice(&errno.to_ne_bytes());
        bytes[8..].copy_from_slice(&detail.to_ne_bytes());
        // A pipe write this small is atomic; nothing to do if it fails.
        libc::write(report, bytes.as_ptr().cast(), REPORT_LEN);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let mut bytes = [0u8; REPORT_LEN];
        bytes[..4].copy_from_slice(&(Step::Rlimit as i32).to_ne_bytes());
        bytes[4..8].copy_from_slice(&libc::EPERM.to_ne_bytes());
        bytes[8..].copy_from_slice(&3i32.to_ne_bytes());
        assert_eq!(
            decode_report(bytes),
            Report {
                step: Some(Step::Rlimit),
                errno: libc::EPERM,
                detail: 3
            }
        );
        assert_eq!(Step::from_raw(0), None);
    }
}
