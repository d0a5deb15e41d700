//! cgroup v2 containment: one cgroup per service, so a stop reaches every
//! process of the service, including those that left its process group or
//! session (`setsid`, double-forked daemons).
//!
//! Layout: under a base directory (`--cgroup DIR`, or in auto mode, see
//! `cgroup_base`: zinit's own cgroup when PID 1, a per-instance directory
//! in it otherwise), service `NAME` lives in `NAME.service`. Service names
//! cannot contain `/` or start with `.`, and every cgroup interface file
//! has a controller prefix (`cgroup.`, `memory.`, ...) and no `.service`
//! suffix, so a service directory can never clash with one.
//!
//! A child joins its cgroup between `fork` and `exec` by writing "0" to an
//! fd of `cgroup.procs` that the parent opened (see `child.rs`), so
//! everything it ever forks is inside from the start.
//!
//! Signals to a cgroup never reach a stranger: the pids are read from
//! `cgroup.procs`, a pidfd is opened on each, the list is read again, and
//! only pidfds whose pid is still listed are signalled (see `pidfd.rs`:
//! a pid that died in between fails with ESRCH). Later rounds catch what
//! was forked during a round, but spare what a signalled process started
//! (its handler's clean-up, which a group signal would not reach either). No freezing and no
//! waiting is needed, so this runs on the actor like `kill(2)` does. A
//! process forked after the second read misses that signal; it is still
//! caught by `cgroup.kill`, which follows when the leader exits or at
//! `shutdown_timeout`.
//!
//! Everything that waits (for a cgroup to empty before removing it) runs
//! off the actor, bounded, and reports instead of hanging.

use super::limit_places::{LimitPlaces, Prepared};
use super::pidfd::Pidfd;
use nix::errno::Errno;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `statfs(2)`'s `f_type` of a cgroup2 filesystem.
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// `f_type` of sysfs: `/sys/fs/cgroup` with nothing mounted on it.
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// Where machine mode mounts cgroup2 when nothing is mounted there.
const DEFAULT_MOUNT: &str = "/sys/fs/cgroup";

/// How long removing a service cgroup waits for its killed processes.
pub const REMOVE_WAIT: Duration = Duration::from_secs(5);

/// What `--cgroup` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupChoice {
    /// Process groups only.
    Off,
    /// A writable cgroup2 hierarchy zinit's own process is in (see
    /// `cgroup_base`): `pid1`, its own cgroup is the base, else a
    /// per-instance directory in it; `mount`: mount cgroup2 on
    /// /sys/fs/cgroup first if nothing is mounted (machine mode).
    Auto { pid1: bool, mount: bool },
    /// This directory (created if its parent is a cgroup2 directory).
    Dir(PathBuf),
}

impl CgroupChoice {
    /// `auto`, `off`, or a path (`./auto` for a directory named auto).
    pub fn parse(text: &str) -> Result<CgroupChoice, String> {
        match text {
            "auto" => Ok(CgroupChoice::Auto {
                pid1: false,
                mount: false,
            }),
            "off" => Ok(CgroupChoice::Off),
            "" => Err("--cgroup needs auto, off or a directory".to_owned()),
            path => Ok(CgroupChoice::Dir(PathBuf::from(path))),
        }
    }
}

/// The cgroups zinit manages: a base directory and the service cgroups it
/// created below it.
#[derive(Debug)]
pub struct Cgroups {
    base: PathBuf,
    /// zinit removes the base directory at exit (once empty): it made it
    /// (`--cgroup DIR` that did not exist), or it is this instance's own.
    remove_base: bool,
    /// Names of the services whose cgroup zinit created or used.
    services: Mutex<BTreeSet<String>>,
    /// Where resource limits go (cgroup2 controllers, v1 hierarchies).
    limits: LimitPlaces,
}

