//! Starting a child: resolve the program, prepare everything in the parent,
//! `fork` under the process table lock, register the pid, then learn from
//! the report pipe whether `execve` succeeded.
//!
//! Not `std::process::Command` nor `tokio::process`: both wait on their own
//! children (std even on exec failure), which would race the one reaper.
//! This module never waits; a child that fails before exec is reaped by the
//! reaper as an unknown pid.

use super::child::{self, Plan, Report, Step, REPORT_LEN};
use super::fds::{self, ErrText};
use super::identity::ChildSetup;
use super::{reaper, resolve, table, Reaped};
use nix::errno::Errno;
use std::ffi::{c_char, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::UnboundedSender;

/// What to start.
#[derive(Clone, Copy, Debug)]
pub struct SpawnRequest<'a> {
    /// `argv`; `argv[0]` names the program.
    pub argv: &'a [String],
    /// The complete environment of the child.
    pub env: &'a [(String, String)],
    /// Working directory of the child.
    pub dir: &'a Path,
    pub output: Output,
}

/// Where the child's stdout and stderr go. stdin is always /dev/null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Two pipes; the read ends are returned in [`Spawned`].
    Capture,
    /// zinit's own fds 1 and 2.
    Inherit,
    /// /dev/null.
    Null,
}

/// A started child.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    /// Read end of the stdout pipe with [`Output::Capture`]; non-blocking,
    /// close-on-exec.
    pub stdout: Option<OwnedFd>,
    /// Read end of the stderr pipe with [`Output::Capture`].
    pub stderr: Option<OwnedFd>,
}

/// Why a child could not be started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    #[error("executable {program:?} not found{}", if program.contains('/') { "" } else { " in PATH" })]
    NotFound { program: String },
    #[error("executable {program:?} is not executable: permission denied")]
    PermissionDenied { program: String },
    #[error("cannot enter working directory {dir:?}: {}", ErrText(*errno))]
    Dir { dir: PathBuf, errno: Errno },
    #[error("cannot execute {program:?}: {}", ErrText(*errno))]
    Exec { program: String, errno: Errno },
    #[error("cannot start process: {what} failed: {}", ErrText(*errno))]
    Resources { what: &'static str, errno: Errno },
    #[error("cannot put the process into cgroup {dir:?}: {}", ErrText(*errno))]
    Cgroup { dir: PathBuf, errno: Errno },
    #[error("cannot set {key} to {value}: {}{}", ErrText(*errno),
        if *errno == Errno::EPERM {  " (raising a hard limit above zinit's own needs root: CAP_SYS_RESOURCE)" } else { "" })]
    Limit {
        key: String,
        value: String,
        errno: Errno,
    },
    #[error("cannot set nice to {nice}: {}{}", ErrText(*errno),
        if matches!(errno, Errno::EPERM | Errno::EACCES) {  " (a niceness below zinit's own needs root: CAP_SYS_NICE)" } else { "" })]
    Nice { nice: i32, errno: Errno },
    #[error("cannot set oom_score_adj to {value}: {}{}", ErrText(*errno),
        if matches!(errno, Errno::EPERM | Errno::EACCES) {  " (lowering it needs root: CAP_SYS_RESOURCE)" } else { "" })]
    OomScoreAdj { value: i32, errno: Errno },
    #[error("cannot switch to {what} {id}: {}", ErrText(*errno))]
    Credentials {
        what: &'static str,
        id: u32,
        errno: Errno,
    },
}

/// Start `req` as a new session and process group leader. Its exit will be
/// sent to `exits` exactly once (only if this returns `Ok`).
///
/// Blocks until the child has exec'd or failed to (normally well under a
/// millisecond; longer if `dir` or the program sit on a slow filesystem).
pub fn spawn(
    req: &SpawnRequest<'_>,
    exits: &UnboundedSender<Reaped>,
) -> Result<Spawned, SpawnError> {
    spawn_in(req, &[], exits)
}