impl Cgroups {
    /// Resolve `choice`; `socket` names a daemon's per-instance base in
    /// auto mode. One log line says what was chosen and why. Any failure
    /// is that line, a warning naming the path, and zinit falls back to
    /// process groups: cgroups never prevent supervision.
    pub fn setup(choice: &CgroupChoice, socket: Option<&Path>) -> Option<Arc<Cgroups>> {
        let result = match choice {
            CgroupChoice::Off => {
                tracing::info!("not using cgroups (--cgroup off): {WITHOUT}");
                return None;
            }
            CgroupChoice::Dir(dir) => Cgroups::at(dir).map(|c| (c, "--cgroup DIR".to_owned())),
            CgroupChoice::Auto { pid1: true, mount } => {
                super::cgroup_base::auto(super::cgroup_base::Mode::Pid1 { mount: *mount })
            }
            CgroupChoice::Auto { pid1: false, .. } => {
                super::cgroup_base::auto(super::cgroup_base::Mode::Daemon { socket })
            }
        };
        match result {
            Ok((cgroups, why)) => {
                tracing::info!(
                    "services run in cgroups under {}: {why}",
                    cgroups.base.display()
                );
                tracing::info!("{}", cgroups.limits.describe());
                Some(Arc::new(cgroups))
            }
            Err(e) => {
                tracing::warn!("{e}; not using cgroups: {WITHOUT}");
                None
            }
        }
    }

    /// `dir` as the base: an existing cgroup2 directory, or a new one in a
    /// cgroup2 directory.
    pub fn at(dir: &Path) -> Result<Cgroups, String> {
        Cgroups::at_as(dir, false)
    }

    /// [`Cgroups::at`]; `base_is_own`: zinit itself is in `dir`.
    pub(super) fn at_as(dir: &Path, base_is_own: bool) -> Result<Cgroups, String> {
        let shown = dir.display();
        let mut remove_base = false;
        if !dir.exists() {
            let parent = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !is_cgroup2(parent) {
                return Err(format!(
                    "cgroup directory {shown}: {} is not a cgroup2 directory",
                    parent.display()
                ));
            }
            std::fs::create_dir(dir)
                .map_err(|e| format!("cannot create cgroup directory {shown}: {e}"))?;
            remove_base = true;
        } else if !is_cgroup2(dir) {
            return Err(format!(
                "cgroup directory {shown} is not in a cgroup2 filesystem"
            ));
        }
        if !dir.join("cgroup.procs").exists() {
            return Err(format!("cgroup directory {shown} has no cgroup.procs"));
        }
        Ok(Cgroups {
            base: dir.to_owned(),
            remove_base,
            services: Mutex::new(BTreeSet::new()),
            limits: LimitPlaces::discover(dir, base_is_own),
        })
    }