/// [`spawn`], with the child joining the cgroup directories `cgroups` (its
/// cgroup2 one, and v1 ones for limits on hybrid hosts) before it execs,
/// so nothing it starts is ever outside.
pub fn spawn_in(
    req: &SpawnRequest<'_>,
    cgroups: &[PathBuf],
    exits: &UnboundedSender<Reaped>,
) -> Result<Spawned, SpawnError> {
    spawn_with(req, &ChildSetup::default(), cgroups, exits)
}

/// [`spawn_in`], with the child's limits, priority, OOM score, mask and
/// credentials set up as `setup` says before it execs.
pub fn spawn_with(
    req: &SpawnRequest<'_>,
    setup: &ChildSetup,
    cgroups: &[PathBuf],
    exits: &UnboundedSender<Reaped>,
) -> Result<Spawned, SpawnError> {
    let name = req.argv.first().map_or("", String::as_str);
    let path = resolve::program(name, req.env, req.dir)?;
    let image = Image::new(name, &path, req)?;
    let mut fds = ChildFds::open(req.output)?;
    for dir in cgroups {
        let procs = super::cgroup::open_procs(dir).map_err(|errno| SpawnError::Cgroup {
            dir: dir.to_owned(),
            errno,
        })?;
        fds.cgroups.push(procs);
    }
    let cgroup_procs: Vec<RawFd> = fds.cgroups.iter().map(AsRawFd::as_raw_fd).collect();
    let argv = image.argv_ptrs();
    let envp = image.envp_ptrs();
    let attrs = RawAttributes::new(setup);
    let (stdout, stderr) = fds.child_output(req.output);
    let plan = Plan {
        program: &image.program,
        argv: &argv,
        envp: &envp,
        dir: &image.dir,
        stdin: fds.null.as_raw_fd(),
        stdout,
        stderr,
        report: fds.report.1.as_raw_fd(),
        cgroup_procs: &cgroup_procs,
        limits: &attrs.limits,
        nice: setup.nice,
        oom_score_adj: attrs.oom_score_adj.as_deref(),
        umask: setup.umask.map(|m| m as libc::mode_t),
        groups: attrs.groups.as_deref(),
        gid: setup.credentials.as_ref().map(|c| c.gid),
        uid: setup.credentials.as_ref().and_then(|c| c.uid),
    };
    let (pid, token) = fork_registered(&plan, exits)?;
    // Our copies of the child's ends close here, so the report pipe reads
    // EOF once the child has exec'd.
    let (stdout, stderr, report) = fds.into_parent_ends();
    let outcome = read_report(report).map_err(|report| {
        let context = Context {
            program: name,
            dir: req.dir,
            cgroups,
            setup,
        };
        failure(report, &context)
    });
    table::settle(pid, token, outcome.is_ok(), exits);
    outcome?;
    Ok(Spawned {
        pid,
        stdout,
        stderr,
    })
}

/// `fork` with the table lock held, registering the child before the
/// reaper can see it.
fn fork_registered(
    plan: &Plan<'_>,
    exits: &UnboundedSender<Reaped>,
) -> Result<(i32, u64), SpawnError> {
    let mut table = table::lock();
    reaper::ensure_started(&mut table).map_err(|e| SpawnError::Resources {
        what: "starting the reaper thread",
        errno: e.raw_os_error().map_or(Errno::EAGAIN, Errno::from_raw),
    })?;
    // SAFETY: the child runs only `child::exec`, which restricts itself to
    // async-signal-safe calls on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(SpawnError::Resources {
            what: "fork",
            errno: Errno::last(),
        }),
        // SAFETY: we are the child, right after fork, with a parent-built plan.
        0 => unsafe { child::exec(plan) },
        pid => {
            let token = table.register(pid, exits);
            drop(table);
            table::notify_forked();
            Ok((pid, token))
        }
    }
}

/// The child's limits, OOM score and groups as the system calls take them,
/// built before `fork`.
struct RawAttributes {
    limits: Vec<(i32, libc::rlimit)>,
    oom_score_adj: Option<Vec<u8>>,
    groups: Option<Vec<libc::gid_t>>,
}