    /// A per-instance base `dir` (a daemon's, in auto mode): created if
    /// missing, kept if a predecessor left it (its leftovers are found
    /// there), and removed at exit once empty.
    pub fn instance(dir: &Path) -> Result<Cgroups, String> {
        let cgroups = Cgroups::at(dir)?;
        Ok(Cgroups {
            remove_base: true,
            ..cgroups
        })
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The cgroup directory of service `name`.
    pub fn service_dir(&self, name: &str) -> PathBuf {
        self.base.join(dir_name(name))
    }

    /// Make sure service `name`'s cgroup exists; its directory.
    pub fn prepare(&self, name: &str) -> io::Result<PathBuf> {
        let dir = self.service_dir(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned());
        Ok(dir)
    }

    /// Make sure service `name`'s cgroup exists and put `resources` in
    /// force for its next run: its directory, and what else the run joins.
    pub fn prepare_run(
        &self,
        name: &str,
        resources: &zinit_core::spec::Resources,
    ) -> io::Result<(PathBuf, Prepared)> {
        let dir = self.prepare(name)?;
        let prepared = self.limits.prepare(name, &dir, resources);
        Ok((dir, prepared))
    }

    /// The cgroup directories of service `name`, for its figures.
    pub fn usage_dirs(&self, name: &str) -> super::cgroup_usage::ServiceCgroups {
        use super::limits::Controller;
        super::cgroup_usage::ServiceCgroups {
            v2: self.service_dir(name),
            v1_memory: self.limits.v1_dir(Controller::Memory, name),
            v1_cpu: self.limits.v1_dir(Controller::Cpu, name),
            v1_pids: self.limits.v1_dir(Controller::Pids, name),
        }
    }

    /// Where limits go on this machine.
    pub fn limits(&self) -> &LimitPlaces {
        &self.limits
    }

    /// Service `name` was forgotten: kill what is left in its cgroup now
    /// (a new run cannot be in it yet) and remove the directory once it is
    /// empty, off the actor and bounded.
    pub fn forget(self: &Arc<Self>, name: &str) {
        let dir = self.service_dir(name);
        if !dir.exists() {
            self.limits.forget(name);
            return;
        }
        let killed = kill_all(&dir).unwrap_or_default();
        if !killed.is_empty() {
            tracing::info!(
                "killed {} process(es) left in the cgroup of forgotten service {name}",
                killed.len()
            );
        }
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        let name = name.to_owned();
        let cgroups = self.clone();
        std::thread::Builder::new()
            .name("zinit-cgroup-rm".into())
            .spawn(move || {
                if let Err(e) = remove(&dir, REMOVE_WAIT) {
                    tracing::debug!("cgroup of {name} not removed: {e}");
                }
                cgroups.limits.forget(&name);
            })
            .map(drop)
            .unwrap_or_else(|e| tracing::warn!("cannot start a thread: {e}"));
    }

    /// At zinit's exit (every service stopped): kill what is left in the
    /// service cgroups (remnants of runs that ended on their own), remove
    /// them, and the base if zinit made it. Blocking, bounded.
    pub fn clean_up_at_exit(&self) {
        let names: Vec<String> = self
            .services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        for name in &names {
            let dir = self.service_dir(name);
            match kill_all(&dir) {
                Ok(killed) if !killed.is_empty() => tracing::info!(
                    "killed {} process(es) left in the cgroup of service {name}",
                    killed.len()
                ),
                _ => {}
            }
        }
        for name in &names {
            if let Err(e) = remove(&self.service_dir(name), REMOVE_WAIT) {
                tracing::warn!("cannot remove the cgroup of service {name}: {e}");
            }
        }
        self.limits.clean_up_at_exit();
        if self.remove_base {
            // Fails (harmlessly) if something else is still there.
            if let Err(e) = std::fs::remove_dir(&self.base) {
                tracing::debug!("cgroup {} not removed: {e}", self.base.display());
            }
        }
    }
}

/// What a stop reaches without cgroups, for the log line that says so.
const WITHOUT: &str = "a stop reaches each service's process group and the descendants still \
                       below its main process";

/// Mount cgroup2 on /sys/fs/cgroup if nothing is mounted there (machine
/// mode on a bare system).
pub(super) fn mount_default() -> Result<(), String> {
    let root = Path::new(DEFAULT_MOUNT);
    if fs_type(root) != Some(SYSFS_MAGIC) {
        return Err(format!(
            "no cgroup2 hierarchy is mounted, and {DEFAULT_MOUNT} is not empty sysfs to mount one on"
        ));
    }
    mount_cgroup2(root).map_err(|e| format!("cannot mount cgroup2 on {DEFAULT_MOUNT}: {e}"))
}

/// `NAME.service`.
pub fn dir_name(service: &str) -> String {
    format!("{service}.service")
}

/// The service a `NAME.service` directory belongs to.
pub fn service_of(dir_name: &str) -> Option<&str> {
    dir_name.strip_suffix(".service").filter(|n| !n.is_empty())
}

/// The cgroup2 path in `/proc/self/cgroup` (the `0::PATH` line).
pub fn own_cgroup(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The pids in a `cgroup.procs` text.
pub fn parse_procs(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .collect()
}

/// Whether a `cgroup.procs` text, read inside a PID namespace, lists
/// processes outside it (the kernel shows them as pid 0).
pub fn shared_with_outside(procs: &str) -> bool {
    procs.split_whitespace().any(|p| p == "0")
}

/// `populated` from a `cgroup.events` text.
pub fn parse_populated(text: &str) -> Option<bool> {
    text.lines()
        .find_map(|l| l.strip_prefix("populated "))
        .map(|v| v.trim() == "1")
}

// f_type is i64 on x86_64 glibc but another integer elsewhere.
#[allow(clippy::unnecessary_cast)]
fn fs_type(path: &Path) -> Option<i64> {
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|s| s.filesystem_type().0 as i64)
}

/// Whether `path` is on a cgroup2 filesystem.
pub fn is_cgroup2(path: &Path) -> bool {
    fs_type(path) == Some(CGROUP2_SUPER_MAGIC)
}

pub(super) fn writable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

fn mount_cgroup2(target: &Path) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let target =
        std::ffi::CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: NUL-terminated strings that outlive the call; no data.
    let rc = unsafe {
        libc::mount(
            c"cgroup2".as_ptr(),
            target.as_ptr(),
            c"cgroup2".as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `cgroup.procs` of `dir`, open for writing (close-on-exec), for a child
/// to join with. The child writes to it before it touches fds 0-2, so the
/// fd number does not matter.
pub(super) fn open_procs(dir: &Path) -> Result<std::os::fd::OwnedFd, Errno> {
    use nix::fcntl::OFlag;
    nix::fcntl::open(
        &dir.join("cgroup.procs"),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

/// The pids directly in `dir` and in every cgroup below it.
pub fn procs(dir: &Path) -> io::Result<Vec<i32>> {
    let mut pids = parse_procs(&std::fs::read_to_string(dir.join("cgroup.procs"))?);
    for sub in subgroups(dir) {
        pids.extend(procs(&sub).unwrap_or_default());
    }
    Ok(pids)
}

/// Child cgroups of `dir` (a service may make its own).
fn subgroups(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether any process is in `dir` or below.
pub fn populated(dir: &Path) -> io::Result<bool> {
    let text = std::fs::read_to_string(dir.join("cgroup.events"))?;
    parse_populated(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no populated in cgroup.events"))
}

/// Rounds of read-open-reread in [`signal_all`]: a service forking fast
/// can add members during a round; a few rounds catch nearly all of them
/// and `cgroup.kill` catches the rest.
const SIGNAL_ROUNDS: usize = 3;

/// Send `signo` once to every process in `dir` (and below), never to a
/// stranger (see the module documentation). Returns the pids signalled.
///
/// A catchable signal spares, in the later rounds, a process whose parent
/// was signalled (or spared) in an earlier one: it is most likely what
/// the parent's handler just started (a clean-up command), which a
/// signal to a process group would not reach either. One forked just
/// before its parent got the signal is spared too; `cgroup.kill` still
/// ends it when the leader exits or at `shutdown_timeout`.
pub fn signal_all(dir: &Path, signo: i32) -> io::Result<Vec<i32>> {
    let mut signalled: BTreeSet<i32> = BTreeSet::new();
    let mut spared: BTreeSet<i32> = BTreeSet::new();
    for round in 0..SIGNAL_ROUNDS {
        let first = procs(dir)?;
        let fds: Vec<Pidfd> = first
            .iter()
            .filter(|p| !signalled.contains(p) && !spared.contains(p))
            .filter_map(|p| Pidfd::open(*p).ok().flatten())
            .collect();
        if fds.is_empty() {
            break;
        }
        let again: BTreeSet<i32> = procs(dir)?.into_iter().collect();
        for fd in fds.iter().filter(|fd| again.contains(&fd.pid())) {
            if round > 0 && signo != libc::SIGKILL {
                let parent = super::tree::read_stat(fd.pid()).map(|s| s.ppid);
                if parent.is_some_and(|p| signalled.contains(&p) || spared.contains(&p)) {
                    spared.insert(fd.pid());
                    continue;
                }
            }
            if fd.send(signo) == Ok(true) {
                signalled.insert(fd.pid());
            }
        }
    }
    Ok(signalled.into_iter().collect())
}

/// SIGKILL every process in `dir` and below: `cgroup.kill` (Linux 5.14),
/// else [`signal_all`] rounds. Returns the pids that were there.
pub fn kill_all(dir: &Path) -> io::Result<Vec<i32>> {
    let before = procs(dir)?;
    if before.is_empty() {
        return Ok(before);
    }
    match std::fs::write(dir.join("cgroup.kill"), "1") {
        Ok(()) => Ok(before),
        Err(_) => {
            signal_all(dir, libc::SIGKILL)?;
            Ok(before)
        }
    }
}

/// Of `pids`, those still in `dir` after waiting up to `limit`.
pub fn wait_gone(dir: &Path, pids: &[i32], limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let now: BTreeSet<i32> = procs(dir).unwrap_or_default().into_iter().collect();
        let left: Vec<i32> = pids.iter().copied().filter(|p| now.contains(p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Remove `dir` (and the cgroups below it) once empty, waiting up to
/// `limit` for its killed processes to be gone.
pub fn remove(dir: &Path, limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    while populated(dir)? {
        if Instant::now() >= deadline {
            let left = procs(dir).unwrap_or_default();
            return Err(io::Error::other(format!(
                "{} still holds processes {left:?}",
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    remove_tree(dir)
}

fn remove_tree(dir: &Path) -> io::Result<()> {
    for sub in subgroups(dir) {
        remove_tree(&sub)?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!(
            CgroupChoice::parse("auto"),
            Ok(CgroupChoice::Auto {
                pid1: false,
                mount: false
            })
        );
        assert_eq!(CgroupChoice::parse("off"), Ok(CgroupChoice::Off));
        assert_eq!(
            CgroupChoice::parse("./auto"),
            Ok(CgroupChoice::Dir(PathBuf::from("./auto")))
        );
        assert!(CgroupChoice::parse("").is_err());
    }

    #[test]
    fn service_directories_never_clash_with_interface_files() {
        assert_eq!(dir_name("web"), "web.service");
        assert_eq!(service_of("web.service"), Some("web"));
        assert_eq!(service_of("a.b.service"), Some("a.b"));
        for file in [
            "cgroup.procs",
            "cgroup.kill",
            "memory.max",
            ".service",
            "x.scope",
        ] {
            assert_eq!(service_of(file), None, "{file}");
        }
    }

    #[test]
    fn own_cgroup_is_the_unified_line() {
        let text = "9:name=systemd:/\n4:memory:/x\n0::/system.slice/zinit\n";
        assert_eq!(own_cgroup(text), Some("/system.slice/zinit"));
        assert_eq!(own_cgroup("0::/\n"), Some("/"));
        assert_eq!(own_cgroup("4:memory:/x\n"), None);
    }

    #[test]
    fn procs_and_events_parse() {
        assert_eq!(parse_procs("12\n345\n\n"), vec![12, 345]);
        assert_eq!(parse_procs(""), Vec::<i32>::new());
        assert_eq!(parse_populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(parse_populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(parse_populated("frozen 0\n"), None);
        assert!(shared_with_outside("1\n0\n0\n7\n"));
        assert!(!shared_with_outside("1\n7\n10\n"));
    }

    #[test]
    fn a_directory_outside_cgroup2_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("zinit");
        let e = Cgroups::at(&target).expect_err("tmp is not cgroup2");
        assert!(e.contains(&*dir.path().to_string_lossy()), "{e}");
        let e = Cgroups::at(dir.path()).expect_err("tmp is not cgroup2");
        assert!(e.contains("not in a cgroup2 filesystem"), "{e}");
    }
}