impl RawAttributes {
    fn new(setup: &ChildSetup) -> RawAttributes {
        RawAttributes {
            limits: setup
                .limits
                .iter()
                .map(|l| {
                    let limit = libc::rlimit {
                        rlim_cur: l.soft,
                        rlim_max: l.hard,
                    };
                    (rlimit_resource(l.resource), limit)
                })
                .collect(),
            oom_score_adj: setup.oom_score_adj.map(|v| v.to_string().into_bytes()),
            groups: setup.credentials.as_ref().and_then(|c| c.groups.clone()),
        }
    }
}

fn rlimit_resource(resource: zinit_core::spec::Resource) -> i32 {
    use zinit_core::spec::Resource;
    (match resource {
        Resource::As => libc::RLIMIT_AS,
        Resource::Core => libc::RLIMIT_CORE,
        Resource::Cpu => libc::RLIMIT_CPU,
        Resource::Data => libc::RLIMIT_DATA,
        Resource::Fsize => libc::RLIMIT_FSIZE,
        Resource::Memlock => libc::RLIMIT_MEMLOCK,
        Resource::Nofile => libc::RLIMIT_NOFILE,
        Resource::Nproc => libc::RLIMIT_NPROC,
        Resource::Stack => libc::RLIMIT_STACK,
    }) as i32
}

/// Read the report pipe to EOF: nothing means exec succeeded.
fn read_report(report: OwnedFd) -> Result<(), Report> {
    let mut buf = [0u8; REPORT_LEN];
    let mut filled = 0;
    loop {
        match nix::unistd::read(&report, &mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == REPORT_LEN {
                    break;
                }
            }
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(unknown_step(errno)),
        }
    }
    match filled {
        0 => Ok(()),
        REPORT_LEN => Err(child::decode_report(buf)),
        _ => Err(unknown_step(Errno::EIO)),
    }
}

fn unknown_step(errno: Errno) -> Report {
    Report {
        step: None,
        errno: errno as i32,
        detail: 0,
    }
}

/// What a failure report is explained with.
struct Context<'a> {
    program: &'a str,
    dir: &'a Path,
    cgroups: &'a [PathBuf],
    setup: &'a ChildSetup,
}

/// The error for a child that reported `errno` at `step`.
fn failure(report: Report, context: &Context<'_>) -> SpawnError {
    let Context {
        program,
        dir,
        cgroups,
        setup,
    } = context;
    let errno = Errno::from_raw(report.errno);
    let program = (*program).to_owned();
    let creds = setup.credentials.as_ref();
    match report.step {
        Some(Step::Rlimit) => {
            let limit = usize::try_from(report.detail)
                .ok()
                .and_then(|i| setup.limits.get(i));
            SpawnError::Limit {
                key: limit.map_or_else(|| "a resource limit".to_owned(), |l| l.key()),
                value: limit.map_or_else(String::new, |l| l.text()),
                errno,
            }
        }
        Some(Step::Nice) => SpawnError::Nice {
            nice: setup.nice.unwrap_or_default(),
            errno,
        },
        Some(Step::OomScoreAdj) => SpawnError::OomScoreAdj {
            value: setup.oom_score_adj.unwrap_or_default(),
            errno,
        },
        Some(Step::Setgroups) => SpawnError::Credentials {
            what: "the supplementary groups of group",
            id: creds.map_or(0, |c| c.gid),
            errno,
        },
        Some(Step::Setgid) => SpawnError::Credentials {
            what: "group",
            id: creds.map_or(0, |c| c.gid),
            errno,
        },
        Some(Step::Setuid) => SpawnError::Credentials {
            what: "user",
            id: creds.and_then(|c| c.uid).unwrap_or_default(),
            errno,
        },
        Some(Step::Cgroup) => SpawnError::Cgroup {
            dir: usize::try_from(report.detail)
                .ok()
                .and_then(|i| cgroups.get(i))
                .cloned()
                .unwrap_or_default(),
            errno,
        },
        Some(Step::Chdir) => SpawnError::Dir {
            dir: (*dir).to_owned(),
            errno,
        },
        Some(Step::Exec) if errno == Errno::ENOENT => SpawnError::NotFound { program },
        Some(Step::Exec) if errno == Errno::EACCES => SpawnError::PermissionDenied { program },
        Some(Step::Exec) | None => SpawnError::Exec { program, errno },
        Some(Step::Setsid) => SpawnError::Resources {
            what: "setsid",
            errno,
        },
        Some(Step::Signals) => SpawnError::Resources {
            what: "resetting signals",
            errno,
        },
        Some(Step::Stdio) => SpawnError::Resources {
            what: "setting up stdio",
            errno,
        },
    }
}

/// The C strings `execve` and `chdir` need, built before `fork`.
struct Image {
    program: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    dir: CString,
}

impl Image {
    fn new(name: &str, path: &Path, req: &SpawnRequest<'_>) -> Result<Image, SpawnError> {
        // A NUL byte cannot be passed to execve; config lowering refuses
        // them, so this only guards against other callers.
        let invalid = || SpawnError::Exec {
            program: name.to_owned(),
            errno: Errno::EINVAL,
        };
        let cstr = |bytes: Vec<u8>| CString::new(bytes).map_err(|_| invalid());
        Ok(Image {
            program: cstr(path.as_os_str().as_bytes().to_vec())?,
            argv: req
                .argv
                .iter()
                .map(|a| cstr(a.clone().into_bytes()))
                .collect::<Result<_, _>>()?,
            env: req
                .env
                .iter()
                .map(|(k, v)| cstr(format!("{k}={v}").into_bytes()))
                .collect::<Result<_, _>>()?,
            dir: CString::new(req.dir.as_os_str().as_bytes()).map_err(|_| SpawnError::Dir {
                dir: req.dir.to_owned(),
                errno: Errno::EINVAL,
            })?,
        })
    }

    fn argv_ptrs(&self) -> Vec<*const c_char> {
        null_terminated(&self.argv)
    }

    fn envp_ptrs(&self) -> Vec<*const c_char> {
        null_terminated(&self.env)
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The fds a child needs, all close-on-exec and above 2.
struct ChildFds {
    /// /dev/null, read-write: the child's stdin, and stdout/stderr with
    /// [`Output::Null`].
    null: OwnedFd,
    /// With [`Output::Capture`]: `(read, write)` of the stdout and stderr
    /// pipes; the child gets the write ends.
    capture: Option<[(OwnedFd, OwnedFd); 2]>,
    /// `(read, write)` of the report pipe.
    report: (OwnedFd, OwnedFd),
    /// `cgroup.procs` of each cgroup the child joins, open for writing.
    cgroups: Vec<OwnedFd>,
}

impl ChildFds {
    fn open(output: Output) -> Result<ChildFds, SpawnError> {
        let resources = |what| move |errno| SpawnError::Resources { what, errno };
        let null = fds::open_devnull().map_err(resources("opening /dev/null"))?;
        let capture = match output {
            Output::Capture => Some([
                fds::pipe().map_err(resources("creating a pipe"))?,
                fds::pipe().map_err(resources("creating a pipe"))?,
            ]),
            Output::Inherit | Output::Null => None,
        };
        if let Some(pipes) = &capture {
            for (read, _) in pipes {
                fds::set_nonblocking(read).map_err(resources("configuring a pipe"))?;
            }
        }
        let report = fds::pipe().map_err(resources("creating a pipe"))?;
        Ok(ChildFds {
            null,
            capture,
            report,
            cgroups: Vec::new(),
        })
    }

    /// The fds for the child's 1 and 2 (`None`: inherit zinit's).
    fn child_output(&self, output: Output) -> (Option<RawFd>, Option<RawFd>) {
        match (output, &self.capture) {
            (Output::Capture, Some([out, err])) => {
                (Some(out.1.as_raw_fd()), Some(err.1.as_raw_fd()))
            }
            (Output::Null, _) => (Some(self.null.as_raw_fd()), Some(self.null.as_raw_fd())),
            _ => (None, None),
        }
    }

    /// After the fork: close the child's ends and return the read ends of
    /// the capture pipes and of the report pipe.
    fn into_parent_ends(self) -> (Option<OwnedFd>, Option<OwnedFd>, OwnedFd) {
        let (report, _child_end) = self.report;
        match self.capture {
            Some([(out, _), (err, _)]) => (Some(out), Some(err), report),
            None => (None, None, report),
        }
    }
}
